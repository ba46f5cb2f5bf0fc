"""In-process decoding of local files with PyAV (libavformat/libavcodec/libswresample, the libraries ffmpeg is built
from), with the same interface as `FfmpegDecoder` so a flight can use either.

Why, measured side by side by bench/decoder_bench.py on this 2-core machine (4-minute 128 kbps MP3):
- no process start: first PCM ~8 ms vs ~70-400 ms for a spawned ffmpeg (the warm pool hides that latency only for
  piped URL streams, and never its CPU);
- ~35 % less CPU per minute of audio (no pipe copies, no process);
- ~1 MiB per open decoder vs ~12 MiB PSS per ffmpeg child: 150 cold streams fit in ~150 MiB instead of ~1.8 GiB.
Each decode step runs in a worker thread (the pipeline's earliest-deadline-first workers, core/audio/work.py);
libav* releases the GIL while decoding, so the event loop stays free.

Used for local files played from the start without loudness normalisation; URLs (fetched by our own resuming
fetcher, or read by ffmpeg when they must be seeked), `-ss` resumes and `loudnorm` stay with ffmpeg.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import av

__all__ = ["AvDecoder"]

Runner = Callable[..., Awaitable[Any]]


class AvDecoder:
    url_input = False
    pid = None

    def __init__(self, path: str, sample_rate: int, runner: Runner | None = None) -> None:
        self._run: Runner = runner or asyncio.to_thread   # where decode steps run (the pipeline's deadline work)
        self.path = path
        self.rate = sample_rate
        self._container: Any = None
        self._packets: Any = None
        self._resampler: Any = None
        self._buf = bytearray()
        self._eof = False
        self._error = ""
        self._lock = threading.RLock()           # one libav call at a time per decoder; close waits for a step
        self._closed = False

    async def start(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        try:
            self._container = av.open(self.path, mode="r", metadata_errors="ignore")
            stream = self._container.streams.audio[0]
        except (av.FFmpegError, IndexError, OSError, UnicodeDecodeError) as exc:
            self._fail(exc)
            return
        self._packets = self._container.demux(stream)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, IndexError):
            self._error = "no audio stream"
        else:
            # libav messages name the file; keep only the reason (the path is in the caller's log line anyway)
            self._error = (getattr(exc, "strerror", None) or type(exc).__name__).strip()
        self._eof = True
        self._close_sync()

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes of s16le mono PCM (more may be buffered); b'' at the end or after an error."""
        if len(self._buf) < n and not self._eof:
            await self._run(self._decode_until, n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _decode_until(self, n: int) -> None:
        with self._lock:
            while len(self._buf) < n and not self._eof and not self._closed:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    self._eof = True
                    for r in self._resampler.resample(None):   # the resampler's tail
                        self._take(r)
                    break
                except (av.FFmpegError, OSError) as exc:
                    self._fail(exc)
                    break
                try:
                    for frame in packet.decode():
                        for r in self._resampler.resample(frame):
                            self._take(r)
                except av.FFmpegError as exc:
                    self._fail(exc)
                    break

    def _take(self, frame: Any) -> None:
        self._buf += memoryview(frame.planes[0])[: frame.samples * 2]

    async def wait(self) -> int:
        await self.kill()
        return 1 if self._error else 0

    def error_text(self) -> str:
        return self._error[:200]

    def kill_now(self) -> None:
        self._closed = True       # a step in progress stops after its current packet

    async def kill(self) -> None:
        self._closed = True
        if self._container is not None:
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._lock:
            container, self._container = self._container, None
            self._packets = None
            if container is not None:
                container.close()
