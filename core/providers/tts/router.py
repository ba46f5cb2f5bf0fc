"""Pick the TTS engine by the reply's language (short fixed phrases are cached as Opus by core/playback/speech.py).

English -> piper (neural); hi/te/kn (and other Indic) -> espeak-ng. Text written in an Indic script goes to
espeak-ng in that language whatever the label says. If piper fails (missing package, worker crash), English
falls back to espeak-ng for that reply rather than staying silent.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

from loguru import logger

from core.lang.script import native_language

from .base import TTSError, TTSProvider

__all__ = ["TTSRouter"]



class TTSRouter:
    name = "local"

    def __init__(self, english: TTSProvider, other: TTSProvider) -> None:
        self._english = english
        self._other = other
        self.fallbacks = 0          # replies spoken by the other engine after the English one failed

    @property
    def concurrency(self) -> int:
        return self._english.concurrency

    def voice_id(self, text: str, language: str) -> str:
        engine, lang = self.pick(text, language)
        return engine.voice_id(text, lang)

    def pick(self, text: str, language: str) -> tuple[TTSProvider, str]:
        script = native_language(text)
        if script is not None:
            return self._other, script
        lang = (language or "en").split("-")[0].lower()
        return (self._english, "en") if lang == "en" else (self._other, lang)

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        engine, lang = self.pick(text, language)
        if engine is self._other:
            async for chunk in self._other.synthesize(text, lang, sample_rate):
                yield chunk
            return
        produced = False
        try:
            async for chunk in engine.synthesize(text, lang, sample_rate):
                produced = True
                yield chunk
        except TTSError as exc:
            if produced:
                raise
            logger.warning("{} TTS failed ({}); speaking this reply with {}", engine.name, exc, self._other.name)
            self.fallbacks += 1
            async for chunk in self._other.synthesize(text, lang, sample_rate):
                yield chunk

    async def warm_up(self) -> None:
        for engine in (self._english, self._other):
            try:
                await engine.warm_up()
            except TTSError as exc:
                logger.warning("{} TTS not ready: {}", engine.name, exc)

    async def aclose(self) -> None:
        for engine in (self._english, self._other):
            await engine.aclose()
