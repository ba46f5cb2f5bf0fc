"""Spoken replies never block playback or other devices: fair engine pool per device, single flight, the phrase
cache on disk and in S3, announcements within a budget and rendered ahead, bounded replies, fair ASR.

Ordering is checked with a gated fake engine that the test releases one call at a time (no timing involved);
real engines (espeak-ng, piper) are used where they are cheap, and their frames are decoded and checked."""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from core.audio.cache import S3Share
from core.audio.p3 import read_p3
from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioParams
from core.config import AudioConfig, config_from_dict
from core.content.types import Kind, Track
from core.device_client import DeviceClient
from core.lang.replies import say
from core.playback.announce import AnnouncementWarmer, announcement_phrases, replies_ahead
from core.playback.phrase_cache import PhraseCache
from core.playback.speech import SpeechRenderer
from core.providers.tts.espeak import EspeakTTS
from core.providers.tts.piper import PiperTTS
from core.utils.fair import FairLimiter
from tests.audio_fixtures import BUCKET
from tests.voice_fixtures import GatedWhisperASR, GatedWhisperModel

pytestmark = pytest.mark.timeout(120)

RATE = 16000


def decode(frames: tuple[bytes, ...] | list[bytes]) -> np.ndarray:
    client = DeviceClient("ws://unused", server_hello={"audio_params": {"sample_rate": RATE}})
    return client.decode_audio(list(frames)).astype(np.float64)


def peak_hz(pcm: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[int(spec.argmax())])


def tone(freq: float, seconds: float, rate: int) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16).tobytes()


class GatedTTS:
    """A fake engine whose every call waits until the test releases it; speaks a tone whose pitch names the text."""
    name = "gated"
    fallbacks = 0

    def __init__(self, concurrency: int = 1) -> None:
        self.concurrency = concurrency
        self.calls: list[tuple[str, asyncio.Event]] = []
        self._changed = asyncio.Event()
        self.auto = False                 # release every call immediately

    def voice_id(self, text: str, language: str) -> str:
        return "gated:1"

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def freq(self, text: str) -> float:
        return 300.0 + 100.0 * (sum(map(ord, text)) % 10)

    async def synthesize(self, text: str, language: str, sample_rate: int):
        gate = asyncio.Event()
        if self.auto:
            gate.set()
        self.calls.append((text, gate))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        await gate.wait()
        yield tone(self.freq(text), 0.3, sample_rate)

    async def started(self, n: int) -> None:
        while len(self.calls) < n:
            await self._changed.wait()

    def release(self, i: int) -> None:
        self.calls[i][1].set()

    def texts(self) -> list[str]:
        return [t for t, _ in self.calls]


class CountingEspeak(EspeakTTS):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls: list[str] = []

    async def synthesize(self, text, language, sample_rate):
        self.calls.append(text)
        async for chunk in super().synthesize(text, language, sample_rate):
            yield chunk


def renderer(tts, **kw) -> SpeechRenderer:
    pipeline = AudioPipeline(AudioConfig(cache_dir=""), AudioParams(sample_rate=RATE))
    return SpeechRenderer(tts, pipeline.encode_pcm, RATE, **kw)


def long_reply(device: str, n: int) -> str:
    return " ".join(f"This is sentence {i} of a long reply number {n} for device {device}." for i in range(3))


# --------------------------------------------------------------------------- fairness

async def test_a_device_with_long_replies_queued_delays_another_device_by_at_most_one_unit() -> None:
    tts = GatedTTS(concurrency=1)
    speech = renderer(tts)
    a_jobs = [asyncio.create_task(speech.render(long_reply("A", n), "en", device="A")) for n in range(4)]
    await tts.started(1)                            # A's first unit holds the only slot; the rest of A queues
    b_job = asyncio.create_task(speech.render("Now playing Baa Baa Black Sheep.", "en", device="B"))
    while speech.limiter.waiting < 4:               # A's three other replies and B's reply queue for the slot
        await asyncio.sleep(0)
    tts.release(0)
    await tts.started(2)
    assert tts.texts()[1] == "Now playing Baa Baa Black Sheep."   # B goes next, before any more of A
    tts.auto = True
    for i in range(len(tts.calls)):
        tts.release(i)
    b_frames = await b_job
    a_frames = await asyncio.gather(*a_jobs)
    assert abs(peak_hz(decode(b_frames)) - tts.freq("Now playing Baa Baa Black Sheep.")) < 20
    assert all(len(f) > 10 for f in a_frames)
    # every unit of A was rendered exactly once, one after another (A is capped, B was never starved)
    assert len(tts.calls) == 1 + 4 * 3


async def test_with_two_slots_one_device_never_takes_both() -> None:
    tts = GatedTTS(concurrency=2)
    speech = renderer(tts)
    a_jobs = [asyncio.create_task(speech.render(long_reply("A", n), "en", device="A")) for n in range(3)]
    await tts.started(1)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(tts.calls) == 1 and speech.limiter.busy == 1     # the second slot is kept for other devices
    b_job = asyncio.create_task(speech.render("Stop.", "en", device="B"))
    await tts.started(2)
    assert tts.texts()[1] == "Stop."                           # B starts at once, while A's unit still runs
    tts.auto = True
    for i in range(len(tts.calls)):
        tts.release(i)
    assert len(await b_job) > 0 and all(await asyncio.gather(*a_jobs))


async def test_fair_limiter_round_robin_low_priority_promotion_and_cancel() -> None:
    lim = FairLimiter(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def job(key: str, name: str, low: bool = False, hold: asyncio.Event | None = None) -> None:
        async with lim.slot(key, low=low):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(job("A", "A0", hold=gate))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(job("A", f"A{i}")) for i in (1, 2, 3)]
    tasks.append(asyncio.create_task(job("W", "W0", low=True)))
    tasks.append(asyncio.create_task(job("B", "B0")))
    tasks.append(asyncio.create_task(job("C", "C0")))
    cancelled = asyncio.create_task(job("D", "D0"))
    for _ in range(3):
        await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    await asyncio.gather(first, *tasks)
    assert order == ["A0", "B0", "C0", "A1", "A2", "A3", "W0"]   # round-robin, low priority last, D never ran
    assert lim.busy == 0 and lim.waiting == 0 and lim.granted == 7

    # deadlines: the next part of a reply already playing (due later) waits behind a new reply (due now)
    now = [100.0]
    lim = FairLimiter(1, urgent_s=1.0, clock=lambda: now[0])
    order.clear()
    gate = asyncio.Event()

    async def timed(key: str, name: str, deadline: float | None) -> None:
        async with lim.slot(key, deadline=deadline):
            order.append(name)

    first = asyncio.create_task(job("X", "X0", hold=gate))
    await asyncio.sleep(0)
    later = [asyncio.create_task(timed("A", "A-next", 105.0)), asyncio.create_task(timed("C", "C-next", 103.0))]
    await asyncio.sleep(0)
    fresh = asyncio.create_task(timed("B", "B-new", None))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, fresh, *later)
    assert order == ["X0", "B-new", "C-next", "A-next"]
    lim = FairLimiter(1)

    # a waiting low-priority job promoted by a device goes ahead of other low-priority work
    order.clear()
    gate = asyncio.Event()
    first = asyncio.create_task(job("X", "X0", hold=gate))
    await asyncio.sleep(0)
    w1 = asyncio.create_task(job("W", "W1", low=True))
    holder: list = []
    w2 = asyncio.create_task(lim.acquire("W", low=True, waiter=holder))
    await asyncio.sleep(0)
    lim.promote(holder[0], "Y")
    gate.set()
    key = await w2
    order.append("W2")
    lim.release(key)
    await asyncio.gather(first, w1)
    assert order == ["X0", "W2", "W1"] and key == "Y"


# --------------------------------------------------------------------------- single flight and caches

async def test_identical_phrases_in_flight_are_synthesised_once_and_shared() -> None:
    tts = CountingEspeak()
    speech = renderer(tts)
    text = "Now playing The Wheels on the Bus."
    results = await asyncio.gather(*(speech.render(text, "en", device=f"dev{i}") for i in range(25)),
                                   *(_collect(speech, text, f"stream{i}") for i in range(25)))
    assert tts.calls == [text] and speech.synth_count == 1 and speech.joined == 49
    assert all(tuple(r) == tuple(results[0]) for r in results)
    pcm = decode(results[0])
    assert 1.0 < len(pcm) / RATE < 4.0 and np.sqrt(np.mean(pcm ** 2)) > 300   # real speech, plausible length


async def _collect(speech: SpeechRenderer, text: str, device: str) -> list[bytes]:
    return [f async for f in speech.frames(text, "en", device=device)]


async def test_phrase_cache_on_disk_survives_a_new_renderer(tmp_path: Path) -> None:
    text = "Here is the story The Sleepy Moon."
    first_tts = CountingEspeak()
    first = renderer(first_tts, phrase_cache=PhraseCache(tmp_path / "phrases", 1 << 20))
    frames = await first.render(text, "en")
    await first.wait_idle()
    entries = list((tmp_path / "phrases").glob("*.p3"))
    assert len(entries) == 1 and tuple(read_p3(entries[0])) == frames
    assert not list((tmp_path / "phrases").glob("*.tmp-*"))           # atomic: no temp file left behind

    again_tts = CountingEspeak()
    again = renderer(again_tts, phrase_cache=PhraseCache(tmp_path / "phrases", 1 << 20))
    assert await again.render(text, "en") == frames and again_tts.calls == []
    # another voice is another key: never served the first voice's audio
    slower = CountingEspeak(speed_wpm=120)
    other = renderer(slower, phrase_cache=PhraseCache(tmp_path / "phrases", 1 << 20))
    assert await other.render(text, "en") != frames and slower.calls == [text]


async def test_phrase_cache_stays_within_its_bound(tmp_path: Path) -> None:
    tts = GatedTTS()
    tts.auto = True
    cache = PhraseCache(tmp_path / "phrases", 6000)
    speech = renderer(tts, phrase_cache=cache, cache_phrases=0)
    for i in range(30):
        await speech.render(f"Now playing song number {i}.", "en")
    await speech.wait_idle()
    assert cache.stores == 30 and 0 < cache.total_bytes() <= 6000


async def test_a_damaged_phrase_entry_is_rendered_again(tmp_path: Path) -> None:
    tts = CountingEspeak()
    speech = renderer(tts, phrase_cache=PhraseCache(tmp_path / "p", 1 << 20), cache_phrases=0)
    good = await speech.render("Sleep tight.", "en")
    await speech.wait_idle()
    entry = next((tmp_path / "p").glob("*.p3"))
    entry.write_bytes(entry.read_bytes()[:-3])                          # truncated record
    assert await speech.render("Sleep tight.", "en") == good and len(tts.calls) == 2


async def test_phrases_are_shared_between_nodes_through_s3(moto_s3, tmp_path: Path) -> None:
    share = S3Share(moto_s3.client, BUCKET, "audio-cache/v1/phrases")
    node_a_tts, node_b_tts = CountingEspeak(), CountingEspeak()
    node_a = renderer(node_a_tts, phrase_cache=PhraseCache(tmp_path / "a", 1 << 20, share))
    node_b = renderer(node_b_tts, phrase_cache=PhraseCache(tmp_path / "b", 1 << 20, share))
    frames = await node_a.render("Now playing Bandar Mama.", "en")
    await node_a.aclose()                                               # waits for the upload
    assert await node_b.render("Now playing Bandar Mama.", "en") == frames
    assert node_b_tts.calls == [] and len(list((tmp_path / "b").glob("*.p3"))) == 1


# --------------------------------------------------------------------------- announcements

async def test_announcement_is_none_within_budget_then_ready_from_the_cache() -> None:
    tts = GatedTTS()
    speech = renderer(tts)
    text = "Now playing Twinkle Twinkle Little Star."
    assert await speech.announcement(text, "en", budget_s=0.05, device="A") is None
    await tts.started(1)                                  # still rendering in the background
    tts.release(0)
    frames = await speech.render(text, "en", device="B")  # joins the same render
    assert speech.synth_count == 1 and len(tts.calls) == 1 and speech.cached(text, "en")
    assert await speech.announcement(text, "en", budget_s=0.0, device="A") == frames
    assert abs(peak_hz(decode(frames)) - tts.freq(text)) < 20


async def test_an_announcement_skipped_for_its_budget_renders_behind_the_replies_devices_wait_for() -> None:
    """After a node restart hundreds of "Carrying on with <title>" lines miss their budget and the stories start
    without them; what is left of their renders only fills the cache and must not hold up a device's reply."""
    tts = GatedTTS()
    speech = renderer(tts)
    first = asyncio.create_task(speech.render("I couldn't find Despacito.", "en", device="X"))
    await tts.started(1)                                  # the only engine slot is taken
    skipped = "Carrying on with The Sleepy Moon."
    assert await speech.announcement(skipped, "en", budget_s=0.05, device="A") is None
    reply = asyncio.create_task(speech.render("Now playing Jack and Jill.", "en", device="B"))
    for _ in range(3):
        await asyncio.sleep(0)
    tts.release(0)
    await tts.started(2)
    assert tts.texts()[1] == "Now playing Jack and Jill."          # the waiting device first
    tts.auto = True
    tts.release(1)
    assert len(await first) > 0 and len(await reply) > 0
    await speech.wait_idle()
    assert tts.texts()[2] == skipped and speech.cached(skipped, "en")   # then the cache is filled


@dataclass
class FakeContent:
    items: list[Track]
    callbacks: list = field(default_factory=list)

    def tracks(self, kind=None) -> list[Track]:
        return list(self.items)

    def on_change(self, cb) -> None:
        self.callbacks.append(cb)


def _track(title: str, kind: Kind = Kind.MUSIC, romanized: str = "", collection: str = "English") -> Track:
    return Track(kind, collection, title, f"{title}.mp3", romanized=romanized)


async def test_warmer_renders_every_announcement_when_the_catalog_loads_and_changes(tmp_path: Path) -> None:
    tts = CountingEspeak()
    speech = renderer(tts, phrase_cache=PhraseCache(tmp_path / "p", 1 << 20))
    content = FakeContent([_track("Baa Baa Black Sheep"), _track("The Sleepy Moon", Kind.STORY, collection="Bedtime"),
                           _track("बंदर मामा", romanized="Bandar Mama", collection="Hindi")])
    warmer = AnnouncementWarmer(speech, content)
    warmer.start()
    await warmer.wait_idle()
    expected = {("Now playing Baa Baa Black Sheep.", "en"), ("Here is the story The Sleepy Moon.", "en"),
                ("Now playing Bandar Mama.", "en"), (say("now_playing", "hi", title="बंदर मामा"), "hi")}
    assert set(tts.calls) == {t for t, _ in expected} and warmer.rendered == 4
    assert all([await speech.announcement(t, lang, budget_s=0.0) for t, lang in expected])
    # the plugins say exactly these texts, so the cache serves real replies too
    assert announcement_phrases(content.items[0])[0] == ("Now playing Baa Baa Black Sheep.", "en")

    content.items.append(_track("Wheels on the Bus"))
    for cb in content.callbacks:
        cb()
    await warmer.wait_idle()
    assert tts.calls[4:] == ["Now playing Wheels on the Bus."]          # only the new title is rendered
    await warmer.aclose()


async def test_announcements_say_titles_cleaned_as_the_plugins_say_them(tmp_path: Path) -> None:
    """Raw file titles ("- Full Story", capitals) are announced cleaned, and the warmer renders the very text the
    play plugin then says, so the reply is a cache hit."""
    from core.config import MatchingConfig
    from core.content.matcher import MultilingualMatcher
    from tests.match_fixtures import make_ctx, run_request

    pigs = _track("The 3 Little Pigs - Full Story", Kind.STORY, collection="Fairy Tales")
    bus = _track("WHEELS ON THE BUS")
    tts = CountingEspeak()
    speech = renderer(tts, phrase_cache=PhraseCache(tmp_path / "p", 1 << 20))
    warmer = AnnouncementWarmer(speech, FakeContent([pigs, bus]))
    warmer.start()
    await warmer.wait_idle()
    assert sorted(tts.calls) == ["Here is the story The 3 Little Pigs.", "Now playing Wheels on the Bus."]
    await warmer.aclose()

    ctx = make_ctx(MultilingualMatcher([pigs, bus], MatchingConfig()))
    for text, said in (("play wheels on the bus", "Now playing Wheels on the Bus."),
                       ("tell me the story of the 3 little pigs", "Here is the story The 3 Little Pigs.")):
        _, result = await asyncio.to_thread(run_request, text, ctx)
        assert result.speech == said and speech.cached(said, "en")


async def test_the_replies_said_under_load_are_rendered_before_the_announcements(tmp_path: Path) -> None:
    """"busy" is said when the node has the least CPU to spare: it is in the cache, in every language, before the
    first announcement is rendered, and it is not rendered again when the catalog changes."""
    tts = CountingEspeak()
    speech = renderer(tts, phrase_cache=PhraseCache(tmp_path / "p", 1 << 20))
    content = FakeContent([_track("Baa Baa Black Sheep")])
    ahead = replies_ahead()
    assert (say("busy", "en"), "en") in ahead and (say("busy", "kn"), "kn") in ahead
    assert {lang for _, lang in ahead} == {"en", "hi", "te", "kn"}
    warmer = AnnouncementWarmer(speech, content, ahead=ahead)
    warmer.start()
    await warmer.wait_idle()
    assert tts.calls == [text for text, _ in ahead] + ["Now playing Baa Baa Black Sheep."]
    assert all(speech.cached(text, lang) for text, lang in ahead)
    busy = await speech.announcement(say("busy", "hi"), "hi", budget_s=0.0)
    assert busy and len(decode(busy)) > RATE // 2                   # the rendered sentence, from the cache
    content.items.append(_track("Wheels on the Bus"))
    for cb in content.callbacks:
        cb()
    await warmer.wait_idle()
    assert tts.calls[len(ahead) + 1:] == ["Now playing Wheels on the Bus."]
    await warmer.aclose()


async def test_a_device_reply_goes_before_the_warmer_and_promotes_its_phrase() -> None:
    tts = GatedTTS()
    speech = renderer(tts)
    content = FakeContent([_track(f"Song {i}") for i in range(5)])
    warmer = AnnouncementWarmer(speech, content)
    warmer.start()
    await tts.started(1)                                   # the warmer renders "Song 0" at low priority
    reply = asyncio.create_task(speech.render("I couldn't find Despacito.", "en", device="A"))
    for _ in range(3):
        await asyncio.sleep(0)
    tts.release(0)
    await tts.started(2)
    assert tts.texts()[1] == "I couldn't find Despacito."
    tts.auto = True
    tts.release(1)
    assert len(await reply) > 0
    await warmer.wait_idle()
    assert warmer.rendered == 5 and len(tts.calls) == 6
    await warmer.aclose()


# --------------------------------------------------------------------------- bounds and cancellation

async def test_reply_length_is_bounded() -> None:
    asked = "play the song about the little dog who went to the market to buy a hat and some shoes"
    reply = say("not_found", "en", requested=asked)
    assert reply == "I couldn't find play the song about the little."
    assert len(say("not_found", "en", requested="x" * 500)) <= len("I couldn't find .") + 60
    tts = CountingEspeak()
    speech = renderer(tts, max_reply_chars=120)
    story = "Once upon a time a little star wanted to sing. " * 40
    frames = await speech.render(story, "en")
    spoken = " ".join(tts.calls)
    assert len(spoken) <= 120 and spoken.endswith("sing.")
    assert 2.0 < len(decode(frames)) / RATE < 15.0


async def test_an_abandoned_long_reply_frees_the_engine_and_a_left_phrase_still_lands_whole() -> None:
    tts = GatedTTS()
    speech = renderer(tts, max_cached_chars=40)
    gen = speech.frames(long_reply("A", 0), "en", device="A")         # too long to cache
    first = asyncio.create_task(gen.__anext__())
    await tts.started(1)
    tts.release(0)
    await first
    await gen.aclose()                                                # the device was interrupted
    await asyncio.sleep(0)
    assert speech.limiter.busy == 0 and len(tts.calls) <= 2           # no further units of that reply
    tts.auto = True
    for i in range(len(tts.calls)):
        tts.release(i)
    # a short phrase whose listener leaves early is finished and cached whole (never a partial entry)
    gen = speech.frames("Sleep tight.", "en", device="B")
    await gen.__anext__()
    await gen.aclose()
    full = await speech.render("Sleep tight.", "en")
    assert speech.cached("Sleep tight.", "en") and len(full) == len(decode(full)) // (RATE * 60 // 1000)
    assert sum(1 for t in tts.texts() if t == "Sleep tight.") == 1


# --------------------------------------------------------------------------- real piper

async def test_piper_pool_frees_its_worker_before_the_audio_is_paced() -> None:
    tts = PiperTTS(workers=1)
    try:
        slow_reader = tts.synthesize("One little star. Two little stars. Three little stars.", "en", RATE)
        first = await slow_reader.__anext__()         # the caller now paces this audio for seconds
        other = b"".join([c async for c in tts.synthesize("Stop.", "en", RATE)])
        assert 0.3 < len(other) / 2 / RATE < 1.5      # served by the same single worker meanwhile
        paced = first + b"".join([c async for c in slow_reader])
        assert 2.0 < len(paced) / 2 / RATE < 8.0      # and the paced reply is still whole
        speech = renderer(tts)
        a = asyncio.create_task(speech.render(long_reply("A", 1), "en", device="A"))
        b = await speech.render("Now playing Baa Baa Black Sheep.", "en", device="B")
        pcm = decode(b)
        assert 1.0 < len(pcm) / RATE < 4.0 and np.sqrt(np.mean(pcm ** 2)) > 300
        assert len(decode(await a)) / RATE > 8.0      # A's three sentences, all there
    finally:
        await tts.aclose()


# --------------------------------------------------------------------------- ASR

async def test_asr_serves_devices_round_robin() -> None:
    cfg = config_from_dict({"voice": {"asr": {"max_concurrent": 1}}}).voice.asr
    model = GatedWhisperModel()
    asr = GatedWhisperASR(cfg, model)

    def utt(n: int) -> bytes:
        return (np.full(1600, n / 100 * 32768, np.float32)).astype(np.int16).tobytes()

    a = [asyncio.create_task(asr.transcribe(utt(n), device="A")) for n in (1, 2, 3, 4)]
    assert await model.wait_started()                      # A's first utterance is decoding
    b = asyncio.create_task(asr.transcribe(utt(9), device="B"))
    for _ in range(3):
        await asyncio.sleep(0)
    model.gates[0].set()
    assert await model.wait_started()
    assert model.order == ["u1", "u9"]                     # B before A's remaining three
    with model.lock:
        model.auto = True
        for g in model.gates:
            g.set()
    assert await b == "u9" and await asyncio.gather(*a) == ["u1", "u2", "u3", "u4"]
    assert model.order == ["u1", "u9", "u2", "u3", "u4"]


# --------------------------------------------------------------------------- built from the config

async def test_from_config_pool_phrase_cache_keyed_by_output_and_an_unusable_dir(tmp_path: Path) -> None:
    from core.providers.tts.factory import build_tts

    def built(**audio: object) -> SpeechRenderer:
        cfg = config_from_dict({"audio": {"cache_dir": "", **audio}, "voice": {"tts": {
            "provider": "espeak", "phrase_cache_dir": str(tmp_path / "p")}}})
        return SpeechRenderer.from_config(cfg, build_tts(cfg.voice.tts), AudioPipeline(cfg.audio, AudioParams()))

    local = config_from_dict({"voice": {"tts": {"workers": 3, "phrase_cache_dir": ""}}})
    piper_pool = SpeechRenderer.from_config(local, build_tts(local.voice.tts),
                                            AudioPipeline(local.audio, AudioParams()))
    assert piper_pool.limiter.slots == 3 and piper_pool.limiter.per_key == 2     # one worker kept for others
    speech = built()
    assert speech.limiter.slots == (os.cpu_count() or 2)                       # espeak: a process per call
    frames = await speech.render("Sleep tight, little one.", "en")
    await speech.wait_idle()
    assert len(list((tmp_path / "p").glob("*.p3"))) == 1
    lower = built(opus_bitrate=16000)                     # another encoder setting: its own entry, not the first
    other = await lower.render("Sleep tight, little one.", "en")
    await lower.wait_idle()
    assert other != frames and lower.synth_count == 1 and len(list((tmp_path / "p").glob("*.p3"))) == 2

    (tmp_path / "file").write_text("not a directory")
    cfg = config_from_dict({"audio": {"cache_dir": ""}, "voice": {"tts": {
        "provider": "espeak", "phrase_cache_dir": str(tmp_path / "file" / "phrases")}}})
    memory_only = SpeechRenderer.from_config(cfg, build_tts(cfg.voice.tts), AudioPipeline(cfg.audio, AudioParams()))
    assert len(await memory_only.render("Sleep tight, little one.", "en")) > 10
