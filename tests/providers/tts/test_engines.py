"""TTS: piper (English) and espeak-ng (Hindi/Telugu/Kannada) produce real speech at 16 and 24 kHz; the router
picks by language; the phrase cache; the resampler keeps pitch and duration."""
from __future__ import annotations

import numpy as np
import pytest

from core.audio.resample import Resampler, resample
from core.config import config_from_dict
from core.lang.script import native_language
from core.providers.tts.base import SilentTTS, TTSError
from core.providers.tts.espeak import EspeakTTS
from core.providers.tts.factory import build_tts
from core.providers.tts.piper import PiperTTS
from core.providers.tts.router import TTSRouter
from core.providers.tts.text import split_sentences
from tests.voice_fixtures import dominant_hz, rms

pytestmark = pytest.mark.timeout(60)

TEXTS = {
    "hi": "एक समय की बात है, एक छोटा सा बंदर था।",
    "te": "ఒకప్పుడు ఒక చిన్న కోతి ఉండేది.",
    "kn": "ಒಂದು ಕಾಲದಲ್ಲಿ ಒಂದು ಪುಟ್ಟ ಕೋತಿ ಇತ್ತು.",
}


async def collect(tts: object, text: str, language: str, rate: int) -> bytes:
    chunks = tts.synthesize(text, language, rate)  # type: ignore[attr-defined]  # any TTS provider
    return b"".join([c async for c in chunks])


def speech_like(pcm: bytes, rate: int, min_s: float, max_s: float) -> None:
    seconds = len(pcm) / 2 / rate
    assert min_s <= seconds <= max_s, seconds
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    frames = x[: len(x) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50)   # 20 ms frames
    levels = np.sqrt((frames ** 2).mean(axis=1))
    assert rms(pcm) > 500                                # not silent
    assert 0.1 < np.mean(levels < 100) < 0.7 or np.mean(levels > 300) > 0.4   # pauses between syllables
    spec = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    voice_band = spec[(freqs > 80) & (freqs < 4000)].sum() / spec.sum()
    assert voice_band > 0.6                             # energy where speech lives


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_piper_speaks_english(rate: int) -> None:
    tts = PiperTTS()
    try:
        pcm = await collect(tts, "Now playing Twinkle Twinkle Little Star. Have fun!", "en", rate)
        speech_like(pcm, rate, 2.0, 6.0)
        # a cancelled reply must not leak into the next one
        gen = tts.synthesize("One. Two. Three. Four. Five.", "en", rate)
        await gen.__anext__()
        await gen.aclose()
        short = await collect(tts, "Stop.", "en", rate)
        speech_like(short, rate, 0.3, 1.5)
    finally:
        await tts.aclose()


@pytest.mark.parametrize("rate", [16000, 24000])
@pytest.mark.parametrize("lang", ["hi", "te", "kn"])
async def test_espeak_speaks_indic_languages(lang: str, rate: int) -> None:
    pcm = await collect(EspeakTTS(), TEXTS[lang], lang, rate)
    speech_like(pcm, rate, 1.5, 8.0)


async def test_espeak_text_cannot_become_an_option() -> None:
    pcm = await collect(EspeakTTS(), "--version -w /tmp/x", "en", 16000)
    speech_like(pcm, 16000, 0.8, 6.0)                  # spoken, not interpreted


async def test_router_picks_engine_by_language_and_script() -> None:
    piper, espeak = PiperTTS(), EspeakTTS()
    router = TTSRouter(piper, espeak)
    assert router.pick("Now playing Baa Baa Black Sheep", "en") == (piper, "en")
    assert router.pick("अब बज रहा है", "hi") == (espeak, "hi")
    assert router.pick("Now playing", "te") == (espeak, "te")
    assert router.pick("ಈಗ ಹಾಡು", "en") == (espeak, "kn")     # the script wins over a wrong label
    assert router.pick("Hello", "en-IN") == (piper, "en")
    # English through the router is piper's voice; Hindi is espeak-ng's
    try:
        en = await collect(router, "Hello there.", "en", 16000)
        speech_like(en, 16000, 0.5, 3.0)
        assert en != await collect(espeak, "Hello there.", "en", 16000)   # piper's voice, not espeak-ng's
        hi = await collect(router, TEXTS["hi"], "hi", 16000)
        assert hi == await collect(espeak, TEXTS["hi"], "hi", 16000)   # espeak-ng is deterministic
    finally:
        await router.aclose()


async def test_router_falls_back_to_espeak_when_piper_is_broken(tmp_path) -> None:
    router = TTSRouter(PiperTTS(str(tmp_path / "missing.onnx")), EspeakTTS())
    pcm = await collect(router, "Sorry, I didn't catch that.", "en", 16000)
    speech_like(pcm, 16000, 1.0, 5.0)
    with pytest.raises(TTSError, match="piper_model"):
        await collect(PiperTTS(str(tmp_path / "missing.onnx")), "hi", "en", 16000)


async def test_build_tts_by_config() -> None:
    def build(**tts: object):
        return build_tts(config_from_dict({"voice": {"tts": dict(tts)}}).voice.tts)
    assert isinstance(build(provider="none"), SilentTTS)
    assert isinstance(build(), TTSRouter)
    assert isinstance(build(provider="espeak"), EspeakTTS)
    assert isinstance(build(english_voice="espeak"), EspeakTTS)
    assert build(provider="openai", base_url="http://127.0.0.1:9/v1").name == "openai"


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (22050, 24000), (24000, 16000), (16000, 24000)])
def test_resampler_keeps_pitch_and_duration_in_any_chunking(src: int, dst: int) -> None:
    t = np.arange(src * 2) / src
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16).tobytes()
    whole = resample(tone, src, dst)
    r = Resampler(src, dst)
    streamed = b"".join(r.process(c) for c in (tone[i:i + 777] for i in range(0, len(tone), 777))) + r.flush()
    assert whole == streamed
    assert abs(len(whole) / 2 - 2 * dst) <= 1
    assert abs(dominant_hz(whole, dst) - 440) < 2
    assert abs(rms(whole) - 12000 / np.sqrt(2)) < 300


def test_resampler_removes_what_the_lower_rate_cannot_hold() -> None:
    t = np.arange(22050) / 22050
    high = (np.sin(2 * np.pi * 9500 * t) * 12000).astype(np.int16).tobytes()   # above 8 kHz Nyquist
    assert rms(resample(high, 22050, 16000)[400:-400]) < 200                      # no alias left


def test_sentence_split_and_script_detection() -> None:
    assert split_sentences("Hello! How are you?\nFine.") == ["Hello!", "How are you?", "Fine."]
    assert split_sentences("एक दिन। दूसरा दिन।") == ["एक दिन।", "दूसरा दिन।"]
    long = ", ".join(["a little bunny hopped along the lane"] * 12) + "."
    parts = split_sentences(long)
    assert len(parts) > 1 and all(len(p) <= 440 for p in parts) and " ".join(parts) == long
    assert native_language("హలో") == "te" and native_language("Hello") is None
