"""The turn renderer: plays what the player asks for as one speaking turn on the device.

A turn is a list of segments — spoken lines and tracks from a position — rendered as
`tts start` -> per segment `tts sentence_start {text}` + paced Opus frames -> `tts stop` once the last frame has
played out (docs/xiaozhi-protocol.md §3.4, §6.2). A turn whose last segment is a track stays open: when that track's
stream is exhausted (about `lookahead_s` before its audio ends on the device) the renderer reports `near_end`, and
the session answers with the next segment (continuous play: its stream is opened and filled while the current one
drains, so the gap is a frame or two) or with the end of the turn.

It decides nothing: it reports `started`, `near_end`, `finished` and `failed` through callbacks and reads its inbox.
Cancellation (abort, a new request, a pause) is the task being cancelled; `progress` then tells where the device was.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from loguru import logger

from core.audio.types import AudioBusy, AudioError, AudioParams, AudioSource
from core.content.titles import spoken_form
from core.content.types import Track
from core.lang.replies import say
from core.playback.fade import Fader
from core.playback.pacer import Pacer
from core.protocol.messages import ServerMessage, Tts, TtsState

__all__ = ["SpeechSeg", "TrackSeg", "EndOfTurn", "Segment", "Turn", "TurnCallbacks", "TurnRenderer", "Progress"]


@dataclass(frozen=True, slots=True)
class SpeechSeg:
    text: str
    language: str = "en"
    announces: bool = False       # only announces the next track: may be dropped when it is not ready in time


@dataclass(frozen=True, slots=True)
class TrackSeg:
    track: Track
    start_ms: int = 0
    etag: str | None = None       # the version the position belongs to; a changed object starts over
    language: str = "en"          # of the apologies this segment may need


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    pass


Segment = SpeechSeg | TrackSeg


@dataclass(frozen=True, slots=True)
class Turn:
    id: int
    segments: tuple[Segment, ...]


class FrameSource(Protocol):
    def frames(self, source: AudioSource, *, holder: object = None) -> AsyncIterator[bytes]: ...


class SpeechSource(Protocol):
    def frames(self, text: str, language: str, *, device: str = "") -> AsyncIterator[bytes]: ...

    async def announcement(self, text: str, language: str, *, device: str = "") -> tuple[bytes, ...] | None: ...


OpenSource = Callable[[Track, int], Awaitable[AudioSource]]
SendJson = Callable[[ServerMessage], Awaitable[None]]
SendAudio = Callable[[bytes, int], Awaitable[None]]      # (opus packet, timestamp ms)


@dataclass(slots=True)
class TurnCallbacks:
    """Reports to the session (synchronous: they only feed the session core)."""
    started: Callable[[int, Track, int, str | None], None]     # turn id, track, start_ms, etag
    near_end: Callable[[int, Track], None]                     # the track's stream is exhausted: what follows?
    finished: Callable[[int, Track, int], None]                # turn id, track, duration_ms (its end)
    failed: Callable[[int, Track, bool], None]                 # turn id, track, busy
    spoke: Callable[[int], None] | None = None                 # turn id: its first spoken frame went out


@dataclass(slots=True)
class Progress:
    """Where the device is in the current track segment (for positions on pause, save and disconnect)."""
    track: Track | None = None
    start_ms: int = 0
    frames: int = 0
    pacer: Pacer | None = None
    frame_ms: int = 60

    def position_ms(self) -> int | None:
        if self.track is None:
            return None
        lead = self.pacer.playout_remaining() if self.pacer is not None else 0.0
        played = max(0, self.frames * self.frame_ms - int(lead * 1000))
        return self.start_ms + played


class _Lookahead:
    """Pulls a stream's frames ahead into a small deque, so the next stream can be opened before this one ends."""

    def __init__(self, frames: AsyncIterator[bytes], size: int) -> None:
        self._frames = frames
        self._buf: deque[bytes] = deque()
        self._size = size
        self._space = asyncio.Event()
        self._ready = asyncio.Event()
        self.eof = asyncio.Event()
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for f in self._frames:
                while len(self._buf) >= self._size:
                    self._space.clear()
                    await self._space.wait()
                self._buf.append(f)
                self._ready.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:     # noqa: BLE001 - handed to the consumer in order, after the frames before it
            self.error = exc
        finally:
            self.eof.set()
            self._ready.set()

    async def get(self) -> bytes | None:
        """The next frame; None at the end of the stream; raises the stream's error after its last frame."""
        while not self._buf:
            if self.eof.is_set():
                if self.error is not None:
                    raise self.error
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._buf.popleft()
        self._space.set()
        return frame

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        aclose = getattr(self._frames, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


@dataclass(slots=True)
class _Opened:
    seg: TrackSeg
    source: AudioSource | None
    ahead: _Lookahead | None
    changed: bool = False
    error: AudioError | None = None


def _refused(opening: asyncio.Task[_Opened] | None) -> bool:
    """The track being opened was refused as busy (the node's audio budget is full)."""
    if opening is None or not opening.done() or opening.cancelled() or opening.exception() is not None:
        return False
    o = opening.result()
    return isinstance(o.error, AudioBusy) or (o.ahead is not None and isinstance(o.ahead.error, AudioBusy))


async def _discard(task: asyncio.Task[_Opened]) -> None:
    """Drop a prefetched next track (the turn was cancelled or ended): stop its stream."""
    task.cancel()
    with contextlib.suppress(BaseException):
        o = await task
        if o.ahead is not None:
            await o.ahead.aclose()


class TurnRenderer:
    """One per connection; `render(turn)` runs as one task and is cancelled to stop."""

    def __init__(self, *, send_json: SendJson, send_audio: SendAudio, files: FrameSource, speech: SpeechSource,
                 open_source: OpenSource, params: AudioParams, callbacks: TurnCallbacks, lead_frames: int = 3,
                 stop_grace_s: float = 0.12, first_frame_gap_s: float = 0.06, lookahead_s: float = 2.0,
                 device: str = "", on_reanchor: Callable[[float], None] | None = None,
                 on_late: Callable[[], None] | None = None, log: Any = logger) -> None:
        self._on_reanchor = on_reanchor
        self._on_late = on_late
        self._device = device             # fair queueing of this device's replies in the speech engines
        self._send_json = send_json
        self._send_audio = send_audio
        self._files = files
        self._speech = speech
        self._open = open_source
        self._params = params
        self._cb = callbacks
        self._lead = lead_frames
        self._grace = stop_grace_s
        self._gap = first_frame_gap_s
        self._ahead = max(4, round(lookahead_s / params.frame_s))
        self._log = log
        self.inbox: asyncio.Queue[Segment | EndOfTurn] = asyncio.Queue()
        self.progress = Progress(frame_ms=params.frame_ms)
        self.turn_id = 0
        self.frames_sent = 0
        self._fader: Fader | None = None
        self._fade_frames = 0
        self._unspoken: int | None = None     # the turn whose first spoken frame is still to be reported

    # ------------------------------------------------------------------ control from the session

    def fade_out(self, seconds: float) -> None:
        """Ramp the gain of the frames still to come down to silence over `seconds`."""
        self._fade_frames = max(1, round(seconds / self._params.frame_s))
        self._fader = None

    def reset(self, turn_id: int) -> None:
        """A new turn starts: forget the old one's inbox and progress."""
        self.turn_id = turn_id
        self.inbox = asyncio.Queue()
        self.progress = Progress(frame_ms=self._params.frame_ms)
        self._fader = None
        self._fade_frames = 0

    # ------------------------------------------------------------------ the turn

    async def render(self, turn: Turn) -> None:
        await self._send_json(Tts(TtsState.START))
        pacer = Pacer(self._send_frame, frame_s=self._params.frame_s, lead=self._lead, on_reanchor=self._on_reanchor,
                      on_late=self._on_late)
        self.progress.pacer = pacer
        self._unspoken = turn.id
        # The device resets its decoder when it enters Speaking; give that a moment before audio arrives.
        await asyncio.sleep(self._gap)
        pending: deque[Segment] = deque(turn.segments)
        opened: asyncio.Task[_Opened] | None = None
        try:
            while pending or opened is not None:
                if opened is None:
                    head = pending.popleft()
                    if isinstance(head, SpeechSeg) and pending and isinstance(track := pending[0], TrackSeg):
                        # open the track while its announcement plays: a busy node answers within the announcement
                        pending.popleft()
                        opened = asyncio.create_task(self._start(track))
                    if isinstance(head, SpeechSeg):
                        if head.announces:
                            await self._announce(pacer, head, opened)
                        else:
                            await self._say(pacer, head.text, head.language)
                        continue
                    opened = asyncio.create_task(self._start(head))
                current, opened = opened, None
                opened = await self._track(turn, pacer, current, last=not pending)
            await asyncio.sleep(pacer.playout_remaining() + self._grace)
            self.progress.track = None
            await self._send_json(Tts(TtsState.STOP))
        finally:
            if opened is not None:
                await _discard(opened)

    async def _announce(self, pacer: Pacer, seg: SpeechSeg, opening: asyncio.Task[_Opened] | None = None) -> None:
        """"Now playing ..." only if it is ready within its budget: the track must not wait for a slow render.
        The track is opened while it plays (its first frame is then ready when the announcement ends); if the node
        refuses the track as busy meanwhile, the announcement stops there and the device hears "busy" at once."""
        frames = await self._speech.announcement(seg.text, seg.language, device=self._device)
        if not frames:
            self._log.debug("announcement not ready in time; the track starts without it")
            return
        if _refused(opening):
            return
        await self._send_json(Tts(TtsState.SENTENCE_START, seg.text))
        for frame in frames:
            if _refused(opening):
                return
            await pacer.send(self._faded(frame))
            if self._unspoken is not None:
                self._spoke()

    async def _say(self, pacer: Pacer, text: str, language: str) -> None:
        await self._send_json(Tts(TtsState.SENTENCE_START, text))
        frames = self._speech.frames(text, language, device=self._device)
        try:
            async for frame in frames:
                await pacer.send(self._faded(frame))
                if self._unspoken is not None:
                    self._spoke()
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()

    def _spoke(self) -> None:
        turn_id, self._unspoken = self._unspoken, None
        if turn_id is not None and self._cb.spoke is not None:
            self._cb.spoke(turn_id)

    async def _start(self, seg: TrackSeg) -> _Opened:
        """Resolve the track's source and start pulling its frames (runs ahead of the current track's end)."""
        try:
            source = await self._open(seg.track, seg.start_ms)
        except AudioError as exc:
            return _Opened(seg, None, None, error=exc)
        changed = bool(seg.start_ms and seg.etag and source.etag and source.etag != seg.etag)
        if changed:
            # The object changed since the position was taken: that position means nothing in the new file.
            self._log.info("{} changed since its position was saved; starting it over", seg.track.uid)
            seg, source = replace(seg, start_ms=0), replace(source, start_ms=0)
        # `holder`: the next item opened early never waits for a decoder behind this device's own current one
        frames = self._files.frames(source, holder=self._device or self)
        return _Opened(seg, source, _Lookahead(frames, self._ahead), changed=changed)

    async def _track(self, turn: Turn, pacer: Pacer, opening: asyncio.Task[_Opened], *, last: bool
                     ) -> asyncio.Task[_Opened] | None:
        """Play one track. As its turn's last segment, ask what follows as soon as its stream is exhausted and
        start opening that next one while this one drains; returns that opening (or None: the turn ends)."""
        nxt: asyncio.Task[_Opened] | None = None
        o = await opening
        seg = o.seg
        try:
            if o.error is not None:
                raise o.error
            assert o.ahead is not None and o.source is not None
            if o.changed:
                await self._say(pacer, say("changed_restart", seg.language, title=spoken_form(seg.track.display_title)),
                                seg.language)
            self.progress.track, self.progress.start_ms, self.progress.frames = seg.track, seg.start_ms, 0
            # the first frame before the title: a track refused as busy says nothing of itself before "busy"
            frame = await o.ahead.get()
            await self._send_json(Tts(TtsState.SENTENCE_START, seg.track.display_title))
            asked = False
            while True:
                if self.progress.frames:
                    frame = await o.ahead.get()
                if frame is None:
                    break
                await pacer.send(self._faded(frame))
                self.progress.frames += 1
                if self.progress.frames == 1:
                    self._cb.started(turn.id, seg.track, seg.start_ms, o.source.etag)
                if last and not asked and o.ahead.eof.is_set() and o.ahead.error is None:
                    asked = True          # its stream is exhausted: open what follows while this one drains
                    nxt = self._follow(turn, seg.track)
            if last and not asked:
                nxt = self._follow(turn, seg.track)
            self._cb.finished(turn.id, seg.track, seg.start_ms + self.progress.frames * self._params.frame_ms)
            return nxt
        except AudioError as exc:
            busy = isinstance(exc, AudioBusy)
            self._log.warning("cannot play {}: {}", seg.track.uid, exc)
            if nxt is not None:
                await _discard(nxt)
            await self._say(pacer, say("busy" if busy else "cannot_play", seg.language), seg.language)
            self.progress.track = None
            self._cb.failed(turn.id, seg.track, busy)
            return await self._answer() if last else None
        except BaseException:
            if nxt is not None:
                await _discard(nxt)
            raise
        finally:
            if o.ahead is not None:
                await o.ahead.aclose()

    def _follow(self, turn: Turn, track: Track) -> asyncio.Task[_Opened] | None:
        """Report the end of `track`'s stream; the session answers at once (synchronously) in the inbox."""
        self._cb.near_end(turn.id, track)
        follow = self.inbox.get_nowait() if not self.inbox.empty() else EndOfTurn()
        return asyncio.create_task(self._start(follow)) if isinstance(follow, TrackSeg) else None

    async def _answer(self) -> asyncio.Task[_Opened] | None:
        follow = self.inbox.get_nowait() if not self.inbox.empty() else EndOfTurn()
        return asyncio.create_task(self._start(follow)) if isinstance(follow, TrackSeg) else None

    def _faded(self, frame: bytes) -> bytes:
        if self._fade_frames:
            if self._fader is None:
                self._fader = Fader(self._params, self._fade_frames)
            return self._fader.apply(frame)
        return frame

    async def _send_frame(self, frame: bytes) -> None:
        await self._send_audio(frame, self.frames_sent * self._params.frame_ms)
        self.frames_sent += 1
