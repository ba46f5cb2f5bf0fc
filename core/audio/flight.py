"""A flight: one fetch + ffmpeg decode + Opus encode of one object, shared by every listener (single flight).

The producer runs ahead of the fastest listener by at most `ahead` frames (so N listeners cost one paced decode,
not N, and a stalled audience stalls ffmpeg through the pipes). Every batch is appended to the transcode cache's
temp file before listeners see it; the last `ring` frames also stay in memory. A listener at the head reads from
the ring; one that joined late or fell behind reads the already-encoded records from the temp file (by byte offset,
in large reads) and then follows live, each at its own pace. Memory per flight is bounded by the ring and the
offset table (8 bytes per 60 ms frame), whatever the track length or audience size.

When the track ends the temp file becomes the cache entry. When the last listener leaves a flight that was started
for them, the flight stops: ffmpeg is killed and reaped and the temp file removed (an abort leaves nothing behind).
A background flight (a cache fill started by a resume) has no pace-setting listener: it runs at a bounded multiple
of real time and finishes on its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable

from loguru import logger

from core.audio.cache import CacheWriter
from core.audio.p3 import P3FormatError, P3Parser
from core.audio.types import AudioError

__all__ = ["Flight"]

_FILE_BATCH = 256            # records per file read for a listener behind the ring (~60 KiB at 32 kbps)

Producer = Callable[["Flight"], Awaitable[None]]


class Flight:
    def __init__(self, name: str, *, ahead: int, writer: CacheWriter | None, background: bool = False,
                 speed: float = 0.0, frame_s: float = 0.06, on_end: Callable[[Flight], None] | None = None) -> None:
        self.name = name
        self.ahead = ahead
        self.writer = writer
        self.background = background
        self.speed = speed                       # background pace: frames per frame period (0 = unpaced)
        self.frame_s = frame_s
        self._on_end = on_end
        self._ring: deque[bytes] = deque()
        self._ring_max: int | None = ahead + 64  # None: the file failed, so the ring keeps what the file lacks
        self.base = 0                            # index of the ring's first frame
        self.produced = 0
        self._offsets = array("Q", [0])          # offsets[n] = bytes in the temp file before record n
        self._rfd: int | None = None
        self.done = False
        self.error: AudioError | None = None
        self._tick = asyncio.Event()             # replaced after each batch; listeners wait on the current one
        self._want = asyncio.Event()             # a listener moved: the producer may go on
        self._positions: dict[int, int] = {}
        self._next_id = 0
        self.listened = 0                        # listeners ever attached (for logs and tests)
        self.task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._ended = False
        self._kill_hooks: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ producer side

    def start(self, producer: Producer) -> None:
        self.task = asyncio.create_task(self._run(producer))

    async def _run(self, producer: Producer) -> None:
        try:
            if self.writer is not None:
                try:
                    await self.writer.open()
                    self._rfd = os.open(self.writer.tmp, os.O_RDONLY)
                except OSError as exc:
                    logger.warning("audio cache: cannot create a temp file ({}); playing without caching",
                                   exc.strerror)
                    await self._drop_writer()
            await producer(self)
        except asyncio.CancelledError:
            self._fail(AudioError(f"{self.name}: stopped"))
            raise
        except AudioError as exc:
            self._fail(exc)
        except Exception as exc:  # noqa: BLE001 - contained to this one item
            logger.opt(exception=exc).error("audio pipeline failure on {}", self.name)
            self._fail(AudioError(f"{self.name}: internal audio error ({type(exc).__name__})"))
        finally:
            if self.writer is not None and not self.writer.closed:
                self.writer.discard_sync()       # anything not committed by now is not a complete entry
            self._end()

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Register a synchronous cleanup (kill ffmpeg, release the socket) run first when the flight is stopped."""
        self._kill_hooks.append(hook)

    async def wait_for_demand(self) -> None:
        """Block while the producer is far enough ahead of every listener (or of its background pace)."""
        while self.produced >= self._target():
            self._want.clear()
            if self.background and not self._positions and self.speed > 0:
                due = self._started + (self.produced - self.ahead) / self.speed * self.frame_s
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._want.wait(), max(0.0, due - time.monotonic()))
            else:
                await self._want.wait()

    def deadline(self) -> float:
        """When the next frame to produce is needed (time.monotonic): a listener consumes one frame per `frame_s`
        from the flight's start, so frame n is due at start + n x frame_s (early for a stream announced first, which
        only makes its first frames more urgent). Background fills have no listener waiting: they come last."""
        if self.background and not self._positions:
            return time.monotonic() + 3600.0
        return self._started + self.produced * self.frame_s

    def _target(self) -> int:
        target = max(self._positions.values(), default=-1) + self.ahead if self._positions else 0
        if self.background:
            if self.speed <= 0:
                return 1 << 62
            paced = int((time.monotonic() - self._started) / self.frame_s * self.speed) + self.ahead
            target = max(target, paced)
        return target

    async def add(self, packets: list[bytes]) -> None:
        """Publish a batch: to the temp file first (late listeners read it there), then to the ring."""
        if not packets:
            return
        if self.writer is not None:
            try:
                await self.writer.add(packets)
                await self.writer.flush()
            except OSError as exc:   # a full or read-only disk costs only the caching, never the playback
                logger.warning("audio cache: write failed ({}); playing without caching", exc.strerror)
                await self._drop_writer()
            else:
                offs = self._offsets
                pos = offs[-1]
                for p in packets:
                    pos += 4 + len(p)
                    offs.append(pos)
        ring = self._ring
        ring.extend(packets)
        self.produced += len(packets)
        if self._ring_max is not None:
            while len(ring) > self._ring_max:
                ring.popleft()
                self.base += 1
        self._wake()

    async def _drop_writer(self) -> None:
        writer, self.writer = self.writer, None
        self._ring_max = None                    # frames from here on live only in memory
        if writer is not None and not writer.closed:
            await writer.discard()
        if self._on_end is not None:             # no longer a cache fill: later plays must not join it
            self._on_end(self)

    async def commit(self) -> None:
        writer = self.writer
        if writer is None:
            return
        try:
            await writer.commit()
        except OSError as exc:
            logger.warning("audio cache: commit of {} failed ({})", self.name, exc.strerror)
            await writer.discard()
            return
        logger.debug("audio cache: stored {} ({} frames)", self.name, writer.frames)

    def finish(self) -> None:
        self.done = True
        self._wake()

    def _fail(self, exc: AudioError) -> None:
        if not self.done:
            self.error = exc
            self.done = True
        self._wake()

    def _wake(self) -> None:
        ev, self._tick = self._tick, asyncio.Event()
        ev.set()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end(self)
            self._maybe_close_fd()

    def _maybe_close_fd(self) -> None:
        if self._rfd is not None and self.done and not self._positions:
            fd, self._rfd = self._rfd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    # ------------------------------------------------------------------ listener side

    async def listen(self, start: int = 0) -> AsyncGenerator[bytes, None]:
        """Every frame from `start` on, at the consumer's pace. Raises the flight's AudioError where it failed."""
        lid = self._next_id
        self._next_id += 1
        self.listened += 1
        self._positions[lid] = start
        pos = start
        try:
            while True:
                if pos < self.produced:
                    if pos >= self.base:
                        packet = self._ring[pos - self.base]
                        pos += 1
                        self._moved(lid, pos)
                        yield packet
                        continue
                    for packet in await self._read_file(pos):
                        pos += 1
                        self._moved(lid, pos)
                        yield packet
                    continue
                if self.done:
                    if self.error is not None:
                        raise self.error
                    return
                tick = self._tick
                self._moved(lid, pos)
                await tick.wait()
        finally:
            await self._leave(lid)

    def _moved(self, lid: int, pos: int) -> None:
        self._positions[lid] = pos
        if pos + self.ahead > self.produced and not self._want.is_set():
            self._want.set()

    async def _read_file(self, pos: int) -> list[bytes]:
        fd = self._rfd
        if fd is None or pos + 1 >= len(self._offsets):
            raise AudioError(f"{self.name}: frames behind the shared transcode are no longer available")
        end = min(self.base, pos + _FILE_BATCH, len(self._offsets) - 1)
        lo, hi = self._offsets[pos], self._offsets[end]
        data = await asyncio.to_thread(os.pread, fd, hi - lo, lo)
        parser = P3Parser()
        try:
            packets = parser.feed(data)
            parser.finish()
        except P3FormatError as exc:
            raise AudioError(f"{self.name}: shared transcode file damaged ({exc})") from None
        if len(packets) != end - pos:
            raise AudioError(f"{self.name}: shared transcode file short read")
        return packets

    async def _leave(self, lid: int) -> None:
        self._positions.pop(lid, None)
        if not self._positions and not self.done and not self.background:
            await self.stop()                    # nobody listens any more: an abort leaves nothing behind
        else:
            if self._positions:
                self._want.set()                 # the pace-setter may have left
            self._maybe_close_fd()

    async def stop(self) -> None:
        """Cancel the producer and wait until it has killed ffmpeg and removed the temp file."""
        task = self.task
        if self._on_end is not None and not self._ended:
            self._on_end(self)                   # nobody may join a flight that is going away
        # Synchronous part first: even if this stop is itself cancelled, the child is dead, the socket released
        # and no partial cache entry remains.
        for hook in self._kill_hooks:
            with contextlib.suppress(Exception):
                hook()
        if self.writer is not None and not self.writer.closed:
            self.writer.discard_sync()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._fail(AudioError(f"{self.name}: stopped"))
        self._end()
        self._maybe_close_fd()
