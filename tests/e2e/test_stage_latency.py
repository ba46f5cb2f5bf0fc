"""Per-stage latency through the real server on loopback: a spoken request (the device's microphone as Opus, the
real listener and the recogniser's real queueing with a scripted decode) and a typed one each land in the stage
histograms of /metrics (end of speech -> transcript, transcript -> decision, decision -> first spoken frame, decision
-> first song frame) exactly once, with values that fit together, and the operator's /api/latency shows them."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.device_client import DeviceClient
from core.node import Node
from tests.conftest import ws_url
from tests.voice_fixtures import ScriptedWhisperASR, noise

pytestmark = pytest.mark.timeout(120)
OP = "operator-token-0123456789abcdef"
DECODE_S = 0.05


def stage_samples(text: str) -> dict[str, dict[str, float]]:
    """stage -> {"count", "sum", le bound as text -> cumulative count} of xiaozhi_stage_seconds."""
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "xiaozhi_stage_seconds":
            continue
        for s in family.samples:
            row = out.setdefault(s.labels["stage"], {})
            key = s.labels["le"] if s.name.endswith("_bucket") else s.name.rsplit("_", 1)[1]
            row[key] = s.value
    return out


def first_frame_sum(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "xiaozhi_first_frame_seconds":
            return sum(s.value for s in family.samples if s.name.endswith("_sum"))
    raise AssertionError("no xiaozhi_first_frame_seconds")


async def get(node: Node, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{node.http_port}{path}",
                                                   headers={"X-Operator-Token": OP}) as r:
        assert r.status == 200, path
        return await r.json() if r.content_type == "application/json" else await r.text()


def announcement_frames(client: DeviceClient, title: str, since: int) -> int:
    """Audio packets between the turn's "Now playing" line and the track's own sentence_start (the announcement)."""
    log = client.log[since:]
    start = next(i for i, r in enumerate(log) if r.kind == "json" and r.message.get("state") == "sentence_start"
                 and str(r.message.get("text", "")).startswith("Now playing"))
    song = next(i for i, r in enumerate(log) if i > start and r.kind == "json"
                and r.message.get("state") == "sentence_start" and r.message.get("text") == title)
    return sum(1 for r in log[start:song] if r.kind == "audio")


async def test_a_spoken_then_a_typed_request_are_counted_in_their_stages(make_config, start_node, monkeypatch) -> None:
    asr: list[ScriptedWhisperASR] = []

    def build_asr(cfg: Any) -> ScriptedWhisperASR:
        asr.append(ScriptedWhisperASR(cfg, ["play twinkle twinkle little star"], decode_s=DECODE_S))
        return asr[0]
    monkeypatch.setattr("core.providers.asr.factory.build_asr", build_asr)
    node = await start_node(make_config(voice={"asr": {"provider": "whisper"}, "tts": {"provider": "espeak"}},
                                        fleet={"operator_token": OP}))
    assert node.rt.warmer is not None
    await node.rt.warmer.wait_idle()              # "Now playing <title>" is rendered: the announcement is spoken
    lead = node.rt.config.audio.lead_frames
    before = stage_samples(await get(node, "/metrics"))
    assert {stage: row["count"] for stage, row in before.items()} == {"asr": 0, "understand": 0, "tts": 0, "song": 0}

    async with DeviceClient(ws_url(node)) as client:
        # Spoken: push-to-talk (manual), a second of "speech", listen stop ends the utterance.
        mark = len(client.log)
        await client.stream_microphone(noise(1.0), mode="manual", trailing_silence_s=0.0)
        stt = await client.wait_json("stt", timeout=20)
        assert stt["text"] == "play twinkle twinkle little star" and asr[0].heard_seconds
        await client.wait_json("tts", "stop", timeout=30)
        text = await get(node, "/metrics")
        spoken = stage_samples(text)
        for stage in ("asr", "understand", "tts", "song"):
            assert spoken[stage]["count"] == 1, stage
            assert spoken[stage]["sum"] > 0, stage
        assert spoken["asr"]["sum"] >= DECODE_S                   # the decode's own time is inside the stage
        # The announcement is paced out before the song's first frame: at least its frames past the lead.
        n = announcement_frames(client, "Twinkle Twinkle Little Star", mark)
        assert n > lead + 1
        assert spoken["song"]["sum"] >= spoken["tts"]["sum"] + (n - lead - 1) * 0.06
        # The stages cut one timeline: transcript -> decision -> first song frame is the request's first frame.
        assert abs(first_frame_sum(text) - (spoken["understand"]["sum"] + spoken["song"]["sum"])) < 1e-6

        view = await get(node, "/api/latency")
        assert view["node"] == node.node_id and [s["stage"] for s in view["stages"]] == ["asr", "understand", "tts",
                                                                                         "song"]
        for row in view["stages"]:
            one = spoken[row["stage"]]["sum"]
            bounds = sorted(float(le) for le in spoken[row["stage"]] if le not in ("count", "sum"))
            upper = next(b for b in bounds if b >= one)
            lower = max([0.0] + [b for b in bounds if b < one])
            # one observation: both percentiles fall inside the bucket that holds it
            assert row["count"] == 1 and lower <= row["p50"] <= row["p99"] <= upper, row

        # Typed: no recogniser stage; the others count once more.
        await client.send_text_request("play baa baa black sheep")
        await client.wait_json("stt", timeout=20)
        await client.wait_json("tts", "stop", timeout=30)
        typed = stage_samples(await get(node, "/metrics"))
        assert {stage: row["count"] for stage, row in typed.items()} == {"asr": 1, "understand": 2, "tts": 2,
                                                                         "song": 2}
        assert typed["asr"]["sum"] == spoken["asr"]["sum"]
        for stage in ("understand", "tts", "song"):
            assert typed[stage]["sum"] > spoken[stage]["sum"], stage


async def test_a_silent_answer_counts_no_speech_stage(make_config, start_node) -> None:
    """With speech off (tts none) nothing is spoken: no tts observation, while the song's stages still count."""
    node = await start_node(make_config(fleet={"operator_token": OP}))
    async with DeviceClient(ws_url(node)) as client:
        await client.send_text_request("play baa baa black sheep")
        await client.wait_json("tts", "stop", timeout=30)
    counts = {stage: row["count"] for stage, row in stage_samples(await get(node, "/metrics")).items()}
    assert counts == {"asr": 0, "understand": 1, "tts": 0, "song": 1}
