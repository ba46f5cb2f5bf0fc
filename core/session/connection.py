"""The connection shell: the only I/O around the session core.

It owns the socket's send/close functions, one `TaskGroup` (reader, actor, ticker, the turn being rendered, the
request being understood, device-tool calls), feeds the core with events and carries out its actions in order.
Ordering rule: actions run one after another in the actor; the consequences of a cancelled turn (its `tts stop`,
its saved position) run before whatever was queued after the cancel, so no frame or stop crosses a new turn.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from loguru import logger

from core.audio.types import AudioError, AudioParams, AudioSource
from core.auth import DeviceIdentity
from core.content.types import Track
from core.devices.commands import Command, PolicyUpdated, SetVolume, StopNow
from core.devices.directory import DeviceDirectory
from core.devices.policy import load as load_policy
from core.devices.state import valid_device_id
from core.devices.store import DeviceStore, MemoryStore
from core.devices.view import NowPlaying, SessionView
from core.listener_base import VoiceCallbacks, VoiceInputFactory
from core.mcp import McpClient, McpError
from core.metrics import NullMetrics
from core.playback.turn import EndOfTurn, FrameSource, SpeechSource, TurnCallbacks, TurnRenderer
from core.protocol import framing
from core.protocol import messages as m
from core.protocol.errors import CloseCode, SendError
from core.session import events as ev
from core.session.core import SessionCore, SessionSettings
from core.understand import Understander
from plugins_func.registry import CatalogView, PluginContext

__all__ = ["Connection", "SessionDeps"]

SendText = Callable[[str], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]
CloseFn = Callable[[int, str], Awaitable[None]]

VOLUME_STATUS_TOOL = "self.get_device_status"
VOLUME_SET_TOOL = "self.audio_speaker.set_volume"
_TICK_S = 0.25


class _Content:
    """What a connection needs of the content service (catalog view and playable sources)."""
    matcher: CatalogView

    async def audio_source(self, track: Track) -> AudioSource: ...


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """Exactly what a session uses; built once per process (core/runtime.py)."""
    settings: SessionSettings
    params: AudioParams
    content: Any                       # ContentService: .matcher (CatalogView) and .audio_source(track)
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
    metrics: Any = None                # core.metrics.Metrics (requests, matches, first frames, streams, store)


class Connection:
    """One device connection. `run(incoming)` returns when the device has gone and everything is saved."""

    def __init__(self, deps: SessionDeps, ident: DeviceIdentity, *, send_text: SendText, send_bytes: SendBytes,
                 close: CloseFn, peer: str = "") -> None:
        self.deps = deps
        self.session_id = str(uuid.uuid4())
        given = ident.device_id
        self.persist = bool(given) and valid_device_id(given)
        self.device_id = given if self.persist else f"anon-{uuid.uuid4().hex[:8]}"
        self.log = logger.bind(device=self.device_id[:64], session=self.session_id[:8], peer=peer)
        if given and not self.persist:
            self.log.warning("Device-Id of {} characters is not usable; state is kept for this connection only",
                             len(given))
        self._store: DeviceStore = deps.store if self.persist else MemoryStore()
        self.metrics = deps.metrics if deps.metrics is not None else NullMetrics()
        self._send_text_raw = send_text
        self._send_bytes_raw = send_bytes
        self._close_raw = close
        self.connected_at = time.time()
        self.core = SessionCore(self.device_id, ident.protocol_version, deps.settings, self._track,
                                now=time.monotonic(), log=self.log, report=self._report)
        self.renderer = TurnRenderer(
            send_json=self.send, send_audio=self._send_audio, files=deps.pipeline, speech=deps.speech,
            open_source=self._open_source, params=deps.params, lead_frames=deps.lead_frames,
            stop_grace_s=deps.stop_grace_s, device=self.device_id, log=self.log,
            on_reanchor=lambda late: self.metrics.reanchor(),
            callbacks=TurnCallbacks(
                started=lambda tid, t, start, etag: self.dispatch(ev.TrackStarted(tid, t, start, etag)),
                near_end=lambda tid, t: self.dispatch(ev.TrackNearEnd(tid, t)),
                finished=lambda tid, t, end: self.dispatch(ev.TrackFinished(tid, t, end)),
                failed=lambda tid, t, busy: self.dispatch(ev.TrackFailed(tid, t, busy))))
        self.mcp = McpClient(lambda payload: self.send(m.McpMessage(payload)), log=self.log)
        self.voice = deps.voice.open(VoiceCallbacks(
            on_utterance=self._on_utterance, on_barge_in=self._on_barge_in, is_speaking=lambda: self.core.speaking,
            on_busy=self._on_asr_busy),
            device_id=self.device_id)
        self._actions: asyncio.Queue[list[ev.Action] | None] = asyncio.Queue()
        self._tg: asyncio.TaskGroup | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._understand_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()          # our close went out and the state was saved
        self._closing = False
        self._saved_at = 0.0

    # ------------------------------------------------------------------ the directory's Owner

    async def evict(self, reason: str) -> None:
        await self.save_and_close(CloseCode.REPLACED, reason)

    async def save_and_close(self, code: CloseCode, reason: str) -> None:
        """Save where the device is, then close (a newer connection took over, or the node drains)."""
        if not self._closing:
            self.dispatch(ev.Evict(code, reason))
        await self._closed.wait()

    def snapshot(self) -> dict[str, Any]:
        st = self.core.device_state()
        item = st.item
        pos = self.renderer.progress.position_ms() if self.core.position_needed() else None
        return {"device_id": self.device_id, "session_id": self.session_id, "state": self.core.state.value,
                "listen_mode": self.core.listen_mode.value if self.core.listen_mode else None,
                "now_playing": {"uid": item.uid, "title": item.title,
                                "position_ms": pos if pos is not None else item.position_ms} if item else None,
                "last_request": self.core.last_request, "last_match": self.core.last_match,
                "connected_at": self.connected_at}

    def view(self) -> SessionView:
        """transitional: built from today's snapshot() until the session split gives its own view."""
        snap = self.snapshot()
        now = snap["now_playing"]
        state = self.core.state
        playback = ("playing" if state is ev.SessionState.PLAYING else
                    "paused" if state is ev.SessionState.PAUSED else "idle")
        return SessionView(device_id=self.device_id, session_id=self.session_id, transport="websocket",
                           state=state.value, conversation=state.value, playback=playback,
                           listen_mode=snap["listen_mode"],
                           now_playing=NowPlaying(now["uid"], now["title"], now["position_ms"]) if now else None,
                           last_request=self.core.last_request, last_match=self.core.last_match,
                           connected_at=self.connected_at)

    def command(self, cmd: Command) -> bool:
        """transitional: today's operator and policy paths, until the session takes commands as core events."""
        if self._closing or self._tg is None:
            return False                         # closing, or not running yet
        if isinstance(cmd, PolicyUpdated):
            held = self.core.device_state().policy.get("rev", 0) if self.core.player is not None else -1
            if isinstance(held, int) and cmd.record.rev <= held:
                return True                      # a late or repeated message: the session has this or newer
            self.set_policy({**cmd.record.rules, "rev": cmd.record.rev})
            return True                          # applied now, or once the state is loaded (the core keeps it)
        if isinstance(cmd, StopNow):
            self.dispatch(ev.TextIn('{"type":"abort"}'))
            return True
        if isinstance(cmd, SetVolume):
            return self._spawn(lambda: self._operator_volume(cmd.level), "operator-volume") is not None
        return False                             # PauseNow, Reboot, UpgradeFirmware: not taken yet

    def set_policy(self, policy: dict[str, Any]) -> bool:
        """The parents changed this device's rules: the live session applies them (False while the device's state
        is still loading: they apply once it is loaded)."""
        actions = self.core.set_policy(policy)
        cap = policy.get("max_volume")
        if actions and isinstance(cap, int) and VOLUME_SET_TOOL in self.mcp.tools:
            actions.append(ev.VolumeChange(0, VOLUME_SET_TOOL, cap))     # a lower cap turns the speaker down now
        if actions and not self._closing:
            self._actions.put_nowait(actions)
        return bool(actions)

    async def _operator_volume(self, level: int) -> None:
        """transitional: the operator's volume within the parents' cap, until the session takes SetVolume itself."""
        cap = load_policy(self.core.device_state().policy).max_volume
        level = min(level, cap) if cap is not None else level
        try:
            await self.mcp.call(VOLUME_SET_TOOL, {"volume": level})
        except (McpError, TimeoutError) as exc:
            self.log.warning("operator volume {} failed: {}", level, exc)
            return
        self.log.info("operator volume -> {}", level)
        self.dispatch(ev.ToolDone(True, level))

    # ------------------------------------------------------------------ lifecycle

    async def run(self, incoming: AsyncIterable[str | bytes]) -> None:
        self.log.info("connected (protocol v{})", self.core.version)
        self.metrics.device_connected()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                actor = tg.create_task(self._actor(), name=f"actions-{self.session_id[:8]}")
                ticker = tg.create_task(self._ticker(), name=f"tick-{self.session_id[:8]}")
                try:
                    async for message in incoming:
                        if isinstance(message, str):
                            self.dispatch(ev.TextIn(message))
                        else:
                            self.dispatch(ev.BinaryIn(message))
                except Exception as exc:   # noqa: BLE001 - the transport ended abnormally: still a disconnect
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
            await self.voice.aclose()
            if self.persist:
                await self.deps.directory.release(self)
            self._closed.set()
            self.metrics.device_disconnected()
            self.log.info("disconnected ({} frames sent)", self.renderer.frames_sent)

    def dispatch(self, event: ev.Event) -> None:
        """Feed the core; answers the renderer needs at once go to it directly, the rest to the actor."""
        actions = self.core.handle(event, time.monotonic(), time.time())
        rest = []
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
            except Exception:   # noqa: BLE001 - one failing action must not end the session
                self.log.exception("action {} failed", type(action).__name__)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            pos = self.renderer.progress.position_ms() if self.core.position_needed() else None
            self.dispatch(ev.Tick(time.monotonic(), time.time(), pos))

    # ------------------------------------------------------------------ actions

    async def _do(self, a: ev.Action) -> None:  # noqa: C901 - one branch per action type, nothing more
        if isinstance(a, ev.Send):
            await self.send(a.message)
        elif isinstance(a, ev.StartTurn):
            self.renderer.reset(a.turn.id)
            self._turn_task = self._spawn(lambda: self._render(a.turn), f"turn-{a.turn.id}")
        elif isinstance(a, ev.CancelTurn):
            await self._cancel_turn(a.reason)
        elif isinstance(a, ev.Understand):
            if self._understand_task is not None and not self._understand_task.done():
                self._understand_task.cancel()
            self._understand_task = self._spawn(lambda: self._understand(a.request_id, a.text), "understand")
        elif isinstance(a, ev.CancelUnderstanding):
            if self._understand_task is not None and not self._understand_task.done():
                self._understand_task.cancel()
        elif isinstance(a, ev.SaveState):
            await self._save()
        elif isinstance(a, ev.LoadState):
            self._spawn(self._load, "load-state")
        elif isinstance(a, ev.Close):
            self._closing = True
            with contextlib.suppress(Exception):
                await self._close_raw(int(a.code), a.reason)
            self._closed.set()
        elif isinstance(a, ev.FadeOut):
            self.renderer.fade_out(a.seconds)
        elif isinstance(a, ev.VolumeChange):
            self._spawn(lambda: self._volume(a), "volume")
        elif isinstance(a, ev.CallTool):
            self._spawn(lambda: self._call_tool(a), "device-tool")
        elif isinstance(a, ev.McpIn):
            self.mcp.on_message(a.payload)
        elif isinstance(a, ev.McpDiscover):
            self._spawn(self.mcp.discover, "mcp-discover")
        elif isinstance(a, ev.VoiceListen):
            self.voice.listen(a.state.value, a.mode.value if a.mode else None)
        else:
            self.log.warning("unhandled action {}", type(a).__name__)

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
        except Exception:   # noqa: BLE001 - contained to this piece of work
            self.log.exception("session task failed")

    async def _send_failed(self) -> None:
        """The device can no longer take data: close (the reader then ends, and the state is saved)."""
        if self._closing:
            return
        self.log.info("send failed; closing")
        self._closing = True
        with contextlib.suppress(Exception):
            await self._close_raw(int(CloseCode.INTERNAL), "send failed")

    def _continue(self, a: ev.Continue) -> None:
        if a.turn_id == self.renderer.turn_id:
            self.renderer.inbox.put_nowait(a.segment if a.segment is not None else EndOfTurn())

    async def _render(self, turn: Any) -> None:
        try:
            await self.renderer.render(turn)
        except asyncio.CancelledError:
            raise
        except SendError:
            await self._send_failed()
        except Exception:   # noqa: BLE001 - the turn ends; the session goes on
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
        ctx = PluginContext(catalog=deps.content.matcher, device=self.core.device_state(), tools=dict(self.mcp.tools),
                            on_miss=deps.on_miss, recent_size=deps.recent_history)
        try:
            understood = await deps.understand(text, ctx)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - one bad request must not end the session
            self.log.exception("understanding {!r} failed", text[:80])
            self.dispatch(ev.UnderstandFailed(request_id))
            return
        self.dispatch(ev.Understood(request_id, understood))

    async def _load(self) -> None:
        if self.persist:
            await self.deps.directory.claim(self)
        t = time.perf_counter()
        state = await self._store.load(self.device_id)
        self.metrics.store_latency("load", time.perf_counter() - t)
        self.dispatch(ev.StateLoaded(state))

    async def _save(self) -> None:
        if self.core.player is None:
            return
        self._saved_at = time.time()
        t = time.perf_counter()
        if not await self._store.save(self.core.player.touch(self._saved_at)) and self.persist:
            self.metrics.store_error("save")
        self.metrics.store_latency("save", time.perf_counter() - t)

    def _report(self, what: str, **fields: Any) -> None:
        """What the core reports for metrics (it does no I/O itself)."""
        m = self.metrics
        if what == "request":
            m.request(fields["intent"], fields["outcome"])
            if fields.get("match"):
                m.match(fields["match"])
            if fields.get("first_frame_s") is not None:
                m.first_frame(fields["first_frame_s"], bool(fields.get("cached")))
        elif what == "stream_started":
            m.stream_started()
        elif what == "stream_ended":
            m.stream_ended()

    async def _volume(self, a: ev.VolumeChange) -> None:
        try:
            current = self.core.device_state().volume or 60
            if VOLUME_STATUS_TOOL in self.mcp.tools:
                status = await self.mcp.call(VOLUME_STATUS_TOOL, {})
                speaker = status.get("audio_speaker") if isinstance(status, dict) else None
                if isinstance(speaker, dict) and isinstance(speaker.get("volume"), int):
                    current = speaker["volume"]
            target = max(0, min(a.cap if a.cap is not None else 100, current + a.delta))
            await self.mcp.call(a.tool, {"volume": target})
            self.log.info("volume {} -> {}", current, target)
            self.dispatch(ev.ToolDone(True, target))
        except (McpError, TimeoutError) as exc:
            self.log.warning("volume change failed: {}", exc)
            self.dispatch(ev.ToolDone(False))

    async def _call_tool(self, a: ev.CallTool) -> None:
        try:
            await self.mcp.call(a.name, dict(a.arguments))
            self.log.info("device tool {} called", a.name)
            self.dispatch(ev.ToolDone(True))
        except (McpError, TimeoutError) as exc:
            self.log.warning("device tool {} failed: {}", a.name, exc)
            self.dispatch(ev.ToolDone(False))

    # ------------------------------------------------------------------ I/O helpers

    def _track(self, uid: str) -> Track | None:
        return self.deps.content.matcher.track(uid)

    async def _open_source(self, track: Track, start_ms: int) -> AudioSource:
        try:
            source = await self.deps.content.audio_source(track)
        except AudioError:
            raise
        except Exception as exc:   # noqa: BLE001 - storage errors become a spoken apology, not a crash
            raise AudioError(f"no audio source for {track.uid}: {type(exc).__name__}") from None
        return replace(source, start_ms=start_ms) if start_ms else source

    async def send(self, msg: m.ServerMessage) -> None:
        if self._closing:
            raise SendError("closing")
        try:
            await self._send_text_raw(m.encode(msg, self.session_id))
        except Exception as exc:       # noqa: BLE001 - any transport failure means the device is gone
            raise SendError(type(exc).__name__) from exc

    async def _send_audio(self, opus: bytes, timestamp_ms: int) -> None:
        try:
            await self._send_bytes_raw(framing.pack(self.core.version, opus, timestamp_ms))
        except Exception as exc:
            raise SendError(type(exc).__name__) from exc

    async def _on_utterance(self, text: str) -> None:
        self.dispatch(ev.VoiceUtterance(text))

    async def _on_asr_busy(self) -> None:
        self.dispatch(ev.VoiceUtterance("", busy=True))

    async def _on_barge_in(self) -> None:
        self.dispatch(ev.BargeIn())
