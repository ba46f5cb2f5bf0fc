"""Fetch resilience: a fault-injecting proxy in front of moto proves that Range resumes give the complete audio."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioError, AudioParams, AudioSource
from core.config import AudioConfig
from tests.audio_fixtures import FaultProxy, assert_tone, child_ffmpeg_pids, make_tone

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

SECONDS = 20.0


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_tone(tmp_path_factory.mktemp("fetch") / "song.mp3", "mp3", seconds=SECONDS)
    return path.read_bytes()  # ~320 KB at 128 kbps


async def play(source: AudioSource, tmp_path: Path, **cfg: object) -> tuple[list[bytes], AudioPipeline]:
    cfg.setdefault("cache_dir", str(tmp_path / "cache"))
    pipe = AudioPipeline(AudioConfig(**cfg), AudioParams())  # type: ignore[arg-type]  # cfg holds AudioConfig fields
    await pipe.start()
    try:
        return [p async for p in pipe.frames(source)], pipe
    finally:
        await pipe.close()


@pytest.fixture()
def reference(song: bytes, moto_s3, tmp_path: Path) -> list[bytes]:
    import asyncio

    moto_s3.put("music/Fault/song.mp3", song)
    src = AudioSource(uri=moto_s3.url("music/Fault/song.mp3"), name="song.mp3")
    frames, _ = asyncio.run(play(src, tmp_path / "ref", cache_dir=""))
    assert_tone(frames, 16000, SECONDS)
    return frames


def source(proxy: FaultProxy, moto_s3, extra: str = "", **kw: object) -> AudioSource:
    return AudioSource(uri=proxy.url_for(moto_s3.url("music/Fault/song.mp3")) + extra, name="song.mp3",
                       cache_key="music/Fault/song.mp3", etag='"fault-test"',
                       **kw)  # type: ignore[arg-type]  # kw holds AudioSource fields


@pytest.mark.parametrize("faults", [
    [("drop", 100_000)],                                   # connection cut mid-body
    [("drop", 50_000), ("drop", 150_000), ("status", 500)],  # several cuts, then a 5xx on a resume
    [("status", 503)],                                     # 5xx before any byte
    [("slow", 8192, 0.005)],                               # slow bytes: plays, just slower
    [("stall", 60_000, 1.5)],                              # silence longer than the read timeout
], ids=["drop", "drops-and-5xx", "5xx-first", "slow", "stall"])
async def test_resume_gives_the_complete_audio(faults: list, reference: list[bytes], fault_proxy: FaultProxy,
                                               moto_s3, tmp_path: Path) -> None:
    fault_proxy.faults = list(faults)
    frames, pipe = await play(source(fault_proxy, moto_s3), tmp_path, read_timeout_s=0.5)
    assert frames == reference  # byte-identical Opus: nothing lost, nothing spliced twice
    assert fault_proxy.faults == []
    stats = pipe.stats()        # what /metrics reports as xiaozhi_upstream_retries / _errors
    assert stats["upstream_errors"] == 0
    assert stats["upstream_retries"] == (0 if faults[0][0] == "slow" else len(faults))
    if faults[0][0] in ("drop", "stall"):
        ranges = [rng for status, rng in fault_proxy.log if status == 206]
        assert ranges and all(r.startswith("bytes=") and r.endswith("-") for r in ranges)
        assert int(ranges[0][6:-1]) == faults[0][1]  # resumed exactly at the last byte received
    assert len(list((tmp_path / "cache").glob("*.p3"))) == 1  # a resumed play is complete, so it is cached


async def test_resumes_are_bounded_then_audio_error(reference: list[bytes], fault_proxy: FaultProxy, moto_s3,
                                                   tmp_path: Path) -> None:
    fault_proxy.faults = [("drop", 40_000 * (i + 1)) for i in range(6)]
    got: list[bytes] = []
    pipes: list[AudioPipeline] = []
    with pytest.raises(AudioError, match="gave up after 2 resumes") as err:
        async for p in _frames(source(fault_proxy, moto_s3), tmp_path, max_resumes=2, seen=pipes):
            got.append(p)
    assert pipes[0].stats()["upstream_retries"] == 2 and pipes[0].stats()["upstream_errors"] == 1
    # played what arrived (the last frames, cut inside an MP3 frame, may differ), then the error
    assert 0 < len(got) < len(reference) and got[:-2] == reference[:len(got) - 2]
    assert "X-Amz" not in str(err.value)
    assert not list((tmp_path / "cache").iterdir()) and not child_ffmpeg_pids()


async def _frames(src: AudioSource, tmp_path: Path, seen: list[AudioPipeline] | None = None, **cfg: object):
    acfg = AudioConfig(cache_dir=str(tmp_path / "cache"), **cfg)  # type: ignore[arg-type]  # cfg: AudioConfig fields
    pipe = AudioPipeline(acfg, AudioParams())
    if seen is not None:
        seen.append(pipe)
    await pipe.start()
    try:
        async for p in pipe.frames(src):
            yield p
    finally:
        await pipe.close()


@pytest.mark.parametrize("when", ["before", "mid-stream"])
async def test_expired_presigned_url_is_resigned(when: str, reference: list[bytes], fault_proxy: FaultProxy,
                                                 moto_s3, tmp_path: Path) -> None:
    calls = []

    async def refresh() -> str:
        calls.append(1)
        return source(fault_proxy, moto_s3, "&token=new").uri

    if when == "before":
        fault_proxy.forbid_marker = "token=old"
    else:
        fault_proxy.faults = [("drop", 120_000, lambda: setattr(fault_proxy, "forbid_marker", "token=old"))]
    frames, _ = await play(source(fault_proxy, moto_s3, "&token=old", refresh_url=refresh), tmp_path)
    assert frames == reference and calls == [1]
    assert 403 in [status for status, _ in fault_proxy.log]


async def test_403_without_refresh_is_a_clean_error(fault_proxy: FaultProxy, moto_s3, tmp_path: Path,
                                                    song: bytes) -> None:
    moto_s3.put("music/Fault/song.mp3", song)
    fault_proxy.forbid_marker = "token=old"
    with pytest.raises(AudioError, match=r"song\.mp3: access denied \(HTTP 403\)"):
        async for _ in _frames(source(fault_proxy, moto_s3, "&token=old"), tmp_path):
            pass


async def test_object_changed_during_resume_is_not_spliced(reference: list[bytes], fault_proxy: FaultProxy,
                                                          moto_s3, tmp_path: Path, song: bytes) -> None:
    other = make_tone(tmp_path / "other.mp3", "mp3", seconds=SECONDS).read_bytes() + b"\0" * 1000

    def replace() -> None:
        moto_s3.put("music/Fault/song.mp3", other)

    fault_proxy.faults = [("drop", 100_000, replace)]
    got = []
    with pytest.raises(AudioError, match="changed during playback"):
        async for p in _frames(source(fault_proxy, moto_s3), tmp_path):
            got.append(p)
    assert got[:-2] == reference[:len(got) - 2]
    assert not list((tmp_path / "cache").iterdir())


async def test_a_resume_from_a_signed_url_hands_ffmpeg_a_freshly_signed_url(reference: list[bytes],
                                                                            fault_proxy: FaultProxy, moto_s3,
                                                                            tmp_path: Path) -> None:
    """A resume at an offset is fetched by ffmpeg itself, which cannot re-sign: it gets a fresh URL up front
    (here the URL the source holds has expired already, so only the fresh one plays)."""
    import dataclasses
    calls = []

    async def refresh() -> str:
        calls.append(1)
        return source(fault_proxy, moto_s3, "&token=new").uri

    fault_proxy.forbid_marker = "token=old"
    src = dataclasses.replace(source(fault_proxy, moto_s3, "&token=old", refresh_url=refresh), start_ms=6000)
    frames, _ = await play(src, tmp_path, cache_dir="")
    assert calls == [1]
    # From 6 s on: the rest of the tone, the same audio as the whole play's tail (±1 frame for the seek).
    assert abs(len(frames) - (len(reference) - 100)) <= 1
    assert_tone(frames, 16000, SECONDS - 6.0)
