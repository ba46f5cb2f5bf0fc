"""Incremental decode to s16le mono PCM at the output rate with an asyncio ffmpeg subprocess.

Why a subprocess pipe (measured on a 2-core box, 4-min 128 kbps MP3; bench/decoder_bench.py measures it again):
- first PCM after 66 ms (process start dominates), whole song decoded in 0.37 s, 650x real time;
- the Python process stays flat (23 MiB): decoded audio lives only in the pipe and in our small queues, whereas
  pydub held the whole song (147 MiB) before giving anything, and PyAV in-process grew RSS by ~37 MiB;
- ffmpeg runs on the other core without the GIL and is killable at once on barge-in (`kill()` + reap);
- one binary covers mp3, wav (any PCM/float layout), ogg/opus, m4a/aac and flac, plus `loudnorm`.

Input is either `pipe:0` (fed by the fetcher) or, when the container needs seeking (m4a/mp4 with the `moov` atom at
the end cannot be decoded from a pipe), a local path or the URL itself, which ffmpeg then reads with reconnects.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator

from core.audio.fetch import redact_urls

__all__ = ["FfmpegDecoder", "SEEKING_EXTENSIONS", "ffmpeg_args"]

# Containers whose index may sit at the end of the file: ffmpeg must be able to seek, so it reads them itself.
SEEKING_EXTENSIONS = frozenset({".m4a", ".mp4", ".m4b", ".mov", ".3gp"})
_F_SETPIPE_SZ = 1031
# EBU R128 target used by the firmware's p3 tools; aresample brings loudnorm's 192 kHz back down.
_LOUDNORM = "loudnorm=I=-16:TP=-1.5:LRA=11"


def ffmpeg_args(input_spec: str, sample_rate: int, *, loudnorm: bool = False, url_input: bool = False,
                start_ms: int = 0) -> list[str]:
    args = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error"]
    if url_input:
        args += ["-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_on_network_error", "1",
                 "-reconnect_delay_max", "4", "-rw_timeout", "15000000"]
    if start_ms > 0:
        # An input option: ffmpeg seeks in the file (by Range for a URL), then decodes and drops the few ms up to
        # the exact position; nothing before the seek point is fetched or decoded.
        args += ["-ss", f"{start_ms / 1000:.3f}"]
    args += ["-i", input_spec, "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if loudnorm:
        args += ["-af", f"{_LOUDNORM},aresample={sample_rate}"]
    args += ["-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"]
    return args


class FfmpegDecoder:
    """One ffmpeg child. `start()`, optionally `feed(chunks)` (stdin), `read(n)` PCM, then `wait()` or `kill()`."""

    def __init__(self, sample_rate: int, *, input_spec: str = "pipe:0", loudnorm: bool = False,
                 url_input: bool = False, pipe_bytes: int = 16384, start_ms: int = 0) -> None:
        self.args = ffmpeg_args(input_spec, sample_rate, loudnorm=loudnorm, url_input=url_input, start_ms=start_ms)
        self.uses_stdin = input_spec == "pipe:0"
        self.url_input = url_input
        self.proc: asyncio.subprocess.Process | None = None
        self._pipe_bytes = pipe_bytes
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=PIPE if self.uses_stdin else DEVNULL, stdout=PIPE, stderr=PIPE,
            limit=self._pipe_bytes)
        self._shrink_stdout_pipe()
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    def _shrink_stdout_pipe(self) -> None:
        # The default 64 KiB pipe alone would hold 2 s of 16 kHz PCM; a smaller one keeps decode-ahead bounded by
        # our own queue (best effort: Linux only, and harmless if refused).
        with contextlib.suppress(Exception):
            transport = self.proc._transport  # type: ignore[union-attr]  # started by now; private, best effort
            pipe = transport.get_pipe_transport(1).get_extra_info("pipe")
            fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, self._pipe_bytes)

    async def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while chunk := await self.proc.stderr.read(4096):
            self._stderr += chunk
            if len(self._stderr) > 8192:  # corrupt input can print one line per frame; keep the tail
                del self._stderr[:-4096]

    def error_text(self) -> str:
        lines = [ln.strip() for ln in self._stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        return redact_urls(lines[-1])[:200] if lines else ""

    async def feed(self, chunks: AsyncIterator[bytes], depth: int = 4) -> None:
        """Copy `chunks` into stdin through a bounded queue (fetch runs ahead by at most `depth` chunks), then close
        stdin. Fetch errors propagate; a closed stdin (ffmpeg gave up on bad data) just ends the copy."""
        assert self.proc and self.proc.stdin
        stdin = self.proc.stdin
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(depth)

        failure: list[BaseException] = []

        async def fetch() -> None:
            try:
                async with contextlib.aclosing(chunks) as it:  # type: ignore[type-var]  # callers pass async generators
                    async for chunk in it:
                        await queue.put(chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the writer below, which re-raises it
                failure.append(exc)
            await queue.put(None)

        fetcher = asyncio.create_task(fetch())
        try:
            while (chunk := await queue.get()) is not None:
                try:
                    stdin.write(chunk)
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return
            if failure:
                raise failure[0]
        finally:
            if not fetcher.done():
                fetcher.cancel()
                with contextlib.suppress(BaseException):
                    await fetcher
            with contextlib.suppress(Exception):
                stdin.close()

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes of PCM; b'' at the end."""
        assert self.proc and self.proc.stdout
        return await self.proc.stdout.read(n)

    async def wait(self) -> int:
        assert self.proc
        rc = await self.proc.wait()
        if self._stderr_task:
            await self._stderr_task
        return rc

    def kill_now(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def kill(self) -> None:
        """Kill (if still running) and reap the child, so no zombie or open pipe outlives the stream."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        # Python 3.11's Process.wait() also waits for every pipe to disconnect; a stdout pipe paused by
        # back-pressure (or an unclosed stdin) never would, so close the transport's pipes first.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 2.0)
        if self._stderr_task and not self._stderr_task.done():
            self._stderr_task.cancel()
            with contextlib.suppress(BaseException):
                await self._stderr_task
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()


class WarmPool:
    """A few `pipe:0` decoders already started and blocked on stdin.

    Starting ffmpeg (exec, dynamic linking, codec registration) is ~60 of the ~70 ms before the first PCM; a warm
    child gives its first PCM ~7 ms after the first bytes arrive. Each `take()` triggers a refill in the background,
    so the spawn cost moves off the request path. Idle children cost a few MiB each and are killed by `close()`.
    """

    def __init__(self, sample_rate: int, *, loudnorm: bool, size: int, pipe_bytes: int) -> None:
        self._kw = dict(loudnorm=loudnorm, pipe_bytes=pipe_bytes)
        self._rate = sample_rate
        self.size = size
        self._idle: list[FfmpegDecoder] = []
        self._filler: asyncio.Task[None] | None = None
        self._closed = False

    def _new(self) -> FfmpegDecoder:
        return FfmpegDecoder(self._rate, **self._kw)  # type: ignore[arg-type]  # _kw holds FfmpegDecoder keywords

    async def take(self) -> FfmpegDecoder:
        while self._idle:
            dec = self._idle.pop(0)
            if dec.proc is not None and dec.proc.returncode is None:
                self._refill()
                return dec
            await dec.kill()
        dec = self._new()
        await dec.start()
        self._refill()
        return dec

    def _refill(self) -> None:
        if self._closed or self.size <= 0 or (self._filler is not None and not self._filler.done()):
            return
        self._filler = asyncio.create_task(self._fill())

    async def _fill(self) -> None:
        while not self._closed and len(self._idle) < self.size:
            dec = self._new()
            try:
                await dec.start()
            except OSError:
                return  # out of processes/fds: plays still spawn on demand
            if self._closed:
                await dec.kill()
                return
            self._idle.append(dec)

    async def close(self) -> None:
        self._closed = True
        if self._filler is not None and not self._filler.done():
            # Not cancelled: a cancel inside create_subprocess_exec could orphan a just-started child. The filler
            # sees `_closed` after at most one start and kills what it started.
            with contextlib.suppress(Exception):
                await self._filler
        idle, self._idle = self._idle, []
        for dec in idle:
            await dec.kill()
