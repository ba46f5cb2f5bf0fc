"""Shared decodes, the decoder cap and plays that start at an offset: real ffmpeg, real Opus decoding of what a
device would receive, ffmpeg children counted in /proc."""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.audio.p3 import read_p3
from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioBusy, AudioError, AudioParams, AudioSource
from core.config import AudioConfig
from tests.audio_fixtures import assert_tone, child_ffmpeg_pids, decode_packets, make_tone, peak_frequencies

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

SEGMENT_S = 2.0
SEGMENT_HZ = (440, 660, 880, 1100)   # a "story" whose pitch says where in it we are

# name -> (extension, ffmpeg output options)
SEG_FORMATS = {
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
    "wav": (".wav", ["-c:a", "pcm_s16le"]),
    "ogg": (".ogg", ["-ar", "48000", "-c:a", "libopus", "-b:a", "64k"]),
    "m4a": (".m4a", ["-c:a", "aac", "-b:a", "128k"]),
}


def make_segments(path: Path, fmt: str) -> Path:
    """Four 2 s segments at 440, 660, 880 and 1100 Hz (8 s)."""
    n = len(SEGMENT_HZ)
    expr = "+".join(f"0.5*sin(2*PI*{hz}*t)*between(t\\,{i * SEGMENT_S}\\,{(i + 1) * SEGMENT_S - 0.0001})"
                    for i, hz in enumerate(SEGMENT_HZ))
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"aevalsrc={expr}:s=44100:d={n * SEGMENT_S}", "-ac", "1", *SEG_FORMATS[fmt][1], str(path)],
                   check=True, timeout=60)
    return path


def pitch(packets: list[bytes], rate: int = 16000) -> float:
    return peak_frequencies(decode_packets(packets, rate), rate, count=1)[0]


def cfg(tmp_path: Path, **kw: object) -> AudioConfig:
    kw.setdefault("cache_dir", str(tmp_path / "cache"))
    kw.setdefault("warm_decoders", 0)
    kw.setdefault("decoder", "ffmpeg")   # so decoders are children that /proc can count; pyav has its own cases
    return AudioConfig(**kw)  # type: ignore[arg-type]  # kw holds AudioConfig fields


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("stories")
    return {fmt: make_segments(d / f"story{ext}", fmt) for fmt, (ext, _) in SEG_FORMATS.items()}


async def play(pipe: AudioPipeline, source: AudioSource, **kw: object) -> list[bytes]:
    return [p async for p in pipe.frames(source, **kw)]


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("*.p3"))


# --------------------------------------------------------------------------- single flight


@pytest.mark.parametrize("decoder", ["ffmpeg", "pyav"])
async def test_concurrent_first_plays_share_one_decoder_and_each_hears_everything(decoder: str,
                                                                                   tmp_path: Path) -> None:
    seconds = 10.0
    song = make_tone(tmp_path / "song.mp3", "mp3", seconds=seconds)
    pipe = AudioPipeline(cfg(tmp_path, decoder=decoder), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(song), name="song.mp3", cache_key="music/song.mp3", etag='"1"')
    seen: set[int] = set()
    leader_at = asyncio.Event()

    async def listener(i: int) -> list[bytes]:
        out: list[bytes] = []
        if i == 4:
            await leader_at.wait()          # joins late: the first 150 frames come from the temp file
        async with contextlib.aclosing(pipe.frames(src)) as frames:
            async for p in frames:
                out.append(p)
                if i == 0 and len(out) % 10 == 0:
                    seen.update(child_ffmpeg_pids())
                    if len(out) == 150:
                        leader_at.set()
                if i == 3 and len(out) % 20 == 0:
                    await asyncio.sleep(0.01)   # a slower consumer falls behind the ring
        return out

    try:
        results = await asyncio.gather(*(listener(i) for i in range(5)))
        decoders = pipe.decoders_started
        joins = pipe.shared_joins
    finally:
        await pipe.close()
    assert len(seen) == (1 if decoder == "ffmpeg" else 0), f"{len(seen)} ffmpeg children for 5 listeners"
    assert decoders == 1 and joins == 4
    for packets in results:
        assert packets == results[0]
        assert_tone(packets, 16000, seconds=seconds)
    [entry] = entries(tmp_path)
    assert read_p3(entry) == results[0]
    assert not child_ffmpeg_pids()


async def test_one_listener_leaving_does_not_stop_the_others_and_the_last_leaving_cleans_up(tmp_path: Path) -> None:
    song = make_tone(tmp_path / "long.mp3", "mp3", seconds=30)
    pipe = AudioPipeline(cfg(tmp_path), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(song), name="long.mp3", cache_key="music/long.mp3", etag='"1"')
    try:
        a, b = pipe.frames(src), pipe.frames(src)
        for _ in range(30):
            await a.__anext__()
            await b.__anext__()
        assert len(child_ffmpeg_pids()) == 1
        await a.aclose()
        more = [await b.__anext__() for _ in range(100)]
        assert len(more) == 100 and len(child_ffmpeg_pids()) == 1
        await b.aclose()
        assert not child_ffmpeg_pids()
        assert list((tmp_path / "cache").iterdir()) == []   # neither an entry nor a temp file
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    finally:
        await pipe.close()


@pytest.mark.parametrize("decoder", ["ffmpeg", "pyav"])
async def test_a_failing_shared_decode_fails_every_listener_before_any_frame(decoder: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb" + bytes(range(256)) * 100)
    pipe = AudioPipeline(cfg(tmp_path, decoder=decoder), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(bad), name="bad.mp3", cache_key="music/bad.mp3", etag='"1"')
    try:
        results = await asyncio.gather(*(play(pipe, src) for _ in range(3)), return_exceptions=True)
    finally:
        await pipe.close()
    assert all(isinstance(r, AudioError) and "bad.mp3" in str(r) for r in results), results
    assert pipe.decoders_started == 1
    assert not child_ffmpeg_pids() and list((tmp_path / "cache").iterdir()) == []


# --------------------------------------------------------------------------- starting at an offset


@pytest.mark.parametrize("fmt", list(SEG_FORMATS))
async def test_uncached_resume_seeks_with_ffmpeg_then_the_cache_is_filled(fmt: str, stories: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    pipe = AudioPipeline(cfg(tmp_path), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(stories[fmt]), name=f"story.{fmt}", cache_key=f"stories/story.{fmt}", etag='"1"',
                      start_ms=4500)
    try:
        resumed = await play(pipe, src)
        await pipe.wait_background()
        full_entry = entries(tmp_path)
        cached = await play(pipe, src)          # the next resume is a cache hit
        hits = pipe.cache_hits
    finally:
        await pipe.close()
    # 4.5 s into 8 s: the rest of the third segment (880 Hz) and the fourth (1100 Hz), 3.5 s in all
    assert abs(len(resumed) - 3.5 / 0.06) <= 2
    assert abs(pitch(resumed[:20]) - 880) < 10 and abs(pitch(resumed[-25:]) - 1100) < 10
    # the resume was not cached as the whole item; the background transcode was
    assert len(full_entry) == 1 and abs(len(read_p3(full_entry[0])) - 8.0 / 0.06) <= 2
    assert hits == 1 and abs(len(cached) - len(resumed)) <= 1
    assert abs(pitch(cached[:20]) - 880) < 10
    assert not child_ffmpeg_pids()


async def test_cached_resume_skips_records_and_matches_the_full_play(stories: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    pipe = AudioPipeline(cfg(tmp_path), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(stories["mp3"]), name="story.mp3", cache_key="stories/story.mp3", etag='"1"')
    try:
        full = await play(pipe, src)
        started = pipe.decoders_started
        at_2s = await play(pipe, AudioSource(**{**_fields(src), "start_ms": 2000}))
        at_6s = await play(pipe, AudioSource(**{**_fields(src), "start_ms": 6030}))
        assert pipe.decoders_started == started      # no decoding for a cached resume
    finally:
        await pipe.close()
    assert at_2s == full[2000 // 60:] and at_6s == full[6030 // 60:]
    assert abs(pitch(at_2s[:25]) - 660) < 10 and abs(pitch(at_6s[:25]) - 1100) < 10


@pytest.mark.parametrize("cached", [False, True])
async def test_a_position_past_the_end_is_an_empty_stream(cached: bool, stories: dict[str, Path],
                                                          tmp_path: Path) -> None:
    pipe = AudioPipeline(cfg(tmp_path), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(stories["mp3"]), name="story.mp3", cache_key="stories/story.mp3", etag='"1"')
    try:
        if cached:
            await play(pipe, src)
        past = await play(pipe, AudioSource(**{**_fields(src), "start_ms": 60_000}))
        await pipe.wait_background()
    finally:
        await pipe.close()
    assert past == []
    assert not child_ffmpeg_pids()


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
async def test_resume_from_an_s3_url_seeks_by_range(fmt: str, stories: dict[str, Path], moto_s3,
                                                    tmp_path: Path) -> None:
    key = f"stories/Seek/story {fmt}{SEG_FORMATS[fmt][0]}"
    etag = moto_s3.put(key, stories[fmt].read_bytes())
    pipe = AudioPipeline(cfg(tmp_path, cache_dir=""), AudioParams())
    await pipe.start()
    try:
        packets = await play(pipe, AudioSource(uri=moto_s3.url(key), name=key, cache_key=key, etag=etag,
                                               start_ms=2500))
    finally:
        await pipe.close()
    assert abs(len(packets) - 5.5 / 0.06) <= 2
    assert abs(pitch(packets[:20]) - 660) < 10 and abs(pitch(packets[-25:]) - 1100) < 10


async def test_a_resume_joins_a_shared_decode_that_already_passed_the_position(tmp_path: Path) -> None:
    song = make_tone(tmp_path / "song.mp3", "mp3", seconds=10)
    pipe = AudioPipeline(cfg(tmp_path), AudioParams())
    await pipe.start()
    src = AudioSource(uri=str(song), name="song.mp3", cache_key="music/song.mp3", etag='"1"')
    try:
        first = pipe.frames(src)
        head = [await first.__anext__() for _ in range(60)]
        resumed = await play(pipe, AudioSource(**{**_fields(src), "start_ms": 1200}))
        rest = [p async for p in first]
        assert pipe.decoders_started == 1 and pipe.shared_joins == 1
    finally:
        await pipe.close()
    assert resumed == (head + rest)[20:]


# --------------------------------------------------------------------------- the decoder cap


async def test_past_the_cap_a_play_gets_busy_and_cached_plays_never_wait(tmp_path: Path) -> None:
    long_a = make_tone(tmp_path / "a.mp3", "mp3", seconds=30)
    short_b = make_tone(tmp_path / "b.mp3", "mp3", seconds=2)
    pipe = AudioPipeline(cfg(tmp_path, max_decoders=1, decoder_wait_ms=300), AudioParams())
    await pipe.start()
    a = AudioSource(uri=str(long_a), name="a.mp3", cache_key="music/a.mp3", etag='"1"')
    b = AudioSource(uri=str(short_b), name="b.mp3", cache_key="music/b.mp3", etag='"1"')
    try:
        cached_b = await play(pipe, b)              # fills the cache while the cap is free
        holding = pipe.frames(a)
        await holding.__anext__()                   # a holds the only decoder
        assert not pipe.overloaded
        c = AudioSource(uri=str(long_a), name="c.mp3", cache_key="music/c.mp3", etag='"1"')
        waiting = asyncio.create_task(play(pipe, c))
        while pipe.slots.waiting == 0:              # until the play has queued
            await asyncio.sleep(0)
        assert pipe.overloaded
        assert await play(pipe, b) == cached_b      # a cached play does not queue behind the cap
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(AudioBusy):
            await waiting
        waited = loop.time() - t0
        assert 0.1 < waited < 1.0
        assert pipe.slots.busy_count == 1 and pipe.overloaded   # for one wait period after a refusal
        await holding.aclose()
        got = await play(pipe, c)                   # the slot is free again
        assert_tone(got, 16000, seconds=30)
    finally:
        await pipe.close()
    assert isinstance(AudioBusy("x"), AudioError)


async def test_a_queued_play_starts_when_a_decoder_frees_within_the_wait(tmp_path: Path) -> None:
    a = make_tone(tmp_path / "a.mp3", "mp3", seconds=2)
    pipe = AudioPipeline(cfg(tmp_path, cache_dir="", max_decoders=1, decoder_wait_ms=20000), AudioParams())
    await pipe.start()
    try:
        first = pipe.frames(AudioSource(uri=str(a), name="a.mp3"))
        await first.__anext__()
        second = asyncio.create_task(play(pipe, AudioSource(uri=str(a), name="a2.mp3")))
        while pipe.slots.waiting == 0:
            await asyncio.sleep(0)
        rest = [p async for p in first]             # the first play ends and hands its decoder over
        assert_tone(await second, 16000, seconds=2)
        assert len(rest) > 0 and pipe.slots.busy_count == 0
    finally:
        await pipe.close()


async def test_the_next_item_opened_before_the_current_one_ends_never_waits_on_itself(tmp_path: Path) -> None:
    """The renderer opens item 2 about 2 s before item 1 ends; with one decoder slot it must still play."""
    one = make_tone(tmp_path / "one.mp3", "mp3", seconds=30)
    two = make_tone(tmp_path / "two.mp3", "mp3", seconds=5)
    pipe = AudioPipeline(cfg(tmp_path, max_decoders=1, decoder_wait_ms=200), AudioParams())
    await pipe.start()
    s1 = AudioSource(uri=str(one), name="one.mp3", cache_key="music/one.mp3", etag='"1"')
    s2 = AudioSource(uri=str(two), name="two.mp3", cache_key="music/two.mp3", etag='"1"')
    try:
        current = pipe.frames(s1, holder="device-1")
        await current.__anext__()
        nxt = pipe.frames(s2, holder="device-1")
        first_of_next = await nxt.__anext__()       # granted at once: no queue, no AudioBusy
        with pytest.raises(AudioBusy):              # another device is still capped
            await play(pipe, AudioSource(uri=str(two), name="x.mp3", cache_key="music/x.mp3", etag='"1"'),
                       holder="device-2")
        rest_of_current = [p async for p in current]
        rest_of_next = [p async for p in nxt]
    finally:
        await pipe.close()
    assert_tone([first_of_next, *rest_of_next], 16000, seconds=5)
    assert len(rest_of_current) > 400
    assert not child_ffmpeg_pids()


def _fields(src: AudioSource) -> dict[str, object]:
    return {f: getattr(src, f) for f in ("uri", "name", "cache_key", "etag", "size", "refresh_url", "start_ms")}


@pytest.mark.filterwarnings("ignore")
def test_segments_fixture_has_the_expected_pitches(stories: dict[str, Path]) -> None:
    """Guard: the fixture itself must have the pitch layout the offset tests rely on."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(stories["wav"]), "-f", "s16le",
                          "-ac", "1", "-ar", "16000", "pipe:1"], check=True, capture_output=True).stdout
    samples = np.frombuffer(out, dtype="<i2").astype(np.float64)
    seg = int(SEGMENT_S * 16000)
    for i, hz in enumerate(SEGMENT_HZ):
        assert abs(peak_frequencies(samples[i * seg:(i + 1) * seg], 16000, count=1)[0] - hz) < 10
