"""VAD and end-of-utterance segmentation on real synthesised speech (espeak-ng -> 16 kHz) with silence gaps."""
from __future__ import annotations

import numpy as np
import pytest

from core.config import ConfigError, config_from_dict
from core.listener import Segmenter
from core.protocol.messages import ListenMode, ListenState
from core.providers.vad.base import WINDOW_SAMPLES
from core.providers.vad.energy import EnergyVAD
from core.providers.vad.factory import build_vad
from core.providers.vad.silero import SileroVAD
from tests.voice_fixtures import FRAME_BYTES, chunks, espeak_16k, noise, silence, voice_cfg

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def silero() -> SileroVAD:
    vad = SileroVAD()
    vad.load()
    return vad


@pytest.fixture(scope="module")
def phrases() -> dict[str, bytes]:
    return {t: espeak_16k(t) for t in ("play twinkle twinkle little star", "tell me a bedtime story", "stop")}


def speech_end(pcm: bytes) -> int:
    """Index (samples) just after the last loud sample: the true end of speech."""
    x = np.abs(np.frombuffer(pcm, np.int16).astype(np.int32))
    return int(np.nonzero(x > 500)[0][-1]) + 1


def run(seg: Segmenter, pcm: bytes, *, speaking: bool = False) -> list[tuple[int, object]]:
    """Feed 60 ms frames; return (samples fed when the event fired, event)."""
    events = []
    fed = 0
    for frame in chunks(pcm, FRAME_BYTES):
        fed += len(frame) // 2
        for ev in seg.process(frame, speaking=speaking, busy=False):
            events.append((fed, ev))
    return events


def test_silero_scores_speech_high_and_silence_low(silero: SileroVAD, phrases: dict[str, bytes]) -> None:
    stream = silero.new_stream()
    pcm = silence(0.5) + phrases["tell me a bedtime story"] + silence(0.5)
    x = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    probs = [stream.probability(x[i:i + WINDOW_SAMPLES]) for i in range(0, len(x) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES)]
    lead = 8000 // WINDOW_SAMPLES - 1
    assert max(probs[:lead]) < 0.1                    # the leading half second of silence
    assert max(probs[-lead:]) < 0.35                  # the trailing one
    speech = probs[lead + 2:-lead - 2]
    assert np.mean(np.array(speech) > 0.5) > 0.7      # most speech windows are voice


@pytest.mark.parametrize("min_silence_ms", [300, 500, 800])
def test_end_of_utterance_follows_min_silence(silero: SileroVAD, phrases: dict[str, bytes],
                                              min_silence_ms: int) -> None:
    cfg = voice_cfg(min_silence_ms=min_silence_ms).vad
    seg = Segmenter(cfg, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    parts = [silence(1.0), phrases["play twinkle twinkle little star"], silence(1.5),
             phrases["tell me a bedtime story"], silence(1.5), phrases["stop"], silence(1.5)]
    ends, offset = [], 0
    for i, part in enumerate(parts):
        if i % 2:
            ends.append(offset + speech_end(part))
        offset += len(part) // 2
    events = run(seg, b"".join(parts))
    assert [ev.kind for _, ev in events] == ["speech", "speech", "speech"]
    for (fed, ev), true_end in zip(events, ends, strict=True):
        delay_ms = (fed - true_end) * 1000 / 16000
        # silence timer + up to one 60 ms frame + the VAD's release of a fading syllable
        assert min_silence_ms - 40 <= delay_ms <= min_silence_ms + 300, delay_ms
        # the utterance carries the pre-roll before onset and the silence that ended it
        assert ev.voiced_ms >= 250
        assert len(ev.pcm) / 32000 >= (ev.voiced_ms + min_silence_ms) / 1000 - 0.2


def test_utterance_keeps_preroll_so_first_syllable_survives(silero: SileroVAD, phrases: dict[str, bytes]) -> None:
    seg = Segmenter(voice_cfg(preroll_ms=600).vad, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    speech = phrases["play twinkle twinkle little star"]
    [(_, ev)] = run(seg, silence(2.0) + speech + silence(1.0))
    x = np.frombuffer(ev.pcm, np.int16)
    first_loud = int(np.nonzero(np.abs(x.astype(np.int32)) > 500)[0][0])
    assert 0.15 * 16000 <= first_loud <= 0.7 * 16000      # speech starts inside the pre-roll, not cut off
    assert len(ev.pcm) / 32000 < len(speech) / 32000 + 0.6 + 0.8


def test_click_and_noise_are_not_utterances(silero: SileroVAD) -> None:
    seg = Segmenter(voice_cfg().vad, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    t = np.arange(int(0.08 * 16000)) / 16000
    click = (np.sin(2 * np.pi * 1000 * t) * 12000).astype(np.int16).tobytes()
    assert run(seg, silence(1.0) + click + silence(1.0) + noise(3.0, rms=2000) + silence(1.0)) == []


def test_too_long_speech_is_reported_once_then_waits_for_silence(silero: SileroVAD, phrases: dict[str, bytes]) -> None:
    seg = Segmenter(voice_cfg(max_utterance_s=3.0).vad, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    ramble = b"".join([phrases["tell me a bedtime story"]] * 5)   # ~8 s, short pauses only
    events = run(seg, silence(0.5) + ramble + silence(1.0) + phrases["stop"] + silence(1.0))
    assert [ev.kind for _, ev in events] == ["too_long", "speech"]
    assert 3.0 * 16000 <= events[0][0] <= 4.2 * 16000           # reported as soon as the limit is passed


def test_manual_mode_keeps_everything_until_stop(silero: SileroVAD, phrases: dict[str, bytes]) -> None:
    seg = Segmenter(voice_cfg().vad, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.MANUAL)
    pcm = phrases["play twinkle twinkle little star"] + silence(1.5) + phrases["stop"]
    assert run(seg, pcm) == []                     # silence inside does not end a push-to-talk utterance
    [ev] = seg.listen(ListenState.STOP, None)
    assert ev.kind == "speech"
    assert abs(len(ev.pcm) - len(pcm)) <= FRAME_BYTES
    seg.listen(ListenState.START, ListenMode.MANUAL)
    run(seg, silence(2.0))
    assert seg.listen(ListenState.STOP, None) == []          # a silent press says nothing


def test_auto_mode_ignores_audio_while_device_speaks_but_realtime_barges_in(silero: SileroVAD,
                                                                             phrases: dict[str, bytes]) -> None:
    pcm = silence(0.5) + phrases["stop"] + silence(1.0)
    seg = Segmenter(voice_cfg().vad, silero.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    assert run(seg, pcm, speaking=True) == []
    seg.listen(ListenState.START, ListenMode.REALTIME)
    assert [ev.kind for _, ev in run(seg, pcm, speaking=True)] == ["barge_in", "speech"]


def test_energy_vad_segments_clean_speech(phrases: dict[str, bytes]) -> None:
    seg = Segmenter(voice_cfg(provider="energy").vad, EnergyVAD(12.0).new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    pcm = silence(1.0) + phrases["play twinkle twinkle little star"] + silence(1.5) + phrases["stop"] + silence(1.5)
    assert [ev.kind for _, ev in run(seg, pcm)] == ["speech", "speech"]


def test_build_vad_choices_and_config_errors(tmp_path) -> None:
    assert build_vad(voice_cfg().vad).name == "silero"
    assert build_vad(voice_cfg(provider="energy").vad).name == "energy"
    assert build_vad(voice_cfg(provider="none").vad) is None
    missing = voice_cfg(model_path=str(tmp_path / "nope.onnx")).vad
    assert build_vad(missing).name == "energy"       # falls back instead of leaving the server deaf
    with pytest.raises(ConfigError, match="voice.vad.threshold"):
        config_from_dict({"voice": {"vad": {"threshold": 0.2, "threshold_low": 0.4}}})
    with pytest.raises(ConfigError, match="voice.vad.min_silence_ms"):
        config_from_dict({"voice": {"vad": {"min_silence_ms": 20}}})
