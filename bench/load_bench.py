#!/usr/bin/env python3
"""Devices joining at a rate, against the server as shipped: what they hear, how soon, how smoothly, at what cost.

The real server runs as `app.py serve` with `config.yaml` exactly as shipped (spoken replies on: "Now playing ..."
is synthesised by the local TTS; ASR/VAD as shipped), except: loopback ports, the bench's catalog of generated
songs, a fresh empty transcode cache (every song starts uncached) and log level WARNING. Anything else changed for
a scenario is printed next to its row. Load clients run in separate processes on the same machine.

Scenarios (each on a fresh server):
- unique:  N devices join at R/s, each asks (text request) for a different uncached song;
- shared:  N devices join at R/s on K uncached songs (single flight: at most one decode per song);
- spoken:  N devices join at R/s and *say* "play <title>" (espeak-ng speech streamed as Opus, in real time);
- over:    past capacity: N devices, each a different song, with `audio.max_decoders` lowered to C (printed), so
           the cap is reached: every device must either play cleanly or hear "busy" within 2 s.

Per device: it heard its own song (the song's `sentence_start` names the requested title), the first song frame
after the request (spoken: after the end of speech), late frames (the device model: frame n is needed when n-1
has played; late = needed more than 60 ms before it arrived), gaps > 300 ms, busy (the reply says busy, or on a
server whose renderer does not yet voice AudioBusy, the generic "couldn't play" apology). Server side, sampled
every 0.25 s: peak memory of the server and its children (RSS sum, and PSS which counts shared pages once), peak
ffmpeg processes, and the pipeline's counters from /health: "decodes" started over the run (a shared decode whose
listeners all left before the end stops, so a song asked for again later is decoded again), "in use" = peak decoder
slots taken, "shared" = peak shared decodes in flight (at most one per song).

    .venv/bin/python bench/load_bench.py                              # all four scenarios at the issue's sizes
    .venv/bin/python bench/load_bench.py --scenarios unique --unique 150 --rate 15 --seconds 20
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import load_note, machine, shipped_server
from bench._server import make_titled_catalog as make_catalog
from core.metrics import processes

FRAME_S = 0.06
GAP_S = 0.3
_WORDS_A = ["Amber", "Blue", "Copper", "Dancing", "Electric", "Fuzzy", "Golden", "Happy", "Icy", "Jolly", "Kind",
            "Lucky", "Magic", "Noisy", "Orange", "Purple", "Quiet", "Rainy", "Silver", "Tiny"]
_WORDS_B = ["Apple", "Bear", "Cloud", "Dragon", "Elephant", "Forest", "Garden", "Harbor", "Island", "Jungle",
            "Kitten", "Lantern", "Mountain", "Nightingale", "Ocean", "Penguin"]


def song_titles(count: int) -> list[str]:
    """Distinct two-word titles the matcher cannot confuse with each other's numbers."""
    titles = [f"{a} {b}" for b in _WORDS_B for a in _WORDS_A]
    if count > len(titles):
        titles += [f"{a} {b} {c}" for c in ("Song", "Tune", "March") for b in _WORDS_B for a in _WORDS_A]
    return titles[:count]


# --------------------------------------------------------------------------- server


class Sampler(threading.Thread):
    """Peak memory (RSS sum and PSS sum of the server's process tree), ffmpeg processes and pipeline counters."""

    def __init__(self, pid: int, http_port: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.http_port = pid, http_port
        self.stop_ev = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_ffmpeg = 0
        self.peak_in_use = 0
        self.peak_shared = 0
        self.last_audio: dict[str, Any] = {}

    def run(self) -> None:
        while not self.stop_ev.wait(0.25):
            rss = pss = ff = 0
            for pid, comm in _tree(self.pid):
                r, p = _mem_kib(pid)
                rss, pss = rss + r, pss + p
                ff += comm == "ffmpeg"
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_ffmpeg = max(self.peak_ffmpeg, ff)
            with contextlib.suppress(Exception):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=1) as resp:
                    audio = json.load(resp).get("audio") or {}
                self.last_audio = audio
                self.peak_in_use = max(self.peak_in_use, int(audio.get("decoders_in_use", 0)))
                self.peak_shared = max(self.peak_shared, int(audio.get("shared_decodes", 0)))


def _tree(root: int) -> list[tuple[int, str]]:
    kids: dict[int, list[tuple[int, str]]] = {}
    for pid, comm, ppid in processes():
        kids.setdefault(ppid, []).append((pid, comm))
    out, todo = [(root, "python")], [root]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _mem_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


# --------------------------------------------------------------------------- devices (client processes)


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


async def ota_lookup(ota: str, device_id: str) -> tuple[str, str]:
    """What the firmware does first: POST the OTA endpoint, connect to the WebSocket URL (and token) it answers."""
    import aiohttp
    headers = {"Device-Id": device_id, "Client-Id": device_id}
    async with aiohttp.ClientSession() as s, s.post(ota, json={}, headers=headers,
                                                    timeout=aiohttp.ClientTimeout(total=30)) as r:
        answer = await r.json()
    ws = answer.get("websocket") or {}
    return str(ws["url"]), str(ws.get("token") or "")


async def one_device(url: str, title: str, seconds: float, delay: float, spoken: bytes | None,
                     device_id: str = "", ota: str = "") -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from core.protocol import framing

    await asyncio.sleep(delay)
    out: dict[str, Any] = {"asked": title, "heard": False, "wrong": "", "busy": False, "busy_s": -1.0, "ttff": -1.0,
                           "first_audio": -1.0, "frames": 0, "late": 0, "gaps": 0, "max_gap": 0.0, "dry": 0,
                           "pause": 0.0, "stalls": 0, "longest": 0.0, "silence": 0.0, "error": ""}
    times: list[float] = []
    every: list[float] = []          # every frame after the request (the announcement, then the song)
    first_song = -1
    headers = {"Device-Id": device_id, "Client-Id": device_id} if device_id else {}
    try:
        token = ""
        if ota:
            url, token = await ota_lookup(ota, device_id)
        if token:
            headers["Authorization"] = token if " " in token else f"Bearer {token}"
        async with connect(url, open_timeout=30, max_size=2**20, ping_interval=None, compression=None,
                           additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "hello", "version": 1, "features": {}, "transport": "websocket",
                                      "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                                       "frame_duration": 60}}))
            await asyncio.wait_for(ws.recv(), 30)
            if spoken is None:
                await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
                t_req = time.monotonic()
                await ws.send(json.dumps({"type": "listen", "state": "detect", "text": f"play {title.lower()}"}))
            else:
                t_req = await _speak(ws, framing, spoken)
            in_song = False
            async with asyncio.timeout(seconds + 45):
                while True:
                    msg = await ws.recv()
                    if isinstance(msg, bytes):
                        every.append(time.monotonic())
                        if out["first_audio"] < 0:
                            out["first_audio"] = every[-1] - t_req
                        if in_song:
                            if not times:
                                first_song = len(every) - 1
                            times.append(every[-1])
                            if times[-1] - times[0] >= seconds:
                                break
                        continue
                    m = json.loads(msg)
                    if m.get("type") != "tts":
                        continue
                    if m.get("state") == "sentence_start":
                        text = _fold(m.get("text", ""))
                        if text == _fold(title):
                            in_song = True
                        elif in_song and times:
                            break            # something else started after the song
                        elif "busy" in text or "couldnt play" in text:
                            # the track's subtitle may come first: the decoder is refused on its first frame
                            in_song = False
                            out["busy"], out["busy_s"] = True, time.monotonic() - t_req
                        elif not text.startswith(("now playing", "playing")) and not out["wrong"]:
                            out["wrong"] = text[:40]
                    elif m.get("state") == "stop" and (times or out["busy"]):
                        break
            await ws.send(json.dumps({"type": "abort"}))
    except Exception as exc:   # noqa: BLE001 - a failed device is reported, not fatal
        out["error"] = type(exc).__name__
    if times:
        out["heard"] = True
        out["ttff"] = times[0] - t_req
        out["frames"] = len(times)
        out.update(device_playback(times))
        out.update(song_stalls(every[:first_song + len(times)], first_song))
        out["t_req"], out["gap_at"] = t_req, _worst_gap_at(times)     # for --dump: when the worst wait ended
    return out


async def _speak(ws: Any, framing: Any, pcm: bytes) -> float:
    """Stream 16 kHz speech as the firmware does (60 ms Opus frames in real time), then silence until the VAD ends
    the utterance. Returns the time the speech ended."""
    import opuslib_next
    await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
    enc = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP)
    frame = 1920
    pcm = pcm + bytes((-len(pcm)) % frame)
    chunks = [pcm[i:i + frame] for i in range(0, len(pcm), frame)]
    speech_frames = len(chunks)
    chunks += [bytes(frame)] * int(1.5 / FRAME_S)
    start = time.monotonic()
    end = start
    for i, chunk in enumerate(chunks):
        await ws.send(framing.pack(1, enc.encode(chunk, 960), i * 60))
        if i == speech_frames - 1:
            end = time.monotonic()
        await asyncio.sleep(max(0.0, start + (i + 1) * FRAME_S - time.monotonic()))
    return end


def device_playback(times: list[float]) -> dict[str, Any]:
    """The device plays frame n when n-1 has finished (or when n arrives, if later)."""
    late = gaps = 0
    max_gap = 0.0
    needed = times[0]
    for t in times:
        if t > needed:
            wait = t - needed
            late += wait > FRAME_S
            gaps += wait > GAP_S
            max_gap = max(max_gap, wait)
        needed = max(needed, t) + FRAME_S
    return {"late": late, "gaps": gaps, "max_gap": max_gap}


def _worst_gap_at(times: list[float]) -> float:
    needed, worst, at = times[0], 0.0, times[0]
    for t in times:
        if t - needed > worst:
            worst, at = t - needed, t
        needed = max(needed, t) + FRAME_S
    return at


def song_stalls(every: list[float], first_song: int) -> dict[str, Any]:
    """The device model over every frame of the turn: the announcement, then the song, queued and played back to
    back. `dry`: song frames after the first that arrived after the previous frame had finished playing (the queue
    ran dry: a stall as the child hears it, however short: the strict figure); `stalls`, `longest`, `silence`: those
    stalls over 300 ms, the longest one and their silence in seconds; `pause`: seconds of silence before the song's
    first frame (the announcement had finished, the song was not there yet)."""
    needed = every[0]
    dry, pause = 0, 0.0
    stalls, longest, silence = 0, 0.0, 0.0
    for i, t in enumerate(every):
        if t > needed:
            if i == first_song:
                pause = t - needed
            elif i > first_song:
                dry += 1
                wait = t - needed
                longest = max(longest, wait)
                if wait > GAP_S:
                    stalls += 1
                    silence += wait
        needed = max(needed, t) + FRAME_S
    return {"dry": dry, "pause": pause, "stalls": stalls, "longest": longest, "silence": silence}


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values` (nearest rank; NaN when empty)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


class ServerCpu:
    """CPU seconds used by a process and its children (live ones, and those it has waited for) since creation."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0 = time.monotonic()
        self.start = self._now()
        self.steal0 = self._steal()

    @staticmethod
    def _steal() -> float:
        """CPU seconds the hypervisor took from this VM (all cores), from /proc/stat: a pause no process causes."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8]) / os.sysconf("SC_CLK_TCK")
        return float("nan")

    def steal_seconds(self) -> float:
        return self._steal() - self.steal0

    def _now(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid, _ in _tree(self.pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                # utime, stime (fields 14, 15); for the server also cutime, cstime (its exited ffmpeg children)
                total += int(fields[11]) + int(fields[12])
                if pid == self.pid:
                    total += int(fields[13]) + int(fields[14])
        return total / tick

    def seconds(self) -> float:
        return self._now() - self.start


def speech_for(title: str) -> bytes:
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", f"play {title.lower()}"],
                         check=True, capture_output=True, timeout=30).stdout
    out = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1",
                          "-ar", "16000", "pipe:1"], input=wav, check=True, capture_output=True, timeout=30).stdout
    return bytes(int(0.3 * 16000) * 2) + out


def client_process(url: str, plan: list[tuple[str, float]], seconds: float, spoken: bool, ota: str = "",
                   id_prefix: str = "") -> list[dict[str, Any]]:
    """One process's devices: (title, join delay) each. With `id_prefix` each sends a Device-Id of its own (needed
    by a server with auth on); with `ota` each asks the OTA endpoint for its WebSocket URL first."""
    speech = {t: speech_for(t) for t, _ in plan} if spoken else {}

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one_device(url, t, seconds, d, speech.get(t),
                                                 _device_id(id_prefix, d) if id_prefix else "", ota)
                                      for t, d in plan))
    return asyncio.run(run())


def _device_id(prefix: str, delay: float) -> str:
    """A MAC-like id, unique per join slot (the join delays are distinct)."""
    n = int(round(delay * 1000))
    return f"{prefix}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"


# --------------------------------------------------------------------------- scenarios


ID_PREFIX = "02:4c:42"      # a locally administered MAC prefix: the bench's devices never clash with real ones


def run_devices(url: str, ota: str, plan: list[tuple[str, float]], seconds: float, procs: int,
                spoken: bool) -> list[dict[str, Any]]:
    shards = [plan[i::procs] for i in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.starmap(client_process, [(url, shard, seconds, spoken, ota, ID_PREFIX) for shard in shards])
    return [r for p in parts for r in p]


def run_scenario(name: str, work: Path, titles: list[str], song_titles_: list[str], devices: int, rate: float,
                 seconds: float, procs: int, overrides: dict[str, Any], spoken: bool = False) -> dict[str, Any]:
    content = work / f"content-{name}"
    make_catalog(content, song_titles_, seconds + 10)
    chosen = [titles[i % len(titles)] for i in range(devices)]
    start_in = 8.0 if spoken else 2.0     # client processes import, synthesise the requests, then all start
    plan = [(t, start_in + i / rate) for i, t in enumerate(chosen)]
    quiet = {"content.refresh_time_s": 0, "log.level": "WARNING"}   # the bench's own, not printed as changes
    with shipped_server(work, content, {**quiet, **overrides}) as srv:
        sampler = Sampler(srv.proc.pid, srv.http_port)
        sampler.start()
        cpu = ServerCpu(srv.proc.pid)
        flat = run_devices(f"ws://127.0.0.1:{srv.ws_port}/xiaozhi/v1/", "", plan, seconds, procs, spoken)
        cpu_s, wall_s, steal_s = cpu.seconds(), time.monotonic() - cpu.t0, cpu.steal_seconds()
        sampler.stop_ev.set()
        sampler.join()
    note = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "shipped config"
    row = summarize(name, flat, rate, len(set(chosen)), note, sampler=sampler, cpu=(cpu_s, wall_s))
    row["steal_s"] = steal_s
    return row


def run_cached(work: Path, devices: int, songs: int, rate: float, seconds: float, procs: int,
               overrides: dict[str, Any]) -> dict[str, Any]:
    """Listeners of songs already in the transcode cache, from light clients (bench/_light_ws.py)."""
    from bench._light_ws import light_process
    from bench._server import free_port
    from bench.fleet_bench import transcode
    titles = song_titles(songs)
    content = work / "content-cached"
    make_catalog(content, titles, seconds + 10)
    ports = (free_port(), free_port())
    transcode(work, content, work / f"audio-cache-{ports[0]}")     # the cache shipped_server gives that node
    plan = [(_device_id(ID_PREFIX, 3.0 + i / rate), titles[i % songs], 3.0 + i / rate) for i in range(devices)]
    quiet = {"content.refresh_time_s": 0, "log.level": "WARNING"}
    with shipped_server(work, content, {**quiet, **overrides}, ports=ports) as srv:
        sampler = Sampler(srv.proc.pid, srv.http_port)
        sampler.start()
        cpu = ServerCpu(srv.proc.pid)
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            parts = pool.starmap(light_process, [("127.0.0.1", srv.ws_port, plan[i::procs], seconds)
                                                 for i in range(procs)])
        cpu_s, wall_s, steal_s = cpu.seconds(), time.monotonic() - cpu.t0, cpu.steal_seconds()
        sampler.stop_ev.set()
        sampler.join()
    flat = [r for rows, _ in parts for r in rows]
    note = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "shipped config"
    row = summarize("cached", flat, rate, songs, f"{note}; light clients in {procs} processes", sampler=sampler,
                    cpu=(cpu_s, wall_s))
    row["client_cpu_s"] = sum(c for _, c in parts)
    row["wall_s"] = wall_s
    row["steal_s"] = steal_s
    return row


def run_remote(url: str, ota: str, titles: list[str], devices: int, rate: float, seconds: float, procs: int,
               spoken: bool) -> dict[str, Any]:
    """Against a running deployment: nothing is started; the server's side is not measured from here."""
    chosen = [titles[i % len(titles)] for i in range(devices)]
    start_in = 8.0 if spoken else 2.0
    plan = [(t, start_in + i / rate) for i, t in enumerate(chosen)]
    flat = run_devices(url, ota, plan, seconds, procs, spoken)
    return summarize("spoken" if spoken else "remote", flat, rate, len(set(chosen)), f"target {ota or url}")


def summarize(name: str, flat: list[dict[str, Any]], rate: float, songs: int, note: str, *,
              sampler: Sampler | None = None, cpu: tuple[float, float] | None = None) -> dict[str, Any]:
    heard = [r for r in flat if r["heard"]]
    ttff = [r["ttff"] * 1000 for r in heard]
    first_audio = [r["first_audio"] * 1000 for r in flat if r["first_audio"] >= 0]
    frames = sum(r["frames"] for r in flat)
    busy = [r for r in flat if r["busy"] and not r["heard"]]
    audio = sampler.last_audio if sampler is not None else {}
    cpu_s, wall_s = cpu or (float("nan"), float("nan"))
    return {"scenario": name, "devices": len(flat), "rate": rate, "songs": songs,
            "heard": len(heard), "wrong": sum(1 for r in flat if r["wrong"] and not r["heard"]),
            "wrong_examples": [(r["asked"], r["wrong"]) for r in flat if r["wrong"] and not r["heard"]][:5],
            "busy": len(busy), "busy_slow": sum(1 for r in busy if r["busy_s"] > 2.0),
            "busy_max_s": max((r["busy_s"] for r in busy), default=0.0),
            "busy_p50": pct([r["busy_s"] * 1000 for r in busy if r["busy_s"] >= 0], 0.5),
            "busy_p99": pct([r["busy_s"] * 1000 for r in busy if r["busy_s"] >= 0], 0.99),
            "failed": sum(1 for r in flat if not r["heard"] and not r["busy"]),
            "errors": sorted({r["error"] for r in flat if r["error"]}),
            "ttff_p50": pct(ttff, 0.5), "ttff_p99": pct(ttff, 0.99),
            "audio_p50": pct(first_audio, 0.5), "audio_p99": pct(first_audio, 0.99),
            "frames": frames, "late_pct": 100 * sum(r["late"] for r in flat) / max(1, frames),
            "stalls": sum(r["stalls"] for r in flat), "stall_devices": sum(1 for r in flat if r["stalls"]),
            "longest_ms": 1000 * max((r["longest"] for r in flat), default=0.0),
            "silence_s": sum(r["silence"] for r in flat), "dry": sum(r["dry"] for r in flat),
            "dry_pct": 100 * sum(r["dry"] for r in flat) / max(1, frames),
            "pause_p99": pct([r["pause"] * 1000 for r in heard], 0.99),
            "cpu_s": cpu_s, "cpu_pct": 100 * cpu_s / wall_s / (os.cpu_count() or 1) if cpu else float("nan"),
            "rss_mib": sampler.peak_rss / 1024 if sampler else float("nan"),
            "pss_mib": sampler.peak_pss / 1024 if sampler else float("nan"),
            "ffmpeg": sampler.peak_ffmpeg if sampler else -1, "in_use": sampler.peak_in_use if sampler else -1,
            "in_flight": sampler.peak_shared if sampler else -1,
            "started": audio.get("decoders_started", -1), "server_busy": audio.get("busy", -1), "note": note,
            "per_device": flat}


def catalog_titles(root: Path, kind: str = "music") -> list[str]:
    """The titles of a catalog folder in the server's layout (<root>/<kind>/<collection>/metadata.json)."""
    titles: list[str] = []
    for meta in sorted((root / kind).glob("*/metadata.json")):
        titles += list(json.loads(meta.read_text(encoding="utf-8")))
    return titles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="unique,shared,spoken,over,cached")
    ap.add_argument("--unique", type=int, default=150, help="devices, each a different uncached song")
    ap.add_argument("--shared", type=int, default=200, help="devices on --shared-songs uncached songs")
    ap.add_argument("--shared-songs", type=int, default=15)
    ap.add_argument("--spoken", type=int, default=20, help="devices saying their request")
    ap.add_argument("--over", type=int, default=120, help="devices, each a different song, past a lowered cap")
    ap.add_argument("--over-cap", type=int, default=40, help="audio.max_decoders for the past-capacity run")
    ap.add_argument("--cached", type=int, default=1500, help="listeners of songs already in the transcode cache")
    ap.add_argument("--cached-songs", type=int, default=50)
    ap.add_argument("--cached-rate", type=float, default=60.0, help="cached listeners joining per second")
    ap.add_argument("--cached-procs", type=int, default=4, help="light client processes for the cached run")
    ap.add_argument("--rate", type=float, default=15.0, help="devices joining per second")
    ap.add_argument("--spoken-rate", type=float, default=1.0,
                    help="devices joining per second (spoken); whisper on 2 cores serves about one request per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of song each device listens to")
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--dump", metavar="PATH", help="also write every device's figures as JSON (one list per row)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for every scenario (printed next to the figures), "
                         "e.g. --set audio.decoder=ffmpeg")
    target = ap.add_argument_group("against your own deployment (no local server is started)")
    target.add_argument("--url", default="", help="the devices' WebSocket URL, e.g. ws://host:8000/xiaozhi/v1/")
    target.add_argument("--ota", default="", help="or the OTA URL (each device asks it for its WebSocket URL and "
                                                  "token, as the firmware does), e.g. http://host:8003/xiaozhi/ota/")
    target.add_argument("--devices", type=int, default=50, help="devices joining (remote)")
    target.add_argument("--titles", default="", help="titles to ask for, separated by '|'")
    target.add_argument("--catalog", default="", help="or a catalog folder in the server's layout: its music titles")
    target.add_argument("--say", action="store_true", help="devices say their request (espeak-ng) instead of text")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    if args.url or args.ota:
        return main_remote(args, load_before)
    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    wanted = [s for s in args.scenarios.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        work = Path(tmp)
        for name in wanted:
            if name == "unique":
                titles = song_titles(args.unique)
                row = run_scenario(name, work, titles, titles, args.unique, args.rate, args.seconds,
                                   args.client_procs, dict(extra))
            elif name == "shared":
                titles = song_titles(args.shared_songs)
                row = run_scenario(name, work, titles, titles, args.shared, args.rate, args.seconds,
                                   args.client_procs, dict(extra))
            elif name == "spoken":
                titles = song_titles(args.spoken)
                row = run_scenario(name, work, titles, titles, args.spoken, args.spoken_rate, args.seconds,
                                   args.client_procs, dict(extra), spoken=True)
            elif name == "cached":
                row = run_cached(work, args.cached, args.cached_songs, args.cached_rate, args.seconds,
                                 args.cached_procs, dict(extra))
            elif name == "over":
                titles = song_titles(args.over)
                row = run_scenario(name, work, titles, titles, args.over, args.rate, args.seconds,
                                   args.client_procs, {**extra, "audio.max_decoders": args.over_cap})
            else:
                raise SystemExit(f"unknown scenario {name!r}")
            rows.append(row)
            print_row(row, header=len(rows) == 1, flush=True)
    print(f"\nmachine: {machine()}; {load_note(load_before)}; server and {args.client_procs} load "
          f"client processes (cached: {args.cached_procs} light ones) on the same machine; {args.seconds:.0f} s of "
          f"song per device; config.yaml as shipped (spoken replies on) unless noted per row")
    print_table(rows)
    for r in rows:
        for asked, got in r["wrong_examples"]:
            print(f"  {r['scenario']}: asked for {asked!r}, the server answered {got!r}")
    print_targets(rows)
    if args.dump:
        Path(args.dump).write_text(json.dumps([{"scenario": r["scenario"], "devices": r["per_device"]}
                                               for r in rows]), encoding="utf-8")
    return 0


def main_remote(args: argparse.Namespace, load_before: float) -> int:
    titles = [t.strip() for t in args.titles.split("|") if t.strip()]
    if args.catalog:
        titles += catalog_titles(Path(args.catalog))
    if not titles:
        raise SystemExit("name the titles to ask for: --titles 'Twinkle Twinkle|Baby Shark' or --catalog DIR")
    rate = args.spoken_rate if args.say and "--rate" not in sys.argv else args.rate
    row = run_remote(args.url, args.ota, titles, args.devices, rate, args.seconds, args.client_procs, args.say)
    print(f"load clients: {machine()}, {args.client_procs} processes; {load_note(load_before)}; "
          f"{args.seconds:.0f} s of song per device; {len(titles)} titles")
    print_table([row])
    for asked, got in row["wrong_examples"]:
        print(f"  asked for {asked!r}, the server answered {got!r}")
    print("(server CPU, memory and decoder counters are not measured from here: read the node's /metrics)")
    return 0


def print_row(r: dict[str, Any], header: bool = False, flush: bool = False) -> None:
    if header:
        print(f"{'scenario':<8}{'devices':>8}{'/s':>5}{'songs':>6}{'heard':>6}{'busy':>5}{'fail':>5}"
              f"{'1st audio p50/p99':>19}{'1st song frame p50/p99':>24}"
              f"{'stalls>300ms (dev) longest silence':>36}{'stall frames':>13}"
              f"{'CPU s (% machine)':>18}{'peak RSS/PSS MiB':>18}{'ffmpeg':>7}{'decodes':>8}{'in use':>7}"
              f"{'shared':>7}  notes")
    print(f"{r['scenario']:<8}{r['devices']:>8}{r['rate']:>5g}{r['songs']:>6}{r['heard']:>6}{r['busy']:>5}"
          f"{r['failed']:>5}{r['audio_p50']:>9.0f} /{r['audio_p99']:>6.0f} ms"
          f"{r['ttff_p50']:>13.0f} /{r['ttff_p99']:>6.0f} ms"
          f"{r['stalls']:>9} ({r['stall_devices']}){r['longest_ms']:>8.0f}ms{r['silence_s']:>8.1f} s"
          f"{r['dry_pct']:>11.2f} %{r['cpu_s']:>10.0f} ({r['cpu_pct']:>3.0f} %)"
          f"{r['rss_mib']:>10.0f} /{r['pss_mib']:>6.0f}"
          f"{r['ffmpeg']:>7}{r['started']:>8}{r['in_use']:>7}{r['in_flight']:>7}  {r['note']}"
          f"; strict: the queue ran dry {r['dry']} times in {r['frames']} song frames, any length"
          + (f"; errors: {','.join(r['errors'])}" if r["errors"] else "")
          + (f"; {r['wrong']} heard another title" if r["wrong"] else "")
          + (f"; busy answered p50/p99 {r['busy_p50']:.0f}/{r['busy_p99']:.0f} ms, last {1000 * r['busy_max_s']:.0f} ms"
             if r["busy"] else "")
          + (f"; {r['busy_slow']} busy after > 2 s" if r["busy_slow"] else "")
          + (f"; the hypervisor took {r['steal_s']:.1f} CPU-s (steal)" if r.get("steal_s", 0) > 0.05 else ""),
          flush=flush)


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    for i, r in enumerate(rows):
        print_row(r, header=i == 0)


def print_targets(rows: list[dict[str, Any]]) -> None:
    print("\nTargets (issue 21):")
    for r in rows:
        if r["scenario"] == "unique":
            ok = (r["heard"] == r["devices"] and r["stalls"] == 0 and r["dry_pct"] < 0.5
                  and r["audio_p99"] <= 1000)
            print(f"  unique: all hear their song, 0 stalls over 300 ms, stall frames < 0.5 %, first audio p99 <= 1 s "
                  f"-> {'met' if ok else 'NOT met'} ({r['heard']}/{r['devices']}, {r['stalls']} stalls (longest "
                  f"{r['longest_ms']:.0f} ms), stall frames {r['dry_pct']:.2f} %, first audio p99 "
                  f"{r['audio_p99']:.0f} ms; announcement -> song silence p99 {r['pause_p99']:.0f} ms)")
        elif r["scenario"] == "shared":
            ok = r["in_flight"] <= r["songs"] and r["pss_mib"] < 1024 and r["stalls"] == 0
            print(f"  shared: <= 1 decode per song in flight, peak memory < 1 GiB, 0 stalls over 300 ms -> "
                  f"{'met' if ok else 'NOT met'} (peak {r['in_flight']} shared decodes in flight for {r['songs']} "
                  f"songs, {r['started']} started over the run, "
                  f"PSS {r['pss_mib']:.0f} MiB (RSS sum {r['rss_mib']:.0f}), {r['stalls']} stalls)")
        elif r["scenario"] == "over":
            clean = r["stalls"] == 0 and r["dry_pct"] < 0.5
            ok = r["failed"] == 0 and r["busy_slow"] == 0 and clean
            print(f"  over: every device plays cleanly or hears busy within 2 s -> {'met' if ok else 'NOT met'} "
                  f"({r['heard']} played, {r['busy']} busy (the last after {r['busy_max_s']:.2f} s), "
                  f"{r['busy_slow']} busy after 2 s, {r['failed']} neither, "
                  f"{r['stalls']} stalls over 300 ms)")
        elif r["scenario"] == "cached":
            ok = r["heard"] >= 1500 and r["stalls"] == 0
            share = 100 * r["client_cpu_s"] / r["wall_s"] / (os.cpu_count() or 1)
            print(f"  cached: >= 1,500 listeners with 0 stalls over 300 ms -> {'met' if ok else 'NOT met'} "
                  f"({r['heard']}/{r['devices']} heard their song, {r['stalls']} stalls over 300 ms (longest "
                  f"{r['longest_ms']:.0f} ms), stall frames {r['dry_pct']:.2f} %; the node {r['cpu_pct']:.0f} % of the "
                  f"machine, the load clients {share:.0f} %)")
        elif r["scenario"] == "spoken":
            print(f"  spoken: {r['heard']}/{r['devices']} heard their song; end of speech -> first song frame "
                  f"p50 {r['ttff_p50']:.0f} ms, p99 {r['ttff_p99']:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
