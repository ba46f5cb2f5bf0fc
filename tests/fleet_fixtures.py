"""A real redis-server per test on a free loopback port (no persistence), which a test may kill and restart."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (make test installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:      # ready = it answers PING on its port
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}") from None
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 10 s")

    def pause(self) -> None:
        """SIGSTOP: Redis keeps its data but answers nobody (a hung server, a network partition)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def caplog_loguru() -> Iterator[list[str]]:
    """Every log line (DEBUG and up) written during the test, as formatted text."""
    from loguru import logger
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    try:
        yield lines
    finally:
        logger.remove(sink)


ROOT = Path(__file__).resolve().parents[1]


class NodeProcess:
    """`python app.py serve` in its own process: a real node of a fleet, which a test may SIGTERM or SIGKILL."""

    def __init__(self, workdir: Path, catalog: Path, state_url: str, node_id: str, **fleet: object) -> None:
        import yaml
        self.node_id = node_id
        self.ws_port, self.http_port = free_port(), free_port()
        self.dir = workdir / node_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "config.yaml"
        self.config.write_text(yaml.safe_dump({
            "server": {"host": "127.0.0.1", "port": self.ws_port, "http_port": self.http_port},
            "content": {"content_dir": str(catalog), "generate_demo": False, "cache_dir": str(self.dir / "cat")},
            "audio": {"cache_dir": str(self.dir / "audio-cache")},
            "voice": {"tts": {"provider": "none"}, "asr": {"provider": "none"}, "vad": {"provider": "none"}},
            "state": {"url": state_url},
            "fleet": {"node_id": node_id, "heartbeat_s": 0.2, "node_ttl_s": 1.0, "max_cpu": 1.0,
                      "max_sessions": 10, **fleet},
            "log": {"level": "DEBUG"},
        }), encoding="utf-8")
        self.log = self.dir / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/xiaozhi/v1/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, env: dict[str, str] | None = None) -> NodeProcess:
        import os
        import sys
        clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "STATE_URL", "NODE_ID")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--config", str(self.config)],
                                         cwd=self.dir, stdout=out, stderr=subprocess.STDOUT,
                                         env={**clean, **(env or {})})
        return self

    def wait_ready(self, timeout: float = 60.0) -> NodeProcess:
        import urllib.error
        import urllib.request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.node_id} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {self.node_id} not ready within {timeout} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
