"""A miss keeps what was playing, over a real WebSocket: during a tone song (or the tone story), a request the
catalog does not have is answered "I couldn't find ..." with the alternative offered in words, and the device then
hears the same tone again (decoded with Opus, checked by frequency), the story at the segment it was in. Idle, the
same request still plays a labelled alternative (`matching.on_miss: play_alternative`, the shipped default). A volume
request said with a quantity and politeness moves the volume by its steps and the song goes on."""
from __future__ import annotations

from typing import Any

import pytest

from core.device_client import DeviceClient
from tests.audio_fixtures import peak_frequencies
from tests.conftest import ws_url
from tests.player_fixtures import COUNTING, first_audio_after, play_story_until, request, segment_at

pytestmark = pytest.mark.timeout(240)

MISS = "play the dinosaur disco song"
HUM_HZ = 440.0


def _hz(client: DeviceClient, start: int, seconds: float = 0.6) -> float:
    packets = client.audio[start + 2:start + 2 + int(seconds / 0.06)]
    assert packets, "no audio received"
    return peak_frequencies(client.decode_audio(packets), client.downlink_rate, 1)[0]


async def _miss_answer(client: DeviceClient) -> str:
    answer = await client.wait_json("tts", "sentence_start", timeout=15)
    return str(answer["text"])


async def test_a_miss_during_a_song_says_so_and_the_same_song_goes_on(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config(matching={"on_miss": "play_alternative"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:31") as client:
        await client.send_text_request("play long hum")
        await client.wait_json("tts", "sentence_start", timeout=10)
        first = await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        while client.audio_times[-1] - first.t < 3.0:
            await client.wait_for(lambda r: r.kind == "audio", timeout=10)
        assert abs(_hz(client, len(client.audio) - 12) - HUM_HZ) < 30       # the song is playing
        await request(client, MISS)
        text = await _miss_answer(client)
        assert text.lower().startswith("i couldn't find dinosaur disco") and "Say 'play " in text, text
        title = await client.wait_json("tts", "sentence_start", timeout=15)
        assert title["text"] == "Long Hum"                                   # the held song, not another
        mark = len(client.audio)
        await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > mark + 30, timeout=15)
        for at in (mark, mark + 15):                                         # and it goes on humming
            assert abs(_hz(client, at) - HUM_HZ) < 30
        assert all(abs(_hz(client, mark) - hz) > 50 for hz in COUNTING.values())


async def test_a_miss_during_the_story_continues_it_at_its_segment(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config(matching={"on_miss": "play_alternative"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:32") as client:
        await play_story_until(client, 7.5)                                  # in segment 2 (6-9 s)
        await request(client, MISS)
        text = await _miss_answer(client)
        assert "couldn't find" in text and "instead" not in text, text
        title = await client.wait_json("tts", "sentence_start", timeout=15)
        assert title["text"] == "The Tone Story"
        mark = len(client.audio)
        await first_audio_after(client, mark)
        assert segment_at(client, mark, skip_s=0.0) == 2


async def test_idle_a_miss_still_plays_the_labelled_alternative(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config(matching={"on_miss": "play_alternative"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:33") as client:
        await request(client, MISS)
        text = await _miss_answer(client)
        assert "instead" in text, text
        mark = len(client.audio)
        await first_audio_after(client, mark)


@pytest.mark.parametrize("said, volume", [("make it a lot louder please", 90), ("thoda dheere karo na", 50)])
async def test_a_softened_volume_request_during_a_song_moves_the_volume_and_the_song_goes_on(
        player_config: Any, start_node: Any, said: str, volume: int) -> None:
    node = await start_node(player_config(matching={"on_miss": "play_alternative"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:34") as client:
        assert client.volume == 60
        await client.send_text_request("play long hum")
        first = await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        while client.audio_times[-1] - first.t < 2.0:
            await client.wait_for(lambda r: r.kind == "audio", timeout=10)
        await request(client, said)
        title = await client.wait_json("tts", "sentence_start", timeout=15)
        assert title["text"] == "Long Hum"                                   # no "couldn't find", no other song
        mark = len(client.audio)
        await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > mark + 20, timeout=15)
        assert abs(_hz(client, mark) - HUM_HZ) < 30
        assert client.volume == volume
