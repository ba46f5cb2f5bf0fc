"""`app.py match` and the server take the same path: what the CLI reports is what a device hears."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from core.device_client import DeviceClient
from tests.conftest import ws_url

ROOT = Path(__file__).resolve().parents[2]
UTTERANCES = ["play baa baa black sheep", "play hanuman chaleesa", "हनुमान चालीसा सुनाओ",
              "చిట్టి చిలకమ్మ పాట పెట్టు", "ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಹಾಕು", "tell me the little dragon story",
              "play jack and jill", "play despacito"]


@pytest.mark.timeout(120)
async def test_server_plays_what_match_reports(make_config, start_node, demo_dir) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "match", "--content-dir", str(demo_dir), *UTTERANCES,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    reported = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [r["utterance"] for r in reported] == UTTERANCES
    node = await start_node(make_config(content={"content_dir": str(demo_dir)}))
    for row in reported:
        async with DeviceClient(ws_url(node)) as device:
            await device.send_text_request(row["utterance"])
            if row["title"] is None:
                assert row["match_type"] == "none"
                first = await device.wait_json("tts", "sentence_start", timeout=10)
                assert "couldn't find" in first["text"].lower()      # an honest miss, never a fake title match
                continue
            await device.wait_for(lambda r: r.kind == "audio", timeout=20)
            conn = next(c for c in node.ws.connections if c.session_id == device.session_id)
            playing = conn.view().now_playing                 # the operator view of the device
            assert playing is not None, row
            assert playing.uid == f"{row['kind']}/{row['collection']}/{row['filename']}", row
            await device.abort()
            await device.wait_json("tts", "stop", timeout=5)
