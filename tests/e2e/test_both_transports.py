"""The player's scenarios run over both transports: a WebSocket device (core/device_client.py) and the scripted
MQTT + UDP device (core/simdevice/mqtt.py: OTA, CONNECT, hello, AES-CTR UDP), each against a real node serving both.

"The Tone Story" is eight 3-second segments, each its own tone, so the frequency a device decodes names the position
it hears (tests/player_fixtures.py). Positions are checked on the decoded audio, never on server internals. A
"reconnect" is what each transport does after a lost connection: a new WebSocket, or a new MQTT connection (same
client id) and a new hello.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.device_client import DeviceClient
from core.simdevice.mqtt import MqttDevice
from tests.conftest import ws_url
from tests.e2e.mqtt_helpers import OP, PARENT, api, mqtt_device, mqtt_section
from tests.e2e.test_reach_idle import audio_stops, bedtime_from_now, quiet_line
from tests.player_fixtures import first_audio_after, play_story_until, request, segment_at

pytestmark = pytest.mark.timeout(240)


class Transport:
    """Opens devices of one transport on a node, and reconnects them as that transport does."""

    def __init__(self, name: str, node: Any) -> None:
        self.name = name
        self.node = node
        self.open_devices: list[DeviceClient | MqttDevice] = []

    async def connect(self, device_id: str) -> Any:
        if self.name == "websocket":
            client = DeviceClient(ws_url(self.node), device_id=device_id)
            await client.connect()
        else:
            client = await mqtt_device(self.node.http_port, device_id)
            await client.connect()
            await client.open_audio_channel()
        self.open_devices.append(client)
        return client

    async def drop(self, client: Any) -> None:
        """The connection is lost (Wi-Fi gone, device off): no goodbye."""
        await client.close()

    async def close(self) -> None:
        for client in self.open_devices:
            await client.close()


@pytest.fixture(params=["websocket", "mqtt"])
async def transport(request: pytest.FixtureRequest, player_config: Any, start_node: Any) -> Any:
    node = await start_node(player_config(mqtt=mqtt_section(), fleet={"operator_token": OP},
                                          web={"parent_token": PARENT}))
    t = Transport(request.param, node)
    yield t
    await t.close()


async def test_pause_then_resume_continues_at_the_paused_segment(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:01")
    await play_story_until(client, 7.5)                  # in segment 2 (6-9 s)
    await request(client, "pause")
    await client.wait_json("tts", "stop", timeout=5)
    await asyncio.sleep(1.0)
    quiet = len(client.audio)
    await asyncio.sleep(1.0)
    assert len(client.audio) == quiet                    # paused: no audio at all
    mark = await request(client, "resume")
    await first_audio_after(client, mark)
    assert segment_at(client, mark) == 2


async def test_pause_reconnect_then_resume(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:02")
    await play_story_until(client, 4.5)                  # in segment 1 (3-6 s)
    await request(client, "pause")
    await client.wait_json("tts", "stop", timeout=5)
    await transport.drop(client)
    again = await transport.connect("a4:cf:12:00:40:02")
    mark = await request(again, "resume")
    await first_audio_after(again, mark)
    assert segment_at(again, mark) == 1


async def test_lost_connection_then_continue_my_story(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:03")
    await play_story_until(client, 10.5)                 # in segment 3 (9-12 s)
    await transport.drop(client)                         # the new connection's claim waits for the save
    again = await transport.connect("a4:cf:12:00:40:03")
    mark = await request(again, "continue my story")
    await first_audio_after(again, mark)
    assert segment_at(again, mark) == 3


async def test_whats_playing_is_answered_and_the_story_continues(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:04")
    await play_story_until(client, 4.5)                  # in segment 1 (3-6 s)
    await request(client, "what's playing")
    answer = await client.wait_json("tts", "sentence_start", timeout=10)
    assert "Tone Story" in answer["text"]
    title = await client.wait_json("tts", "sentence_start", timeout=10)
    assert title["text"] == "The Tone Story"             # the story itself goes on
    mark = len(client.audio)
    await first_audio_after(client, mark)
    assert segment_at(client, mark, skip_s=0.0) == 1


async def test_the_devices_stop_button_then_continue(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:05")
    await play_story_until(client, 7.5)                  # in segment 2
    await client.abort()                                 # the button: a stop, remembered
    await client.wait_json("tts", "stop", timeout=5)
    mark = await request(client, "continue the story")
    await first_audio_after(client, mark)
    assert segment_at(client, mark) == 2


async def test_the_parents_pause_now_pauses_the_story_and_resume_continues_it(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:06")
    await play_story_until(client, 7.5)                  # in segment 2
    status, _ = await api(transport.node.http_port, "POST", "/api/devices/a4:cf:12:00:40:06/pause", PARENT)
    assert status == 200
    await client.wait_json("tts", "stop", timeout=1.0)
    await audio_stops(client)
    mark = await request(client, "resume")
    await first_audio_after(client, mark)
    assert segment_at(client, mark) == 2


async def test_bedtime_stops_the_story_and_refuses_another(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:07")
    await play_story_until(client, 4.0)
    status, _ = await api(transport.node.http_port, "PUT", "/api/devices/a4:cf:12:00:40:07/policy", PARENT,
                          {"bedtime": bedtime_from_now()})
    assert status == 200
    await client.wait_json("tts", "stop", timeout=1.0)      # the story stops...
    line = await client.wait_json("tts", "sentence_start", timeout=5)
    assert line["text"] == quiet_line()      # ...with the kind line
    await client.wait_json("tts", "stop", timeout=5)
    await audio_stops(client)
    await request(client, "play counting songs")
    refusal = await client.wait_json("tts", "sentence_start", timeout=10)
    assert refusal["text"] == quiet_line()
    await client.wait_json("tts", "stop", timeout=10)
    view = transport.node.snapshots("a4:cf:12:00:40:07")[0]
    assert view.playback != "playing" and view.rules_rev == 1


async def test_a_lower_volume_cap_turns_a_playing_speaker_down(transport: Transport) -> None:
    client = await transport.connect("a4:cf:12:00:40:08")
    await play_story_until(client, 1.0)
    assert client.volume > 30
    status, _ = await api(transport.node.http_port, "PUT", "/api/devices/a4:cf:12:00:40:08/policy", PARENT,
                          {"max_volume": 30})
    assert status == 200
    async with asyncio.timeout(2.0):
        while client.volume != 30:
            await asyncio.sleep(0.05)
