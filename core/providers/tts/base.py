"""TTS provider interface: text in, 16-bit mono PCM out, streamed sentence by sentence."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

__all__ = ["TTSProvider", "TTSError", "SilentTTS"]


class TTSError(Exception):
    """Synthesis failed (engine missing, hosted service down). Message is log-safe."""


class TTSProvider(Protocol):
    name: str

    @property
    def concurrency(self) -> int:
        """Syntheses the engine runs at once (its worker processes, or what a hosted service takes)."""
        ...

    @property
    def fallbacks(self) -> int:
        """Replies spoken by another engine after this one failed (a router's count; 0 for a single engine)."""
        ...

    def voice_id(self, text: str, language: str) -> str:
        """Names the voice that would speak `text`: part of the phrase cache's key."""
        ...

    def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Yield s16le mono PCM at `sample_rate` as it is produced (any chunk size). `language`: en, hi, te, kn."""
        ...

    async def warm_up(self) -> None:
        """Load the engine now (start-up), so the first child does not wait; raises TTSError if it cannot."""
        ...

    async def aclose(self) -> None: ...


class SilentTTS:
    """provider "none": replies are shown as subtitles (`sentence_start`) but not spoken."""
    name = "none"
    concurrency = 1
    fallbacks = 0

    def voice_id(self, text: str, language: str) -> str:
        return "none"

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover - makes this an async generator
