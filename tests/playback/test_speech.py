"""Spoken replies: real espeak-ng PCM -> real Opus frames; fixed phrases come from the frame cache."""
from __future__ import annotations

import numpy as np

from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioParams
from core.compat.seed import process_audio_file
from core.config import AudioConfig
from core.device_client import DeviceClient
from core.playback.speech import SpeechRenderer
from core.providers.tts.espeak import EspeakTTS


class CountingEspeak(EspeakTTS):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def synthesize(self, text, language, sample_rate):
        self.calls.append(text)
        async for chunk in super().synthesize(text, language, sample_rate):
            yield chunk


async def collect(speech: SpeechRenderer, text: str, language: str = "en") -> list[bytes]:
    return [f async for f in speech.frames(text, language)]


async def test_phrases_are_synthesised_once_and_long_text_every_time() -> None:
    tts = CountingEspeak()
    pipeline = AudioPipeline(AudioConfig(cache_dir=""), AudioParams())
    speech = SpeechRenderer(tts, pipeline.encode_pcm, 16000, cache_phrases=2, max_cached_chars=40)
    first = await collect(speech, "Now playing.")
    again = await collect(speech, "Now playing.")
    assert first == again and tts.calls == ["Now playing."]
    # the frames are real speech: 60 ms Opus packets decoding to a non-silent signal of plausible length
    client = DeviceClient("ws://unused", server_hello={"audio_params": {"sample_rate": 16000}})
    pcm = client.decode_audio(first).astype(np.float64)
    assert 0.4 < len(pcm) / 16000 < 3.0 and np.sqrt(np.mean(pcm ** 2)) > 300
    story = "Once upon a time there was a little star who wanted to sing."
    await collect(speech, story)
    await collect(speech, story)
    assert tts.calls.count(story) == 2
    await collect(speech, "One.")
    await collect(speech, "Two.")
    await collect(speech, "Now playing.")                # evicted: the cache holds two phrases
    assert tts.calls.count("Now playing.") == 2
    hindi = await collect(speech, "नमस्ते", "hi")
    assert len(hindi) > 5


async def test_a_listener_leaving_early_still_gets_the_phrase_cached_whole() -> None:
    """The render belongs to no one listener: an interrupted device does not leave a partial phrase behind, and the
    next request is served from the finished render instead of synthesising again."""
    tts = CountingEspeak()
    pipeline = AudioPipeline(AudioConfig(cache_dir=""), AudioParams())
    speech = SpeechRenderer(tts, pipeline.encode_pcm, 16000)
    gen = speech.frames("Good night, little one. Sleep tight.", "en")
    await gen.__anext__()
    await gen.aclose()
    full = await collect(speech, "Good night, little one. Sleep tight.")
    assert tts.calls == ["Good night, little one.", "Sleep tight."]     # one synthesis, one unit per sentence
    client = DeviceClient("ws://unused", server_hello={"audio_params": {"sample_rate": 16000}})
    assert 1.5 < len(client.decode_audio(full)) / 16000 < 5.0


def test_seed_process_audio_file_returns_the_clip_as_opus_frames(tmp_path) -> None:
    from tests.audio_fixtures import peak_frequencies
    from tests.conftest import write_tone
    clip = write_tone(tmp_path / "chime.mp3", 880.0, 0.9)
    frames = process_audio_file(str(clip))
    client = DeviceClient("ws://unused", server_hello={"audio_params": {"sample_rate": 16000}})
    pcm = client.decode_audio(frames).astype(np.float64)
    assert abs(len(frames) * 0.06 - 0.9) <= 0.06
    assert abs(peak_frequencies(pcm, 16000, 1)[0] - 880.0) < 5
