"""The rules API on real nodes on loopback: the lost-bus race with two nodes on a real redis-server (the holding
node's bus is cut, the parent changes the rules on the other node, the holding node saves twice), parents racing on
two nodes, a page that saw an older revision, and Redis away during a change. What the API answers must be what
happened: "live" only when the holding session heard of it, "pending" when it did not, 503 when nothing was saved."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from core.device_client import DeviceClient
from core.devices.redis_store import RedisStore
from core.node import Node
from tests.conftest import ws_url
from tests.fleet_fixtures import RedisServer

pytestmark = pytest.mark.timeout(120)
OP = "operator-token-0123456789abcdef"
PARENT = "parent-token-0123456789abcdef"


def fleet_config(make_config: Any, redis_url: str, node_id: str) -> Any:
    return make_config(state={"url": redis_url}, web={"enabled": True, "parent_token": PARENT},
                       player={"save_every_s": 1},
                       fleet={"operator_token": OP, "node_id": node_id, "heartbeat_s": 0.2, "node_ttl_s": 1.0,
                              "max_cpu": 1.0})


async def call(node: Node, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, f"http://127.0.0.1:{node.http_port}{path}", json=body,
                                                       headers={"X-Parent-Token": PARENT, **headers}) as r:
        return r.status, await r.json(), r.headers


async def subscribers(redis_url: str, channel: str) -> int:
    r = aioredis.Redis.from_url(redis_url)
    try:
        return int(dict(await r.pubsub_numsub(channel))[channel.encode()])
    finally:
        await r.aclose()


async def playing_on(node: Node, device: str, volume: int) -> DeviceClient:
    client = DeviceClient(ws_url(node), device_id=device, volume=volume)
    await client.__aenter__()
    await asyncio.wait_for(client.tools_listed.wait(), 5)
    await client.send_text_request("play long lullaby")                # 20 s: it plays through the whole test
    await client.wait_for(lambda r: r.kind == "audio", timeout=20)
    return client


async def test_a_lost_bus_message_leaves_the_new_rules_stored_and_the_api_says_pending(
        redis_server: RedisServer, make_config, start_node) -> None:
    a = await start_node(fleet_config(make_config, redis_server.url, "node-a"))
    b = await start_node(fleet_config(make_config, redis_server.url, "node-b"))
    assert a.fleet is not None and b.fleet is not None and isinstance(b.store, RedisStore)
    device = "aa:bb:cc:00:00:71"
    client = await playing_on(b, device, volume=60)
    try:
        await b.fleet.bus.close()                                   # node-b's subscription is cut; it still holds
        async with asyncio.timeout(5):
            while await subscribers(redis_server.url, "xz:bus:node-b"):
                await asyncio.sleep(0.05)
        status, body, _ = await call(a, "PUT", f"/api/devices/{device}/policy",
                                     {"max_volume": 30, "blocked_tags": ["scary"]})
        assert status == 200 and body["rev"] == 1
        assert body["applied"] == "pending" and body["reaches_device_within_s"] == b.policy_refresh_s
        saves = b.store.saves
        async with asyncio.timeout(15):                             # node-b saves the playing device twice
            while b.store.saves < saves + 2:
                await asyncio.sleep(0.05)
        assert client.volume == 60                                  # honest: the session did not hear of it
        stored = await a.store.load_policy(device)
        assert stored.rev == 1 and stored.rules["max_volume"] == 30 and stored.rules["blocked_tags"] == ["scary"]
        raw = aioredis.Redis.from_url(redis_server.url)
        try:
            assert b'"policy"' not in await raw.get(f"xz:dev:{device}")     # node-b's saves carry no rules
        finally:
            await raw.aclose()
        status, got, _ = await call(a, "GET", f"/api/devices/{device}/policy")
        assert got["rev"] == 1 and got["policy"]["max_volume"] == 30

        await b.fleet.bus.start()                                   # the bus is back
        async with asyncio.timeout(5):
            while not await subscribers(redis_server.url, "xz:bus:node-b"):
                await asyncio.sleep(0.05)
        status, body, _ = await call(a, "PUT", f"/api/devices/{device}/policy", {"max_volume": 25})
        assert status == 200 and body["applied"] == "live" and "reaches_device_within_s" not in body
        async with asyncio.timeout(5):                              # the holding session took it: the cap applies
            while client.volume != 25:
                await asyncio.sleep(0.05)
    finally:
        await client.__aexit__(None, None, None)
    assert (await a.store.load_policy(device)).rev == 2


async def test_parents_racing_on_two_nodes_all_land_or_hear_the_current_rules(
        redis_server: RedisServer, make_config, start_node) -> None:
    a = await start_node(fleet_config(make_config, redis_server.url, "node-a"))
    b = await start_node(fleet_config(make_config, redis_server.url, "node-b"))
    path = "/api/devices/aa:bb:cc:00:00:72/policy"
    results = await asyncio.gather(*(call(node, "PUT", path, {"max_volume": 10 + i})
                                     for i, node in enumerate([a, b] * 6)))
    landed = [body for status, body, _ in results if status == 200]
    refused = [body for status, body, _ in results if status == 409]
    assert landed and len(landed) + len(refused) == len(results)
    assert sorted(body["rev"] for body in landed) == list(range(1, len(landed) + 1))    # one after another
    for body in refused:                       # retried, then told what stands now
        assert body["field"] is None and body["rev"] >= 1 and "max_volume" in body["policy"]
    status, got, headers = await call(a, "GET", path)
    assert got["rev"] == len(landed) and len(got["audit"]) == len(landed) and headers["ETag"] == f'"{len(landed)}"'
    assert got["policy"]["max_volume"] in {body["policy"]["max_volume"] for body in landed}


async def test_a_page_that_saw_an_older_revision_gets_409_with_the_current_rules(make_config, start_node) -> None:
    node = await start_node(make_config(fleet={"operator_token": OP}, web={"enabled": True, "parent_token": PARENT}))
    path = "/api/devices/aa:bb:cc:00:00:73/policy"
    status, got, headers = await call(node, "GET", path)
    assert got["rev"] == 0 and headers["ETag"] == '"0"'
    status, body, _ = await call(node, "PUT", path, {"max_volume": 40}, **{"If-Match": '"0"'})
    assert status == 200 and body["rev"] == 1
    status, body, _ = await call(node, "PUT", path, {"max_volume": 90}, **{"If-Match": '"0"'})   # another tab
    assert status == 409 and body["field"] == "If-Match" and body["rev"] == 1
    assert body["policy"]["max_volume"] == 40 and body["audit"][0]["changes"] == {"max_volume": [None, 40]}
    assert (await call(node, "GET", path))[1]["policy"]["max_volume"] == 40              # nothing was saved
    status, body, _ = await call(node, "PUT", path, {"max_volume": 90}, **{"If-Match": "yesterday"})
    assert status == 400 and body["field"] == "If-Match"


async def test_redis_away_during_a_change_is_503_and_nothing_lands_later(redis_server: RedisServer, make_config,
                                                                         start_node) -> None:
    node = await start_node(fleet_config(make_config, redis_server.url, "node-a"))
    device = "aa:bb:cc:00:00:74"
    path = f"/api/devices/{device}/policy"
    client = await playing_on(node, device, volume=60)
    try:
        status, body, _ = await call(node, "PUT", path, {"max_volume": 50})
        assert status == 200 and body["applied"] == "live"
        async with asyncio.timeout(5):
            while client.volume != 50:
                await asyncio.sleep(0.05)
        redis_server.pause()
        try:
            status, body, headers = await call(node, "PUT", path, {"max_volume": 20})
            assert status == 503 and body["field"] is None and "nothing was changed" in body["error"]
            assert headers["Content-Security-Policy"] and headers["X-Request-Id"]
            heard = len(client.audio)
            await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > heard + 10, timeout=10)
        finally:
            redis_server.resume()
        await asyncio.sleep(1.5)                                    # time for anything queued to land (nothing is)
        stored = await node.store.load_policy(device)
        assert stored.rev == 1 and stored.rules["max_volume"] == 50 and client.volume == 50
        status, body, _ = await call(node, "PUT", path, {"max_volume": 20})    # the parent tries again
        assert status == 200 and body["rev"] == 2 and body["applied"] == "live"
        assert client.ws is not None and client.ws.close_code is None          # the device never noticed
    finally:
        await client.__aexit__(None, None, None)
