"""The shared services of one server process, built once from the Config.

`Runtime.create(cfg)` builds the content service, the audio pipeline, the voice providers, the intent path, the
device store and directory, and hands each session exactly what it uses (`SessionDeps`) — not the whole bag.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loguru import logger

from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioParams
from core.auth import Authenticator
from core.config import Config
from core.content.service import ContentService
from core.devices.backends import open_store
from core.devices.directory import DeviceDirectory, LocalDirectory
from core.devices.store import DeviceStore
from core.listener_base import NullVoiceInputFactory, VoiceInputFactory
from core.metrics import Metrics, NullMetrics
from core.playback.announce import AnnouncementWarmer, replies_ahead
from core.playback.player import ResumeRules
from core.playback.speech import SpeechRenderer
from core.providers.intent.factory import build_intent
from core.providers.tts.base import TTSProvider
from core.session.connection import SessionDeps
from core.session.core import SessionSettings
from core.understand import Understander
from plugins_func.loader import default_functions
from plugins_func.registry import PluginRegistry

__all__ = ["Runtime", "WARM_PHRASES", "session_settings"]

# Replies every device hears sooner or later: rendered once at start-up into the speech cache.
WARM_PHRASES = ("Sorry, I didn't catch that.",)


def session_settings(cfg: Config, params: AudioParams) -> SessionSettings:
    """The session's settings from the config sections that shape it."""
    p = cfg.player
    return SessionSettings(
        sample_rate=params.sample_rate, frame_ms=params.frame_ms, hello_timeout_s=cfg.server.hello_timeout_s,
        idle_timeout_s=cfg.server.idle_timeout_s, wake_words=cfg.server.wake_words, greeting=cfg.server.greeting,
        resume_grace_s=p.resume_grace_s, save_every_s=p.save_every_s, fade_s=p.fade_s,
        status_every_s=cfg.mqtt.status_every_s,
        player=ResumeRules(finished_within_ms=int(p.finished_within_s * 1000),
                           songs_resume_after_disconnect=p.songs_resume_after_disconnect,
                           stories_resume=p.stories_resume, history_max=p.history_max))


@dataclass(slots=True)
class Runtime:
    config: Config
    params: AudioParams
    auth: Authenticator
    content: ContentService
    pipeline: AudioPipeline
    speech: SpeechRenderer
    tts: TTSProvider
    store: DeviceStore
    session: SessionDeps
    asr: Any = None
    warmer: AnnouncementWarmer | None = None

    @classmethod
    async def create(cls, cfg: Config, *, directory: DeviceDirectory | None = None,
                     store: DeviceStore | None = None, metrics: Metrics | None = None) -> Runtime:
        params = AudioParams(sample_rate=cfg.audio.sample_rate, frame_ms=cfg.audio.frame_ms)
        content = ContentService.from_config(cfg)
        await content.start()
        # One S3 client per process: the catalog's, also used to share transcoded entries between nodes.
        pipeline = AudioPipeline.from_config(cfg, params, s3_client=content.s3_client)
        await pipeline.start()
        tts = _build_tts(cfg)
        sink = metrics or NullMetrics()
        speech = SpeechRenderer.from_config(cfg, tts, pipeline, s3_client=content.s3_client,
                                            on_latency=sink.tts_latency)
        warmer = AnnouncementWarmer(speech, content, ahead=replies_ahead())
        registry = PluginRegistry(default_functions())
        intent = build_intent(cfg.voice.intent, registry.tool_schemas(), wake_words=cfg.server.wake_words)
        asr = _build_asr(cfg, content)
        voice: VoiceInputFactory = NullVoiceInputFactory()
        if asr is not None:
            from core.listener import ListenerFactory
            from core.providers.vad.factory import build_vad
            voice = ListenerFactory(cfg.voice, asr, build_vad(cfg.voice.vad), on_latency=sink.asr_latency,
                                    on_transcript=lambda seconds: sink.stage_latency("asr", seconds))
        store = store or await open_store(cfg.state.url)
        deps = SessionDeps(
            settings=session_settings(cfg, params), params=params, content=content, pipeline=pipeline,
            speech=speech, understand=Understander(intent, registry, wake_words=cfg.server.wake_words), voice=voice,
            store=store,
            directory=directory or LocalDirectory(), on_miss=cfg.matching.on_miss,
            recent_history=cfg.matching.recent_history, lead_frames=cfg.audio.lead_frames,
            stop_grace_s=cfg.audio.stop_grace_ms / 1000.0, metrics=sink)
        rt = cls(cfg, params, Authenticator(cfg.server.auth), content, pipeline, speech, tts, store, deps, asr)
        await rt._warm_up()
        rt.warmer = warmer
        if cfg.voice.tts.provider != "none" and cfg.voice.tts.announce_ahead:
            warmer.start()          # "Now playing <title>" for every title, rendered ahead at low priority
        logger.info("loaded: {} tracks, downlink opus {} Hz, tts={}, asr={}, intent={}, state={}",
                    len(content.tracks()), params.sample_rate, cfg.voice.tts.provider, cfg.voice.asr.provider,
                    cfg.voice.intent.provider, cfg.state.url.split("://")[0].split(":")[0])
        return rt

    async def _warm_up(self) -> None:
        """Load models and render the fixed phrases now, so the first child does not wait for them."""
        for provider in (self.asr, self.tts):
            warm = getattr(provider, "warm_up", None)
            if warm is not None:
                await warm()
        for phrase in (self.config.server.greeting, *WARM_PHRASES):
            async for _ in self.speech.frames(phrase, "en"):
                pass

    async def close(self) -> None:
        if self.warmer is not None:
            await self.warmer.aclose()
        await self.speech.aclose()
        for provider in (self.asr, self.tts, self.session.understand.intent):
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        await self.pipeline.close()
        await self.content.close()
        await self.store.close()


def _build_tts(cfg: Config) -> TTSProvider:
    from core.providers.tts.factory import build_tts
    return build_tts(cfg.voice.tts)


def _build_asr(cfg: Config, content: ContentService) -> Any:
    if cfg.voice.asr.provider == "none":
        return None
    from core.providers.asr.factory import build_asr
    asr = build_asr(cfg.voice.asr)
    if asr is not None:
        def update_vocabulary() -> None:
            asr.set_vocabulary(sorted({t.display_title for t in content.tracks()}))
        update_vocabulary()
        content.on_change(update_vocabulary)     # new titles become recognisable after a catalog refresh
    return asr
