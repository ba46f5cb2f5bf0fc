"""deploy/run_fleet.py (make run-fleet): a real redis-server and two real nodes; a Ctrl-C (SIGINT to the
launcher's whole process group, as a terminal sends it) drains both nodes, then stops Redis, with exit status 0."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.cli.test_first_hours import quiet_config
from tests.fleet_fixtures import needs_redis

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "deploy" / "run_fleet.py"
pytestmark = [needs_redis, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_drains_the_nodes_then_stops_redis(tmp_path: Path, tone_catalog: Path) -> None:
    ports = [(_free_port(), _free_port()) for _ in range(2)]
    config = quiet_config(tmp_path)
    # Every address, as make run-fleet listens: the URL a node advertises is then derived, not configured.
    config.write_text(config.read_text().replace("host: 127.0.0.1", "host: 0.0.0.0"))
    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--config", str(config), "--content-dir", str(tone_catalog),
         *(a for ws, http in ports for a in ("--node", f"{ws}:{http}"))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        start_new_session=True)         # its own process group: the SIGINT below reaches what a Ctrl-C would
    assert proc.stdout is not None
    lines: list[str] = []
    both_ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if sum("ready: devices connect to" in x for x in lines) == 2:
                both_ready.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert both_ready.wait(90), "".join(lines)
        redis_port = int(re.search(r"^redis: 127\.0\.0\.1:(\d+)", "".join(lines), re.M).group(1))  # type: ignore[union-attr]
        assert _answers(redis_port)
        # Each node advertises to the fleet the URL its ready line prints, and OTA hands out only those.
        ready = {}
        for name in ("node-a", "node-b"):
            mine = "".join(x for x in lines if x.startswith(f"{name} | "))
            url = re.search(r"ready: devices connect to (ws://\S+) ", mine).group(1)   # type: ignore[union-attr]
            assert re.match(r"ws://\d+\.\d+\.\d+\.\d+:", url), url       # an address, not the machine's name
            assert f"fleet: node {name} registered ({url})" in mine, mine
            assert re.search(rf"fleet: (devices routed here by other nodes get|this node advertises) {re.escape(url)}",
                             mine), mine
            ready[name] = url
        for (ws, http), other in zip(ports, ("node-b", "node-a"), strict=True):
            assert requests.get(f"http://127.0.0.1:{http}/ready", timeout=10).status_code == 200
            ota = requests.post(f"http://127.0.0.1:{http}/xiaozhi/ota/", json={}, timeout=10,
                                headers={"Device-Id": "aa:bb:cc:dd:ee:01", "Client-Id": "c1"})
            # Kept here: the address the device used; sent to the other node: that node's ready-line URL.
            assert ota.json()["websocket"]["url"] in (f"ws://127.0.0.1:{ws}/xiaozhi/v1/", ready[other]), ready
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        _stop(proc)
    reader.join(10)
    out = "".join(lines)
    assert not [x for x in lines if " ERROR " in x or "Traceback" in x], out
    for name in ("node-a", "node-b"):
        mine = [x for x in lines if x.startswith(f"{name} | ")]
        assert any("ready: devices connect to" in x for x in mine) and mine[-1].rstrip().endswith("stopped"), out
        assert any("drained in" in x for x in mine), out
        # One SIGINT each, from the launcher: the terminal's never reached the node ("SIGINT again" would say so).
        assert [x for x in mine if "SIGINT" in x] == [x for x in mine if "SIGINT: draining" in x] and \
            len([x for x in mine if "SIGINT" in x]) == 1, out
    # Redis stopped after both nodes (their last lines come before the launcher's).
    assert lines[-1].startswith("fleet stopped: nodes drained, Redis stopped"), out
    assert not _answers(redis_port)
    redis_log = Path(re.search(r"log (\S+)\)", out).group(1)).read_text()      # type: ignore[union-attr]
    assert "Received SIGTERM" in redis_log and "SIGINT" not in redis_log, redis_log    # stopped by the launcher
    for ws, http in ports:
        assert not _answers(ws) and not _answers(http)


def _stop(proc: subprocess.Popen[str]) -> None:
    """After a failed assertion: the launcher still stops what it started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_killed_launcher_leaves_no_redis_or_node_behind(tmp_path: Path, tone_catalog: Path) -> None:
    ports = [(_free_port(), _free_port()) for _ in range(2)]
    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--config", str(quiet_config(tmp_path)), "--content-dir", str(tone_catalog),
         *(a for ws, http in ports for a in ("--node", f"{ws}:{http}"))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if sum("ready: devices connect to" in x for x in seen) == 2:
                break
        redis_port = int(re.search(r"^redis: 127\.0\.0\.1:(\d+)", "".join(seen), re.M).group(1))  # type: ignore[union-attr]
        proc.kill()                                       # SIGKILL: no chance to stop anything itself
        proc.wait()
        every = [redis_port, *(p for pair in ports for p in pair)]
        assert _until(lambda: not any(_answers(p) for p in every), 60), [p for p in every if _answers(p)]
    finally:
        _stop(proc)


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "XIAOZHI_MAKE_TARGET": "run-fleet"}
        proc = subprocess.run([sys.executable, str(LAUNCHER), "--node", f"{_free_port()}:{port}",
                               "--node", f"{_free_port()}:{_free_port()}"], capture_output=True, text=True,
                              timeout=30, env=env)
    assert proc.returncode == 1
    assert f"port {port} (node-a HTTP) already in use" in proc.stderr
    assert 'make run-fleet FLEET_NODES="' in proc.stderr
    assert "redis:" not in proc.stdout and "node-a |" not in proc.stdout
