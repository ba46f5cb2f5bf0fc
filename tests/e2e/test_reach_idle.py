"""Reaching a speaker nobody is talking to: an MQTT device connected but in no conversation, beside a WebSocket
device in the middle of a story, on one real node. The parents' "pause now" and bedtime, a lowered volume cap and
the operator's reboot and firmware upgrade go through the HTTP API, and the test watches what each device receives."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from loguru import logger

from core.device_client import DeviceClient
from core.devices import policy as rules
from core.lang.replies import say
from tests.conftest import until, ws_url
from tests.e2e.mqtt_helpers import OP, PARENT, api, mqtt_device, mqtt_section
from tests.player_fixtures import play_story_until

pytestmark = pytest.mark.timeout(120)
MQ, WS = "a4:cf:12:00:20:01", "a4:cf:12:00:20:02"
IMAGE = "https://fw.example.com/bread-compact-wifi-2.4.3.bin"


def node_config(player_config: Any, **mqtt: Any) -> Any:
    return player_config(mqtt=mqtt_section(**mqtt), fleet={"operator_token": OP},
                         web={"parent_token": PARENT, "firmware_urls": [f"bread-compact-wifi={IMAGE}"]})


async def claimed(node: Any, device_id: str) -> None:
    """Until the node holds the device with its state loaded and its status read (what connect does)."""
    await until(lambda: bool(node.snapshots(device_id)) and node.snapshots(device_id)[0].status is not None,
                timeout=10)


def bedtime_from_now() -> dict[str, Any]:
    """Every day's quiet time from a minute ago to two hours on (UTC, the policy's default offset)."""
    now = time.gmtime()
    start = (now.tm_hour * 60 + now.tm_min - 1) % 1440
    end = (start + 120) % 1440
    window = {"start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}
    return {day: window for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def quiet_line(offset_min: int = 0) -> str:
    """The quiet-time line a child hears now: a night's "sleep well" or a daytime "a bit later" (the real clock)."""
    return say(rules.quiet_reply(rules.parse({"utc_offset_min": offset_min}), time.time()), "en")


async def audio_stops(client: Any, within_s: float = 1.0) -> None:
    """The device's audio stops growing within `within_s` (and stays stopped for half a second)."""
    deadline = time.monotonic() + within_s
    while True:
        count = len(client.audio)
        await asyncio.sleep(0.5)
        if len(client.audio) == count:
            return
        assert time.monotonic() < deadline + 0.5, "audio still arriving"


async def test_pause_now_reaches_an_idle_mqtt_speaker_and_a_playing_websocket_one_at_once(
        player_config: Any, start_node: Any) -> None:
    node = await start_node(node_config(player_config))
    idle = await mqtt_device(node.http_port, MQ)
    async with idle, DeviceClient(ws_url(node), device_id=WS) as playing:
        await claimed(node, MQ)
        assert node.snapshots(MQ)[0].state == "idle" and node.snapshots(MQ)[0].transport == "mqtt"
        await play_story_until(playing, 4.0)
        t0 = time.monotonic()
        status, _ = await api(node.http_port, "POST", f"/api/devices/{MQ}/pause", PARENT)
        assert status == 200
        alert = await idle.wait_json("alert", timeout=1.0)
        assert alert["message"] and time.monotonic() - t0 < 1.0
        t0 = time.monotonic()
        status, _ = await api(node.http_port, "POST", f"/api/devices/{WS}/pause", PARENT)
        assert status == 200
        await playing.wait_json("tts", "stop", timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        await audio_stops(playing)
        view = node.snapshots(WS)[0]
        assert view.playback == "paused" and view.now_playing is not None and view.now_playing.position_ms >= 3000


async def test_bedtime_stops_a_playing_story_and_is_shown_on_an_idle_mqtt_speaker(player_config: Any,
                                                                                   start_node: Any) -> None:
    node = await start_node(node_config(player_config))
    idle = await mqtt_device(node.http_port, MQ)
    async with idle, DeviceClient(ws_url(node), device_id=WS) as playing:
        await claimed(node, MQ)
        await play_story_until(playing, 3.0)
        rules = {"bedtime": bedtime_from_now()}
        t0 = time.monotonic()
        status, answer = await api(node.http_port, "PUT", f"/api/devices/{MQ}/policy", PARENT, rules)
        assert status == 200 and answer["applied"] == "live"
        alert = await idle.wait_json("alert", timeout=1.0)
        assert alert["message"] == quiet_line() and time.monotonic() - t0 < 1.0
        t0 = time.monotonic()
        status, answer = await api(node.http_port, "PUT", f"/api/devices/{WS}/policy", PARENT, rules)
        assert status == 200 and answer["applied"] == "live"
        await playing.wait_json("tts", "stop", timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        await audio_stops(playing)
        assert node.snapshots(WS)[0].playback != "playing"


async def test_a_lower_volume_cap_is_pushed_to_an_idle_speaker_and_kept_there(player_config: Any,
                                                                              start_node: Any) -> None:
    node = await start_node(node_config(player_config, status_every_s=1.0))
    idle = await mqtt_device(node.http_port, MQ)
    assert idle.volume == 60
    async with idle:
        await claimed(node, MQ)
        t0 = time.monotonic()
        status, _ = await api(node.http_port, "PUT", f"/api/devices/{MQ}/policy", PARENT, {"max_volume": 30})
        assert status == 200
        await until(lambda: idle.volume == 30, timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        idle.volume = 90                      # the child turns it up with the buttons; the server is not told
        await until(lambda: idle.volume == 30, timeout=4.0)       # the next status read sets it back down
        assert node.snapshots(MQ)[0].status is not None


async def test_reboot_and_upgrade_need_the_operator_token_and_are_audited(player_config: Any,
                                                                          start_node: Any) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message} {extra}")
    try:
        node = await start_node(node_config(player_config))
        dev = await mqtt_device(node.http_port, MQ, board="bread-compact-wifi")
        async with dev:
            await claimed(node, MQ)
            status, body = await api(node.http_port, "POST", f"/api/devices/{MQ}/reboot", PARENT)
            assert status == 403 and "operator" in body["error"]
            status, _ = await api(node.http_port, "POST", f"/api/devices/{MQ}/upgrade", PARENT, {"url": IMAGE})
            assert status == 403
            await asyncio.sleep(0.5)
            assert dev.reboots == 0 and dev.upgrade_urls == []
            status, _ = await api(node.http_port, "POST", f"/api/devices/{MQ}/reboot", OP)
            assert status == 200
            await until(lambda: dev.reboots == 1, timeout=2.0)
            status, body = await api(node.http_port, "POST", f"/api/devices/{MQ}/upgrade", OP)   # the board's image
            assert status == 200 and body["url"] == IMAGE
            await until(lambda: dev.upgrade_urls == [IMAGE], timeout=2.0)
            status, audit = await api(node.http_port, "GET", "/api/audit", OP)
            assert status == 200
            actions = [(a["action"], a["who"], a["device_id"], a["delivery"]) for a in audit["actions"]]
            assert actions[:2] == [("UpgradeFirmware", "operator", MQ, "taken"), ("Reboot", "operator", MQ, "taken")]
            status, _ = await api(node.http_port, "GET", "/api/audit", PARENT)
            assert status == 403
    finally:
        logger.remove(sink)
    assert any("operator Reboot for device" in line and "'audit': True" in line for line in lines)
    assert any("operator action self.reboot sent to the device" in line for line in lines)
    assert any("operator action self.upgrade_firmware sent to the device" in line for line in lines)
