#!/usr/bin/env python3
"""Device-server latency: hello round trip, and abort -> `tts stop` (and the last frame after abort).

The server runs as its own process (`app.py serve`) on loopback; a scripted device measures from its side.
Run: .venv/bin/python bench/server_bench.py [--hellos 200] [--aborts 30]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import load_note, machine, make_catalog, run_server
from core.device_client import DeviceClient


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


async def hello_latencies(url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        client = DeviceClient(url)
        t0 = time.perf_counter()
        await client.connect()
        out.append((time.perf_counter() - t0) * 1000)
        await client.close()
    return out


async def abort_latencies(url: str, n: int, titles: list[str]) -> tuple[list[float], list[float], int]:
    stops, last_frames, late_frames = [], [], 0
    for i in range(n):
        async with DeviceClient(url) as client:
            await client.send_text_request(f"play {titles[i % len(titles)].lower()}")
            await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) >= 10, timeout=15)
            t_abort = time.monotonic() - client._t0
            await client.abort()
            stop = await client.wait_json("tts", "stop", timeout=5)
            t_stop = next(r.t for r in client.log if r.kind == "json" and r.message is stop)
            await asyncio.sleep(0.3)
            after = [t for t in client.audio_times if t > t_abort]
            stops.append((t_stop - t_abort) * 1000)
            last_frames.append(((max(after) - t_abort) * 1000) if after else 0.0)
            late_frames += len(after)
    return stops, last_frames, late_frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hellos", type=int, default=200)
    ap.add_argument("--aborts", type=int, default=30)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        titles = make_catalog(work / "content", 8, 30.0)
        with run_server(work, work / "content") as (ws_port, _http):
            url = f"ws://127.0.0.1:{ws_port}/xiaozhi/v1/"
            hellos = asyncio.run(hello_latencies(url, args.hellos))
            stops, lasts, after = asyncio.run(abort_latencies(url, args.aborts, titles))
    print(f"machine: {machine()}; {load_note(load_before)}; NOT the shipped config: spoken replies, ASR and VAD off "
          f"(connect and abort latency involve no voice)")
    print(f"{'measure':40} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("connect + hello -> server hello", hellos), ("abort -> tts stop", stops),
                         ("abort -> last frame received", lasts)):
        print(f"{name:40} {len(values):5d} {statistics.median(values):8.2f} {pct(values, 99):8.2f} {max(values):8.2f}")
    print(f"frames received after abort (all runs): {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
