#!/usr/bin/env python3
"""Abuse at scale against the shipped configuration (config.yaml: spoken replies, ASR and VAD on), loopback only.

The real server runs as `app.py serve` with config.yaml as shipped; only the addresses, the content folder (a few
generated tone songs) and the cache folders are changed. Three phases, each bounded in count and time, while a
well-behaved probe device keeps asking for a 6 s tone song (its reply is checked: first-frame latency, the largest
gap between frames, and the pitch of the song's last 3 s):

1. fuzz: 100,000 mutated frames over 8 concurrent device connections (tests/abuse.py: bad JSON, deep nesting, huge
   strings, escaped surrogates, lying v1/v2/v3 headers, oversize and non-UTF-8 frames);
2. idle: 1,000 WebSocket connections that never send a hello (the server must close them after hello_timeout_s);
3. slowloris: 500 TCP connections to the WebSocket port and 500 to the HTTP port, each sending its request one byte
   per second (the server must drop them, not hold them).

Reported side by side: messages/s, close codes, crashes (1011, no close frame, unanswered hellos), leaked tracebacks
or paths, server log lines (tracebacks, ERRORs), server memory (RSS now and peak) and open files, probe results.

Run: .venv/bin/python bench/abuse_bench.py [--messages 100000] [--idle 1000] [--slowloris 500] [--seed 1]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import load_note, machine, shipped_server
from tests.abuse import ProbeDevice, fuzz

SONG_HZ, SONG_S = 440.0, 6.0


def make_library(root: Path) -> None:
    english = root / "music" / "English"
    english.mkdir(parents=True, exist_ok=True)
    meta = {}
    for title, hz in (("Probe Tone", SONG_HZ), ("Other Tone", 660.0)):
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"sine=frequency={hz}:sample_rate=44100:duration={SONG_S}", "-ac", "2", "-c:a",
                        "libmp3lame", "-b:a", "128k", str(english / f"{title}.mp3")], check=True, timeout=60)
        meta[title] = {"romanized": title, "filename": f"{title}.mp3", "alternatives": []}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")


def proc_mem(pid: int) -> tuple[float, float, int]:
    """(RSS MiB, peak RSS MiB, open files) of the server process."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
          if line.startswith(("VmRSS", "VmHWM"))}
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = -1
    return kb.get("VmRSS", 0) / 1024, kb.get("VmHWM", 0) / 1024, fds


class Probe:
    """Asks for the probe song again and again until stopped; keeps one row per reply."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rows: list[dict[str, float]] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            dev = ProbeDevice(self.url, version=1)
            try:
                await dev.play("play probe tone", timeout=60)
            except Exception as exc:  # noqa: BLE001 - a failed probe is a result, not a bench crash
                self.failures.append(type(exc).__name__)
                continue
            times = dev.frame_times
            pcm = dev.pcm()
            tail = pcm[-int(3 * dev.rate):]
            spec = np.abs(np.fft.rfft(tail * np.hanning(len(tail)))) if len(tail) else np.zeros(1)
            hz = float(np.fft.rfftfreq(len(tail), 1 / dev.rate)[int(np.argmax(spec))]) if len(tail) else 0.0
            self.rows.append({"first_ms": (times[0] - dev.asked_at) * 1000,
                              "gap_ms": max(np.diff(times) * 1000, default=0.0), "hz": hz,
                              "audio_s": len(pcm) / dev.rate})

    def stop(self) -> None:
        self._stop.set()

    def summary(self) -> str:
        if not self.rows:
            return f"no reply completed; failures: {self.failures}"
        first = sorted(r["first_ms"] for r in self.rows)
        ok = sum(1 for r in self.rows if abs(r["hz"] - SONG_HZ) < 5 and r["audio_s"] >= SONG_S - 0.2)
        return (f"{len(self.rows)} replies, {ok} with the right song in full, first frame p50 "
                f"{first[len(first) // 2]:.0f} ms max {first[-1]:.0f} ms, largest gap "
                f"{max(r['gap_ms'] for r in self.rows):.0f} ms, failures {len(self.failures)}")


async def idle_sockets(url: str, count: int, wait_s: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    conns = []
    started = time.monotonic()
    refused = 0
    for batch in range(0, count, 100):
        results = await asyncio.gather(*(connect(url, open_timeout=30, ping_interval=None)
                                         for _ in range(min(100, count - batch))), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                refused += 1
            else:
                conns.append(r)
    opened = time.monotonic() - started
    closed_at: list[float] = []

    async def watch(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await ws.wait_closed()
            closed_at.append(time.monotonic() - started)
    watchers = [asyncio.create_task(watch(ws)) for ws in conns]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            await asyncio.gather(*watchers)
    codes: dict[Any, int] = {}
    for ws in conns:
        codes[ws.close_code] = codes.get(ws.close_code, 0) + 1
    for ws in conns:
        if ws.close_code is None:
            await ws.close()
    for w in watchers:
        w.cancel()
    return {"opened": len(conns), "refused": refused, "open_s": opened, "closed_by_server": len(closed_at),
            "last_close_s": max(closed_at, default=0.0), "codes": codes}


async def slowloris(port: int, count: int, window_s: float, request: bytes) -> dict[str, Any]:
    """`count` connections each sending `request` one byte per second for up to `window_s`."""
    closed: list[float] = []
    started = time.monotonic()
    opened = 0

    async def one() -> None:
        nonlocal opened
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        opened += 1
        try:
            for b in request:
                writer.write(bytes([b]))
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        data = await reader.read(1024)
                        if not data:
                            raise ConnectionResetError
                if time.monotonic() - started > window_s:
                    return
            await asyncio.sleep(max(0.0, window_s - (time.monotonic() - started)))
        except (ConnectionError, OSError):
            closed.append(time.monotonic() - started)
        finally:
            writer.close()
    await asyncio.gather(*(one() for _ in range(count)))
    return {"opened": opened, "dropped_by_server": len(closed), "first_drop_s": min(closed, default=0.0),
            "last_drop_s": max(closed, default=0.0)}


async def run(args: argparse.Namespace, ws_port: int, http_port: int, pid: int, cfg: dict[str, Any]) -> None:
    url = f"ws://127.0.0.1:{ws_port}/xiaozhi/v1/"
    rows: list[tuple[str, str]] = []
    rss0, _, fds0 = proc_mem(pid)
    rows.append(("server at rest", f"RSS {rss0:.0f} MiB, {fds0} open files"))

    # ------------------------------------------------------------------------------------------------ 1. fuzz
    probe = Probe(url)
    probe_task = asyncio.create_task(probe.run())
    t0 = time.monotonic()
    stats = await fuzz(url, seed=args.seed, messages=args.messages, connections=8, deadline=t0 + args.time_limit)
    dt = time.monotonic() - t0
    probe.stop()
    await probe_task
    rss, hwm, fds = proc_mem(pid)
    rows += [("fuzz: frames sent", f"{stats.sent} in {dt:.1f} s ({stats.sent / dt:.0f}/s) over "
                                   f"{stats.connections} connections (seed {args.seed})"),
             ("fuzz: close codes", str(dict(sorted(stats.closes.items(), key=lambda kv: str(kv[0]))))),
             ("fuzz: crashes", f"{len(stats.crashes)} {stats.crashes[:3]}"),
             ("fuzz: leaked tracebacks/paths", f"{len(stats.leaks)} {stats.leaks[:3]}"),
             ("fuzz: replies received", f"{stats.received_text} text, {stats.received_audio} audio"),
             ("fuzz: probe device", probe.summary()),
             ("fuzz: server memory", f"RSS {rss:.0f} MiB (peak {hwm:.0f}), {fds} open files")]

    # ------------------------------------------------------------------------------------------------ 2. idle
    probe = Probe(url)
    probe_task = asyncio.create_task(probe.run())
    idle = await idle_sockets(url, args.idle, wait_s=float(cfg["server"]["hello_timeout_s"]) + 10)
    probe.stop()
    await probe_task
    rss, hwm, fds = proc_mem(pid)
    rows += [("idle: hello-less sockets", f"{idle['opened']} opened in {idle['open_s']:.1f} s "
                                          f"({idle['refused']} refused); {idle['closed_by_server']} closed by the "
                                          f"server, last at {idle['last_close_s']:.1f} s; codes {idle['codes']}"),
             ("idle: probe device", probe.summary()),
             ("idle: server memory", f"RSS {rss:.0f} MiB (peak {hwm:.0f}), {fds} open files")]

    # ------------------------------------------------------------------------------------------------ 3. slowloris
    probe = Probe(url)
    probe_task = asyncio.create_task(probe.run())
    upgrade = (b"GET /xiaozhi/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: " + b"a" * 200)
    ota = b"POST /xiaozhi/ota/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 200
    ws_slow, http_slow = await asyncio.gather(slowloris(ws_port, args.slowloris, args.slow_window, upgrade),
                                              slowloris(http_port, args.slowloris, args.slow_window, ota))
    probe.stop()
    await probe_task
    rss, hwm, fds = proc_mem(pid)
    rows += [("slowloris: WebSocket port", f"{ws_slow['opened']} opened; {ws_slow['dropped_by_server']} dropped by "
                                           f"the server within {args.slow_window:.0f} s (first "
                                           f"{ws_slow['first_drop_s']:.1f} s, last {ws_slow['last_drop_s']:.1f} s)"),
             ("slowloris: HTTP port", f"{http_slow['opened']} opened; {http_slow['dropped_by_server']} dropped by the "
                                      f"server within {args.slow_window:.0f} s (first {http_slow['first_drop_s']:.1f} "
                                      f"s, last {http_slow['last_drop_s']:.1f} s)"),
             ("slowloris: probe device", probe.summary()),
             ("slowloris: server memory", f"RSS {rss:.0f} MiB (peak {hwm:.0f}), {fds} open files")]
    args.rows = rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slowloris", type=int, default=500, help="connections per port")
    ap.add_argument("--slow-window", type=float, default=30.0, help="seconds each slowloris connection dribbles")
    ap.add_argument("--time-limit", type=float, default=300.0, help="upper bound for the fuzz phase, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tts-off", action="store_true",
                    help="switch spoken replies off (a comparison; the default is the shipped config)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="abuse-bench-") as tmp:
        work = Path(tmp)
        make_library(work / "lib")
        t_start = time.monotonic()
        # --tts-off is for comparison only: spoken replies switched off
        with shipped_server(work, work / "lib", {"voice.tts.provider": "none"} if args.tts_off else {}) as srv:
            boot = time.monotonic() - t_start
            asyncio.run(run(args, srv.ws_port, srv.http_port, srv.proc.pid, srv.config))
            alive = srv.proc.poll() is None
        cfg = srv.config
        log = srv.log_path.read_text(encoding="utf-8", errors="replace")
    voice = cfg["voice"]
    print(f"machine: {machine()}; {load_note(load_before)}")
    shipped = "config.yaml as shipped" if not args.tts_off else "config.yaml with spoken replies OFF (comparison)"
    print(f"config: {shipped} (tts {voice['tts']['provider']}, asr {voice['asr']['provider']}, "
          f"vad {voice['vad']['provider']}); server up in {boot:.1f} s")
    width = max(len(k) for k, _ in args.rows)
    for key, value in args.rows:
        print(f"{key:{width}}  {value}")
    lines = log.splitlines()
    print(f"{'server log':{width}}  {len(lines)} lines, {log.count('Traceback')} tracebacks, "
          f"{sum(1 for ln in lines if ' ERROR ' in ln)} ERROR lines; server {'still running' if alive else 'DIED'}")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
