"""What a new operator meets first: the content folder, the ready line, config mistakes, the client's hints."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from core.config import ConfigError, load_config
from tests.conftest import ws_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def app(*argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *argv], capture_output=True, text=True, timeout=90,
                          cwd=cwd, env=env, encoding="utf-8")


def quiet_config(tmp_path: Path, *, json_logs: bool = False) -> Path:
    """A config file for a server started as a subprocess: loopback, no voice models, state in tmp_path."""
    cfg = tmp_path / "test-config.yaml"
    cfg.write_text(f"""server:
  host: 127.0.0.1
state:
  url: "sqlite:{tmp_path / 'devices.db'}"
content:
  cache_dir: "{tmp_path / 'cat-cache'}"
audio:
  cache_dir: "{tmp_path / 'audio-cache'}"
voice:
  tts: {{provider: none}}
  asr: {{provider: none}}
  vad: {{provider: none}}
log:
  level: info
  json: {str(json_logs).lower()}
""", encoding="utf-8")
    return cfg


def test_a_content_dir_that_does_not_exist_is_an_error_naming_the_flag(tmp_path: Path) -> None:
    typo = tmp_path / "my-musci"
    proc = app("serve", "--config", str(quiet_config(tmp_path)), "--content-dir", str(typo), "--port", "0",
               "--http-port", "0")
    assert proc.returncode == 2
    assert f"--content-dir: folder {typo} not found" in proc.stderr
    assert f"python app.py demo {typo}" in proc.stderr
    assert not typo.exists()                         # never filled with demo content


def test_a_config_folder_and_yaml_errors_point_at_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a file: pass the file itself with --config"):
        load_config(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text('server:\n  port: 8000\n  greeting: "Hi there\nlog:\n  level: INFO\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="that starts at line 3, column 13: look there"):
        load_config(bad)
    proc = app("serve", "--config", str(tmp_path))
    assert proc.returncode == 2 and "is a folder, not a file" in proc.stderr and "Traceback" not in proc.stderr


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load_config(None, env={"LOG_LEVEL": "debug"}).log.level == "DEBUG"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log:\n  level: warning\n", encoding="utf-8")
    assert load_config(cfg, env={}).log.level == "WARNING"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ready_line_names_config_and_address_after_both_ports_are_bound(tmp_path: Path,
                                                                             tone_catalog: Path) -> None:
    from core.device_client import DeviceClient

    cfg = quiet_config(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "serve", "--config", str(cfg), "--content-dir", str(tone_catalog),
        "--port", "0", "--http-port", "0", stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    try:
        line = ""
        async with asyncio.timeout(60):
            while "ready: devices connect to" not in line:
                line = (await proc.stderr.readline()).decode()
                assert line, "the server exited before its ready line"
        m = re.search(r"ws://([\d.]+):(\d+)/xiaozhi/v1/ \(OTA http://[\d.]+:(\d+)/xiaozhi/ota/\); config: (.+)$",
                      line.strip())
        assert m, line
        assert m.group(1) == "127.0.0.1" and m.group(4) == str(cfg.resolve())
        ws_port, http_port = int(m.group(2)), int(m.group(3))
        # Both ports answer the moment the line is printed.
        health = await asyncio.to_thread(requests.get, f"http://127.0.0.1:{http_port}/health", timeout=5)
        assert health.status_code == 200
        async with DeviceClient(f"ws://127.0.0.1:{ws_port}/xiaozhi/v1/") as device:
            assert device.session_id
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)


def _taken_port_run(tmp_path: Path, tone_catalog: Path, make_target: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "XIAOZHI_MAKE_TARGET"}
    if make_target:
        env["XIAOZHI_MAKE_TARGET"] = make_target
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = app("serve", "--config", str(quiet_config(tmp_path)), "--content-dir", str(tone_catalog),
                   "--port", "0", "--http-port", str(port), env=env)
    assert proc.returncode == 1, proc.stderr
    # Said before anything loads: no catalog line, no model line, nothing bound.
    assert proc.stderr.lstrip().split("\n")[0].split(" - ", 1)[-1].startswith("cannot listen on 127.0.0.1: "), \
        proc.stderr
    assert "catalog" not in proc.stderr and "loaded" not in proc.stderr and "WebSocket" not in proc.stderr
    return port, proc.stderr


def test_a_taken_port_is_named_before_anything_loads(tmp_path: Path, tone_catalog: Path) -> None:
    port, err = _taken_port_run(tmp_path, tone_catalog, None)
    assert f"HTTP port {port} is already in use" in err and "pick another with --http-port (server.http_port)" in err


def test_under_make_a_taken_port_names_the_make_variable(tmp_path: Path, tone_catalog: Path) -> None:
    port, err = _taken_port_run(tmp_path, tone_catalog, "run")
    suggested = int(re.search(r"pick another port: make run HTTP_PORT=(\d+)$", err.strip()).group(1))  # type: ignore[union-attr]
    assert suggested != port and "--http-port" not in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", suggested))                 # the suggestion is free


def test_client_checks_out_before_connecting(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{_free_port()}/xiaozhi/v1/"          # nothing listens: a connect attempt would say so
    proc = app("client", "--url", url, "--text", "play a song", "--out", str(tmp_path / "missing" / "reply.wav"))
    assert proc.returncode == 2
    assert f"folder {tmp_path / 'missing'} does not exist" in proc.stderr
    assert "cannot connect" not in proc.stderr
    proc = app("client", "--url", url, "--text", "play a song", "--out", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr


async def test_client_hints_at_token_on_401(make_config, start_node) -> None:
    node = await start_node(make_config(server={"host": "127.0.0.1", "port": 0, "http_port": 0,
                                                "auth": {"enabled": True, "tokens": ["right-token"]}}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--url", ws_url(node), "--text", "play a song",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = err.decode()
    assert "401" in text and "pass --token TOKEN" in text


async def test_client_uses_server_port_and_returns_after_a_reply_without_audio(make_config, start_node) -> None:
    """`SERVER_PORT` picks the port; "stop" with nothing playing answers without audio and the client returns then,
    not after its idle timeout."""
    import os
    node = await start_node(make_config(server={"host": "127.0.0.1", "port": 0, "http_port": 0}))
    env = {**os.environ, "SERVER_PORT": str(node.ws_port)}
    proc = await asyncio.create_subprocess_exec(      # on its timeout the client would exit 1 ("no tts stop")
        sys.executable, str(ROOT / "app.py"), "client", "--text", "stop", "--timeout", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    assert '"state": "stop"' in out.decode() or "'state': 'stop'" in out.decode()
    assert "received 0 audio frames" in out.decode()


async def test_ctrl_c_while_starting_stops_without_a_traceback(tmp_path: Path, tone_catalog: Path) -> None:
    """SIGINT before the ready line: the start is abandoned quietly (130); after it: the node drains (0)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "serve", "--config", str(quiet_config(tmp_path)), "--content-dir",
        str(tone_catalog), "--port", "0", "--http-port", "0", stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            while b"catalog " not in (line := await proc.stderr.readline()):      # still loading
                assert line, "the server exited before loading its catalog"
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    assert (code == 130 and "interrupted while starting: stopped" in rest) or (code == 0 and "draining" in rest), \
        (code, rest)


def test_what_the_node_built_to_start_is_left_out_of_full_collections() -> None:
    """serve tunes the collector once the node is up: young collections less often, and every object alive then
    (catalog indexes, modules) frozen, so a full collection under load scans only what sessions made since."""
    import gc

    from core.cli.serve import GC_THRESHOLDS, tune_gc
    before = gc.get_threshold()
    nested = [[i] for i in range(1000)]                        # lists: objects the collector tracks
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() >= len(nested)
        assert all(gc.is_tracked(n) for n in nested[:3])
        assert not any(any(o is n for o in gc.get_objects()) for n in nested[:3])   # frozen: out of every generation
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_client_against_no_server_asks_whether_it_is_running() -> None:
    proc = app("client", "--url", f"ws://127.0.0.1:{_free_port()}/xiaozhi/v1/", "--text", "play a song")
    assert proc.returncode == 1
    assert "cannot connect" in proc.stderr and "is the server running? start it with `make run`" in proc.stderr


def test_client_checks_the_wav_before_connecting_and_says_how_to_make_one(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{_free_port()}/xiaozhi/v1/"
    proc = app("client", "--url", url, "--wav", str(tmp_path / "request.wav"))
    assert proc.returncode == 1 and "cannot connect" not in proc.stderr
    assert "no such file" in proc.stderr and "espeak-ng -w request.wav" in proc.stderr


async def test_client_waits_for_the_song_a_step_lets_finish(make_config, start_node) -> None:
    """A step said over a song (as the README's "stop after this song") interrupts it with a tts stop; the song then
    goes on under a new tts start, and the client stays until that one stops, not at the interruption."""
    node = await start_node(make_config(server={"host": "127.0.0.1", "port": 0, "http_port": 0}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--url", ws_url(node), "--text", "play long lullaby",
        "--then", "1:stop after this song", "--max-seconds", "6", "--timeout", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    # --max-seconds 6 sends abort after 6 s of audio: reached only when the client stayed past the interruption.
    assert "sending abort" in text, text
    assert text.count('"state": "start"') >= 2, text


async def test_client_says_how_a_draining_server_closed_the_connection(make_config, start_node) -> None:
    node = await start_node(make_config(server={"host": "127.0.0.1", "port": 0, "http_port": 0}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--url", ws_url(node), "--text", "play long lullaby",
        "--timeout", "60", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    seen = b""
    while b"audio frame #1 " not in seen:                      # the lullaby is playing
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, seen.decode()
        seen += line
    await node.drain(5.0)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert "connection closed by server: 1012" in (seen + out).decode() and "draining" in out.decode()


def test_health_with_no_server_names_the_port_it_probed() -> None:
    port = _free_port()
    proc = app("health", env={**os.environ, "HTTP_PORT": str(port)})
    assert proc.returncode == 1
    assert f"is the server running on HTTP port {port}?" in proc.stdout and "HTTP_PORT" in proc.stdout
