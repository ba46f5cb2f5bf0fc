#!/usr/bin/env python3
"""Concurrency at the device: how many devices can stream songs at once, paced in real time, on this machine.

The real server runs as `app.py serve --workers W` (processes sharing the port). Load clients run in separate
processes; each device connects, says hello, asks for its own song and records when every Opus frame arrives.
The client models the device's playback: frame n is needed when frame n-1 has finished playing. A frame is
*late* when it arrives more than one frame period (60 ms) after it was needed (an audible gap); an *underrun*
is any frame that arrives after it was needed. Target: < 0.5 % late frames.

- cold: every device plays a different object and the transcode cache is off, so every stream runs its own
  ffmpeg decode + Opus encode;
- cached: the songs were transcoded once (`app.py catalog transcode`), so streams read p3 records from disk.

Run: .venv/bin/python bench/load_bench.py [--cold 100,150,200] [--cached 500,1000,1500] [--seconds 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import ROOT, machine, make_catalog, run_server  # noqa: E402

FRAME_S = 0.06


async def one_device(url: str, title: str, seconds: float, delay: float) -> dict[str, float]:
    from websockets.asyncio.client import connect
    await asyncio.sleep(delay)
    times: list[float] = []
    t_req = 0.0
    try:
        async with connect(url, open_timeout=30, max_size=2**20, ping_interval=None, compression=None) as ws:
            await ws.send(json.dumps({"type": "hello", "version": 1, "features": {}, "transport": "websocket",
                                      "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                                       "frame_duration": 60}}))
            await asyncio.wait_for(ws.recv(), 30)
            t_req = time.monotonic()
            await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
            await ws.send(json.dumps({"type": "listen", "state": "detect", "text": f"play {title.lower()}"}))
            async with asyncio.timeout(seconds + 30):
                while True:
                    msg = await ws.recv()
                    if isinstance(msg, bytes):
                        times.append(time.monotonic())
                        if times[-1] - times[0] >= seconds:
                            break
                    elif '"stop"' in msg and times:
                        break
            await ws.send(json.dumps({"type": "abort"}))
    except Exception as exc:   # noqa: BLE001 - a failed device is reported, not fatal
        return {"error": 1.0, "frames": float(len(times)), "late": 0.0, "underrun": 0.0, "ttff": -1.0,
                "why": str(type(exc).__name__)}  # type: ignore[dict-item]
    if not times:
        return {"error": 1.0, "frames": 0.0, "late": 0.0, "underrun": 0.0, "ttff": -1.0}
    late, under = device_playback(times)
    return {"error": 0.0, "frames": float(len(times)), "late": float(late), "underrun": float(under),
            "ttff": (times[0] - t_req) * 1000}


def device_playback(times: list[float]) -> tuple[int, int]:
    """Model the device: it plays frame n when frame n-1 has finished (or when n arrives, if later).

    late: frames that arrived more than one frame period after the device needed them (an audible gap);
    underrun: frames that arrived after the device needed them at all (its buffer had run dry)."""
    late = under = 0
    needed = times[0]
    for t in times:
        if t > needed:
            under += 1
            if t - needed > FRAME_S:
                late += 1
        needed = max(needed, t) + FRAME_S
    return late, under


def client_process(url: str, titles: list[str], seconds: float, ramp_s: float) -> list[dict[str, float]]:
    async def run() -> list[dict[str, float]]:
        n = len(titles)
        return await asyncio.gather(*(one_device(url, t, seconds, ramp_s * i / max(1, n))
                                      for i, t in enumerate(titles)))
    return asyncio.run(run())


def run_level(url: str, titles: list[str], devices: int, seconds: float, procs: int,
              arrival_rate: float) -> dict[str, float]:
    chosen = [titles[i % len(titles)] for i in range(devices)]
    shards = [chosen[i::procs] for i in range(procs)]
    ramp = devices / arrival_rate        # devices join at a steady rate, then all stream at once
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        results = pool.starmap(client_process, [(url, s, seconds, ramp) for s in shards])
    flat = [r for shard in results for r in shard]
    frames = sum(r["frames"] for r in flat)
    ttff = [r["ttff"] for r in flat if r["ttff"] >= 0]
    return {"devices": devices, "errors": sum(r["error"] for r in flat), "frames": frames,
            "late_pct": 100 * sum(r["late"] for r in flat) / max(1, frames),
            "underrun_pct": 100 * sum(r["underrun"] for r in flat) / max(1, frames),
            "ttff_p50": statistics.median(ttff) if ttff else -1,
            "ttff_p99": sorted(ttff)[int(0.99 * (len(ttff) - 1))] if ttff else -1}


def transcode(cfg_dir: Path, content: Path, cache: Path) -> None:
    import yaml
    cfg = cfg_dir / "transcode.yaml"
    cfg.write_text(yaml.safe_dump({"audio": {"cache_dir": str(cache)},
                                   "content": {"generate_demo": False, "cache_dir": str(cfg_dir / "cc")}}))
    subprocess.run([sys.executable, str(ROOT / "app.py"), "catalog", "transcode", "--content-dir", str(content),
                    "--config", str(cfg), "--no-progress"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", default="100,150,200", help="device counts for the cold runs")
    ap.add_argument("--cached", default="500,1000,1500", help="device counts for the cached runs")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of audio each device receives")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--client-procs", type=int, default=2, help="load client processes")
    ap.add_argument("--arrival-rate", type=float, default=20.0, help="devices joining per second")
    ap.add_argument("--distinct-cached", type=int, default=100, help="distinct cached songs shared by the devices")
    args = ap.parse_args()
    cold = [int(x) for x in args.cold.split(",") if x]
    cached = [int(x) for x in args.cached.split(",") if x]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        song_s = args.seconds + 10
        if cold:
            content = work / "cold"
            titles = make_catalog(content, max(cold), song_s)
            with run_server(work, content, workers=args.workers) as (port, _):
                for n in cold:
                    rows.append(("cold", run_level(f"ws://127.0.0.1:{port}/", titles, n, args.seconds,
                                                   args.client_procs, args.arrival_rate)))
                    print_row(*rows[-1], flush=True)
        if cached:
            content = work / "cached"
            titles = make_catalog(content, args.distinct_cached, song_s, prefix="Tune")
            cache = work / "audio-cache"
            t0 = time.monotonic()
            transcode(work, content, cache)
            print(f"transcoded {len(titles)} songs into the cache in {time.monotonic() - t0:.1f} s", flush=True)
            with run_server(work, content, workers=args.workers, cache_dir=str(cache)) as (port, _):
                for n in cached:
                    rows.append(("cached", run_level(f"ws://127.0.0.1:{port}/", titles, n, args.seconds,
                                                     args.client_procs, args.arrival_rate)))
                    print_row(*rows[-1], flush=True)
    print(f"\nmachine: {machine()}; server workers {args.workers}, client processes {args.client_procs} "
          f"(same machine), {args.seconds:.0f} s of audio per device, {args.arrival_rate:.0f} devices joining per second")
    print(f"{'mode':7} {'devices':>7} {'errors':>6} {'frames':>8} {'late %':>7} {'underrun %':>10} "
          f"{'first frame p50/p99 ms':>23}")
    for mode, r in rows:
        print_row(mode, r)
    return 0


def print_row(mode: str, r: dict[str, float], flush: bool = False) -> None:
    print(f"{mode:7} {r['devices']:7.0f} {r['errors']:6.0f} {r['frames']:8.0f} {r['late_pct']:7.2f} "
          f"{r['underrun_pct']:10.2f} {r['ttff_p50']:11.0f} / {r['ttff_p99']:6.0f}", flush=flush)


if __name__ == "__main__":
    sys.exit(main())
