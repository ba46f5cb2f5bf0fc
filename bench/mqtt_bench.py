#!/usr/bin/env python3
"""MQTT + UDP against the real node, side by side with WebSocket (issue 20, "Benchmarks").

The node runs as `app.py serve` with `config.yaml` as shipped (spoken replies on, ASR/VAD as shipped) plus what the
MQTT transport needs to run on loopback: `mqtt.enabled` true, loopback ports, the bench's signature key; and, like
bench/load_bench.py: the bench's catalog of generated songs, fresh empty caches, device state in a sqlite file of its
own, log level WARNING. Every MQTT device gets the `mqtt` object OTA would give it (core/mqtt/credentials.py, same
key). Devices run in client processes on the same 2 cores as the node (figures are noisy: the load before the run is
printed with them).

Scenarios (each on a fresh node unless said):
- first:  hello -> server hello over MQTT (the MQTT connection is up, as on an idle speaker) and over WebSocket (the
          connection opened for the conversation, as the firmware does), `--hellos` each; then `--requests` text
          requests per transport on one node and one catalog, interleaved, each for a different uncached song:
          request -> first downlink audio frame (the spoken "Now playing") and -> first song frame.
- idle:   `--idle` devices connect and stay idle (MQTT up, no conversation; they answer the server's MCP discovery and
          status reads as the firmware does). Node process RSS before and with them, CPU while they idle, and
          PINGREQ -> PINGRESP round trips (`--pings` at 100/s over random held devices). Target: 10,000 in < 1 GiB,
          PINGREQ p99 < 100 ms.
- play:   `--play` devices join at `--rate`/s, each asks (text) for a different uncached song and listens for
          `--seconds`; once over WebSocket, once over MQTT + UDP, each on a fresh node with the same catalog. Stalls
          as the device hears them: a song frame (after the first) that arrives after the previous frame has finished
          playing (the device's queue ran dry; the device model plays the announcement and the song back to back,
          load_bench.song_stalls). Target: < 0.5 % over UDP. The silence between the announcement and the song's
          first frame is shown apart (devices that had one, p99).
- storm:  `--storm` idle devices connected; the node restarts (SIGTERM: it saves and closes every device; a new node
          on the same ports and state); each device reconnects at a random moment within 10 s of the new node being
          up, retrying every 1 s if refused (the firmware would wait 60 s), then says hello. All connected again? p99
          CONNACK (from the device's reconnect moment, retries included) and hello.

    flock /tmp/heavy.lock .venv/bin/python bench/mqtt_bench.py                    # all four at the issue's sizes
    flock /tmp/heavy.lock .venv/bin/python bench/mqtt_bench.py --scenarios first,storm --storm 1000
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._mqtt_clients import (  # noqa: E402 - after the path insert
    SIGNATURE_KEY,
    credentials,
    device_worker,
    mac_for,
    mqtt_play_process,
    pct,
    raise_fd_limit,
)
from bench._server import (  # noqa: E402 - after the path insert
    ShippedServer,
    free_port,
    load_note,
    machine,
    make_titled_catalog,
    shipped_server,
)
from bench.load_bench import Sampler, client_process, song_titles  # noqa: E402 - after the path insert

QUIET = {"content.refresh_time_s": 0, "log.level": "WARNING"}    # the bench's own, as in load_bench


# ---------------------------------------------------------------------------------------------- the node


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ports:
    """The MQTT and UDP ports and the state file, kept across a node restart."""

    def __init__(self, work: Path) -> None:
        self.mqtt = free_port()
        self.udp = free_udp_port()
        self.state = work / f"devices-{self.mqtt}.db"

    def overrides(self) -> dict[str, Any]:
        return {**QUIET, "mqtt.enabled": True, "mqtt.host": "127.0.0.1", "mqtt.port": self.mqtt,
                "mqtt.udp_host": "127.0.0.1", "mqtt.udp_port": self.udp, "mqtt.udp_public_host": "127.0.0.1",
                "mqtt.signature_key": SIGNATURE_KEY, "state.url": f"sqlite:{self.state}"}


@contextlib.contextmanager
def node(work: Path, content: Path, ports: Ports) -> Iterator[ShippedServer]:
    with shipped_server(work, content, ports.overrides()) as srv:
        deadline = time.monotonic() + 30
        while True:                       # /health is up; the MQTT port must be too
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ports.mqtt)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node does not listen for MQTT on {ports.mqtt} (is mqtt.enabled wired "
                                   f"into the node?); see {srv.log_path}")
            time.sleep(0.1)
        yield srv


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(values: list[float]) -> str:
    if not values:
        return f"{'-':>6} {'-':>8} {'-':>8} {'-':>8}"
    return f"{len(values):6d} {statistics.median(values):8.1f} {pct(values, 99):8.1f} {max(values):8.1f}"


STATS_HEAD = f"{'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"


# ---------------------------------------------------------------------------------------------- 1. first


async def ws_hellos(url: str, n: int) -> tuple[list[float], list[float]]:
    """(open + hello -> server hello, hello -> server hello) in ms, `n` fresh connections one after another."""
    from websockets.asyncio.client import connect
    whole, hello = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        async with connect(url, open_timeout=10, ping_interval=None, compression=None) as ws:
            t1 = time.perf_counter()
            await ws.send(json.dumps(_ws_hello()))
            while True:
                msg = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(msg, str) and json.loads(msg).get("type") == "hello":
                    break
            t2 = time.perf_counter()
        whole.append((t2 - t0) * 1000)
        hello.append((t2 - t1) * 1000)
    return whole, hello


def _ws_hello() -> dict[str, Any]:
    return {"type": "hello", "version": 1, "features": {"mcp": True}, "transport": "websocket",
            "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}}


async def mqtt_hellos(port: int, n: int) -> tuple[list[float], list[float]]:
    """(CONNECT -> CONNACK per new connection, hello -> server hello on the up connection) in ms."""
    from core.simdevice.mqtt import MqttDevice, MqttSettings
    connacks, hellos = [], []
    for i in range(n):
        dev = MqttDevice(MqttSettings.from_ota(credentials(port, 900 + i)), device_id=mac_for(900 + i))
        t0 = time.perf_counter()
        await dev.connect()
        connacks.append((time.perf_counter() - t0) * 1000)
        try:
            await asyncio.sleep(0.05)            # the device idles a moment (the server's MCP discovery runs)
            t1 = time.perf_counter()
            await dev.open_audio_channel()
            hellos.append((time.perf_counter() - t1) * 1000)
            await dev.goodbye()
        finally:
            await dev.close()
    return connacks, hellos


async def ws_request(url: str, title: str) -> dict[str, Any]:
    """One text request over WebSocket: ms from `listen detect` to the first audio frame and the first song frame."""
    from websockets.asyncio.client import connect

    from bench.load_bench import _fold
    out: dict[str, Any] = {"first_any": -1.0, "ttff": -1.0, "error": ""}
    try:
        async with connect(url, open_timeout=10, max_size=2**20, ping_interval=None, compression=None) as ws:
            await ws.send(json.dumps(_ws_hello()))
            await asyncio.wait_for(ws.recv(), 10)
            await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
            t_req = time.monotonic()
            await ws.send(json.dumps({"type": "listen", "state": "detect", "text": f"play {title.lower()}"}))
            in_song = False
            async with asyncio.timeout(60):
                while True:
                    msg = await ws.recv()
                    if isinstance(msg, bytes):
                        if out["first_any"] < 0:
                            out["first_any"] = (time.monotonic() - t_req) * 1000
                        if in_song:
                            out["ttff"] = (time.monotonic() - t_req) * 1000
                            break
                        continue
                    m = json.loads(msg)
                    if m.get("type") == "tts" and m.get("state") == "sentence_start" \
                            and _fold(str(m.get("text", ""))) == _fold(title):
                        in_song = True
            await ws.send(json.dumps({"type": "abort"}))
    except Exception as exc:  # noqa: BLE001 - reported in the row
        out["error"] = type(exc).__name__
    return out


async def mqtt_request(port: int, n: int, title: str) -> dict[str, Any]:
    from bench._mqtt_clients import one_mqtt_device
    r = await one_mqtt_device(port, n, title, 0.5, 0.0)
    return {"first_any": r["first_any"] * 1000 if r["first_any"] >= 0 else -1.0,
            "ttff": r["ttff"] * 1000 if r["heard"] else -1.0, "error": r["error"] or r["wrong"]}


def scenario_first(work: Path, args: argparse.Namespace) -> list[str]:
    titles = song_titles(2 * args.requests)
    content = work / "content-first"
    make_titled_catalog(content, titles, 20)
    ports = Ports(work)
    with node(work, content, ports) as srv:
        url = f"ws://127.0.0.1:{srv.ws_port}/xiaozhi/v1/"

        async def run() -> dict[str, Any]:
            ws_whole, ws_hello = await ws_hellos(url, args.hellos)
            connacks, mqtt_hello = await mqtt_hellos(ports.mqtt, args.hellos)
            ws_rows, mqtt_rows = [], []
            for i in range(args.requests):            # interleaved, the order alternating; every song uncached
                a, b = titles[2 * i], titles[2 * i + 1]
                if i % 2:
                    mqtt_rows.append(await mqtt_request(ports.mqtt, 700 + i, a))
                    ws_rows.append(await ws_request(url, b))
                else:
                    ws_rows.append(await ws_request(url, a))
                    mqtt_rows.append(await mqtt_request(ports.mqtt, 700 + i, b))
            return {"ws_whole": ws_whole, "ws_hello": ws_hello, "connacks": connacks, "mqtt_hello": mqtt_hello,
                    "ws": ws_rows, "mqtt": mqtt_rows}
        r = asyncio.run(run())

    def col(rows: list[dict[str, Any]], key: str) -> list[float]:
        return [x[key] for x in rows if x[key] >= 0]
    errors = {e for x in r["ws"] + r["mqtt"] if (e := x["error"])}
    return [
        f"{'first: hello and first downlink frame (one node, one catalog)':64} {STATS_HEAD}",
        f"{'  WebSocket: open + hello -> server hello':64} {stats(r['ws_whole'])}",
        f"{'  WebSocket: hello -> server hello (connection open)':64} {stats(r['ws_hello'])}",
        f"{'  MQTT: CONNECT -> CONNACK':64} {stats(r['connacks'])}",
        f"{'  MQTT: hello -> server hello with udp (MQTT up)':64} {stats(r['mqtt_hello'])}",
        f"{'  WebSocket: text request -> first audio frame':64} {stats(col(r['ws'], 'first_any'))}",
        f"{'  UDP:       text request -> first audio frame':64} {stats(col(r['mqtt'], 'first_any'))}",
        f"{'  WebSocket: text request -> first song frame':64} {stats(col(r['ws'], 'ttff'))}",
        f"{'  UDP:       text request -> first song frame':64} {stats(col(r['mqtt'], 'ttff'))}",
    ] + ([f"  errors: {sorted(errors)}"] if errors else [])


# ---------------------------------------------------------------------------------------------- worker processes


class Workers:
    """Client processes holding idle devices (bench/_mqtt_clients.py device_worker), driven over pipes."""

    def __init__(self, port: int, count: int, procs: int, first: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs = []
        share = -(-count // procs)
        for i in range(procs):
            n = min(share, count - i * share)
            if n <= 0:
                break
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=device_worker, args=(theirs, port, first + i * share, n, 1000 + i), daemon=True)
            p.start()
            self.pipes.append(mine)
            self.procs.append(p)

    def ask(self, cmd: str, **args: Any) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send((cmd, args))
        return [pipe.recv() for pipe in self.pipes]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("close")
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def _sum(parts: list[dict[str, Any]], key: str) -> int:
    return sum(int(p[key]) for p in parts)


def _flat(parts: list[dict[str, Any]], key: str) -> list[Any]:
    return [v for p in parts for v in p[key]]


# ---------------------------------------------------------------------------------------------- 2. idle


def scenario_idle(work: Path, args: argparse.Namespace) -> list[str]:
    titles = song_titles(4)
    content = work / "content-idle"
    make_titled_catalog(content, titles, 20)
    ports = Ports(work)
    with node(work, content, ports) as srv:
        pid = srv.proc.pid
        time.sleep(3.0)
        before = rss_mib(pid)
        workers = Workers(ports.mqtt, args.idle, args.client_procs, 10_000)
        try:
            t0 = time.monotonic()
            concurrency = 200                      # devices mid-CONNECT at any moment, over all client processes
            parts = workers.ask("connect", concurrency=concurrency // args.client_procs)
            connect_s = time.monotonic() - t0
            held = _sum(parts, "connected")
            time.sleep(5.0)                        # discovery and the first status reads settle
            c0 = cpu_seconds(pid)
            time.sleep(10.0)
            idle_cpu = (cpu_seconds(pid) - c0) / 10.0 * 100
            after = rss_mib(pid)
            per = max(1, len(workers.pipes))
            pings = workers.ask("ping", count=args.pings // per, rate=100.0 / per)
            still = _sum(pings, "connected")
            ping_ms = _flat(pings, "ping_ms")
            mcp = _sum(pings, "mcp_answered")
            connack = _flat(parts, "connack_ms")
            failed = _sum(parts, "failed")
            errors = sorted({e for p in parts for e in p["errors"]})
        finally:
            workers.close()
    kib = (after - before) * 1024 / max(1, held)
    answered = [v for v in ping_ms if v != float("inf")]
    lost = len(ping_ms) - len(answered)
    return [
        f"idle: {held} of {args.idle} devices held ({failed} failed to connect{': ' + str(errors) if errors else ''})"
        f" in {connect_s:.1f} s from {args.client_procs} client processes; {still} still connected after the pings",
        f"  node process RSS {before:.0f} MiB before, {after:.0f} MiB with them: {kib:.1f} KiB per idle MQTT "
        f"device (connection, link and session); 10,000 would take about {before + kib * 10_000 / 1024:.0f} MiB "
        f"(target < 1024)",
        f"  node CPU while they idle: {idle_cpu:.0f} % of one core (session tickers, status reads); MCP requests "
        f"the devices answered: {mcp}",
        f"{f'  CONNECT -> CONNACK while they joined ({held / connect_s:.0f}/s, {concurrency} at once)':64} "
        f"{STATS_HEAD}",
        f"{'':64} {stats(connack)}",
        f"{'  PINGREQ -> PINGRESP while held (target p99 < 100 ms)':64} {stats(answered)}"
        + (f"  ({lost} unanswered)" if lost else ""),
    ]


# ---------------------------------------------------------------------------------------------- 3. play


def scenario_play(work: Path, args: argparse.Namespace) -> list[str]:
    titles = song_titles(args.play)
    content = work / "content-play"
    make_titled_catalog(content, titles, args.seconds + 10)
    start_in = 2.0
    plan = [(i, t, start_in + i / args.rate) for i, t in enumerate(titles)]
    rows = []
    for transport in args.play_transports.split(","):
        ports = Ports(work)
        with node(work, content, ports) as srv:
            sampler = Sampler(srv.proc.pid, srv.http_port)
            sampler.start()
            shards = [plan[i::args.client_procs] for i in range(args.client_procs)]
            with multiprocessing.get_context("spawn").Pool(args.client_procs) as pool:
                if transport == "websocket":
                    url = f"ws://127.0.0.1:{srv.ws_port}/xiaozhi/v1/"
                    parts = pool.starmap(client_process,
                                         [(url, [(t, d) for _n, t, d in s], args.seconds, False) for s in shards])
                else:
                    parts = pool.starmap(mqtt_play_process, [(ports.mqtt, s, args.seconds) for s in shards])
            sampler.stop_ev.set()
            sampler.join()
            server_side = node_counters(srv.http_port)
        flat = [r for p in parts for r in p]
        heard = [r for r in flat if r["heard"]]
        ttff = [r["ttff"] * 1000 for r in heard]
        frames = sum(r["frames"] for r in flat)
        rows.append({
            "transport": transport, "devices": len(flat), "heard": len(heard),
            "busy": sum(1 for r in flat if r["busy"] and not r["heard"]),
            "failed": sum(1 for r in flat if not r["heard"] and not r["busy"]),
            "errors": sorted({r["error"] for r in flat if r["error"]}),
            "ttff_p50": statistics.median(ttff) if ttff else float("nan"), "ttff_p99": pct(ttff, 99),
            "frames": frames, "dry_pct": 100 * sum(r["dry"] for r in flat) / max(1, frames),
            "late_pct": 100 * sum(r["late"] for r in flat) / max(1, frames),
            "gaps": sum(r["gaps"] for r in flat), "max_gap_ms": 1000 * max((r["max_gap"] for r in flat), default=0),
            "udp_gaps": sum(r.get("udp_gaps", 0) for r in flat), "rss": sampler.peak_rss / 1024,
            "server_late": server_side.get("late_frames_total", -1),
            "server_reanchors": server_side.get("pacer_reanchors_total", -1),
            "paused": sum(1 for r in heard if r["pause"] > 0),
            "pause_p99": pct([r["pause"] * 1000 for r in heard], 99)})
    out = [f"play: {args.play} devices joining at {args.rate:g}/s, each a different uncached song, {args.seconds:g} s "
           "of it each; a fresh node per transport",
           f"  {'transport':10}{'heard':>6}{'busy':>5}{'fail':>5}{'1st song frame p50/p99':>24}{'frames':>8}"
           f"{'stalls %':>9}{'late>60ms %':>12}{'gaps>300ms':>11}{'max gap':>9}{'lost seq':>9}{'peak RSS':>10}"
           f"{'announcement->song pause':>26}"]
    for r in rows:
        out.append(f"  {r['transport']:10}{r['heard']:>6}{r['busy']:>5}{r['failed']:>5}"
                   f"{r['ttff_p50']:>13.0f} /{r['ttff_p99']:>6.0f} ms{r['frames']:>8}{r['dry_pct']:>9.2f}"
                   f"{r['late_pct']:>12.2f}{r['gaps']:>11}{r['max_gap_ms']:>7.0f}ms{r['udp_gaps']:>9}"
                   f"{r['rss']:>6.0f} MiB{r['paused']:>8} dev, p99{r['pause_p99']:>6.0f} ms"
                   + (f"  errors: {','.join(r['errors'])}" if r["errors"] else ""))
    out.append("  the node's own view (its pacer, /metrics): frames sent more than 30 ms after their slot / re-anchors "
               "(more than 60 ms: the device ran dry): "
               + "; ".join(f"{r['transport']} {r['server_late']:.0f} / {r['server_reanchors']:.0f}" for r in rows)
               + " (stalls the devices heard beyond these come from the client processes or the machine)")
    udp = rows[-1]
    if udp["transport"] != "udp":
        return out
    out.append(f"  target: stalls < 0.5 % over UDP -> {'met' if udp['dry_pct'] < 0.5 else 'NOT met'} "
               f"({udp['dry_pct']:.2f} %); every device heard its song: "
               f"{'yes' if udp['heard'] == udp['devices'] else 'NO'} ({udp['heard']}/{udp['devices']})")
    return out


def node_counters(http_port: int) -> dict[str, float]:
    """The node's pacer counters from /metrics (xiaozhi_late_frames_total, xiaozhi_pacer_reanchors_total)."""
    import urllib.request
    out: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                for name in ("late_frames_total", "pacer_reanchors_total"):
                    if line.startswith(f"xiaozhi_{name} "):
                        out[name] = float(line.split()[1])
    return out


# ---------------------------------------------------------------------------------------------- 4. storm


def scenario_storm(work: Path, args: argparse.Namespace) -> list[str]:
    titles = song_titles(4)
    content = work / "content-storm"
    make_titled_catalog(content, titles, 20)
    ports = Ports(work)
    workers: Workers | None = None
    try:
        with node(work, content, ports):
            workers = Workers(ports.mqtt, args.storm, max(1, args.client_procs // 2), 60_000)
            parts = workers.ask("connect", concurrency=50)
            held = _sum(parts, "connected")
            time.sleep(3.0)
            for pipe in workers.pipes:
                pipe.send(("await_drop", {"timeout": 60.0}))
            t_stop = time.monotonic()
        drain_s = time.monotonic() - t_stop       # SIGTERM -> the node has saved and closed every device and exited
        dropped = [pipe.recv() for pipe in workers.pipes]
        still = _sum(dropped, "still_connected")
        t_start = time.monotonic()
        with node(work, content, ports):
            up_s = time.monotonic() - t_start
            res = workers.ask("reconnect", spread_s=10.0, retry_s=1.0, give_up_s=60.0)
            results = _flat(res, "results")
            again = _sum(res, "connected")
            time.sleep(1.0)
    finally:
        if workers is not None:
            workers.close()
    ok = [r for r in results if r["ok"]]
    connack = [r["connack_ms"] for r in ok]
    first_try = [r["first_try_ms"] for r in ok]
    hello = [r["hello_ms"] for r in ok if r["hello_ms"] >= 0]
    retries = sum(r["attempts"] - 1 for r in results)
    errors = sorted({r["error"] for r in results if r["error"]})
    return [
        f"storm: {held} idle devices held; node restart: SIGTERM -> exit {drain_s:.1f} s ({still} connections not "
        f"closed by it), new node up (MQTT accepting) after {up_s:.1f} s",
        f"  reconnecting within 10 s of the new node: {len(ok)}/{len(results)} connected again ({again} still up "
        f"after their hello and goodbye), {retries} retries" + (f", errors: {errors}" if errors else ""),
        f"{'  reconnect -> CONNACK (retries included)':64} {STATS_HEAD}",
        f"{'':64} {stats(connack)}",
        f"{'  CONNECT -> CONNACK of the successful attempt':64} {stats(first_try)}",
        f"{'  hello -> server hello right after':64} {stats(hello)}",
    ]


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="first,idle,play,storm")
    ap.add_argument("--hellos", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20, help="text requests per transport (first)")
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--pings", type=int, default=1000)
    ap.add_argument("--play", type=int, default=150)
    ap.add_argument("--rate", type=float, default=15.0, help="devices joining per second (play)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of song each device listens to (play)")
    ap.add_argument("--play-transports", default="websocket,udp", help="play: websocket, udp or both, in order")
    ap.add_argument("--storm", type=int, default=1000)
    ap.add_argument("--client-procs", type=int, default=4)
    args = ap.parse_args()
    fd_limit = raise_fd_limit()
    if fd_limit < args.idle // args.client_procs + 256:
        print(f"the open-file limit is {fd_limit}; raise `ulimit -n` or pass more --client-procs", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp:
        work = Path(tmp)
        for name in [s for s in args.scenarios.split(",") if s]:
            fn = {"first": scenario_first, "idle": scenario_idle, "play": scenario_play,
                  "storm": scenario_storm}.get(name)
            if fn is None:
                raise SystemExit(f"unknown scenario {name!r}")
            lines = fn(work, args)
            print("\n".join(lines), flush=True)
            out += lines
    print(f"\nmachine: {machine()}; {load_note(load_before)}; the node and the client processes share the machine's "
          f"cores (and other jobs ran on it: tails are noisy); config.yaml as shipped plus mqtt.enabled and loopback "
          f"ports")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
