"""The node's HTTP side on loopback: health, readiness (flips on drain), Prometheus metrics, the operator API, and
the OTA endpoint routing between real nodes sharing a real redis-server."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.device_client import DeviceClient
from core.metrics import ffmpeg_children
from core.node import Node, NodeStartError
from tests.conftest import ws_url
from tests.fleet_fixtures import RedisServer, free_port

pytestmark = pytest.mark.timeout(90)
TOKEN = "operator-token-0123456789abcdef"


def http(node: Node, path: str) -> str:
    return f"http://127.0.0.1:{node.http_port}{path}"


async def get(node: Node, path: str, **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(http(node, path), headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def ota(node: Node, device_id: str = "aa:bb:cc:00:00:01") -> str:
    async with aiohttp.ClientSession() as s, s.post(
            http(node, "/xiaozhi/ota/"), json={"application": {"version": "1.6.0"}},
            headers={"Device-Id": device_id, "Client-Id": "c-1"}) as r:
        assert r.status == 200
        return str((await r.json())["websocket"]["url"])


def scrape(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def test_health_ready_metrics_and_drain(make_config, start_node, tmp_path: Path) -> None:
    node = await start_node(make_config())
    status, body = await get(node, "/health")
    assert status == 200 and body["status"] == "ok"
    status, body = await get(node, "/ready")
    assert status == 200 and body["ready"] is True
    assert body["checks"] == {"catalog_loaded": True, "models_warm": True, "store_reachable": True,
                              "not_draining": True, "not_overloaded": True}
    before = scrape((await get(node, "/metrics"))[1])
    assert before["xiaozhi_decoders_started_total"] == 0 and before["xiaozhi_node_sessions"] == 0
    assert before["xiaozhi_node_info{node_id=" + node.node_id.replace(":", "_") + "}"] == 1
    async with DeviceClient(ws_url(node)) as client:
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        during = scrape((await get(node, "/metrics"))[1])
        assert during["xiaozhi_node_sessions"] == 1 and during["xiaozhi_pipeline_active_streams"] == 1
        assert during["xiaozhi_decoders_started_total"] == 1          # a cold play decodes once
        # drain while the story plays: not ready at once, every device closed, nothing left behind
        took = await node.drain()
        status, body = await get(node, "/ready")
        assert status == 503 and body["checks"]["not_draining"] is False
        assert took < node.rt.config.fleet.drain_deadline_s
    await node.close()
    assert ffmpeg_children() == 0
    assert not [p for p in (tmp_path / "audio-cache").glob("*") if ".tmp-" in p.name]


async def test_operator_api_needs_the_token(make_config, start_node) -> None:
    closed = await start_node(make_config())
    status, body = await get(closed, "/api/devices")
    assert status == 404 and "OPERATOR_TOKEN" in body["error"]          # never open by default
    node = await start_node(make_config(fleet={"operator_token": TOKEN}))
    assert (await get(node, "/api/devices"))[0] == 401
    assert (await get(node, "/api/devices", **{"X-Operator-Token": TOKEN[:-1] + "X"}))[0] == 401
    async with DeviceClient(ws_url(node), device_id="aa:bb:cc:dd:ee:07") as client:
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        status, body = await get(node, "/api/devices", **{"X-Operator-Token": TOKEN})
        assert status == 200 and body["count"] == 1
        assert body["devices"][0]["device_id"] == "aa:bb:cc:dd:ee:07" and body["devices"][0]["node"] == node.node_id
        status, one = await get(node, "/api/devices/aa:bb:cc:dd:ee:07", Authorization=f"Bearer {TOKEN}")
        assert status == 200 and one["device_id"] == "aa:bb:cc:dd:ee:07"
        assert (await get(node, "/api/devices/nobody", **{"X-Operator-Token": TOKEN}))[0] == 404


def _fleet_cfg(make_config, redis_url: str, node_id: str, audio: dict[str, Any] | None = None, **fleet: Any) -> Any:
    return make_config(state={"url": redis_url}, audio=audio or {},
                       fleet={"node_id": node_id, "heartbeat_s": 0.2, "node_ttl_s": 1.0, "max_cpu": 1.0,
                              "max_sessions": 10, **fleet})


async def _wait_sessions(node: Node, other: Node, n: int) -> None:
    async with asyncio.timeout(10):
        while not any(x.id == node.node_id and x.sessions == n for x in await other.fleet.nodes()):
            await asyncio.sleep(0.05)


async def _next_report(node: Node, observer: Node) -> None:
    """Wait until `node` has reported again (devices routed before that are then counted by the node itself)."""
    def at(nodes: list[Any]) -> float:
        return next((x.at for x in nodes if x.id == node.node_id), 0.0)
    first = at(await observer.fleet.nodes())
    async with asyncio.timeout(10):
        while at(await observer.fleet.nodes()) == first:
            await asyncio.sleep(0.05)


async def test_ota_routes_to_the_least_loaded_live_node_never_a_draining_one(
        redis_server: RedisServer, make_config, start_node, caplog_loguru) -> None:
    a = await start_node(_fleet_cfg(make_config, redis_server.url, "node-a"))
    b = await start_node(_fleet_cfg(make_config, redis_server.url, "node-b"))
    url_a, url_b = ws_url(a), ws_url(b)
    async with DeviceClient(url_a, device_id="aa:00:00:00:00:01"):
        await _wait_sessions(a, b, 1)                # A reports one device, B none
        assert await ota(a) == url_b
        assert any("OTA config for device 'aa:bb:cc:00:00:01' (firmware 1.6.0): node node-b" in line
                   for line in caplog_loguru)
        assert await ota(b) == url_b
        # a burst between two reports: devices already sent to B count, so the burst is spread over both
        await _next_report(b, a)
        burst = [await ota(a) for _ in range(6)]
        assert burst[0] == url_b and set(burst) == {url_a, url_b}
        async with DeviceClient(url_b, device_id="aa:00:00:00:00:02"), \
                DeviceClient(url_b, device_id="aa:00:00:00:00:03"):
            await _wait_sessions(b, a, 2)            # now B is the busier one
            await _next_report(a, b)
            assert await ota(b) == url_a
            await a.drain()                          # A drains: never handed out again
            assert {await ota(b) for _ in range(5)} == {url_b}
            assert {await ota(a) for _ in range(3)} == {url_b}


async def test_duplicate_node_id_is_refused_at_start(redis_server: RedisServer, make_config, start_node) -> None:
    await start_node(_fleet_cfg(make_config, redis_server.url, "node-a"))
    with pytest.raises(NodeStartError, match="already used by a live node"):
        await Node.start(_fleet_cfg(make_config, redis_server.url, "node-a"))
    assert ffmpeg_children() == 0


async def test_redis_down_at_start(make_config, start_node) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(NodeStartError, match="REDIS_URL"):
        await Node.start(_fleet_cfg(make_config, url, "node-a"))
    node = await start_node(_fleet_cfg(make_config, url, "node-a", redis_fallback=True))
    assert node.fleet is None and (await get(node, "/ready"))[0] == 200


async def test_redis_lost_while_serving_playback_goes_on(redis_server: RedisServer, make_config, start_node,
                                                         caplog_loguru) -> None:
    import redis.asyncio as aioredis
    node = await start_node(_fleet_cfg(make_config, redis_server.url, "node-a"))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:09") as client:
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        redis_server.kill()
        heard = len(client.audio)
        await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > heard + 40, timeout=10)  # 2.4 s on
        status, body = await get(node, "/ready")
        assert status == 503 and body["checks"]["store_reachable"] is False
        assert await ota(node) == ws_url(node)                # no registry: a node answers its own URL
        redis_server.start()                                   # back (empty): the node registers itself again
        r = aioredis.Redis.from_url(redis_server.url)
        try:
            async with asyncio.timeout(15):
                while not await r.exists("xz:node:node-a"):
                    await asyncio.sleep(0.05)
                while (await get(node, "/ready"))[0] != 200:
                    await asyncio.sleep(0.05)
        finally:
            await r.aclose()
        assert client.ws is not None and client.ws.close_code is None       # the device never noticed
    assert any("cannot report to Redis" in line for line in caplog_loguru)
    assert any("reports again" in line for line in caplog_loguru)
    assert not [line for line in caplog_loguru if "Traceback" in line or "session failed" in line]


async def test_a_recogniser_backlog_makes_the_node_not_ready_until_it_drains(make_config, start_node) -> None:
    """Speech queued past `fleet.max_asr_waiting` marks the node overloaded (/ready 503, OTA routes elsewhere)."""
    import numpy as np

    from tests.voice_fixtures import GatedWhisperASR, GatedWhisperModel
    node = await start_node(make_config(fleet={"max_asr_waiting": 2}))
    model = GatedWhisperModel()
    node.rt.asr = asr = GatedWhisperASR(node.rt.config.voice.asr.__class__(max_concurrent=1), model)
    pcm = np.full(1600, 0.01 * 32768, np.float32).astype(np.int16).tobytes()
    jobs = [asyncio.create_task(asr.transcribe(pcm, device=f"d{i}")) for i in range(3)]
    assert await model.wait_started()                          # one decoding, two queued
    assert asr.waiting == 2 and node.load_report()["asr_waiting"] == 2
    status, body = await get(node, "/ready")
    assert status == 503 and body["checks"]["not_overloaded"] is False
    with model.lock:
        model.auto = True
        for gate in model.gates:
            gate.set()
    await asyncio.gather(*jobs)
    assert asr.waiting == 0 and (await get(node, "/ready"))[0] == 200


async def test_a_node_past_its_audio_budget_is_not_ready_and_ota_sends_new_devices_elsewhere(
        redis_server: RedisServer, make_config, start_node) -> None:
    """One cold stream fills node A's audio budget (`audio.transcode_cost` x `audio.cold_cpu_share` sized to one): A
    reports itself overloaded, /ready says so, and both nodes' OTA answers name B."""
    one_cold_stream = {"transcode_cost": 1.0, "cold_cpu_share": 0.05}
    a = await start_node(_fleet_cfg(make_config, redis_server.url, "node-a", audio=one_cold_stream))
    b = await start_node(_fleet_cfg(make_config, redis_server.url, "node-b"))
    url_a, url_b = ws_url(a), ws_url(b)
    assert a.rt.pipeline.slots.limit == 1
    async with DeviceClient(url_a, device_id="aa:00:00:00:00:11") as client:
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        status, body = await get(a, "/ready")
        assert status == 503 and body["checks"]["not_overloaded"] is False
        async with asyncio.timeout(10):
            while not any(x.id == "node-a" and x.overloaded for x in await b.fleet.nodes()):
                await asyncio.sleep(0.05)
        assert {await ota(a) for _ in range(5)} == {url_b}
        assert {await ota(b) for _ in range(5)} == {url_b}
    async with asyncio.timeout(10):                  # the song stopped: A is eligible again
        while (await get(a, "/ready"))[0] != 200:
            await asyncio.sleep(0.05)
