"""Voice end to end over the real WebSocket server: a device streams spoken requests (piper speech, Opus
60 ms frames with DTX and a few junk packets, in real time); the server's VAD ends the utterance, whisper
transcribes it, `stt` carries the text, and the right catalog item plays."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from core.device_client import DeviceClient
from core.protocol import framing
from core.providers.tts.piper import PiperTTS
from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, ws_url
from tests.voice_fixtures import device_stream, silence

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    async def synth() -> dict[str, bytes]:
        tts = PiperTTS()
        try:
            # "Stop!" as a child says it: a flat piper "stop" through complexity-0 Opus is sometimes "Star"
            return {p: b"".join([c async for c in tts.synthesize("Stop!" if p == "stop" else p, "en", 16000)])
                    for p in ("play twinkle twinkle little star", "tell me a bedtime story", "stop")}
        finally:
            await tts.aclose()
    return asyncio.run(synth())


def voice_config(make_config):
    return make_config(voice={"asr": {"provider": "whisper",
                                      "model_dir": str(ROOT / "metadata" / "models" / "whisper-base")},
                              "vad": {"provider": "silero"}})


async def speak(client: DeviceClient, pcm: bytes, mode: str = "auto") -> float:
    """Stream speech like the firmware's mic in real time; returns the monotonic time speech ended."""
    assert client.ws is not None
    await client.send_json({"type": "listen", "state": "start", "mode": mode})
    packets = device_stream(silence(0.6) + pcm + silence(1.5), garbage_every=6)
    speech_end = time.monotonic()
    start = time.monotonic()
    for i, packet in enumerate(packets):
        await client.ws.send(framing.pack(client.protocol_version, packet, i * 60))
        if i == int((0.6 + len(pcm) / 32000) / 0.06):
            speech_end = time.monotonic()
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.06 - time.monotonic()))
    return speech_end


def turn_audio(client: DeviceClient, first_packet: int) -> np.ndarray:
    return client.decode_audio(client.audio[first_packet:]).astype(np.float64)


async def test_spoken_requests_play_the_right_items(make_config, start_node, speech: dict[str, bytes]) -> None:
    node = await start_node(voice_config(make_config))
    async with DeviceClient(ws_url(node)) as client:
        for phrase, words, title in (
                ("play twinkle twinkle little star", ("twinkle", "star"), "Twinkle Twinkle Little Star"),
                ("tell me a bedtime story", ("bedtime", "story"), "The Sleepy Moon")):
            first = len(client.audio)
            streaming = asyncio.create_task(speak(client, speech[phrase]))
            stt = await client.wait_json("stt", timeout=60)
            for word in words:
                assert word in stt["text"].lower(), stt
            await client.wait_json("tts", "start", timeout=30)
            await client.wait_json("tts", "stop", timeout=30)
            await streaming
            pcm = turn_audio(client, first)
            freq, secs = TONES.get(title, (550.0, 1.2))
            assert abs(len(pcm) / client.downlink_rate - secs) <= 0.12
            assert abs(peak_frequencies(pcm, client.downlink_rate, 1)[0] - freq) < 5


async def test_spoken_stop_in_realtime_mode_interrupts_playback(make_config, start_node,
                                                                 speech: dict[str, bytes]) -> None:
    node = await start_node(voice_config(make_config))
    async with DeviceClient(ws_url(node)) as client:
        await client.send_text_request("play long lullaby")
        await client.wait_json("tts", "start", timeout=30)
        await client.wait_for(lambda r: r.kind == "audio", timeout=30)
        await speak(client, speech["stop"], mode="realtime")      # the child talks over the 20 s lullaby
        stt = await client.wait_json("stt", timeout=60)
        assert "stop" in stt["text"].lower(), stt
        # barge-in already ended the turn (its `tts stop` may precede the `stt`)
        if not any(r.kind == "json" and r.message.get("type") == "tts" and r.message.get("state") == "stop"
                   for r in client.log):
            await client.wait_json("tts", "stop", timeout=30)
        received = len(client.decode_audio()) / client.downlink_rate
        assert received < TONES["Long Lullaby"][1] - 5              # cut short, not played to the end
        n = len(client.audio)
        await asyncio.sleep(1.0)
        assert len(client.audio) == n                                # and nothing more arrives
