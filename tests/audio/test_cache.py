"""Transcode-once cache: atomic entries, LRU eviction, S3 sharing (moto), and the p3/framer/resampler helpers."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from core.audio.cache import FrameCache, S3Share
from core.audio.encode import OpusEncoder, PcmFramer
from core.audio.p3 import P3FormatError, P3Parser, pack_record, pack_records, read_p3
from core.audio.pipeline import AudioPipeline
from core.audio.resample import Resampler
from core.audio.types import AudioError, AudioParams, AudioSource
from core.config import AudioConfig, config_from_dict
from tests.audio_fixtures import BUCKET, assert_tone, make_tone, peak_frequencies

pytestmark = [pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("cache") / "tone.flac", "flac")


def _src(path: Path, etag: str = '"1"', key: str = "music/English/tone.flac") -> AudioSource:
    return AudioSource(uri=str(path), name=path.name, cache_key=key, etag=etag)


def test_key_depends_on_object_version_and_every_output_parameter() -> None:
    src = AudioSource(uri="x.mp3", name="x.mp3", cache_key="music/a.mp3", etag='"1"')
    p16, p24 = AudioParams(16000), AudioParams(24000)
    base = FrameCache.key_for(src, p16, 32000, 5, False)
    v2 = AudioSource(uri="x.mp3", name="x", cache_key="music/a.mp3", etag='"2"')
    other = AudioSource(uri="x.mp3", name="x", cache_key="music/b.mp3", etag='"1"')
    variants = [
        FrameCache.key_for(v2, p16, 32000, 5, False),
        FrameCache.key_for(other, p16, 32000, 5, False),
        FrameCache.key_for(src, p24, 32000, 5, False),
        FrameCache.key_for(src, p16, 24000, 5, False),
        FrameCache.key_for(src, p16, 32000, 10, False),
        FrameCache.key_for(src, p16, 32000, 5, True),
    ]
    assert base and len({base, *variants}) == 7
    assert FrameCache.key_for(AudioSource(uri="x", name="x", cache_key="k"), p16, 32000, 5, False) is None


@pytest.mark.asyncio
async def test_crash_leftovers_are_never_served_and_get_swept(tone: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "c", 10 << 20)
    key = FrameCache.key_for(_src(tone), AudioParams(), 32000, 5, False)
    assert key
    # what a crash mid-write leaves: a temp file with a truncated record
    leftover = tmp_path / "c" / f"{key}.p3.tmp-deadbeef"
    leftover.write_bytes(pack_record(b"\x01" * 50)[:20])
    assert await cache.lookup(key) is None
    pipe = AudioPipeline(AudioConfig(), AudioParams(), cache=cache)
    await pipe.start()
    try:
        frames = [p async for p in pipe.frames(_src(tone))]
    finally:
        await pipe.close()
    assert pipe.decoders_started == 1
    assert_tone(frames, 16000)
    assert read_p3(cache.path_for(key)) == frames
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    await cache.evict()
    assert not leftover.exists() and cache.path_for(key).exists()


@pytest.mark.asyncio
async def test_lru_eviction_keeps_the_total_under_the_limit(tone: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "c", 10 << 20)
    pipe = AudioPipeline(AudioConfig(), AudioParams(), cache=cache)
    await pipe.start()
    try:
        keys = []
        for i in range(3):
            src = _src(tone, etag=f'"{i}"')
            [p async for p in pipe.frames(src)]
            keys.append(pipe.cache_key(src))
            past = time.time() - 100 + i * 10
            os.utime(cache.path_for(keys[-1]), (past, past))
        entry = cache.path_for(keys[0]).stat().st_size
        assert await cache.lookup(keys[0])  # a hit refreshes the oldest entry
        cache.max_bytes = int(entry * 2.5)  # room for two entries
        await cache.evict()
        assert [cache.path_for(k).exists() for k in keys] == [True, False, True]
        assert cache.total_bytes() <= cache.max_bytes
    finally:
        await pipe.close()


@pytest.mark.asyncio
async def test_entries_are_shared_through_s3(tone: Path, moto_s3, tmp_path: Path) -> None:
    share = S3Share(moto_s3.client, BUCKET, "audio-cache/v1")
    node_a = AudioPipeline(AudioConfig(), AudioParams(), cache=FrameCache(tmp_path / "a", 10 << 20, share))
    node_b = AudioPipeline(AudioConfig(), AudioParams(), cache=FrameCache(tmp_path / "b", 10 << 20, share))
    src = _src(tone, etag='"shared"')
    await node_a.start()
    await node_b.start()
    try:
        first = [p async for p in node_a.frames(src)]
        await node_a.close()  # waits for the background upload
        key = node_a.cache_key(src)
        head = moto_s3.client.head_object(Bucket=BUCKET, Key=f"audio-cache/v1/{key}.p3")
        assert head["ContentLength"] == len(pack_records(first))
        second = [p async for p in node_b.frames(src)]
    finally:
        await node_b.close()
    assert second == first
    assert node_b.decoders_started == 0 and node_b.cache_hits == 1
    assert (tmp_path / "b" / f"{key}.p3").exists()


@pytest.mark.asyncio
async def test_damaged_shared_copy_is_ignored(tone: Path, moto_s3, tmp_path: Path) -> None:
    share = S3Share(moto_s3.client, BUCKET, "audio-cache/v1")
    cache = FrameCache(tmp_path / "c", 10 << 20, share)
    src = _src(tone, etag='"damaged"')
    key = FrameCache.key_for(src, AudioParams(), 32000, 5, False)
    moto_s3.put(f"audio-cache/v1/{key}.p3", b"\x00\x00\x00\x10short")
    assert await cache.lookup(key) is None
    assert list((tmp_path / "c").iterdir()) == []


def test_from_config_wires_s3_sharing(moto_s3, tmp_path: Path) -> None:
    cfg = config_from_dict({"audio": {"cache_dir": str(tmp_path / "c"), "cache_s3_prefix": "shared"},
                            "content": {"s3": {"bucket": BUCKET}}})
    pipe = AudioPipeline.from_config(cfg, s3_client=moto_s3.client)
    assert pipe.cache is not None and pipe.cache.s3 is not None and pipe.cache.s3.key("k") == "shared/k.p3"
    assert AudioPipeline.from_config(config_from_dict({"audio": {"cache_dir": ""}})).cache is None


# --------------------------------------------------------------------------- helpers


def test_p3_parser_handles_any_chunking_and_rejects_garbage() -> None:
    packets = [bytes([i]) * (i + 1) for i in range(50)]
    data = pack_records(packets)
    parser = P3Parser()
    out: list[bytes] = []
    for i in range(0, len(data), 7):
        out += parser.feed(data[i:i + 7])
    parser.finish()
    assert out == packets
    with pytest.raises(P3FormatError):
        P3Parser().feed(b"ID3\x04" + bytes(100))
    cut = P3Parser()
    cut.feed(data[:-3])
    with pytest.raises(P3FormatError, match="truncated"):
        cut.finish()


def test_pcm_framer_pads_only_the_last_frame() -> None:
    framer = PcmFramer(1920)
    frames = framer.push(b"\x01" * 1000) + framer.push(b"\x02" * 3000)
    assert [len(f) for f in frames] == [1920, 1920]
    last = framer.flush()
    assert last is not None and len(last) == 1920 and last[160:] == bytes(1760)
    assert framer.flush() is None


@pytest.mark.parametrize("rates", [(22050, 16000), (22050, 24000), (16000, 24000), (48000, 16000)])
def test_stream_resampler_keeps_pitch_and_length(rates: tuple[int, int]) -> None:
    src, dst = rates
    t = np.arange(src) / src
    pcm = (np.sin(2 * np.pi * 440 * t) * 10000).astype("<i2").tobytes()
    rs = Resampler(src, dst)
    out = b"".join(rs.process(pcm[i:i + 999]) for i in range(0, len(pcm), 999)) + rs.flush()
    y = np.frombuffer(out, dtype="<i2").astype(float)
    assert abs(len(y) - dst) < dst * 0.01
    assert abs(peak_frequencies(y, dst, 1)[0] - 440) < 3


def test_opus_encoder_rejects_wrong_frame_size() -> None:
    enc = OpusEncoder(AudioParams(), 32000, 5)
    assert enc.encode(bytes(1920))
    with pytest.raises(ValueError, match="1920"):
        enc.encode(bytes(1000))


@pytest.mark.asyncio
async def test_p3_garbage_is_an_audio_error(tmp_path: Path) -> None:
    (tmp_path / "bad.p3").write_bytes(b"ID3" + bytes(500))
    pipe = AudioPipeline(AudioConfig(cache_dir=""), AudioParams())
    await pipe.start()
    try:
        with pytest.raises(AudioError, match="bad.p3"):
            [p async for p in pipe.frames(AudioSource(uri=str(tmp_path / "bad.p3"), name="bad.p3"))]
    finally:
        await pipe.close()


@pytest.mark.asyncio
async def test_reading_from_a_record_gives_exactly_the_records_from_there(tmp_path: Path) -> None:
    # 3 MB of records of every size: a start inside the first 1 MiB skip read, across later ones, the last record
    # and past the end
    rng = np.random.default_rng(3)
    packets = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 1500, 4200)]
    cache = FrameCache(tmp_path, 1 << 30)
    path = tmp_path / "entry.p3"
    path.write_bytes(pack_records(packets))
    assert path.stat().st_size > 3_000_000
    for start in (0, 1, 700, 1401, 2900, len(packets) - 1, len(packets), len(packets) + 5):
        got = [p async for p in cache.read(path, start_frame=start)]
        assert got == packets[start:], start
