#!/usr/bin/env python3
"""The player's figures: device-state store cost, the gap between queued items, and resume latency.

1. Store (SQLite, the default): save cost of a realistic device state (100 plays of history, a 50-item queue,
   20 favourites) one at a time and 1,000 devices at once, against what 1,000 devices saving every 10 s need.
2. Over a real WebSocket against `app.py serve` with the shipped voice configuration (spoken replies on):
   - the gap between queued items of a collection, measured at the device as the largest interval between two
     audio frames at an item boundary (frames otherwise arrive every 60 ms);
   - resume from the transcode cache: "resume" after "pause" -> first audio frame (p50/p99);
   - resume from the source by format (mp3, wav, ogg, m4a; cache off): the same.
Run: .venv/bin/python bench/player_bench.py [--devices 1000] [--rounds 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import machine, run_server
from core.device_client import DeviceClient
from core.devices.state import DeviceState, Item, Play, PlaybackState
from core.devices.store import SqliteStore

SHIPPED_VOICE = {"tts": {"provider": "local"}, "asr": {"provider": "whisper"}, "vad": {"provider": "silero"}}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def realistic_state(i: int) -> DeviceState:
    uids = tuple(f"music/English/Song Number {k}.mp3" for k in range(50))
    history = tuple(Play(uids[k % 50], "music", f"Song Number {k}", 1.7e9 + k, 61_000, k % 3 == 0)
                    for k in range(100))
    return DeviceState(f"aa:bb:cc:{i // 65536:02x}:{i // 256 % 256:02x}:{i % 256:02x}",
                       item=Item(uids[3], "music", "Song Number 3", 42_000, "etag"), playback=PlaybackState.PLAYING,
                       queue=uids,
                       index=3, continuous=True, history=history, favourites=uids[:20], updated_at=time.time())


async def bench_store(devices: int, tmp: Path) -> None:
    store = await SqliteStore(tmp / "devices.db").open()
    states = [realistic_state(i) for i in range(devices)]
    size = len(states[0].to_json())
    one: list[float] = []
    for st in states:
        t = time.perf_counter()
        await store.save(st)
        one.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    await asyncio.gather(*(store.save(st) for st in states))
    burst = time.perf_counter() - t
    loads: list[float] = []
    for st in states[:200]:
        t = time.perf_counter()
        await store.load(st.device_id)
        loads.append((time.perf_counter() - t) * 1000)
    await store.close()
    per_s = devices / burst
    print(f"store: state of {size} bytes; save p50 {pct(one, 50):.2f} ms, p99 {pct(one, 99):.2f} ms; "
          f"load p50 {pct(loads, 50):.2f} ms")
    print(f"store: {devices} devices saved at once in {burst * 1000:.0f} ms = {per_s:,.0f} saves/s; "
          f"{devices} devices every 10 s need {devices / 10:.0f}/s -> headroom {per_s / (devices / 10):.0f}x")


def tone(path: Path, hz: float, seconds: float, codec: list[str]) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency={hz}:sample_rate=44100:duration={seconds}", "-ac", "2", *codec, str(path)],
                   check=True, timeout=120)


def make_library(root: Path) -> None:
    counting = root / "music" / "Counting"
    counting.mkdir(parents=True)
    meta = {}
    for i in range(6):
        title = f"Number Tune {i}"  # titles apart from the request words, so it names the folder
        tone(counting / f"{title}.mp3", 300 + 80 * i, 2.0, ["-c:a", "libmp3lame", "-b:a", "128k"])
        meta[title] = {"romanized": title, "filename": f"{title}.mp3", "alternatives": []}
    (counting / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    stories = root / "stories" / "Bedtime"
    stories.mkdir(parents=True)
    meta = {}
    for fmt, codec in {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "wav": ["-c:a", "pcm_s16le"],
                       "ogg": ["-c:a", "libvorbis"], "m4a": ["-c:a", "aac", "-b:a", "128k"]}.items():
        title = f"Long Story {fmt}"
        tone(stories / f"{title}.{fmt}", 500, 240.0, codec)
        meta[title] = {"romanized": title, "filename": f"{title}.{fmt}", "alternatives": []}
    (stories / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")


async def queue_gaps(url: str, runs: int) -> list[float]:
    gaps: list[float] = []
    for r in range(runs):
        async with DeviceClient(url, device_id=f"aa:00:00:00:01:{r:02x}") as client:
            await client.send_text_request("play counting songs")
            boundaries: list[int] = []
            while True:
                rec = await client.wait_for(lambda x: x.kind == "json", timeout=60)
                msg = rec.message or {}
                if msg.get("type") == "tts" and msg.get("state") == "sentence_start" and \
                        str(msg.get("text", "")).startswith("Number Tune"):
                    boundaries.append(len(client.audio))
                if msg.get("type") == "tts" and msg.get("state") == "stop":
                    break
            times = client.audio_times
            for b in boundaries[1:]:
                if 0 < b < len(times):
                    gaps.append((times[b] - times[b - 1]) * 1000)
    return gaps


async def resume_latency(url: str, title: str, rounds: int, device: str) -> list[float]:
    out: list[float] = []
    async with DeviceClient(url, device_id=device) as client:
        for _ in range(rounds):
            await client.send_text_request(f"play {title}")
            await client.wait_for(lambda x: x.kind == "audio", timeout=30)
            await asyncio.sleep(1.0)
            await client.send_text_request("pause")
            await client.wait_json("tts", "stop", timeout=10)
            await asyncio.sleep(0.3)
            mark = len(client.audio)
            t = time.monotonic() - client._t0
            await client.send_text_request("resume")
            rec = await client.wait_for(lambda x, mark=mark: x.kind == "audio" and len(client.audio) > mark, timeout=30)
            out.append((rec.t - t) * 1000)
            await client.send_text_request("stop")
            await asyncio.sleep(0.3)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        await bench_store(args.devices, tmp)
        lib = tmp / "lib"
        make_library(lib)
        with run_server(tmp, lib, cache_dir=str(tmp / "audio-cache"), extra={"voice": SHIPPED_VOICE}) as (port, _):
            url = f"ws://127.0.0.1:{port}/xiaozhi/v1/"
            gaps = await queue_gaps(url, 5)
            print(f"queue: gap at item boundaries (n={len(gaps)}) p50 {pct(gaps, 50):.0f} ms, p99 {pct(gaps, 99):.0f}"
                  f" ms, max {max(gaps):.0f} ms (frames are 60 ms apart within an item)")
            cached = await resume_latency(url, "long story mp3", args.rounds, "aa:00:00:00:02:01")
            print(f"resume from the transcode cache -> first frame: p50 {pct(cached, 50):.0f} ms, "
                  f"p99 {pct(cached, 99):.0f} ms (n={len(cached)})")
        shutil.rmtree(tmp / "audio-cache", ignore_errors=True)
        with run_server(tmp, lib, cache_dir="", extra={"voice": SHIPPED_VOICE}) as (port, _):
            url = f"ws://127.0.0.1:{port}/xiaozhi/v1/"
            for fmt in ("mp3", "wav", "ogg", "m4a"):
                lat = await resume_latency(url, f"long story {fmt}", max(3, args.rounds // 4), f"aa:00:00:00:03:{fmt}")
                print(f"resume from the source ({fmt}, cache off) -> first frame: p50 {pct(lat, 50):.0f} ms, "
                      f"p99 {pct(lat, 99):.0f} ms (n={len(lat)})")


if __name__ == "__main__":
    asyncio.run(main())
