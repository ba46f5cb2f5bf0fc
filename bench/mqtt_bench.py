#!/usr/bin/env python3
"""MQTT + UDP transport: hello reply time, idle devices held per node (memory, PINGREQ latency while held), and a
reconnect storm (CONNACK latency).

The endpoint runs as its own process (this script with --serve) with the test responder in place of the session
(answers hello with the link's UDP fields; no catalog, no voice); the devices run in this process on the same cores.
Run: flock /tmp/heavy.lock .venv/bin/python bench/mqtt_bench.py [--idle 10000] [--storm 1000] [--hellos 200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import load_note, machine  # noqa: E402 - after the path insert
from tests.mqtt import raw  # noqa: E402 - importable only once the repo root is on sys.path

SIGNATURE_KEY = "bench-signature-key-0123456789abcdef"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------------------------- the server process


async def serve(port_file: Path) -> None:
    from loguru import logger

    from core.config import config_from_dict
    from core.mqtt.endpoint import MqttEndpoint
    from core.mqtt.udp import UdpAudioChannel
    from tests.mqtt.responder import Responder

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    cfg = config_from_dict({"mqtt": {"enabled": True, "host": "127.0.0.1", "port": 0, "udp_host": "127.0.0.1",
                                     "udp_port": 0, "udp_public_host": "127.0.0.1", "signature_key": SIGNATURE_KEY,
                                     "max_connections": 12000}}).mqtt
    udp = UdpAudioChannel()
    await udp.start(cfg.udp_host, 0)
    endpoint = MqttEndpoint(cfg, udp=udp, on_link=Responder())
    port = await endpoint.start()
    port_file.write_text(str(port))
    await asyncio.Event().wait()


class Server:
    def __init__(self, work: Path) -> None:
        self.port_file = work / f"port-{time.monotonic_ns()}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port_file)])
        deadline = time.monotonic() + 30
        while not self.port_file.exists() or not self.port_file.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the MQTT server did not start")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def credentials(port: int, n: int) -> dict[str, object]:
    from core.mqtt.credentials import mqtt_credentials
    mac = "a4:cf:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))
    return mqtt_credentials(device_id=mac, client_uuid=f"bench-{n}", board="bench", ip="127.0.0.1",
                            endpoint=f"127.0.0.1:{port}", signature_key=SIGNATURE_KEY, keepalive_s=240)


def connect_packet(port: int, n: int) -> bytes:
    c = credentials(port, n)
    return raw.connect(str(c["client_id"]), str(c["username"]), str(c["password"]), keepalive=240)


# ---------------------------------------------------------------------------------------------- measurements


async def hello_times(port: int, n: int) -> list[float]:
    from core.simdevice.mqtt import MqttDevice, MqttSettings
    dev = MqttDevice(MqttSettings.from_ota(credentials(port, 1)), device_id="a4:cf:00:00:00:01")
    await dev.connect()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await dev.open_audio_channel()
        out.append((time.perf_counter() - t0) * 1000)
    await dev.close()
    return out


async def connack_time(port: int, n: int, retry_s: float = 1.0) -> tuple[float, raw.RawClient, int]:
    """(ms from the first attempt to CONNACK, the connected client, attempts)."""
    t0 = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        try:
            client = await raw.RawClient.open(port)
            await client.send(connect_packet(port, n))
            pkt = await client.read(timeout=30)
            if pkt is not None and pkt.kind == 2 and pkt.body[1] == 0:
                return (time.perf_counter() - t0) * 1000, client, attempts
            client.close()
        except (OSError, TimeoutError):
            pass
        await asyncio.sleep(retry_s)


async def hold_idle(server: Server, count: int) -> tuple[list[raw.RawClient], float, float, list[float]]:
    """Connect `count` idle devices; (clients, RSS before MiB, RSS after MiB, PINGREQ round trips ms)."""
    rss_before = server.rss_mib()
    clients: list[raw.RawClient] = []
    batch = 200
    for start in range(0, count, batch):
        got = await asyncio.gather(*(connack_time(server.port, 10_000 + i)
                                     for i in range(start, min(count, start + batch))))
        clients += [c for _ms, c, _a in got]
    await asyncio.sleep(2.0)                     # let the server settle (tasks started, buffers returned)
    rss_after = server.rss_mib()
    pings: list[float] = []
    rng = random.Random(7)
    for _ in range(1000):                        # one at a time, 100 per second, over random held devices
        client = rng.choice(clients)
        t0 = time.perf_counter()
        await client.send(raw.PINGREQ)
        pkt = await client.read(timeout=10)
        assert pkt is not None and pkt.kind == 13
        pings.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.01)
    return clients, rss_before, rss_after, pings


async def storm(port: int, count: int, spread_s: float) -> tuple[list[float], int]:
    """`count` devices reconnect, each at a random moment within `spread_s` (0 = all at once)."""
    rng = random.Random(11)

    async def one(i: int) -> tuple[float, raw.RawClient, int]:
        await asyncio.sleep(rng.random() * spread_s)
        return await connack_time(port, 50_000 + i)
    got = await asyncio.gather(*(one(i) for i in range(count)))
    for _ms, client, _a in got:
        client.close()
    return [ms for ms, _c, _a in got], sum(a - 1 for _ms, _c, a in got)


def row(name: str, values: list[float]) -> str:
    return (f"{name:52} {len(values):6d} {statistics.median(values):8.2f} {pct(values, 99):8.2f} "
            f"{max(values):8.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--hellos", type=int, default=200)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--storm", type=int, default=1_000)
    args = ap.parse_args()
    fd_limit = raise_fd_limit()
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    load_before = os.getloadavg()[0]
    needed = args.idle + 64
    if fd_limit < needed:
        print(f"the open-file limit is {fd_limit}; {args.idle} idle devices need about {needed} in each process: "
              f"raise `ulimit -n` (hard limit) or pass a smaller --idle", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = Server(work)
        try:
            hellos = asyncio.run(hello_times(server.port, args.hellos))

            async def idle_phase() -> tuple[float, float, list[float], int]:
                clients, before, after, pings = await hold_idle(server, args.idle)
                held = len(clients)
                for c in clients:
                    c.close()
                return before, after, pings, held
            rss_before, rss_after, pings, held = asyncio.run(idle_phase())
        finally:
            server.stop()
        server = Server(work)                    # a node restart: every device reconnects
        try:
            spread, spread_retries = asyncio.run(storm(server.port, args.storm, 10.0))
        finally:
            server.stop()
        server = Server(work)
        try:
            burst, burst_retries = asyncio.run(storm(server.port, args.storm, 0.0))
        finally:
            server.stop()
    per_conn_kib = (rss_after - rss_before) * 1024 / max(1, held)
    print(f"machine: {machine()}; {load_note(load_before)}; the session is the test responder (no catalog, no "
          f"voice, nothing playing); devices run in the bench process on the same cores; open-file limit {fd_limit}")
    print(f"idle devices held: {held}; endpoint process RSS {rss_before:.1f} MiB before, {rss_after:.1f} MiB with "
          f"them ({per_conn_kib:.1f} KiB per idle MQTT connection, its link and its responder task; target: "
          f"10,000 in < 1 GiB)")
    print(f"{'measure':52} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(row("hello -> server hello with udp fields", hellos))
    print(row(f"PINGREQ -> PINGRESP while {held} idle held (target p99 < 100)", pings))
    print(row(f"reconnect storm, {args.storm} within 10 s: CONNACK", spread) + f"  (retries {spread_retries})")
    print(row(f"reconnect storm, {args.storm} at once: CONNACK", burst) + f"  (retries {burst_retries}, "
          "mqtt.max_pending 256)")
    print(json.dumps({"load_before": load_before, "idle_held": held, "rss_before_mib": round(rss_before, 1),
                      "rss_after_mib": round(rss_after, 1), "kib_per_idle": round(per_conn_kib, 2),
                      "hello_p99_ms": round(pct(hellos, 99), 2), "ping_p99_ms": round(pct(pings, 99), 2),
                      "storm10s_p99_ms": round(pct(spread, 99), 2), "burst_p99_ms": round(pct(burst, 99), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
