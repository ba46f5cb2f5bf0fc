"""ASR provider interface: one utterance of 16 kHz mono PCM in, text out."""
from __future__ import annotations

from typing import Protocol

__all__ = ["ASRProvider", "ASRError"]


class ASRError(Exception):
    """Transcription failed (timeout, hosted service error). Message is log-safe. `busy`: the engine had no slot
    free in time (other devices' speech ahead), so the device is told so rather than "didn't catch that"."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


class ASRProvider(Protocol):
    name: str

    async def transcribe(self, pcm: bytes, sample_rate: int = 16000, *, device: str = "") -> str:
        """Return the text of one utterance ("" for none). Must not block the event loop. `device` names the
        speaker's device so a shared engine can queue devices fairly ("" = one shared queue)."""
        ...

    def set_vocabulary(self, phrases: list[str]) -> None:
        """Hint phrases (catalog titles) that the recogniser should favour."""
        ...
