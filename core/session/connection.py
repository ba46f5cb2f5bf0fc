"""The connection shell: the only I/O around the session core, for any transport (core/session/link.py).

It owns the link, one `TaskGroup` (reader, actor, ticker, the turn being rendered, the request being understood,
device-tool calls), feeds the core with events and carries out its actions in order. It decides nothing: commands
from the operator or the parents go in as events (`command`), the outside reads a typed `view()`.
Ordering rule: actions run one after another in the actor; the consequences of a cancelled turn (its `tts stop`,
its saved position) run before whatever was queued after the cancel, so no frame or stop crosses a new turn.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, assert_never

from loguru import logger

from core.audio.types import AudioError, AudioParams, AudioSource
from core.auth import DeviceIdentity
from core.content.types import Track
from core.devices.commands import Command, PolicyUpdated
from core.devices.directory import DeviceDirectory
from core.devices.state import valid_device_id
from core.devices.store import DeviceStore, MemoryStore
from core.devices.view import SessionView
from core.listener_base import VoiceCallbacks, VoiceInput, VoiceInputFactory
from core.mcp import McpClient, McpError
from core.metrics import Metrics, NullMetrics
from core.playback.turn import EndOfTurn, FrameSource, SpeechSource, Turn, TurnCallbacks, TurnRenderer
from core.protocol import framing
from core.protocol import messages as m
from core.protocol.errors import CloseCode, SendError
from core.session import events as ev
from core.session.core import SessionCore, SessionSettings
from core.session.link import AudioChannelLost, Link
from core.understand import Understander
from plugins_func.registry import CatalogView, PluginContext

__all__ = ["Connection", "SessionDeps", "ContentView"]

_TICK_S = 0.25            # while something is in flight: positions, grace ends, the rules' once-a-second checks
_IDLE_TICK_S = 1.0        # otherwise, during a conversation (hello and idle timeouts, a held item's grace)
# A lasting link with no conversation (an idle MQTT speaker) needs only its timers (30 s rules re-read, status polls,
# the household's clock); commands from parents and operators arrive as events, not on the tick.
_IDLE_LINK_TICK_S = 5.0


class ContentView(Protocol):
    """What a session needs of the content service: the catalog view and playable sources."""

    @property
    def matcher(self) -> CatalogView: ...

    async def audio_source(self, track: Track) -> AudioSource: ...


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """Exactly what a session uses; built once per process (core/runtime.py)."""
    settings: SessionSettings
    params: AudioParams
    content: ContentView
    pipeline: FrameSource
    speech: SpeechSource
    understand: Understander
    voice: VoiceInputFactory
    store: DeviceStore
    directory: DeviceDirectory
    on_miss: str = "say"
    recent_history: int = 5
    lead_frames: int = 3
    stop_grace_s: float = 0.12
    metrics: Metrics | None = None


class Connection:
    """One device connection. `run()` returns when the device has gone and everything is saved."""

    def __init__(self, deps: SessionDeps, ident: DeviceIdentity, link: Link) -> None:
        self.deps = deps
        self.link = link
        self.session_id = str(uuid.uuid4())
        given = ident.device_id
        self.persist = bool(given) and valid_device_id(given)
        self.device_id = given if self.persist else f"anon-{uuid.uuid4().hex[:8]}"
        self.log = logger.bind(device=self.device_id[:64], session=self.session_id[:8], peer=link.peer)
        if given and not self.persist:
            self.log.warning("Device-Id of {} characters is not usable; state is kept for this connection only",
                             len(given))
        self._store: DeviceStore = deps.store if self.persist else MemoryStore()
        self.metrics = deps.metrics if deps.metrics is not None else NullMetrics()
        self.connected_at = time.time()
        self.core = SessionCore(self.device_id, ident.protocol_version, deps.settings, deps.content.matcher.track,
                                now=time.monotonic(), persistent=link.persistent, log=self.log,
                                metrics=self.metrics)
        self.renderer = TurnRenderer(
            send_json=self.send, send_audio=self._send_audio, files=deps.pipeline, speech=deps.speech,
            open_source=self._open_source, params=deps.params, lead_frames=deps.lead_frames,
            stop_grace_s=deps.stop_grace_s, device=self.device_id, log=self.log,
            on_reanchor=lambda late: self.metrics.reanchor(), on_late=lambda: self.metrics.late_frames(1),
            callbacks=TurnCallbacks(
                started=lambda tid, t, start, etag: self.dispatch(ev.TrackStarted(tid, t, start, etag)),
                near_end=lambda tid, t: self.dispatch(ev.TrackNearEnd(tid, t)),
                finished=lambda tid, t, end: self.dispatch(ev.TrackFinished(tid, t, end)),
                failed=lambda tid, t, busy: self.dispatch(ev.TrackFailed(tid, t, busy)),
                spoke=lambda tid: self.dispatch(ev.SpeechStarted(tid))))
        self.mcp = McpClient(lambda payload: self.send(m.McpMessage(payload)), log=self.log)
        self._voice: VoiceInput | None = None    # opened with the first listen or audio (idle speakers need none)
        self._actions: asyncio.Queue[list[ev.Action] | None] = asyncio.Queue()
        self._tg: asyncio.TaskGroup | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._understand_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()          # our close went out and the state was saved
        self._closing = False

    # ------------------------------------------------------------------ the directory's Owner

    async def evict(self, reason: str) -> None:
        await self.save_and_close(CloseCode.REPLACED, reason)

    async def save_and_close(self, code: CloseCode, reason: str) -> None:
        """Save where the device is, then close (a newer connection took over, or the node drains)."""
        if not self._closing:
            self.dispatch(ev.Evict(code, reason))
        await self._closed.wait()

    def command(self, cmd: Command) -> bool:
        """A command from the operator, the parents or another node; the core decides what it means."""
        if self._closing:
            return False
        self.dispatch(cmd)
        return True

    def view(self) -> SessionView:
        core = self.core
        pos = self.renderer.progress.position_ms() if core.position_needed() else None
        return SessionView(
            device_id=self.device_id, session_id=self.session_id, transport=self.link.transport,
            state=core.summary(), conversation=core.conversation.state.value,
            playback=core.playback.state.value if core.playback else "idle",
            listen_mode=core.conversation.listen_mode.value if core.conversation.listen_mode else None,
            now_playing=core.now_playing(pos), last_request=core.conversation.last_request,
            last_match=core.conversation.last_match, connected_at=self.connected_at, status=core.status,
            rules_rev=core.rules.record.rev)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self.log.info("connected over {} (protocol v{})", self.link.transport, self.core.version)
        self.metrics.device_connected()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                actor = tg.create_task(self._actor(), name=f"actions-{self.session_id[:8]}")
                ticker = tg.create_task(self._ticker(), name=f"tick-{self.session_id[:8]}")
                self._queue(self.core.start())
                try:
                    async for item in self.link.incoming():
                        if isinstance(item, str):
                            self.dispatch(ev.TextIn(item))
                        elif isinstance(item, bytes):
                            self.dispatch(ev.BinaryIn(item))
                        elif isinstance(item, AudioChannelLost):
                            self.dispatch(ev.ChannelLost(item.reason))
                        else:
                            assert_never(item)
                except Exception as exc:  # noqa: BLE001 - the transport ended abnormally: still a disconnect
                    self.log.debug("connection ended: {}", type(exc).__name__)
                finally:
                    ticker.cancel()
                    self._closing = True                     # nothing more goes to the device; saves still run
                    self.dispatch(ev.Disconnected())
                    self._actions.put_nowait(None)          # the actor finishes what is queued, then returns
                    with contextlib.suppress(BaseException):
                        await asyncio.wait({actor}, timeout=10)
                    if not actor.done():
                        actor.cancel()
                    for task in (self._turn_task, self._understand_task):
                        if task is not None and not task.done():
                            task.cancel()
        finally:
            self._closing = True
            if self._voice is not None:
                await self._voice.aclose()
            if self.persist:
                await self.deps.directory.release(self)
            self._closed.set()
            self.metrics.device_disconnected()
            self.log.info("disconnected ({} frames sent)", self.renderer.frames_sent)

    def dispatch(self, event: ev.Event) -> None:
        """Feed the core; answers the renderer needs at once go to it directly, the rest to the actor."""
        self._queue(self.core.handle(event, time.monotonic(), time.time()))

    def _queue(self, actions: list[ev.Action]) -> None:
        rest: list[ev.Action] = []
        for action in actions:
            if isinstance(action, ev.Continue):
                self._continue(action)
            elif isinstance(action, ev.VoiceFeed):
                self.voice.feed(action.opus)
            else:
                rest.append(action)
        if rest:
            self._actions.put_nowait(rest)

    async def _actor(self) -> None:
        while (batch := await self._actions.get()) is not None:
            await self._execute(batch)

    async def _execute(self, actions: list[ev.Action]) -> None:
        for action in actions:
            try:
                await self._do(action)
            except SendError:
                await self._send_failed()
            except Exception:  # noqa: BLE001 - one failing action must not end the session
                self.log.exception("action {} failed", type(action).__name__)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_period())
            pos = self.renderer.progress.position_ms() if self.core.position_needed() else None
            self.dispatch(ev.Tick(time.monotonic(), time.time(), pos))

    def _tick_period(self) -> float:
        if self.core.busy or self.core.speaking:
            return _TICK_S
        if self.link.persistent and not self.core.conversation.open:
            return min(_IDLE_LINK_TICK_S, self.core.cfg.status_every_s)   # a status read is never late
        return _IDLE_TICK_S

    # ------------------------------------------------------------------ actions

    async def _do(self, a: ev.Action) -> None:
        match a:
            case ev.Send(message):
                await self.send(message)
            case ev.StartTurn(turn):
                self.renderer.reset(turn.id)
                self._turn_task = self._spawn(lambda: self._render(turn), f"turn-{turn.id}")
            case ev.CancelTurn(reason):
                await self._cancel_turn(reason)
            case ev.Understand(request_id, text):
                self._cancel_understanding()
                self._understand_task = self._spawn(lambda: self._understand(request_id, text), "understand")
            case ev.CancelUnderstanding():
                self._cancel_understanding()
            case ev.SaveState():
                await self._save()
            case ev.LoadState():
                self._spawn(self._load, "load-state")
            case ev.LoadPolicy():
                self._spawn(self._load_policy, "load-policy")
            case ev.Close(code, reason):
                self._closing = True
                with contextlib.suppress(Exception):
                    await self.link.close(int(code), reason)
                self._closed.set()
            case ev.EndConversation():
                self.link.end_conversation()
            case ev.FadeOut(seconds):
                self.renderer.fade_out(seconds)
            case ev.CallTool():
                self._spawn(lambda: self._call_tool(a), "device-tool")
            case ev.McpIn(payload):
                self.mcp.on_message(payload)
            case ev.McpDiscover():
                self._spawn(self._discover, "mcp-discover")
            case ev.VoiceListen(state, mode):
                self.voice.listen(state, mode)
            case ev.Continue() | ev.VoiceFeed():
                raise AssertionError("handled on dispatch")
            case _:
                assert_never(a)

    def _spawn(self, work: Callable[[], Awaitable[Any]], name: str) -> asyncio.Task[Any] | None:
        """Run `work()` in the connection's TaskGroup. The coroutine is created inside the task, so work that is
        cancelled before it starts (the connection ending) leaves no coroutine behind."""
        assert self._tg is not None
        guarded = self._guard(work)
        try:
            return self._tg.create_task(guarded, name=f"{name}-{self.session_id[:8]}")
        except RuntimeError:            # the connection is ending: nothing new starts
            guarded.close()
            return None

    async def _guard(self, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except SendError:
            await self._send_failed()
        except Exception:  # noqa: BLE001 - contained to this piece of work
            self.log.exception("session task failed")

    async def _send_failed(self) -> None:
        """The device can no longer take data: close (the reader then ends, and the state is saved)."""
        if self._closing:
            return
        self.log.info("send failed; closing")
        self._closing = True
        with contextlib.suppress(Exception):
            await self.link.close(int(CloseCode.INTERNAL), "send failed")

    def _continue(self, a: ev.Continue) -> None:
        if a.turn_id == self.renderer.turn_id:
            self.renderer.inbox.put_nowait(a.segment if a.segment is not None else EndOfTurn())

    def _cancel_understanding(self) -> None:
        if self._understand_task is not None and not self._understand_task.done():
            self._understand_task.cancel()

    async def _render(self, turn: Turn) -> None:
        try:
            await self.renderer.render(turn)
        except asyncio.CancelledError:
            raise
        except SendError:
            await self._send_failed()
        except Exception:  # noqa: BLE001 - the turn ends; the session goes on
            self.log.exception("turn {} failed", turn.id)
            with contextlib.suppress(SendError):
                await self.send(m.Tts(m.TtsState.STOP))
        self.dispatch(ev.TurnEnded(turn.id, cancelled=False, position_ms=None))

    async def _cancel_turn(self, reason: str) -> None:
        task = self._turn_task
        turn_id = self.renderer.turn_id
        if task is not None and not task.done():
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                self.log.error("playback did not stop within 1 s of cancel ({})", reason)
        position = self.renderer.progress.position_ms()
        self.log.info("turn {} stopped: {}{}", turn_id, reason,
                      f" at {position / 1000:.1f} s" if position is not None else "")
        # Its consequences (tts stop, the saved position) go out now, before anything queued after the cancel.
        await self._execute([a for a in self.core.handle(ev.TurnEnded(turn_id, True, position), time.monotonic(),
                                                            time.time())
                             if not isinstance(a, ev.Continue)])

    async def _understand(self, request_id: int, text: str) -> None:
        deps = self.deps
        ctx = PluginContext(catalog=deps.content.matcher, device=self.core.device_state(), tools=self.mcp.llm_tools,
                            on_miss=deps.on_miss, recent_size=deps.recent_history)
        try:
            understood = await deps.understand(text, ctx)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad request must not end the session
            self.log.exception("understanding {!r} failed", text[:80])
            self.dispatch(ev.UnderstandFailed(request_id))
            return
        self.dispatch(ev.Understood(request_id, understood))

    async def _load(self) -> None:
        if self.persist:
            await self.deps.directory.claim(self)
        t = time.perf_counter()
        state = await self._store.load(self.device_id)
        policy = await self._store.load_policy(self.device_id)
        self.metrics.store_latency("load", time.perf_counter() - t)
        self.dispatch(ev.StateLoaded(state, policy))

    async def _load_policy(self) -> None:
        self.dispatch(PolicyUpdated(await self._store.load_policy(self.device_id)))

    async def _save(self) -> None:
        if self.core.playback is None:
            return
        t = time.perf_counter()
        if not await self._store.save(self.core.playback.player.touch(time.time())) and self.persist:
            self.metrics.store_error("save")
        self.metrics.store_latency("save", time.perf_counter() - t)

    async def _discover(self) -> None:
        await self.mcp.discover()
        self.dispatch(ev.ToolsDiscovered(frozenset(self.mcp.tools)))

    async def _call_tool(self, a: ev.CallTool) -> None:
        try:
            result = await self.mcp.call(a.name, dict(a.arguments))
        except (McpError, TimeoutError) as exc:
            self.log.warning("device tool {} failed: {}", a.name, exc)
            self.dispatch(ev.ToolResult(a.call_id, False))
            return
        self.dispatch(ev.ToolResult(a.call_id, True, result))

    # ------------------------------------------------------------------ I/O helpers

    @property
    def voice(self) -> VoiceInput:
        """The uplink's VAD and recogniser, opened on first use: an MQTT speaker idles for hours without speaking."""
        if self._voice is None:
            self._voice = self.deps.voice.open(VoiceCallbacks(
                on_utterance=self._on_utterance, on_barge_in=self._on_barge_in,
                is_speaking=lambda: self.core.speaking, on_busy=self._on_asr_busy), device_id=self.device_id)
        return self._voice

    async def _open_source(self, track: Track, start_ms: int) -> AudioSource:
        try:
            source = await self.deps.content.audio_source(track)
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - storage errors become a spoken apology, not a crash
            raise AudioError(f"no audio source for {track.uid}: {type(exc).__name__}") from None
        return replace(source, start_ms=start_ms) if start_ms else source

    async def send(self, msg: m.ServerMessage) -> None:
        if self._closing:
            raise SendError("closing")
        extra: dict[str, object] | None = None
        if isinstance(msg, m.ServerHello):
            if self.link.persistent:            # a new conversation on a lasting link gets its own session id
                self.session_id = str(uuid.uuid4())
                self.log = self.log.bind(session=self.session_id[:8])
            extra = self.link.hello_fields()
        try:
            await self.link.send_text(m.encode(msg, self.session_id, extra))
        except SendError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport failure means the device is gone
            raise SendError(type(exc).__name__) from exc

    async def _send_audio(self, opus: bytes, timestamp_ms: int) -> None:
        try:
            await self.link.send_audio(framing.pack(self.core.version, opus, timestamp_ms), timestamp_ms)
        except SendError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport failure means the device is gone
            raise SendError(type(exc).__name__) from exc

    async def _on_utterance(self, text: str) -> None:
        self.dispatch(ev.VoiceUtterance(text))

    async def _on_asr_busy(self) -> None:
        self.dispatch(ev.VoiceUtterance("", busy=True))

    async def _on_barge_in(self) -> None:
        self.dispatch(ev.BargeIn())
