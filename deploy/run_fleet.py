#!/usr/bin/env python3
"""A local fleet for `make run-fleet`: one redis-server and two (or more) nodes sharing it, each node's lines
prefixed with its name.

    python deploy/run_fleet.py [--node WS:HTTP ...] [--redis-port N] [--config PATH] [--content-dir DIR]

Redis and the nodes run in sessions of their own, so a Ctrl-C in the terminal reaches only this launcher, which
then stops them in order: every node drains (positions saved, devices sent elsewhere) and exits, then Redis stops.
A node draining while Redis is already gone would log "lost Redis" errors. Exit status 0 after a clean stop.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cli.serve import port_free  # noqa: E402 - after the repo root is put on the path

DEFAULT_NODES = ("8000:8003", "8100:8103")
DRAIN_WAIT_S = 60.0        # a node's drain is bounded by fleet.drain_deadline_s (10 s by default, 300 at most)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run_fleet.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--node", action="append", metavar="WS:HTTP",
                   help=f"one node's WebSocket and HTTP ports; repeat per node (default {' '.join(DEFAULT_NODES)})")
    p.add_argument("--redis-port", type=int, default=0, help="Redis port on 127.0.0.1 (default: a free one)")
    p.add_argument("--config", metavar="PATH", help="config file for every node (default: app.py's)")
    p.add_argument("--content-dir", metavar="DIR", help="local library every node serves")
    args = p.parse_args(argv)
    nodes: list[tuple[int, int]] = []
    for spec in args.node or DEFAULT_NODES:
        try:
            ws, http = (int(x) for x in spec.split(":"))
        except ValueError:
            p.error(f"--node {spec!r}: expected WS:HTTP, e.g. 8000:8003")
        nodes.append((ws, http))
    args.nodes = nodes
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel SIGTERM the child when this launcher dies, however it dies (Linux): a
    killed launcher leaves no Redis or node behind. Children are started before any relay thread exists."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)           # 1: PR_SET_PDEATHSIG


DIE_WITH_PARENT = _die_with_parent() if sys.platform.startswith("linux") else None


def relay(prefix: str, stream: IO[bytes]) -> None:
    """Copy a node's output to ours, a line at a time, each line led by the node's name."""
    for raw in iter(stream.readline, b""):
        sys.stdout.write(f"{prefix} | {raw.decode('utf-8', 'replace')}")
        sys.stdout.flush()


class Fleet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.redis: subprocess.Popen[bytes] | None = None
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        self.relays: list[threading.Thread] = []
        self.stop = threading.Event()
        self.signals = 0

    def on_signal(self, signum: int, _frame: object) -> None:
        self.signals += 1
        if self.signals > 1:                    # a second Ctrl-C: the nodes say how long they still drain
            for proc in self.nodes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        self.stop.set()

    def start_redis(self, port: int, log: Path) -> bool:
        with log.open("wb") as out:
            self.redis = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=DIE_WITH_PARENT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.stop.is_set():
            if self.redis.poll() is not None:
                break
            if redis_answers(port):
                return True
            time.sleep(0.1)
        if not self.stop.is_set():
            print(f"redis-server did not start on port {port}; its log ({log}):\n{log.read_text()[-2000:]}",
                  file=sys.stderr)
        return False

    def start_node(self, name: str, ws: int, http: int, redis_port: int) -> None:
        env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "NODE_ID": name,
               "PYTHONUNBUFFERED": "1"}
        env.pop("XIAOZHI_MAKE_TARGET", None)     # the ports were checked here; a node's hint must not name make run
        cmd = [sys.executable, str(ROOT / "app.py"), "serve", "--port", str(ws), "--http-port", str(http)]
        if self.args.config:
            cmd += ["--config", self.args.config]
        if self.args.content_dir:
            cmd += ["--content-dir", self.args.content_dir]
        self.nodes[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                            start_new_session=True, preexec_fn=DIE_WITH_PARENT)

    def start_relays(self) -> None:
        for name, proc in self.nodes.items():
            assert proc.stdout is not None
            t = threading.Thread(target=relay, args=(name, proc.stdout), name=f"relay-{name}", daemon=True)
            t.start()
            self.relays.append(t)

    def wait(self) -> str | None:
        """Until a stop is asked for (None) or a node exits on its own (its name)."""
        while not self.stop.wait(0.2):
            for name, proc in self.nodes.items():
                if proc.poll() is not None:
                    return name
        return None

    def shutdown(self) -> bool:
        """Drain every node, then stop Redis. True when every node stopped by itself, drained or not yet started."""
        clean = True
        for proc in self.nodes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + DRAIN_WAIT_S
        for name, proc in self.nodes.items():
            try:
                code = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} still running after {DRAIN_WAIT_S:.0f} s; killing it", file=sys.stderr)
                proc.kill()
                code = proc.wait()
            clean = clean and code in (0, 130)      # 130: stopped while still starting, nothing to drain
        for t in self.relays:
            t.join(5)
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()              # without persistence it exits at once
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        return clean


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [f"node-{chr(ord('a') + i)}" for i in range(len(args.nodes))]
    # Every port is checked before anything starts: a taken one is named at once, not after models load.
    wanted = [(port, f"{name} {what}") for name, (ws, http) in zip(names, args.nodes, strict=True)
              for port, what in ((ws, "WebSocket"), (http, "HTTP")) if port]
    if args.redis_port:
        wanted.append((args.redis_port, "Redis"))
    taken = [f"{port} ({what})" for port, what in wanted if not port_free("0.0.0.0", port)]
    if taken:
        how = ('make run-fleet FLEET_NODES="9000:9003 9100:9103"' if os.environ.get("XIAOZHI_MAKE_TARGET")
               else "python deploy/run_fleet.py --node 9000:9003 --node 9100:9103 [--redis-port N]")
        print(f"port {', '.join(taken)} already in use (another server or fleet running?); stop it, or pick free "
              f"ports: {how}", file=sys.stderr)
        return 1
    fleet = Fleet(args)
    signal.signal(signal.SIGINT, fleet.on_signal)
    signal.signal(signal.SIGTERM, fleet.on_signal)
    redis_port = args.redis_port or free_port()
    log = Path(tempfile.gettempdir()) / f"redis-{redis_port}.log"
    ok = False
    failed: str | None = None
    try:
        if not fleet.start_redis(redis_port, log):
            return 0 if fleet.stop.is_set() else 1
        print(f"redis: 127.0.0.1:{redis_port} (device state, node registry, bus; log {log}); Ctrl-C stops the fleet",
              flush=True)
        for name, (ws, http) in zip(names, args.nodes, strict=True):
            fleet.start_node(name, ws, http, redis_port)
        fleet.start_relays()
        failed = fleet.wait()
    finally:
        ok = fleet.shutdown()
    if failed is not None:
        print(f"{failed} exited (status {fleet.nodes[failed].returncode}); the fleet is stopped", file=sys.stderr)
        return 1
    print("fleet stopped: nodes drained, Redis stopped", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
