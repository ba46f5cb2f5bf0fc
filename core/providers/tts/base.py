"""TTS provider interface: text in, 16-bit mono PCM out, streamed sentence by sentence."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

__all__ = ["TTSProvider", "TTSError", "SilentTTS"]


class TTSError(Exception):
    """Synthesis failed (engine missing, hosted service down). Message is log-safe."""


class TTSProvider(Protocol):
    name: str

    def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Yield s16le mono PCM at `sample_rate` as it is produced (any chunk size). `language`: en, hi, te, kn."""
        ...


class SilentTTS:
    """provider "none": replies are shown as subtitles (`sentence_start`) but not spoken."""
    name = "none"

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover - makes this an async generator
