"""`app.py client --then`: a scripted conversation (play, pause, resume) against a real server."""
from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ws_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
async def test_scripted_pause_and_resume(make_config, start_node, tmp_path) -> None:
    node = await start_node(make_config(state={"url": f"sqlite:{tmp_path / 'devices.db'}"}))
    script = tmp_path / "steps.txt"
    script.write_text("# a child pauses a long song and asks for it again\n2.0:pause\n3.5:resume\n5.0:stop\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--url", ws_url(node), "--device-id", "aa:bb:cc:00:00:01",
        "--text", "play long lullaby", "--script", str(script), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    steps = [ln.split(">>> ", 1)[1] for ln in lines if ">>> " in ln]
    assert steps == ["play long lullaby", "pause", "resume", "stop"]
    msgs = [json.loads(ln[ln.index("{"):]) for ln in lines if "{" in ln and ">>>" not in ln]
    titles = [m.get("text") for m in msgs if m.get("type") == "tts" and m.get("state") == "sentence_start"]
    assert titles.count("Long Lullaby") == 2            # played, paused, then resumed
    assert msgs[-1] == {"type": "tts", "state": "stop", "session_id": msgs[-1]["session_id"]}


def test_a_bad_step_is_a_clear_error() -> None:
    import subprocess
    proc = subprocess.run([sys.executable, str(ROOT / "app.py"), "client", "--then", "soon:pause"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode != 0 and "SECONDS:TEXT" in proc.stderr


@pytest.mark.timeout(120)
async def test_the_mqtt_transport_fetches_ota_then_plays_over_udp(make_config, start_node, tmp_path) -> None:
    import wave

    import numpy as np

    from tests.audio_fixtures import peak_frequencies
    from tests.e2e.mqtt_helpers import mqtt_section
    node = await start_node(make_config(mqtt=mqtt_section()))
    out = tmp_path / "reply.wav"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--transport", "mqtt",
        "--ota", f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/", "--device-id", "a4:cf:12:00:30:01",
        "--text", "play twinkle twinkle little star", "--out", str(out), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    hello = json.loads(lines[0][lines[0].index("{"):])
    assert hello["transport"] == "udp" and hello["udp"]["key"] == "(hidden)"      # the secret is not printed
    assert sum('"type": "hello"' in ln for ln in lines) == 1, lines[:3]
    assert re.findall(r'"(?:key|nonce)": "([^"]*)"', stdout.decode()) == ["(hidden)", "(hidden)"]
    with wave.open(str(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        rate = w.getframerate()
    assert abs(peak_frequencies(pcm, rate, 1)[0] - 660.0) < 5 and abs(len(pcm) / rate - 1.8) < 0.15


@pytest.mark.timeout(120)
async def test_the_mqtt_transport_says_when_the_server_offers_no_mqtt(make_config, start_node) -> None:
    node = await start_node(make_config())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--transport", "mqtt",
        "--ota", f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/", "--text", "play twinkle twinkle little star",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1 and "mqtt.enabled" in stderr.decode()
