"""MQTT devices in a fleet: two nodes on a real redis-server, each serving WebSocket and MQTT + UDP. OTA sends an
MQTT device to the least-loaded node (its MQTT endpoint, not the one that answered), and a drained node's MQTT
devices, closed after their position was saved, come back through OTA on the other node and continue there."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from core.device_client import DeviceClient
from core.simdevice.mqtt import MqttDevice, MqttSettings
from tests.conftest import until, ws_url
from tests.e2e.mqtt_helpers import OP, SIGNATURE_KEY, api, mqtt_section, ota
from tests.fleet_fixtures import RedisServer
from tests.player_fixtures import first_audio_after, play_story_until, request, segment_at

pytestmark = pytest.mark.timeout(180)


def fleet_config(make_config: Any, catalog: Path, redis_url: str, node_id: str) -> Any:
    return make_config(content={"content_dir": str(catalog)}, state={"url": redis_url}, mqtt=mqtt_section(),
                       fleet={"node_id": node_id, "heartbeat_s": 0.2, "node_ttl_s": 1.0, "max_cpu": 1.0,
                              "max_sessions": 10, "operator_token": OP})


async def connected(http_port: int, device_id: str) -> tuple[MqttDevice, dict[str, Any]]:
    answer = await ota(http_port, device_id)
    dev = MqttDevice(MqttSettings.from_ota(answer["mqtt"]), device_id=device_id)
    await dev.connect()
    await dev.open_audio_channel()
    return dev, answer


async def test_ota_routes_an_mqtt_device_to_the_least_loaded_node_and_a_drain_moves_it(
        redis_server: RedisServer, make_config: Any, start_node: Any, player_catalog: Path) -> None:
    a = await start_node(fleet_config(make_config, player_catalog, redis_server.url, "node-a"))
    b = await start_node(fleet_config(make_config, player_catalog, redis_server.url, "node-b"))
    busy = DeviceClient(ws_url(a), device_id="a4:cf:12:00:50:01")        # node-a carries a conversation
    await busy.connect()
    try:
        await until(lambda: a.load_report()["sessions"] == 1, timeout=5)
        await until_reported(b, "node-a", 1)
        dev, answer = await connected(a.http_port, "a4:cf:12:00:50:02")   # asked node-a, sent to node-b
        assert answer["mqtt"]["endpoint"] == f"127.0.0.1:{b.mqtt_port}"
        assert answer["websocket"]["url"].endswith(f":{b.ws_port}/xiaozhi/v1/")
        assert dev.server_hello is not None and dev.server_hello["udp"]["port"] == b.udp_port
        await until(lambda: bool(b.snapshots("a4:cf:12:00:50:02")), timeout=5)
        # the operator on node-a reaches the idle speaker held by node-b (over the fleet bus), at once
        t0 = time.monotonic()
        status, _ = await api(a.http_port, "POST", "/api/devices/a4:cf:12:00:50:02/pause", OP)
        assert status == 200
        await dev.wait_json("alert", timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        status, listed = await api(a.http_port, "GET", "/api/devices/a4:cf:12:00:50:02", OP)
        assert (listed["node"], listed["transport"], listed["firmware"]) == ("node-b", "mqtt", "2.4.2")
        await play_story_until(dev, 7.5)                                # in segment 2 (6-9 s)
        await b.drain(5.0)                                              # saved, then closed
        await dev.wait_closed(timeout=5)
        await dev.close()
        # the firmware reconnects through OTA; node-b left the registry, so every node now sends it to node-a
        again, answer = await connected(b.http_port, "a4:cf:12:00:50:02")
        try:
            assert answer["mqtt"]["endpoint"] == f"127.0.0.1:{a.mqtt_port}"
            mark = await request(again, "continue my story")
            await first_audio_after(again, mark)
            assert segment_at(again, mark) == 2
            assert [v.transport for _, v in await a.devices("a4:cf:12:00:50:02")] == ["mqtt"]
        finally:
            await again.close()
    finally:
        await busy.close()


async def until_reported(node: Any, other: str, sessions: int) -> None:
    """Until `node` reads `other`'s registry report with that many sessions (reports are a heartbeat old)."""
    async def seen() -> bool:
        return any(n.id == other and n.sessions == sessions for n in await node.fleet.nodes())
    async with asyncio.timeout(5):
        while not await seen():
            await asyncio.sleep(0.1)


async def test_app_serve_with_mqtt_env_serves_it_and_sigterm_saves_and_closes_mqtt_devices(
        tone_catalog: Path, tmp_path: Path) -> None:
    import signal

    from core.devices.backends import open_store
    from tests.fleet_fixtures import NodeProcess, free_port
    db = tmp_path / "devices.db"
    node = NodeProcess(tmp_path, tone_catalog, f"sqlite:{db}", "node-m")
    mqtt_port, udp_port = free_port(), free_port()
    node.start(env={"MQTT_ENABLED": "1", "MQTT_SIGNATURE_KEY": SIGNATURE_KEY, "MQTT_PORT": str(mqtt_port),
                    "MQTT_UDP_PORT": str(udp_port)})
    try:
        await asyncio.to_thread(node.wait_ready)
        dev, answer = await connected(node.http_port, "a4:cf:12:00:50:09")
        assert answer["mqtt"]["endpoint"] == f"127.0.0.1:{mqtt_port}"
        await dev.send_text_request("play long lullaby")
        await dev.wait_audio(20, timeout=20)                         # > 1 s of the 20 s song heard
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        await dev.wait_closed(timeout=10)
        await dev.close()
        assert await asyncio.to_thread(node.proc.wait, 15) == 0
    finally:
        node.stop()
    out = node.output()
    assert f"MQTT on 0.0.0.0:{mqtt_port}, UDP audio on 0.0.0.0:{udp_port}" in out and "drained in" in out
    assert SIGNATURE_KEY not in out and answer["mqtt"]["password"] not in out
    store = await open_store(f"sqlite:{db}")
    try:
        state = await store.load("a4:cf:12:00:50:09")
    finally:
        await store.close()
    heard_ms = len(dev.audio) * 60
    # the place the device had reached: what was sent, less what was still in its buffer
    assert state.item is not None and state.item.title == "Long Lullaby"
    assert 500 <= state.item.position_ms <= heard_ms + 200
