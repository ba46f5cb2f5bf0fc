"""The make targets a new user runs first, read through `make -n` (nothing is installed or started): each installs
what its recipe uses and nothing more. The S3 demo's pieces also run for real, as its recipe chains them."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.test_first_hours import quiet_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")]


def dry_run(*argv: str) -> list[str]:
    """The recipe lines `make -B -n` would run for a fresh clone (-B: every stamp out of date)."""
    proc = subprocess.run(["make", "-B", "-n", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    return proc.stdout.splitlines()


def pip_specs(line: str) -> list[str]:
    """What a `pip install` recipe line installs, its shell substitutions expanded (`$(grep ...)`)."""
    args = line.split("pip install", 1)[1]
    out = subprocess.run(["bash", "-c", f"printf '%s\\n' {args}"], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=10)
    specs, skip = [], False
    for a in out.stdout.splitlines():
        if skip or a in ("--progress-bar", "--upgrade"):        # an option and its value
            skip = a == "--progress-bar"
            continue
        specs.append(a)
    return specs


def moto_pin() -> str:
    line = next(x for x in (ROOT / "requirements-test.txt").read_text().splitlines() if x.startswith("moto["))
    assert "server" in line.split("]")[0] and "==" in line
    return line.strip()


def test_run_s3_installs_moto_server_before_starting_it() -> None:
    lines = dry_run("run-s3")
    start = next(i for i, x in enumerate(lines) if "moto_server" in x and " -p " in x)
    installed = [s for x in lines[:start] if "pip install" in x for s in pip_specs(x)]
    assert moto_pin() in installed, installed
    # moto alone: the browser and test runner stay out of the S3 demo.
    assert not [s for s in installed if "requirements-test.txt" in s or "playwright" in s]


def test_run_fleet_installs_redis_server_and_not_the_test_packages() -> None:
    text = "\n".join(dry_run("run-fleet"))
    packages = re.search(r"for p in ([^;]+);", text)
    assert packages and "redis-server" in packages.group(1).split(), text
    assert "chromium" not in text and "requirements-test.txt" not in text and "playwright" not in text
    assert "-m pip install -r requirements.txt" in text          # the redis client is a runtime requirement
    assert re.search(r"^redis==", (ROOT / "requirements.txt").read_text(), re.M)
    assert "deploy/run_fleet.py" in text and "--node 8000:8003 --node 8100:8103" in text


def test_run_s3s_exit_trap_does_not_fail_the_recipe_when_moto_is_already_gone() -> None:
    """Ctrl-C reaches moto too; the recipe runs under `set -e`, where a failing `kill` in the EXIT trap would turn a
    clean stop into `make: *** [run-s3] Error 1`."""
    recipe = "\n".join(dry_run("-o", "deps", "-o", "venv-moto", "run-s3"))
    assert "set -e" in recipe
    trap = re.search(r'trap "([^"]*\$moto[^"]*)" EXIT', recipe)
    assert trap, recipe
    script = f'set -e; sleep 0 & moto=$!; wait; trap "{trap.group(1)}" EXIT; true'   # moto: a finished process
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, (trap.group(1), proc.stderr)


def test_the_run_targets_tell_the_server_which_make_target_started_it() -> None:
    for target in ("run", "run-s3"):
        serve = [x for x in dry_run("-o", "deps", "-o", "venv-moto", target) if "app.py serve" in x]
        assert serve and f"XIAOZHI_MAKE_TARGET={target} " in serve[-1], (target, serve)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_s3_demo_pieces_reach_the_ready_line(tmp_path: Path) -> None:
    """make run-s3's chain with the programs its recipe names: moto_server, demo, catalog upload, serve."""
    port = _free_port()
    recipe = "\n".join(dry_run("-o", "deps", "-o", "venv-moto", "run-s3", f"MOTO_PORT={port}"))
    moto_cmd = re.search(r"(\S*moto_server) -H 127\.0\.0\.1 -p (\d+)", recipe)
    assert moto_cmd and int(moto_cmd.group(2)) == port, recipe
    binary = ROOT / moto_cmd.group(1)
    assert binary.exists(), f"{binary} is not installed (make run-s3 installs it)"
    env = {**os.environ, "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "S3_BUCKET": "demo-bucket",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for name in ("S3_ENDPOINT_URL", "S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert name in recipe
    moto = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    server: subprocess.Popen[str] | None = None
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert moto.poll() is None, "moto_server exited"
            time.sleep(0.1)
        demo = tmp_path / "demo"
        app = [sys.executable, str(ROOT / "app.py")]
        subprocess.run([*app, "demo", str(demo)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        up = subprocess.run([*app, "catalog", "upload", str(demo), "--create-bucket", "--public"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr
        http_port = _free_port()
        server = subprocess.Popen([*app, "serve", "--config", str(quiet_config(tmp_path)), "--port", "0",
                                   "--http-port", str(http_port)], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                                  text=True)
        assert server.stderr is not None
        seen = []
        for line in server.stderr:
            seen.append(line)
            if "ready: devices connect to" in line:
                break
        assert "ready: devices connect to" in seen[-1], "".join(seen)
        assert any("s3://demo-bucket" in x or "demo-bucket" in x for x in seen), "".join(seen)
        ready = requests.get(f"http://127.0.0.1:{http_port}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=60)
        moto.terminate()
        moto.wait(10)


def _pty_run_until(argv: list[str], *, ready_lines: int, timeout: float = 120) -> tuple[str, int]:
    """Run `argv` on a terminal of its own, press Ctrl-C once `ready_lines` ready lines are out; its output and
    wait status."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:                                          # the child: make, on the pseudo-terminal
        os.chdir(ROOT)
        os.execvp(argv[0], argv)
    out = b""
    pressed = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not pressed and out.count(b"ready: devices connect to") >= ready_lines:
                os.write(fd, b"\x03")                      # the terminal turns it into SIGINT for its foreground
                pressed = True
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:                            # EIO: the child side closed
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        os.close(fd)
        if not pressed:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return out.decode("utf-8", "replace").replace("\r\n", "\n"), status


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_ctrl_c_on_make_run_fleet_stops_it_without_an_error(tmp_path: Path) -> None:
    """The real recipe under a real terminal (installs skipped with -o): one Ctrl-C, no error line anywhere."""
    nodes = " ".join(f"{_free_port()}:{_free_port()}" for _ in range(2))
    out, status = _pty_run_until(["make", "-o", "fleet-deps", "run-fleet", f"FLEET_NODES={nodes}",
                                  f"FLEET_ARGS=--config {quiet_config(tmp_path)}"], ready_lines=2)
    assert "fleet stopped: nodes drained, Redis stopped" in out, out
    for bad in ("make: ***", "No such process", " ERROR ", "Traceback", "lost Redis"):
        assert bad not in out, (bad, out)
    # make ends as an interrupted program does (by SIGINT, which prints nothing) or with status 0.
    assert (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT) or os.waitstatus_to_exitcode(status) == 0
