#!/usr/bin/env python3
"""Fleet figures on this machine: two nodes + Redis versus one node, Redis traffic, and drain time.

1. join: N devices join through OTA (each asks node A's OTA endpoint, then connects to the WebSocket URL it was
   given) and stream a cached song; late frames are counted as in load_bench.py (a frame more than 60 ms after the
   device needed it). Run once against one node without Redis (SQLite state) and once against two nodes sharing a
   Redis. Reports how the devices were spread and the late-frame share.
2. redis: Redis commands (INFO commandstats) during the two-node run, per device that joined and played, plus the
   idle background (heartbeats) per node per minute.
3. drain: one node with D devices playing; SIGTERM; time until every device was closed and until the process exited.

Every node runs as `app.py serve` (config as shipped, except: loopback ports, the bench catalog, speech off because
no voice is involved, log level WARNING). Load clients run in separate processes on the same machine.
Run: .venv/bin/python bench/fleet_bench.py [--devices 200,400] [--seconds 15] [--drain 100]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from bench._server import ROOT, free_port, load_note, machine, make_catalog

FRAME_S = 0.06


def transcode(work: Path, content: Path, cache: Path) -> None:
    """Fill the transcode cache once, so every run measures cached plays (`app.py catalog transcode`)."""
    cfg = work / "transcode.yaml"
    cfg.write_text(yaml.safe_dump({"audio": {"cache_dir": str(cache)},
                                   "content": {"generate_demo": False, "cache_dir": str(work / "tc")}}))
    subprocess.run([sys.executable, str(ROOT / "app.py"), "catalog", "transcode", "--content-dir", str(content),
                    "--config", str(cfg), "--no-progress"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def late_frames(times: list[float]) -> int:
    """The device plays frame n when frame n-1 has finished; a frame more than one period after that is late."""
    late, needed = 0, times[0]
    for t in times:
        if t - needed > FRAME_S:
            late += 1
        needed = max(needed, t) + FRAME_S
    return late


async def one_device(url: str, title: str, seconds: float, device_id: str) -> dict[str, Any]:
    import json

    from websockets.asyncio.client import connect
    times: list[float] = []
    try:
        async with connect(url, open_timeout=30, max_size=2**20, ping_interval=None, compression=None,
                           additional_headers={"Device-Id": device_id, "Client-Id": device_id}) as ws:
            await ws.send(json.dumps({"type": "hello", "version": 1, "features": {}, "transport": "websocket",
                                      "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                                       "frame_duration": 60}}))
            await asyncio.wait_for(ws.recv(), 30)
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
        return {"error": 1.0, "frames": float(len(times)), "late": 0.0, "why": type(exc).__name__}
    if not times:
        return {"error": 1.0, "frames": 0.0, "late": 0.0}
    return {"error": 0.0, "frames": float(len(times)), "late": float(late_frames(times))}


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (make test installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


class Node:
    def __init__(self, workdir: Path, content: Path, cache: Path, node_id: str, state_url: str) -> None:
        self.node_id = node_id
        self.ws_port, self.http_port = free_port(), free_port()
        cfg = {"server": {"host": "127.0.0.1", "port": self.ws_port, "http_port": self.http_port},
               "content": {"content_dir": str(content), "generate_demo": False, "refresh_time_s": 0,
                           "cache_dir": str(workdir / f"cc-{node_id}")},
               "audio": {"cache_dir": str(cache)},
               "voice": {"tts": {"provider": "none"}, "asr": {"provider": "none"}, "vad": {"provider": "none"}},
               "state": {"url": state_url}, "fleet": {"node_id": node_id}, "log": {"level": "WARNING"}}
        self.config = workdir / f"{node_id}.yaml"
        self.config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--config", str(self.config)],
                                     cwd=workdir)

    def wait_ready(self) -> None:
        import urllib.request
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited with {self.proc.returncode}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.node_id} not ready in 90 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def join_and_play(ota_url: str, title: str, seconds: float, delay: float, device_id: str) -> dict[str, Any]:
    import aiohttp
    await asyncio.sleep(delay)
    try:
        async with aiohttp.ClientSession() as s, s.post(ota_url, json={}, headers={"Device-Id": device_id,
                                                                                   "Client-Id": device_id}) as r:
            url = (await r.json())["websocket"]["url"]
    except Exception as exc:   # noqa: BLE001 - reported as an error row
        return {"error": 1.0, "frames": 0.0, "late": 0.0, "url": "", "why": repr(exc)}
    result = await one_device(url, title, seconds, device_id)
    return {**result, "url": url}


def client_process(ota_url: str, jobs: list[tuple[str, str]], seconds: float, ramp_s: float) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        n = len(jobs)
        return await asyncio.gather(*(join_and_play(ota_url, title, seconds, ramp_s * i / max(1, n), dev)
                                      for i, (title, dev) in enumerate(jobs)))
    return asyncio.run(run())


def run_join(ota_url: str, titles: list[str], devices: int, seconds: float, procs: int, rate: float,
             tag: str) -> dict[str, Any]:
    jobs = [(titles[i % len(titles)], f"{tag}:{i:05d}") for i in range(devices)]
    shards = [jobs[i::procs] for i in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        results = pool.starmap(client_process, [(ota_url, s, seconds, devices / rate) for s in shards])
    flat = [r for shard in results for r in shard]
    frames = sum(r["frames"] for r in flat)
    return {"devices": devices, "errors": int(sum(r["error"] for r in flat)), "frames": int(frames),
            "late_pct": 100 * sum(r["late"] for r in flat) / max(1, frames),
            "spread": dict(Counter(r["url"].split(":")[2].split("/")[0] for r in flat if r["url"]))}


def redis_commands(url: str) -> dict[str, int]:
    import redis
    stats = redis.Redis.from_url(url).info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0 and k not in ("info",)}


async def drain_run(node: Node, titles: list[str], devices: int) -> tuple[float, float, int]:
    from core.device_client import DeviceClient
    clients = [DeviceClient(f"ws://127.0.0.1:{node.ws_port}/xiaozhi/v1/", device_id=f"drain:{i:04d}")
               for i in range(devices)]
    await asyncio.gather(*(c.connect(hello_timeout=30) for c in clients))
    await asyncio.gather(*(c.send_text_request(f"play {titles[i % len(titles)].lower()}")
                           for i, c in enumerate(clients)))
    await asyncio.gather(*(c.wait_for(lambda r: r.kind == "audio", timeout=60) for c in clients))
    t0 = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    await asyncio.gather(*(c.ws.wait_closed() for c in clients if c.ws is not None))
    all_closed = time.monotonic() - t0
    await asyncio.to_thread(node.proc.wait, 60)
    exited = time.monotonic() - t0
    codes = Counter(c.ws.close_code for c in clients if c.ws is not None)
    for c in clients:
        with contextlib.suppress(Exception):
            await c.close()
    return all_closed, exited, sum(v for k, v in codes.items() if k in (1001, 1012))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", default="200,400", help="device counts joining through OTA")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds of audio each device receives")
    ap.add_argument("--drain", type=int, default=100, help="playing devices when the node gets SIGTERM")
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--arrival-rate", type=float, default=40.0, help="devices joining per second")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    levels = [int(x) for x in args.devices.split(",") if x]
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        content = work / "content"
        titles = make_catalog(content, 50, args.seconds + 10, prefix="Tune")
        cache = work / "audio-cache"
        transcode(work, content, cache)
        redis_proc, redis_url = start_redis(work)
        try:
            # one node, no Redis
            one = Node(work, content, cache, "solo", f"sqlite:{work / 'solo.db'}")
            one.wait_ready()
            for n in levels:
                rows.append(("1 node", run_join(f"http://127.0.0.1:{one.http_port}/xiaozhi/ota/", titles, n,
                                                args.seconds, args.client_procs, args.arrival_rate, f"s{n}")))
                print_row(*rows[-1])
            one.stop()
            # two nodes sharing Redis; every device asks node A's OTA
            a = Node(work, content, cache, "node-a", redis_url)
            b = Node(work, content, cache, "node-b", redis_url)
            a.wait_ready()
            b.wait_ready()
            idle0, t_idle = redis_commands(redis_url), time.monotonic()
            time.sleep(10)
            idle = diff(redis_commands(redis_url), idle0)
            idle_per_node_min = sum(idle.values()) / 2 / ((time.monotonic() - t_idle) / 60)
            per_join: list[float] = []
            for n in levels:
                before, t_run = redis_commands(redis_url), time.monotonic()
                rows.append(("2 nodes", run_join(f"http://127.0.0.1:{a.http_port}/xiaozhi/ota/", titles, n,
                                                 args.seconds, args.client_procs, args.arrival_rate, f"f{n}")))
                print_row(*rows[-1])
                used = diff(redis_commands(redis_url), before)
                minutes = (time.monotonic() - t_run) / 60
                background = idle_per_node_min * 2 * minutes
                per_join.append((sum(used.values()) - background) / n)
                print(f"   redis commands during the run: {dict(sorted(used.items()))}", flush=True)
            a.stop()
            b.stop()
            # drain
            d = Node(work, content, cache, "drain", redis_url)
            d.wait_ready()
            closed_s, exit_s, reconnectable = asyncio.run(drain_run(d, titles, args.drain))
        finally:
            redis_proc.kill()
            redis_proc.wait()
    print(f"\nmachine: {machine()}; {load_note(load_before)}; load clients in {args.client_procs} processes on the "
          f"same machine; {args.seconds:.0f} s of cached audio per device, {args.arrival_rate:.0f} joins per second; "
          f"NOT the shipped config: spoken replies, ASR and VAD off (routing involves no voice)")
    print(f"{'setup':8} {'devices':>7} {'errors':>6} {'frames':>8} {'late %':>7}  spread over ws ports")
    for setup, r in rows:
        print_row(setup, r)
    print(f"redis background: {idle_per_node_min:.0f} commands per node per minute (heartbeats)")
    print("redis commands per device joining and playing (OTA routing + session, background removed): "
          + ", ".join(f"{v:.1f}" for v in per_join))
    print(f"drain with {args.drain} playing devices: all closed after {closed_s:.2f} s, process exited after "
          f"{exit_s:.2f} s; {reconnectable}/{args.drain} closed with 1001/1012 (reconnect elsewhere)")
    return 0


def print_row(setup: str, r: dict[str, Any]) -> None:
    print(f"{setup:8} {r['devices']:7d} {r['errors']:6d} {r['frames']:8d} {r['late_pct']:7.2f}  {r['spread']}",
          flush=True)


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
