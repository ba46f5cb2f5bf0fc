"""Registry, bus and directory of the fleet against a real redis-server (two Fleet members in one process)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.config import FleetConfig
from core.devices.commands import Command, Delivery, SetVolume, StopNow
from core.devices.view import SessionView
from core.fleet.fleet import Fleet
from core.fleet.registry import DuplicateNode, NodeInfo, pick_node
from tests.fleet_fixtures import RedisServer

CFG = FleetConfig(heartbeat_s=0.2, node_ttl_s=0.6, takeover_timeout_s=2.0)


class FakeConnection:
    """An Owner as the directory sees it: evict() saves (records the order) and closes."""

    def __init__(self, device_id: str, log: list[str]) -> None:
        self.device_id = device_id
        self.log = log
        self.closed = asyncio.Event()
        self.commands: list[Command] = []

    async def evict(self, reason: str) -> None:
        await asyncio.sleep(0.05)                  # a save takes a moment
        self.log.append(f"saved {self.device_id}")
        self.closed.set()

    def command(self, cmd: Command) -> bool:
        self.commands.append(cmd)
        return True

    def view(self) -> SessionView:
        return view(self.device_id, "idle")


def view(device_id: str, state: str) -> SessionView:
    return SessionView(device_id=device_id, session_id="s-1", transport="websocket", state=state, conversation=state,
                       playback=state, listen_mode=None, now_playing=None, last_request="", last_match="",
                       connected_at=1.0e9)


def _load(sessions: int = 0, load: float = 0.0, **kw: Any) -> Any:
    return lambda: {"sessions": sessions, "streams": 0, "cpu": 0.0, "load": load, "draining": False,
                    "overloaded": False, **kw}


async def _join(url: str, node_id: str, *, report: Any = None, snaps: list[SessionView] | None = None,
                cfg: FleetConfig = CFG) -> Fleet:
    return await Fleet.join(url, cfg, node_id, f"ws://{node_id}.test:8000/xiaozhi/v1/", report=report or _load(),
                            snapshots=lambda dev: [s for s in (snaps or []) if dev in (None, s.device_id)])


async def test_registry_lists_live_nodes_and_expires_a_dead_one(redis_server: RedisServer) -> None:
    a = await _join(redis_server.url, "node-a", report=_load(sessions=5, load=0.5))
    b = await _join(redis_server.url, "node-b", report=_load(sessions=1, load=0.1))
    try:
        assert {n.id for n in await a.nodes()} == {"node-a", "node-b"}
        assert (await a.route()).id == "node-b"                          # type: ignore[union-attr]  # a node is up
        # node-b dies without leaving (no more heartbeats): gone from the registry after node_ttl_s
        await b.registry.stop_heartbeat()
        async with asyncio.timeout(5):
            while "node-b" in {n.id for n in await a.nodes()}:
                await asyncio.sleep(0.1)
        assert (await a.route()).id == "node-a"                          # type: ignore[union-attr]  # a node is up
        raw = aioredis.Redis.from_url(redis_server.url)
        assert await raw.smembers("xz:nodes") == {b"node-a"}            # the dead id left the set too
        await raw.aclose()
    finally:
        await a.close()
        await b.close()


async def test_a_second_node_with_the_same_id_is_refused(redis_server: RedisServer) -> None:
    a = await _join(redis_server.url, "node-a")
    try:
        with pytest.raises(DuplicateNode, match="NODE_ID"):
            await _join(redis_server.url, "node-a")
        beats = a.registry.beats
        assert [n.id for n in await a.nodes()] == ["node-a"]
        await asyncio.sleep(CFG.heartbeat_s * 3)               # the refused one did not disturb the first:
        assert a.registry.beats > beats                        # it still beats
        assert [n.id for n in await a.nodes()] == ["node-a"]
    finally:
        await a.close()
    b = await _join(redis_server.url, "node-a")               # after a clean leave the id is free at once
    await b.close()


def test_pick_node_never_chooses_a_draining_or_overloaded_node() -> None:
    nodes = [NodeInfo("a", "ws://a", load=0.0, draining=True), NodeInfo("b", "ws://b", load=0.01, overloaded=True),
             NodeInfo("c", "ws://c", load=0.7), NodeInfo("d", "ws://d", load=0.3)]
    assert {pick_node(nodes).id for _ in range(50)} == {"d"}             # type: ignore[union-attr]  # one is eligible
    assert pick_node(nodes[:2]) is None
    near = [NodeInfo("e", "ws://e", load=0.30), NodeInfo("f", "ws://f", load=0.31), NodeInfo("g", "ws://g", load=0.9)]
    assert {pick_node(near).id for _ in range(200)} == {"e", "f"}      # type: ignore[union-attr]  # two are eligible


async def test_takeover_waits_for_the_old_node_to_save(redis_server: RedisServer) -> None:
    a = await _join(redis_server.url, "node-a")
    b = await _join(redis_server.url, "node-b")
    log: list[str] = []
    try:
        first = FakeConnection("dev-1", log)
        await a.directory.claim(first)
        assert await b.directory.holder("dev-1") == "node-a"
        second = FakeConnection("dev-1", log)
        await b.directory.claim(second)          # returns only after node-a saved and closed its session
        log.append("claimed on b")
        assert log == ["saved dev-1", "claimed on b"] and first.closed.is_set()
        assert a.directory.local.owner("dev-1") is None and await a.directory.holder("dev-1") == "node-b"
        await a.directory.release(first)         # the old session ending does not drop b's lease
        assert await a.directory.holder("dev-1") == "node-b"
        await b.directory.release(second)
        assert await a.directory.holder("dev-1") is None
    finally:
        await a.close()
        await b.close()


async def test_lease_of_a_dead_node_is_not_waited_for(redis_server: RedisServer) -> None:
    a = await _join(redis_server.url, "node-a")
    b = await _join(redis_server.url, "node-b")
    try:
        await a.directory.claim(FakeConnection("dev-2", []))
        await a.close(leave=True)                # gone from the registry (as after expiry)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await b.directory.claim(FakeConnection("dev-2", []))
        assert loop.time() - t0 < 1.0 and await b.directory.holder("dev-2") == "node-b"
    finally:
        await b.close()


async def test_malformed_bus_messages_are_logged_and_ignored(redis_server: RedisServer, caplog_loguru) -> None:
    a = await _join(redis_server.url, "node-a")
    b = await _join(redis_server.url, "node-b")
    log: list[str] = []
    try:
        conn = FakeConnection("dev-3", log)
        await a.directory.claim(conn)
        raw = aioredis.Redis.from_url(redis_server.url)
        for junk in (b"\xff\x00", b"[1,2]", b'{"v":1,"type":"takeover","from":"x"}', b'{"v":9,"type":"stop"}',
                     b'{"v":1,"type":"command","from":"node-b","device_id":"dev-3",'
                     b'"command":{"name":"volume","level":900}}',
                     b'{"v":1,"type":"nope","from":"x"}', b"x" * 10):
            assert await raw.publish("xz:bus:node-a", junk) == 1
        await raw.aclose()
        # the bus still works: a valid command after the junk arrives and is applied
        assert await b.command("dev-3", SetVolume(30)) is Delivery.TAKEN
        async with asyncio.timeout(5):
            while not conn.commands:
                await asyncio.sleep(0.02)
        assert conn.commands == [SetVolume(30)] and not conn.closed.is_set()
        assert a.bus.malformed == 7
        assert any("ignored a malformed message" in line for line in caplog_loguru)
        assert await a.command("dev-3", StopNow()) is Delivery.TAKEN          # local device: applied here
        assert conn.commands[-1] == StopNow()
        assert await a.command("nobody", StopNow()) is Delivery.NOT_HELD
    finally:
        await a.close()
        await b.close()


async def test_devices_query_spans_the_fleet(redis_server: RedisServer) -> None:
    a = await _join(redis_server.url, "node-a", snaps=[view("dev-a", "playing")])
    b = await _join(redis_server.url, "node-b", snaps=[view("dev-b", "idle")])
    try:
        found = await a.devices()
        assert sorted((v.device_id, node) for node, v in found) == [("dev-a", "node-a"), ("dev-b", "node-b")]
        assert await a.devices("dev-b") == [("node-b", view("dev-b", "idle"))]     # the whole view, checked
        assert await a.devices("nobody") == []
    finally:
        await a.close()
        await b.close()
