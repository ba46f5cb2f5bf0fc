#!/usr/bin/env python3
"""Spoken replies under contention, with config.yaml as shipped (piper for English, the pool size it implies).

    flock /tmp/heavy.lock .venv/bin/python bench/tts_bench.py [--config config.yaml] [--devices 50]

Every device paces the frames it receives in real time (60 ms per frame, 3 frames lead), like a playing turn.
Prints, side by side:
1. One device's reply while long replies (max_reply_chars each) play: four devices playing one each, one device
   with four queued, and four playing with no device ids (one shared queue, what callers that name no device get).
   Time to the first frame and the delay against the same reply alone. Target: delay <= 0.3 s.
2. N devices asking for the same new title at once: syntheses (single flight: 1), first frame p50/max, how many
   heard it within 2 s. Target: all.
3. Synthesis throughput of the pool: distinct new phrases from distinct devices, phrases/s and speech s per s.
4. Announcements ahead: the warmer over a catalog of titles, then `announcement()` from a fresh renderer (disk
   cache only): latency p50/max against the 300 ms budget.
The phrase cache lives in a temporary directory (so every title is new); everything else is config.yaml.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from bench._server import load_note
from core.audio.pipeline import AudioPipeline
from core.audio.types import AudioParams
from core.config import Config, load_config
from core.content.types import Kind, Track
from core.lang.replies import say
from core.playback.announce import AnnouncementWarmer
from core.playback.speech import SpeechRenderer
from core.providers.tts.factory import build_tts

FRAME_S = 0.06
LEAD = 3


def long_text(tag: str, chars: int) -> str:
    base = (f"Here is a long answer number {tag}. The little star looked down at the sleepy village, and the owls "
            "hooted softly in the tall trees while the river sang its quiet song. ")
    return (base * (chars // len(base) + 1))[: chars + 40]


async def paced(speech: SpeechRenderer, text: str, device: str,
                playing: asyncio.Event | None = None) -> tuple[float, float, int]:
    """(seconds to the first frame, seconds to the last frame received, frames), pacing like a device turn."""
    t0 = time.perf_counter()
    first = None
    n = 0
    anchor = None
    async for _frame in speech.frames(text, "en", device=device):
        now = time.perf_counter()
        if first is None:
            first = now - t0
            anchor = now
            if playing is not None:
                playing.set()
        assert anchor is not None
        due = anchor + max(0, n - LEAD) * FRAME_S
        if due > now:
            await asyncio.sleep(due - now)
        n += 1
    return (first if first is not None else float("nan")), time.perf_counter() - t0, n


async def rendered(speech: SpeechRenderer, text: str, device: str) -> tuple[float, float]:
    """(first frame, whole reply rendered) for a reply whose frames are read as fast as they appear."""
    t0 = time.perf_counter()
    first = None
    async for _ in speech.frames(text, "en", device=device):
        if first is None:
            first = time.perf_counter() - t0
    return (first if first is not None else float("nan")), time.perf_counter() - t0


def build(cfg: Config, *, pool: int | None = None) -> tuple[SpeechRenderer, object, AudioPipeline]:
    tcfg = cfg.voice.tts if pool is None else replace(cfg.voice.tts, workers=pool)
    cfg = replace(cfg, voice=replace(cfg.voice, tts=tcfg))
    tts = build_tts(cfg.voice.tts)
    pipeline = AudioPipeline(replace(cfg.audio, cache_dir=""), AudioParams(sample_rate=cfg.audio.sample_rate))
    return SpeechRenderer.from_config(cfg, tts, pipeline), tts, pipeline


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def piper_pids(tts: object) -> list[int]:
    english = getattr(tts, "_english", tts)
    return [w.proc.pid for w in getattr(english, "_workers", []) if w.proc is not None]


async def scenario_contention(cfg: Config, pool: int | None) -> None:
    speech, tts, _ = build(cfg, pool=pool)
    await tts.warm_up()  # type: ignore[attr-defined]  # build() returns the provider as object
    shipped = " (shipped)" if pool is None else " (not shipped: comparison)"
    print(f"\npool: {speech.limiter.slots} slot(s){shipped}; piper workers {len(piper_pids(tts))}, "
          f"RSS {rss_mb(piper_pids(tts)):.0f} MB; max_reply_chars {cfg.voice.tts.max_reply_chars}")
    limit = cfg.voice.tts.max_reply_chars
    rows = []
    alone = await paced(speech, f"Now playing The Quiet River {uuid.uuid4().hex[:4]}.", "E")
    rows.append(("alone", alone))
    cases = (("4 devices playing long replies", [f"L{i}" for i in range(4)]),
             ("1 device with 4 long replies queued", ["A"] * 4),
             ("4 playing, no device ids (one queue)", [""] * 4))
    for label, devices in cases:
        tag = uuid.uuid4().hex[:6]
        started = [asyncio.Event() for _ in devices]
        loads = [asyncio.create_task(paced(speech, long_text(f"{tag}{i}", limit), dev, ev))
                 for i, (dev, ev) in enumerate(zip(devices, started, strict=True))]
        if devices[0] != "A":
            await asyncio.gather(*(ev.wait() for ev in started))   # the long replies are playing
        else:
            await asyncio.sleep(0.05)                            # queued, not necessarily playing yet
        mine = await paced(speech, f"Now playing The Quiet River {tag}.", "E" if devices[0] else "")
        await asyncio.gather(*loads)
        rows.append((label, mine))
    print("\n1. One device's reply while four devices play long replies (paced in real time)")
    print(f"   {'case':38s} {'first frame':>12s} {'delay':>8s} {'whole reply':>12s}")
    for label, (first, total, _n) in rows:
        print(f"   {label:38s} {first:10.3f} s {first - alone[0]:6.3f} s {total:10.2f} s")
    await speech.aclose()
    await tts.aclose()  # type: ignore[attr-defined]  # build() returns the provider as object


async def scenario_same_title(cfg: Config, devices: int) -> None:
    speech, tts, _ = build(cfg)
    await tts.warm_up()  # type: ignore[attr-defined]  # build() returns the provider as object
    text = say("now_playing", "en", title=f"The Dancing Giraffe {uuid.uuid4().hex[:4]}")
    res = await asyncio.gather(*(paced(speech, text, f"D{i}") for i in range(devices)))
    firsts = sorted(r[0] for r in res)
    within = sum(1 for f in firsts if f <= 2.0)
    print(f"\n2. {devices} devices asking for the same new title at once")
    print(f"   syntheses {speech.synth_count}, joined {speech.joined}; "
          f"first frame p50 {statistics.median(firsts):.3f} s, max {firsts[-1]:.3f} s; "
          f"heard within 2 s: {within}/{devices}; frames per device {min(r[2] for r in res)}-{max(r[2] for r in res)}")
    await speech.aclose()
    await tts.aclose()  # type: ignore[attr-defined]  # build() returns the provider as object


async def scenario_throughput(cfg: Config, pools: list[int | None], phrases: int) -> None:
    print(f"\n3. Synthesis throughput: {phrases} distinct new phrases from {phrases} devices at once")
    print(f"   {'pool':22s} {'wall':>8s} {'phrases/s':>10s} {'speech s/s':>11s} {'worst reply':>12s} "
          f"{'piper RSS':>10s}")
    for pool in pools:
        speech, tts, _ = build(cfg, pool=pool)
        await tts.warm_up()  # type: ignore[attr-defined]  # build() returns the provider as object
        tag = uuid.uuid4().hex[:4]
        texts = [say("not_found", "en", requested=f"the song number {i} {tag}") for i in range(phrases)]
        t0 = time.perf_counter()
        res = await asyncio.gather(*(rendered(speech, t, f"T{i}") for i, t in enumerate(texts)))
        wall = time.perf_counter() - t0
        frames = sum(len(speech._memory((t, "en"), touch=False) or ()) for t in texts)
        label = f"{speech.limiter.slots} (shipped)" if pool is None else f"{speech.limiter.slots}"
        print(f"   {label:22s} {wall:6.2f} s {phrases / wall:10.1f} {frames * FRAME_S / wall:11.1f} "
              f"{max(r[1] for r in res):10.2f} s {rss_mb(piper_pids(tts)):8.0f} MB")
        await speech.aclose()
        await tts.aclose()  # type: ignore[attr-defined]  # build() returns the provider as object


class _Catalog:
    def __init__(self, tracks: list[Track]) -> None:
        self._tracks = tracks

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        return self._tracks

    def on_change(self, callback: object) -> None:
        return None


async def scenario_announcements(cfg: Config, titles: int) -> None:
    speech, tts, _ = build(cfg)
    await tts.warm_up()  # type: ignore[attr-defined]  # build() returns the provider as object
    tag = uuid.uuid4().hex[:4]
    tracks = [Track(Kind.MUSIC, "English", f"Rhyme {tag} {i}", f"r{i}.mp3") for i in range(titles)]
    warmer = AnnouncementWarmer(speech, _Catalog(tracks))
    t0 = time.perf_counter()
    warmer.start()
    await warmer.wait_idle()
    await speech.wait_idle()
    warm_s = time.perf_counter() - t0
    fresh, tts2, _ = build(cfg)               # a restarted server: memory empty, disk cache warm
    lat = []
    ready = 0
    for t in tracks:
        s0 = time.perf_counter()
        got = await fresh.announcement(say("now_playing", "en", title=t.title), "en", device="A")
        lat.append(time.perf_counter() - s0)
        ready += got is not None
    lat.sort()
    print(f"\n4. Announcements ahead: {titles} titles pre-rendered in {warm_s:.1f} s ({titles / warm_s:.1f}/s); "
          f"after a restart {ready}/{titles} ready within the {cfg.voice.tts.announce_budget_ms} ms budget, "
          f"latency p50 {statistics.median(lat) * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms; "
          f"syntheses after restart {fresh.synth_count}")
    await warmer.aclose()
    for s, t in ((speech, tts), (fresh, tts2)):
        await s.aclose()
        await t.aclose()  # type: ignore[attr-defined]  # build() returns the provider as object


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "config.yaml"))
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--phrases", type=int, default=24)
    ap.add_argument("--titles", type=int, default=60)
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    with tempfile.TemporaryDirectory(prefix="tts-bench-") as tmp:
        base = load_config(args.config)
        cfg = replace(base, voice=replace(base.voice, tts=replace(base.voice.tts, phrase_cache_dir=tmp)))
        print(f"tts bench: config {args.config} (provider {cfg.voice.tts.provider}, "
              f"english {cfg.voice.tts.english_voice}); {os.cpu_count()} cores; phrase cache in a temp dir; "
              f"{load_note(os.getloadavg()[0])}")
        shipped = cfg.voice.tts.pool_size()
        others = [p for p in (1, 2) if p != shipped]
        for pool in (None, *others):
            await scenario_contention(cfg, pool)
        await scenario_same_title(cfg, args.devices)
        await scenario_throughput(cfg, [None, *others], args.phrases)
        await scenario_announcements(cfg, args.titles)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (the bench's own work included)")


if __name__ == "__main__":
    asyncio.run(main())
