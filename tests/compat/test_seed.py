"""The whole-file seed API (core.compat.seed) and the `catalog transcode` pre-warm command."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.audio.p3 import pack_records
from core.audio.types import AudioError
from core.compat.seed import audio_to_data, pcm_to_data
from core.config import config_from_dict
from tests.audio_fixtures import TONE_S, assert_tone, make_tone

pytestmark = [pytest.mark.timeout(120)]


def test_audio_to_data_local_and_url(tmp_path: Path, moto_s3) -> None:
    mp3 = make_tone(tmp_path / "tone.mp3", "mp3")
    frames, duration = audio_to_data(str(mp3))
    assert abs(duration - TONE_S) < 0.1
    assert_tone(frames, 16000)
    moto_s3.put("music/util/tone.mp3", mp3.read_bytes())
    url_frames, _ = audio_to_data(moto_s3.url("music/util/tone.mp3"))
    assert url_frames == frames
    f24, _ = audio_to_data(str(mp3), sample_rate=24000)
    assert_tone(f24, 24000)


def test_audio_to_data_p3_and_errors(tmp_path: Path, moto_s3) -> None:
    frames, _ = audio_to_data(str(make_tone(tmp_path / "t.wav", "wav16")))
    (tmp_path / "t.p3").write_bytes(pack_records(frames))
    assert audio_to_data(str(tmp_path / "t.p3")) == (frames, len(frames) * 0.06)
    (tmp_path / "e.mp3").write_bytes(b"")
    (tmp_path / "h.mp3").write_bytes(b"<html>nope</html>")
    (tmp_path / "c.mp3").write_bytes(bytes(range(256)) * 50)
    for name in ("e.mp3", "h.mp3", "c.mp3", "missing.mp3"):
        with pytest.raises(AudioError, match=name.replace(".", r"\.")):
            audio_to_data(str(tmp_path / name))
    with pytest.raises(AudioError, match="HTTP 404"):
        audio_to_data(moto_s3.url("music/util/missing.mp3"))


def test_pcm_to_data_pads_the_last_frame() -> None:
    raw = bytes(1920 * 3 + 100)
    pcm = pcm_to_data(raw, is_opus=False)
    assert [len(f) for f in pcm] == [1920] * 4
    assert len(pcm_to_data(raw)) == 4


def test_catalog_transcode_prewarms_then_skips(tmp_path: Path) -> None:
    from core.cli.transcode import transcode_catalog
    from core.content.demo import generate_demo

    generate_demo(tmp_path / "content")
    cfg = config_from_dict({"content": {"content_dir": str(tmp_path / "content"), "generate_demo": False,
                                        "refresh_time_s": 0},
                            "audio": {"cache_dir": str(tmp_path / "cache")}})
    first = asyncio.run(transcode_catalog(cfg, progress=False))
    assert first.transcoded > 0 and not first.failed and first.already == 0
    assert len(list((tmp_path / "cache").glob("*.p3"))) == first.transcoded
    again = asyncio.run(transcode_catalog(cfg, progress=False))
    assert again.transcoded == 0 and again.already == first.transcoded
