"""Nodes as separate processes (`app.py serve`) sharing one real redis-server: SIGTERM drains a node and devices
find the other through OTA; SIGKILL takes a node out of routing within its TTL; start-up refusals."""
from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from core.device_client import DeviceClient
from tests.fleet_fixtures import NodeProcess, RedisServer, free_port, redis_server  # noqa: F401

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def two_nodes(redis_server: RedisServer, tone_catalog: Path, tmp_path: Path) -> Iterator[tuple[NodeProcess, ...]]:
    nodes = (NodeProcess(tmp_path, tone_catalog, redis_server.url, "node-a"),
             NodeProcess(tmp_path, tone_catalog, redis_server.url, "node-b"))
    try:
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_ready()
        yield nodes
    finally:
        for n in nodes:
            n.stop()


async def ota(node: NodeProcess, device_id: str = "aa:bb:cc:00:00:09") -> str:
    async with aiohttp.ClientSession() as s, s.post(f"{node.http_url}/xiaozhi/ota/", json={},
                                                    headers={"Device-Id": device_id, "Client-Id": "c"}) as r:
        return str((await r.json())["websocket"]["url"])


async def test_sigterm_drains_and_the_device_moves_to_the_other_node(two_nodes: tuple[NodeProcess, ...]) -> None:
    a, b = two_nodes
    client = DeviceClient(a.ws_url, device_id="aa:bb:cc:00:00:09")
    await client.connect()
    await client.send_text_request("play long lullaby")
    await client.wait_for(lambda r: r.kind == "audio", timeout=30)
    assert a.proc is not None
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    # the device is closed with a going-away / service-restart code, so it reconnects (through OTA) elsewhere
    assert client.ws is not None
    async with asyncio.timeout(12):
        await client.ws.wait_closed()
    assert client.ws.close_code in (1001, 1012)
    assert await asyncio.to_thread(a.proc.wait, 15) == 0
    assert time.monotonic() - t0 < 10.0 + 2.0                  # within the drain deadline (10 s) and exit
    out = a.output()
    assert "SIGTERM: draining" in out and "node node-a drained in" in out and "left the registry" in out
    assert "Traceback" not in out
    # the device asks OTA (node-a is gone: it asks node-b) and gets node-b, then plays there
    assert {await ota(b) for _ in range(5)} == {b.ws_url}
    async with DeviceClient(b.ws_url, device_id="aa:bb:cc:00:00:09") as again:
        await again.send_text_request("play baa baa black sheep")
        await again.wait_json("tts", "stop", timeout=30)
        assert len(again.audio) > 30


async def test_sigkill_node_leaves_routing_within_its_ttl(two_nodes: tuple[NodeProcess, ...],
                                                          redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis
    a, b = two_nodes
    assert a.proc is not None
    urls = {await ota(b, f"aa:bb:cc:00:01:{i:02x}") for i in range(20)}
    assert urls == {a.ws_url, b.ws_url}                      # both idle: devices are spread over both
    a.proc.kill()
    a.proc.wait(10)
    t0 = time.monotonic()
    r = aioredis.Redis.from_url(redis_server.url)
    try:
        while await r.exists("xz:node:node-a"):       # its registry entry expires (node_ttl_s = 1 s)
            assert time.monotonic() - t0 < 3.0, "a killed node stayed in the registry past its TTL"
            await asyncio.sleep(0.05)
    finally:
        await r.aclose()
    assert {await ota(b) for _ in range(20)} == {b.ws_url}


def test_serve_refuses_a_duplicate_id_and_an_unreachable_redis(two_nodes: tuple[NodeProcess, ...],
                                                               tone_catalog: Path, tmp_path: Path) -> None:
    a, _ = two_nodes
    dup = NodeProcess(tmp_path / "dup", tone_catalog, "redis://unused", "node-a")
    redis_url = a.config.read_text().split("url: ")[1].split()[0]
    dup.start(env={"REDIS_URL": redis_url})                     # env REDIS_URL wins over the file
    assert dup.proc is not None and dup.proc.wait(60) == 1
    assert "node id 'node-a' is already used by a live node" in dup.output()
    down = NodeProcess(tmp_path / "down", tone_catalog, f"redis://:pw-secret@127.0.0.1:{free_port()}/0", "node-x")
    down.start()
    assert down.proc is not None and down.proc.wait(60) == 1
    out = down.output()
    assert "cannot reach Redis at redis://:***@127.0.0.1" in out and "REDIS_URL" in out and "pw-secret" not in out
