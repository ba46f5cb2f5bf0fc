"""Build the TTS provider named by `voice.tts.provider`."""
from __future__ import annotations

from core.config import TTSConfig

from .base import SilentTTS, TTSProvider
from .espeak import EspeakTTS
from .openai import OpenAITTS
from .piper import PiperTTS
from .router import TTSRouter

__all__ = ["build_tts"]


def build_tts(cfg: TTSConfig) -> TTSProvider:
    """local: piper for English + espeak-ng for hi/te/kn; espeak: espeak-ng for all; openai: hosted; none: silent.

    Engines start lazily; `await tts.warm_up()` at start-up loads the piper voice before the first reply.
    """
    if cfg.provider == "none":
        return SilentTTS()
    espeak = EspeakTTS(english_voice=cfg.espeak_english_voice, timeout_s=cfg.timeout_s)
    if cfg.provider == "openai":
        return OpenAITTS(cfg)
    if cfg.provider == "espeak" or cfg.english_voice == "espeak":
        return espeak
    return TTSRouter(PiperTTS(cfg.piper_model, timeout_s=cfg.timeout_s, workers=cfg.pool_size()), espeak)
