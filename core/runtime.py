"""The shared services of one server process, built once from the Config and passed to every session."""
from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioParams
from core.auth import Authenticator
from core.config import Config
from core.content.service import ContentService
from core.listener_base import NullVoiceInputFactory, VoiceInputFactory
from core.playback.speech import SpeechRenderer
from core.providers.intent.base import IntentProvider
from core.providers.tts.base import SilentTTS, TTSProvider
from plugins_func.loader import default_functions
from plugins_func.registry import PluginRegistry

__all__ = ["Runtime"]


@dataclass(slots=True)
class Runtime:
    config: Config
    params: AudioParams
    auth: Authenticator
    content: ContentService
    pipeline: AudioPipeline
    speech: SpeechRenderer
    registry: PluginRegistry
    intent: IntentProvider
    voice: VoiceInputFactory

    @classmethod
    async def create(cls, cfg: Config) -> Runtime:
        params = AudioParams(sample_rate=cfg.audio.sample_rate, frame_ms=cfg.audio.frame_ms)
        content = ContentService.from_config(cfg)
        await content.start()
        pipeline = AudioPipeline.from_config(cfg, params)
        await pipeline.start()
        tts = _build_tts(cfg)
        speech = SpeechRenderer(tts, pipeline.encode_pcm, params.sample_rate,
                                cache_phrases=cfg.voice.tts.cache_phrases)
        registry = PluginRegistry(default_functions())
        intent = _build_intent(cfg, registry)
        voice = _build_voice(cfg, content)
        logger.info("ready: {} tracks, downlink opus {} Hz, tts={}, asr={}, intent={}", len(content.tracks()),
                    params.sample_rate, cfg.voice.tts.provider, cfg.voice.asr.provider, cfg.voice.intent.provider)
        return cls(cfg, params, Authenticator(cfg.server.auth), content, pipeline, speech, registry, intent, voice)

    async def close(self) -> None:
        await self.pipeline.close()
        await self.content.close()


def _build_tts(cfg: Config) -> TTSProvider:
    if cfg.voice.tts.provider == "none":
        return SilentTTS()
    from core.providers.tts.factory import build_tts
    return build_tts(cfg.voice.tts)


def _build_intent(cfg: Config, registry: PluginRegistry) -> IntentProvider:
    from core.providers.intent.rules import RulesIntentProvider
    rules = RulesIntentProvider()
    if cfg.voice.intent.provider == "rules":
        return rules
    from core.providers.intent.factory import build_intent
    return build_intent(cfg.voice.intent, registry, rules)


def _build_voice(cfg: Config, content: ContentService) -> VoiceInputFactory:
    if cfg.voice.asr.provider == "none":
        return NullVoiceInputFactory()
    from core.listener import ListenerFactory
    from core.providers.asr.factory import build_asr
    from core.providers.vad.factory import build_vad
    asr = build_asr(cfg.voice.asr)
    asr.set_vocabulary(sorted({t.display_title for t in content.tracks()}))
    return ListenerFactory(cfg.voice, asr, build_vad(cfg.voice.vad))
