"""espeak-ng TTS for Hindi, Telugu and Kannada (and English as a fallback), one process per sentence.

espeak-ng is GPL-3 and runs only as a separate program. Text goes in on stdin (never as an argument, so a
reply can't become an option); it synthesises ~1000x faster than real time, so per-sentence processes cost
a few milliseconds.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator

from core.audio.resample import WavResampler
from core.lang import registry

from .base import TTSError
from .text import split_sentences

__all__ = ["EspeakTTS", "ESPEAK_VOICES"]

# Voices for languages the registry does not have (a reply is rarely in one); a registered language names its
# own voice in its record (core/lang/languages/).
ESPEAK_VOICES = {"ta": "ta", "mr": "mr", "bn": "bn", "en": "en-us"}


class EspeakTTS:
    name = "espeak"

    def __init__(self, *, english_voice: str = "en-us+f3", timeout_s: float = 10.0, binary: str = "espeak-ng",
                 speed_wpm: int = 150) -> None:
        self._voices = {**ESPEAK_VOICES, "en": english_voice}
        self._timeout = timeout_s
        self._binary = binary
        self._speed = speed_wpm

    def voice_for(self, language: str) -> str:
        code = (language or "en").split("-")[0].lower()
        record = registry.find(code)
        if code != registry.DEFAULT and record is not None and record.tts_voice:
            return record.tts_voice
        return self._voices.get(code, self._voices["en"])

    @property
    def concurrency(self) -> int:
        return os.cpu_count() or 2           # one single-threaded process per call

    fallbacks = 0

    def voice_id(self, text: str, language: str) -> str:
        return f"espeak:{self.voice_for(language)}:{self._speed}"

    async def warm_up(self) -> None:
        if shutil.which(self._binary) is None:
            raise TTSError(f"{self._binary} is not installed; apt-get install espeak-ng")

    async def _run(self, sentence: str, voice: str) -> bytes:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary, "-v", voice, "-s", str(self._speed), "-b", "1", "--stdin", "--stdout",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise TTSError(f"cannot run {self._binary}: {exc.strerror}; apt-get install espeak-ng") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(sentence.encode("utf-8") + b"\n"), self._timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise TTSError(f"espeak-ng took longer than {self._timeout:.0f} s") from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            raise TTSError(f"espeak-ng failed (voice {voice}): {err.decode('utf-8', 'replace').strip()[:120]}")
        return out

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        voice = self.voice_for(language)
        wavs = WavResampler(sample_rate)
        for sentence in split_sentences(text):
            data = await self._run(sentence, voice)
            try:
                out = wavs.push(data)
            except ValueError as exc:
                raise TTSError(f"espeak-ng output unreadable: {exc}") from None
            if out:
                yield out
        if tail := wavs.flush():
            yield tail

    async def aclose(self) -> None:
        return None
