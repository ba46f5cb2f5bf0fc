"""Honest admission over a real WebSocket: with the node's audio budget set to one cold stream, a device already
playing keeps playing (its decoded audio stays the song's tone, every frame, no hole in its arrival), a second cold
request hears "busy" before any other audio of its own, /ready says overloaded, and a song already in the transcode
cache is still admitted and plays."""
from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np
import pytest

from core.device_client import DeviceClient
from core.lang.replies import say
from tests.audio_fixtures import peak_frequencies
from tests.conftest import ws_url
from tests.player_fixtures import COUNTING

pytestmark = pytest.mark.timeout(120)

HUM_HZ = 440.0
# one cold stream fits however many cores the machine has (below 20): 0.05 x cores / 1.0 CPU-s per audio second
ONE_COLD_STREAM = {"transcode_cost": 1.0, "cold_cpu_share": 0.05}


async def _ready(node: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{node.http_port}/ready") as r:
        return r.status, await r.json()


async def _song(client: DeviceClient, text: str, title: str) -> int:
    """Ask for `title`; the index of its first audio packet once a few have arrived."""
    await client.send_text_request(text)
    start = await client.wait_json("tts", "sentence_start", timeout=15)
    assert start["text"] == title, start
    mark = len(client.audio)
    await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > mark + 10, timeout=20)
    return mark


async def test_past_the_budget_a_cold_request_hears_busy_while_the_playing_song_and_cached_plays_go_on(
        player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config(audio=ONE_COLD_STREAM))
    assert node.rt.pipeline.slots.limit == 1
    url = ws_url(node)
    async with DeviceClient(url, device_id="aa:00:00:00:00:41") as cacher:      # a short song, played to its end
        await _song(cacher, "play one little finger", "One Little Finger")
        await cacher.wait_json("tts", "stop", timeout=15)
    assert node.rt.pipeline.slots.in_use == 0 and (await _ready(node))[0] == 200

    async with DeviceClient(url, device_id="aa:00:00:00:00:42") as playing, \
            DeviceClient(url, device_id="aa:00:00:00:00:43") as refused, \
            DeviceClient(url, device_id="aa:00:00:00:00:44") as cached:
        start = await _song(playing, "play long hum", "Long Hum")                 # the one cold stream
        status, body = await _ready(node)
        assert status == 503 and body["checks"]["not_overloaded"] is False
        report = node.load_report()
        assert report["overloaded"] and report["load"] >= 1.0                     # the router sends devices elsewhere

        await refused.send_text_request("tell me the tone story")
        answer = await refused.wait_json("tts", "sentence_start", timeout=10)
        assert answer["text"] == say("busy", "en"), answer                        # nothing of the story first
        await refused.wait_json("tts", "stop", timeout=15)
        assert node.rt.pipeline.slots.busy_count == 1

        c0 = await _song(cached, "play one little finger", "One Little Finger")   # cached: admitted past cold ones
        hz = peak_frequencies(cached.decode_audio(cached.audio[c0 + 2:c0 + 12]), cached.downlink_rate, 1)[0]
        assert abs(hz - COUNTING["One Little Finger"]) < 30
        assert node.rt.pipeline.slots.busy_count == 1

        end = len(playing.audio) + 40
        await playing.wait_for(lambda r: r.kind == "audio" and len(playing.audio) > end, timeout=15)
    # the playing device, over everything above: each 60 ms frame is the hum (no silence, no other sound) ...
    pcm = playing.decode_audio(playing.audio[start + 2:end]).astype(np.float64)
    per = playing.downlink_rate * 60 // 1000
    frames = pcm[: len(pcm) // per * per].reshape(-1, per)
    assert len(frames) > 60
    assert float(np.sqrt((frames ** 2).mean(axis=1)).min()) > 1000
    for i in range(0, len(frames) - 5, 10):
        assert abs(peak_frequencies(frames[i:i + 5].reshape(-1).astype(np.int16), playing.downlink_rate, 1)[0]
                   - HUM_HZ) < 30
    # ... and none arrived after the device's queue (3 frames sent ahead) had run dry for 300 ms
    times = playing.audio_times[start:end]
    needed = times[0]
    worst = 0.0
    for t in times:
        worst = max(worst, t - needed)
        needed = max(needed, t) + 0.06
    assert worst < 0.3, f"the playing device stalled for {worst * 1000:.0f} ms"
