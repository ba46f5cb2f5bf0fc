"""The turn engine: a per-connection queue of TEXT / FILE / ACTION items played as one speaking turn.

Protocol sequence per turn (docs/xiaozhi-protocol.md §3.4, §6.2): `tts start` -> for each item
`tts sentence_start {text}` + paced Opus frames -> `tts stop` once the last frame has played out on the device.
`interrupt()` (abort, a new utterance, barge-in) cancels the item in flight wherever it waits -- pacer sleep,
HTTP read, ffmpeg pipe -- drops queued items of the old turn, and sends `tts stop` at once.
"""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from loguru import logger

from core.audio.types import AudioError, AudioParams, AudioSource
from core.playback.pacer import Pacer
from core.protocol.errors import SendError
from core.protocol.messages import ServerMessage, Tts, TtsState

__all__ = ["ContentType", "SentenceType", "TTSMessageDTO", "TurnEngine", "FrameSource", "SpeechSource"]


class ContentType(StrEnum):
    TEXT = "text"        # speak `content_detail`
    FILE = "file"        # play `content_file` (AudioSource), subtitle `content_detail`
    ACTION = "action"    # run `action` (e.g. an MCP call) in turn order


class SentenceType(StrEnum):
    FIRST = "first"      # opens the turn: `tts start`
    MIDDLE = "middle"
    LAST = "last"        # closes the turn: `tts stop` after play-out


_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class TTSMessageDTO:
    sentence_id: int
    sentence_type: SentenceType
    content_type: ContentType
    content_detail: str | None = None
    content_file: AudioSource | None = None
    language: str = "en"
    action: Callable[[], Awaitable[None]] | None = None
    on_start: Callable[[], None] | None = field(default=None, compare=False)   # e.g. mark a track as playing


class FrameSource(Protocol):
    def frames(self, source: AudioSource) -> AsyncIterator[bytes]: ...


class SpeechSource(Protocol):
    def frames(self, text: str, language: str) -> AsyncIterator[bytes]: ...


SendJson = Callable[[ServerMessage], Awaitable[None]]
SendAudio = Callable[[bytes, int], Awaitable[None]]      # (opus packet, timestamp ms)


class TurnEngine:
    def __init__(self, *, session_id: str, send_json: SendJson, send_audio: SendAudio, files: FrameSource,
                 speech: SpeechSource, params: AudioParams, lead_frames: int = 3, stop_grace_s: float = 0.12,
                 first_frame_gap_s: float = 0.06, log: Any = logger) -> None:
        self._session_id = session_id
        self._send_json = send_json
        self._send_audio = send_audio
        self._files = files
        self._speech = speech
        self._params = params
        self._lead = lead_frames
        self._grace = stop_grace_s
        self._gap = first_frame_gap_s
        self._log = log
        self._queue: asyncio.Queue[TTSMessageDTO] = asyncio.Queue()
        self._item_task: asyncio.Task[None] | None = None
        self._pacer: Pacer | None = None
        self.sentence_id = next(_ids)
        self.speaking = False            # between our `tts start` and `tts stop`
        self.last_frame_at = 0.0         # loop time of the last frame sent (idle timer input)
        self.frames_sent = 0

    # ------------------------------------------------------------------------------------------ queue side

    def new_turn(self) -> int:
        """A fresh sentence id; items queued under older ids are skipped."""
        self.sentence_id = next(_ids)
        return self.sentence_id

    def put(self, item: TTSMessageDTO) -> None:
        self._queue.put_nowait(item)

    @property
    def busy(self) -> bool:
        return self.speaking or not self._queue.empty() or (self._item_task is not None and not self._item_task.done())

    async def interrupt(self, reason: str) -> bool:
        """Cancel everything in flight and queued; send `tts stop` now if a turn was open. True if it was."""
        self.new_turn()
        while not self._queue.empty():
            self._queue.get_nowait()
        task = self._item_task
        if task is not None and not task.done():
            task.cancel()
            try:
                async with asyncio.timeout(1.0):
                    await asyncio.wait({task})
            except TimeoutError:
                self._log.error("playback did not stop within 1 s of cancel ({})", reason)
        was_speaking = self.speaking
        if was_speaking:
            self.speaking = False
            self._pacer = None
            self._log.info("turn interrupted: {}", reason)
            await self._send_json(self._tts(TtsState.STOP))
        return was_speaking

    async def shutdown(self) -> None:
        """The connection is closing: cancel the item in flight without telling the device."""
        self.new_turn()
        task = self._item_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        self.speaking = False

    # ------------------------------------------------------------------------------------------ worker side

    async def run(self) -> None:
        """The worker: one item at a time, in order. Returns when a send fails (the connection is gone)."""
        while True:
            item = await self._queue.get()
            if item.sentence_id != self.sentence_id:
                continue
            self._item_task = asyncio.create_task(self._handle(item))
            await asyncio.wait({self._item_task})
            task, self._item_task = self._item_task, None
            if task.cancelled():
                continue                          # interrupted; interrupt() already sent `tts stop`
            exc = task.exception()
            if exc is not None:
                if isinstance(exc, SendError):
                    self._log.info("send failed, playback cancelled: {}", type(exc).__name__)
                    return
                self._log.opt(exception=exc).error("turn item failed")
                self.new_turn()                   # the rest of this turn is dropped, not replayed as a new turn
                if self.speaking:
                    self.speaking = False
                    try:
                        await self._send_json(self._tts(TtsState.STOP))
                    except SendError:
                        return

    async def _handle(self, item: TTSMessageDTO) -> None:
        if item.sentence_type is SentenceType.FIRST or not self.speaking:
            await self._open_turn()
        if item.content_type is ContentType.TEXT and item.content_detail:
            await self._send_json(self._tts(TtsState.SENTENCE_START, item.content_detail))
            await self._play(self._speech.frames(item.content_detail, item.language))
        elif item.content_type is ContentType.FILE and item.content_file is not None:
            if item.content_detail:
                await self._send_json(self._tts(TtsState.SENTENCE_START, item.content_detail))
            if item.on_start is not None:
                item.on_start()
            try:
                await self._play(self._files.frames(item.content_file))
            except AudioError as exc:
                self._log.warning("cannot play {}: {}", item.content_file.name, exc)
                apology = "Sorry, I couldn't play that one."
                await self._send_json(self._tts(TtsState.SENTENCE_START, apology))
                await self._play(self._speech.frames(apology, item.language))
        elif item.content_type is ContentType.ACTION and item.action is not None:
            await item.action()
        if item.sentence_type is SentenceType.LAST:
            await self._close_turn()

    async def _open_turn(self) -> None:
        await self._send_json(self._tts(TtsState.START))
        self.speaking = True
        self._pacer = Pacer(self._send_frame, frame_s=self._params.frame_s, lead=self._lead)
        # The device resets its decoder when it enters Speaking; give that a moment before audio arrives.
        await asyncio.sleep(self._gap)

    async def _close_turn(self) -> None:
        if self._pacer is not None:
            await asyncio.sleep(self._pacer.playout_remaining() + self._grace)
        self.speaking = False
        self._pacer = None
        await self._send_json(self._tts(TtsState.STOP))

    async def _play(self, frames: AsyncIterator[bytes]) -> None:
        assert self._pacer is not None
        try:
            async for frame in frames:
                await self._pacer.send(frame)
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()           # stops ffmpeg / HTTP at once, also on cancel

    async def _send_frame(self, frame: bytes) -> None:
        await self._send_audio(frame, self.frames_sent * self._params.frame_ms)
        self.frames_sent += 1
        self.last_frame_at = asyncio.get_running_loop().time()

    def _tts(self, state: TtsState, text: str | None = None) -> Tts:
        return Tts(state, text)

