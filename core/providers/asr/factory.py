"""Build the ASR provider named by `voice.asr.provider`."""
from __future__ import annotations

from core.config import ASRConfig

from .base import ASRProvider
from .openai import OpenAIASR
from .whisper import WhisperASR

__all__ = ["build_asr"]


def build_asr(cfg: ASRConfig) -> ASRProvider | None:
    """None for provider "none" (voice input off). Whisper loads lazily: call `await asr.warm_up()` at start-up."""
    if cfg.provider == "none":
        return None
    if cfg.provider == "openai":
        return OpenAIASR(cfg)
    return WhisperASR(cfg)
