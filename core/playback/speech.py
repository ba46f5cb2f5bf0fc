"""Spoken replies as Opus frames: TTS PCM -> 60 ms Opus, with a cache for fixed phrases.

Fixed phrases ("Now playing ...", apologies, greetings) repeat constantly, so their frames are kept in a small
LRU: the second "Sorry, I didn't catch that" costs no synthesis and no encoding.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from loguru import logger

from core.providers.tts.base import TTSError, TTSProvider

__all__ = ["SpeechRenderer"]

EncodePcm = Callable[[AsyncIterator[bytes], int], AsyncIterator[bytes]]


class SpeechRenderer:
    def __init__(self, tts: TTSProvider, encode_pcm: EncodePcm, sample_rate: int, *, cache_phrases: int = 256,
                 max_cached_chars: int = 160) -> None:
        self._tts = tts
        self._encode = encode_pcm
        self._rate = sample_rate
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, ...]] = OrderedDict()
        self._cache_size = cache_phrases
        self._max_chars = max_cached_chars
        self.synth_count = 0

    async def frames(self, text: str, language: str) -> AsyncIterator[bytes]:
        key = (text, language)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            for frame in cached:
                yield frame
            return
        self.synth_count += 1
        out: list[bytes] = []
        pcm = self._tts.synthesize(text, language, self._rate)
        opus = self._encode(pcm, self._rate)
        try:
            async for frame in opus:
                out.append(frame)
                yield frame
        except TTSError as exc:
            logger.warning("speech for a {}-char {} reply failed: {}", len(text), language, exc)
            return
        finally:
            await opus.aclose()
            await pcm.aclose()
        if out and len(text) <= self._max_chars and self._cache_size > 0:
            self._cache[key] = tuple(out)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
