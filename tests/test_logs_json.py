"""log.json: true gives one JSON object per line with structured fields, from a real request on a real server."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from core.config import LogConfig
from core.device_client import DeviceClient
from core.logs import request_fields, setup_logging
from tests.conftest import ws_url

pytestmark = pytest.mark.timeout(60)


def test_request_fields_parse_the_request_line() -> None:
    line = "request \"baa baa's sheep\" intent=play_music match=fuzzy 92 music/English/Baa Baa.mp3 outcome=done " \
           "first_frame=412ms"
    assert request_fields(line) == {"utterance": "baa baa's sheep", "intent": "play_music",
                                    "match": {"type": "fuzzy", "score": 92.0, "item": "music/English/Baa Baa.mp3"},
                                    "outcome": "done", "latency_ms": 412}
    assert request_fields("request 'stop' intent=stop match=- outcome=done") == {
        "utterance": "stop", "intent": "stop", "match": None, "outcome": "done"}
    assert request_fields("state idle -> speaking") == {}


@pytest.fixture
def json_logs() -> Iterator[None]:
    setup_logging(LogConfig(level="INFO", json=True))       # the sink writes to sys.stderr (captured by capsys)
    yield
    logger.remove()
    logger.add(sys.stderr, level="DEBUG")


async def test_a_real_request_logs_structured_fields(make_config, start_node, json_logs: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    node = await start_node(make_config(log={"level": "INFO", "json": True}))
    async with DeviceClient(ws_url(node), device_id="aa:bb:cc:dd:ee:01") as device:
        await device.send_text_request("play baa baa black sheep")
        await device.wait_json("tts", "stop", timeout=30)
        session = device.session_id
    logger.info("signed https://b.s3.amazonaws.com/k.mp3?X-Amz-Signature=deadbeef")
    err = capsys.readouterr().err
    docs = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert all({"time", "level", "message"} <= set(d) for d in docs)
    req = [d for d in docs if d.get("utterance") == "play baa baa black sheep"]
    assert len(req) == 1, [d["message"] for d in docs]
    r = req[0]
    assert r["device"] == "aa:bb:cc:dd:ee:01" and session.startswith(r["session"])
    assert r["intent"] == "play_music" and r["outcome"]
    assert r["match"]["type"] == "exact" and r["match"]["item"] == "music/English/Baa Baa Black Sheep.mp3"
    assert isinstance(r["latency_ms"], int) and r["latency_ms"] >= 0
    assert "deadbeef" not in err
