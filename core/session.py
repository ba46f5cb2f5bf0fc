"""One device connection: hello, listen, abort, MCP, utterances, and the turns that answer them.

I/O is injected (`send_text`, `send_bytes`, `close`), so the whole session can be driven by tests without a
socket; `core/server.py` adapts it to `websockets`. One reader loop (`run`), one turn worker, at most one
request being understood at a time, at most one turn playing.
"""
from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from loguru import logger

from core.auth import DeviceIdentity
from core.content.types import Track
from core.lang.wake import WakeWords
from core.listener_base import VoiceCallbacks
from core.mcp import McpClient, McpError
from core.playback.turn import ContentType, SentenceType, TTSMessageDTO, TurnEngine
from core.protocol.errors import SendError
from core.protocol import framing, messages as m
from plugins_func.registry import Control, PluginResult

if TYPE_CHECKING:
    from core.runtime import Runtime

__all__ = ["Session"]

SendText = Callable[[str], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]

VOLUME_TOOL = "self.audio_speaker.set_volume"
STATUS_TOOL = "self.get_device_status"


class Session:
    def __init__(self, rt: Runtime, ident: DeviceIdentity, *, send_text: SendText, send_bytes: SendBytes,
                 close: Close, peer: str = "") -> None:
        self.rt = rt
        self.ident = ident
        self.device_id = ident.device_id or f"anon-{uuid.uuid4().hex[:8]}"
        self.session_id = str(uuid.uuid4())
        self.log = logger.bind(device=self.device_id, session=self.session_id[:8], peer=peer)
        self._send_text_raw = send_text
        self._send_bytes_raw = send_bytes
        self._close = close
        self.version = ident.protocol_version if ident.protocol_version in (1, 2, 3) else 1
        self.hello_done = False
        self.listen_mode: m.ListenMode | None = None
        self.recent: collections.deque[str] = collections.deque(maxlen=max(1, rt.config.matching.recent_history))
        self._now_playing: Track | None = None
        self._last_played: Track | None = None
        self._request_task: asyncio.Task[None] | None = None
        self._mcp_task: asyncio.Task[None] | None = None
        self._closing = False
        self._connected_at = self._last_activity = time.monotonic()
        self._bad_frames = 0
        self.mcp = McpClient(self._send_mcp, log=self.log)
        self.engine = TurnEngine(
            session_id=self.session_id, send_json=self.send_json, send_audio=self._send_audio,
            files=rt.pipeline, speech=rt.speech, params=rt.params, lead_frames=rt.config.audio.lead_frames,
            stop_grace_s=rt.config.audio.stop_grace_ms / 1000.0, log=self.log)
        self.voice = rt.voice.open(VoiceCallbacks(on_utterance=self._on_voice_utterance,
                                                  on_barge_in=self._on_barge_in,
                                                  is_speaking=lambda: self.engine.speaking),
                                   device_id=self.device_id)

    # ------------------------------------------------------------------ PluginContext
    @property
    def content(self) -> Any:
        return self.rt.content

    @property
    def now_playing(self) -> Track | None:
        """The track playing now or, after it ended or was interrupted, the last one played."""
        return self._now_playing or self._last_played

    @property
    def mcp_tools(self) -> dict[str, Any]:
        return self.mcp.tools

    # ------------------------------------------------------------------ lifecycle

    async def run(self, incoming: AsyncIterable[str | bytes]) -> None:
        """Read until the device goes away. Never raises for bad device input."""
        self.log.info("connected (protocol v{})", self.version)
        worker = asyncio.create_task(self._run_worker(), name=f"turns-{self.session_id[:8]}")
        watchdog = asyncio.create_task(self._watchdog(), name=f"idle-{self.session_id[:8]}")
        try:
            async for message in incoming:
                self._last_activity = time.monotonic()
                if isinstance(message, str):
                    await self.handle_text(message)
                else:
                    self.handle_binary(message)
        except SendError:
            pass          # the device went away while we answered it (e.g. abort, then close): a normal end
        finally:
            self._closing = True               # late ASR results must not start requests on a dead session
            await self.voice.aclose()
            tasks = (self._request_task, self._mcp_task, worker, watchdog)
            for task in tasks:
                if task is not None and not task.done():
                    task.cancel()
            await self.engine.shutdown()       # cancels the item in flight; no `tts stop` to a closed socket
            await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
            self.log.info("disconnected ({} frames sent)", self.engine.frames_sent)

    async def _run_worker(self) -> None:
        await self.engine.run()
        # The worker only returns when a send failed: the device is gone or broken.
        await self._close(1011, "send failed")

    async def _watchdog(self) -> None:
        cfg = self.rt.config.server
        while True:
            await asyncio.sleep(min(1.0, cfg.hello_timeout_s / 4))
            now = time.monotonic()
            if self.engine.busy or (self._request_task is not None and not self._request_task.done()):
                self._last_activity = now     # never time out while something is playing or being prepared
            if not self.hello_done and now - self._connected_at > cfg.hello_timeout_s:   # junk does not count
                self.log.warning("no hello within {:.0f} s; closing", cfg.hello_timeout_s)
                await self._close(1008, "hello expected")
                return
            if now - self._last_activity > cfg.idle_timeout_s:
                self.log.info("idle for {:.0f} s; closing", cfg.idle_timeout_s)
                await self._close(1000, "idle")
                return

    # ------------------------------------------------------------------ output

    async def send_json(self, msg: m.ServerMessage) -> None:
        try:
            await self._send_text_raw(m.encode(msg, self.session_id))
        except Exception as exc:       # noqa: BLE001 - any transport failure means the device is gone
            raise SendError(type(exc).__name__) from exc

    async def _send_audio(self, opus: bytes, timestamp_ms: int) -> None:
        try:
            await self._send_bytes_raw(framing.pack(self.version, opus, timestamp_ms))
        except Exception as exc:       # noqa: BLE001
            raise SendError(type(exc).__name__) from exc

    async def _send_mcp(self, payload: dict[str, Any]) -> None:
        await self.send_json(m.McpMessage(payload))

    # ------------------------------------------------------------------ input

    async def handle_text(self, text: str) -> None:
        msg = m.parse_message(text)
        if isinstance(msg, m.Invalid):
            self.log.warning("ignored a bad message: {}", msg.reason)
            return
        if isinstance(msg, m.Hello):
            await self._on_hello(msg)
            return
        if not self.hello_done:
            self.log.warning("ignored {} before hello", type(msg).__name__)
            return
        if isinstance(msg, m.Listen):
            await self._on_listen(msg)
        elif isinstance(msg, m.Abort):
            self.log.info("abort from device ({})", msg.reason or "button")
            await self.interrupt("device abort")
        elif isinstance(msg, m.Mcp):
            self.mcp.on_message(msg.payload)
        elif isinstance(msg, m.Iot):
            self.log.debug("ignored legacy iot message")
        else:
            self.log.debug("ignored unknown message type {!r}", msg.type)

    def handle_binary(self, data: bytes) -> None:
        if not self.hello_done:
            self._count_bad("audio before hello")
            return
        try:
            packet = framing.unpack(self.version, data)
        except framing.FramingError as exc:
            self._count_bad(str(exc))
            return
        self.voice.feed(packet.opus)

    def _count_bad(self, reason: str) -> None:
        self._bad_frames += 1
        if self._bad_frames in (1, 10, 100) or self._bad_frames % 1000 == 0:   # rate-limited: a stream of junk
            self.log.warning("ignored binary frame #{}: {}", self._bad_frames, reason)

    async def _on_hello(self, hello: m.Hello) -> None:
        if hello.version != self.version:
            self.log.info("hello says protocol v{} (header said v{}); using v{}", hello.version, self.version,
                          hello.version)
            self.version = hello.version
        if hello.audio_format != "opus" or hello.sample_rate not in (8000, 12000, 16000, 24000, 48000) \
                or hello.frame_duration not in (10, 20, 40, 60, 80, 100, 120):
            self.log.warning("device uplink audio_params {}/{}/{} ms are unusual; downlink stays opus/{}/60 ms",
                             hello.audio_format, hello.sample_rate, hello.frame_duration, self.rt.params.sample_rate)
        first = not self.hello_done
        self.hello_done = True
        await self.send_json(m.ServerHello(self.rt.params.sample_rate, self.rt.params.frame_ms))
        if first and hello.mcp:
            self._mcp_task = asyncio.get_running_loop().create_task(self.mcp.discover())

    async def _on_listen(self, msg: m.Listen) -> None:
        if msg.mode is not None:
            self.listen_mode = msg.mode
        self.voice.listen(msg.state.value, msg.mode.value if msg.mode else None)
        if msg.state is m.ListenState.START and msg.mode is m.ListenMode.MANUAL \
                and (self.engine.busy or self._request_pending()):
            await self.interrupt("push-to-talk")          # the child pressed the button to talk over playback
        elif msg.state is m.ListenState.DETECT:
            text = (msg.text or "").strip()
            if not text:
                return
            if self._is_wake_word(text):
                self.log.info("wake word {!r}", text)
                await self.interrupt("wake word")
                self._start_request(self._speak_only(self.rt.config.server.greeting))
            else:
                self._start_request(self.handle_utterance(text))

    def _is_wake_word(self, text: str) -> bool:
        return WakeWords(self.rt.config.server.wake_words).is_only_wake_word(text)

    # ------------------------------------------------------------------ requests

    def _start_request(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run one request at a time; a newer one replaces an older one still being understood."""
        if self._closing:
            coro.close()
            return
        if self._request_task is not None and not self._request_task.done():
            self._request_task.cancel()
        self._request_task = asyncio.get_running_loop().create_task(self._guard(coro))

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except SendError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - one bad request must not end the session
            self.log.exception("request failed")
            await self._speak_only("Sorry, something went wrong. Please try again.")

    async def interrupt(self, reason: str) -> None:
        if self._request_task is not None and not self._request_task.done() \
                and self._request_task is not asyncio.current_task():
            self._request_task.cancel()
        await self.engine.interrupt(reason)
        self._now_playing = None

    async def _on_voice_utterance(self, text: str) -> None:
        if self._closing:
            return
        if not text.strip():
            if self.engine.busy or self._request_pending():
                return                # something else is already answering: do not talk over it
            await self.send_json(m.Stt(""))
            self._start_request(self._speak_only("Sorry, I didn't catch that."))
            return
        self._start_request(self.handle_utterance(text))

    def _request_pending(self) -> bool:
        return self._request_task is not None and not self._request_task.done()

    async def _on_barge_in(self) -> None:
        if self.engine.speaking:
            await self.interrupt("barge-in")

    async def handle_utterance(self, text: str) -> None:
        """Text from a device (listen detect) or from ASR: stt -> intent -> plugin -> turn."""
        text = text.strip()[:4096]
        await self.send_json(m.Stt(text))
        await self.engine.interrupt("new request")
        self._now_playing = None
        understood = await self.rt.understand(text, self)
        intent = understood.intent
        self.log.info("utterance {!r} -> {} {}", text[:120], intent.name or "(no request)", intent.arguments)
        if not intent.name:
            await self._speak_only(intent.reply or "I can play songs and stories. Try: play Twinkle Twinkle.",
                                   intent.language)
            return
        if self.rt.registry.get(intent.name) is None and intent.name in self.mcp.tools:
            await self._call_device_tool(intent.name, intent.arguments, intent.reply)
            return
        assert understood.result is not None
        await self.apply(understood.result)

    async def _call_device_tool(self, name: str, arguments: dict[str, Any], reply: str | None) -> None:
        """An LLM intent may name one of the device's own MCP tools (brightness, volume, ...)."""
        try:
            await self.mcp.call(name, arguments)
            self.log.info("device tool {} called", name)
            if reply:
                await self._speak_only(reply)
        except (McpError, TimeoutError) as exc:
            self.log.warning("device tool {} failed: {}", name, exc)
            await self._speak_only("Sorry, the speaker couldn't do that.")

    async def apply(self, result: PluginResult) -> None:
        if result.match is not None and result.match.track is not None:
            self.log.info("match {} {:.0f} -> {}/{}{}", result.match.match_type.value, result.match.score,
                          result.match.track.collection, result.match.track.title.strip(),
                          " (alternative)" if result.match.fallback else "")
        if result.control in (Control.VOLUME_UP, Control.VOLUME_DOWN):
            await self._change_volume(result)
            return
        if self.engine.busy:
            await self.engine.interrupt("superseded")     # never two turns interleaved on the device
        items: list[TTSMessageDTO] = []
        sid = self.engine.new_turn()
        if result.speech:
            items.append(TTSMessageDTO(sid, SentenceType.FIRST, ContentType.TEXT, result.speech,
                                       language=result.language))
        if result.play is not None:
            track = result.play
            try:
                source = await self.rt.content.audio_source(track)
            except Exception as exc:   # noqa: BLE001 - storage errors are reported, not raised
                self.log.warning("no audio source for {}: {}", track.uid, exc)
                items.append(TTSMessageDTO(sid, SentenceType.MIDDLE, ContentType.TEXT,
                                           "Sorry, I couldn't open that one right now."))
            else:
                items.append(TTSMessageDTO(sid, SentenceType.MIDDLE, ContentType.FILE, track.display_title,
                                           content_file=source, language=result.language,
                                           on_start=lambda t=track: self._mark_playing(t)))
                items.append(TTSMessageDTO(sid, SentenceType.MIDDLE, ContentType.ACTION,
                                           action=self._finish_playing))
        if not items:
            return
        if result.play is not None:
            # The device's face follows `llm` emotion messages (protocol §3.3): smile while a song or story plays.
            await self.send_json(m.LlmEmotion("happy", "😊"))
        items.append(TTSMessageDTO(sid, SentenceType.LAST, ContentType.ACTION))
        for item in items:
            self.engine.put(item)

    def _mark_playing(self, track: Track) -> None:
        self._now_playing = track
        self._last_played = track
        self.recent.append(track.uid)

    async def _finish_playing(self) -> None:
        self._now_playing = None

    async def _speak_only(self, text: str, language: str = "en") -> None:
        await self.apply(PluginResult(speech=text, language=language))

    async def _change_volume(self, result: PluginResult) -> None:
        up = result.control is Control.VOLUME_UP
        delta = result.data.get("delta", 10 if up else -10)
        step = abs(delta) if isinstance(delta, int) else 10
        tool = result.data.get("tool") if isinstance(result.data.get("tool"), str) else VOLUME_TOOL
        if tool not in self.mcp.tools:
            await self._speak_only("Please use the volume buttons on your speaker.")
            return
        try:
            current = 60
            if STATUS_TOOL in self.mcp.tools:
                status = await self.mcp.call(STATUS_TOOL, {})
                speaker = status.get("audio_speaker") if isinstance(status, dict) else None
                if isinstance(speaker, dict) and isinstance(speaker.get("volume"), int):
                    current = speaker["volume"]
            target = max(0, min(100, current + (step if up else -step)))
            await self.mcp.call(tool, {"volume": target})
            self.log.info("volume {} -> {}", current, target)
            await self._speak_only(result.speech or ("Louder!" if up else "Quieter."))
        except (McpError, TimeoutError) as exc:
            self.log.warning("volume change failed: {}", exc)
            await self._speak_only("Sorry, I couldn't change the volume.")

