"""Pick the TTS engine by the reply's language, and cache short fixed phrases.

English -> piper (neural); hi/te/kn (and other Indic) -> espeak-ng. Text written in an Indic script goes to
espeak-ng in that language whatever the label says. If piper fails (missing package, worker crash), English
falls back to espeak-ng for that reply rather than staying silent.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from loguru import logger

from .base import TTSError, TTSProvider
from .text import script_language

__all__ = ["TTSRouter", "CachedTTS"]

_CACHE_MAX_CHARS = 160          # "Now playing ...", greetings and errors; not stories
_CACHE_MAX_BYTES = 48000 * 20   # ~20 s at 24 kHz per entry


class TTSRouter:
    name = "local"

    def __init__(self, english: TTSProvider, other: TTSProvider) -> None:
        self._english = english
        self._other = other

    def pick(self, text: str, language: str) -> tuple[TTSProvider, str]:
        script = script_language(text)
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
            async for chunk in self._other.synthesize(text, lang, sample_rate):
                yield chunk

    async def warm_up(self) -> None:
        for engine in (self._english, self._other):
            warm = getattr(engine, "warm_up", None)
            if warm is not None:
                try:
                    await warm()
                except TTSError as exc:
                    logger.warning("{} TTS not ready: {}", engine.name, exc)

    async def aclose(self) -> None:
        for engine in (self._english, self._other):
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()


class CachedTTS:
    """LRU of complete PCM for short phrases, keyed by (text, language, rate); longer text passes through."""

    def __init__(self, inner: Any, max_entries: int) -> None:
        self._inner = inner
        self._max = max_entries
        self._cache: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self.name = getattr(inner, "name", "tts")

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        key = (" ".join(text.split()), language, sample_rate)
        if self._max <= 0 or len(key[0]) > _CACHE_MAX_CHARS:
            async for chunk in self._inner.synthesize(text, language, sample_rate):
                yield chunk
            return
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            yield hit
            return
        parts: list[bytes] = []
        size = 0
        async for chunk in self._inner.synthesize(text, language, sample_rate):
            parts.append(chunk)
            size += len(chunk)
            yield chunk
        # Only a phrase synthesised to the end is cached (a cancelled one is incomplete).
        if parts and size <= _CACHE_MAX_BYTES:
            self._cache[key] = b"".join(parts)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)

    async def warm_up(self) -> None:
        warm = getattr(self._inner, "warm_up", None)
        if warm is not None:
            await warm()

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()
