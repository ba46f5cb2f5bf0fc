"""RedisStore against a real redis-server: round trip, corrupt records, Redis killed and restarted mid-run."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from core.devices.backends import open_store
from core.devices.redis_store import RedisStore, StoreUnavailable
from core.devices.state import DeviceState, Item, Play, PlaybackState
from core.metrics import Metrics
from tests.fleet_fixtures import RedisServer, free_port


def _story(device_id: str, position_ms: int) -> DeviceState:
    return DeviceState(device_id, item=Item("stories/Bedtime/moon.mp3", "story", "The Moon", position_ms=position_ms),
                       playback=PlaybackState.PLAYING,
                       history=(Play("stories/Bedtime/moon.mp3", "story", "The Moon", 1.0e9, 5),),
                       volume=40, updated_at=1.0e9)


async def test_round_trip_through_open_store(redis_server: RedisServer) -> None:
    store = await open_store(redis_server.url)
    try:
        assert isinstance(store, RedisStore) and await store.ping()
        assert await store.load("aa:bb:cc:dd:ee:01") == DeviceState("aa:bb:cc:dd:ee:01")   # unknown: empty
        state = _story("aa:bb:cc:dd:ee:01", 73_400)
        assert await store.save(state) is True
        other = await open_store(redis_server.url)       # another node reads what this one saved
        try:
            assert await other.load("aa:bb:cc:dd:ee:01") == state
        finally:
            await other.close()
    finally:
        await store.close()


async def test_corrupt_and_oversize_records_read_as_empty(redis_server: RedisServer, caplog_loguru) -> None:
    raw = aioredis.Redis.from_url(redis_server.url)
    await raw.set("xz:dev:bad-json", b"{not json")
    await raw.set("xz:dev:bad-utf8", b"\xff\xfe\x00")
    await raw.set("xz:dev:bad-type", b'{"item": {"uid": 5}}')
    await raw.set("xz:dev:huge", b'"' + b"x" * 300_000 + b'"')
    await raw.aclose()
    store = await RedisStore.connect(redis_server.url)
    try:
        for dev in ("bad-json", "bad-utf8", "bad-type", "huge"):
            assert await store.load(dev) == DeviceState(dev)
        assert sum("unusable" in line for line in caplog_loguru) == 4
        assert await store.save(_story("bad-json", 1000))           # a good save replaces the corrupt record
        assert (await store.load("bad-json")).item.position_ms == 1000   # type: ignore[union-attr]  # has an item
        assert await store.save(DeviceState("x" * 500)) is False    # absurd ids are never written
    finally:
        await store.close()


async def test_redis_killed_mid_run_writes_wait_and_land_in_order(redis_server: RedisServer, caplog_loguru) -> None:
    metrics = Metrics()
    store = await RedisStore.connect(redis_server.url, metrics=metrics)
    try:
        assert await store.save(_story("dev-1", 1_000))
        redis_server.kill()
        # playback goes on: saves return at once (False), the newest state per device is kept in order
        for pos in (2_000, 3_000, 4_000):
            assert await store.save(_story("dev-1", pos)) is False
        assert await store.save(_story("dev-2", 9_000)) is False
        assert store.pending == 2
        assert (await store.load("dev-1")).item.position_ms == 4_000   # type: ignore[union-attr]  # has an item
        assert await store.ping() is False
        assert any("retrying in the background" in line for line in caplog_loguru)
        failed = store.failures
        async with asyncio.timeout(10):
            while store.failures == failed:              # the background task has retried and failed once more
                await asyncio.sleep(0.02)
        # Redis comes back (empty, on the same port): the retry task writes the newest states
        redis_server.start()
        async with asyncio.timeout(15):
            while store.pending:
                await asyncio.sleep(0.05)
        check = await RedisStore.connect(redis_server.url)
        try:
            assert (await check.load("dev-1")).item.position_ms == 4_000   # type: ignore[union-attr]  # has an item
            assert (await check.load("dev-2")).item.position_ms == 9_000   # type: ignore[union-attr]  # has an item
        finally:
            await check.close()
        assert any("Redis answers again" in line for line in caplog_loguru)
        assert await store.save(_story("dev-1", 5_000)) is True      # direct writes again
        text = metrics.exposition().decode()
        assert 'xiaozhi_store_errors_total{op="retry"}' in text           # failed background retries counted
        assert 'xiaozhi_store_latency_seconds_count{op="retry"}' in text
    finally:
        await store.close()


async def test_redis_down_at_start_names_redis_url() -> None:
    with pytest.raises(StoreUnavailable, match="REDIS_URL") as err:
        await RedisStore.connect(f"redis://:hunter2secret@127.0.0.1:{free_port()}/0")
    assert "hunter2secret" not in str(err.value)


async def test_a_device_loaded_during_an_outage_never_overwrites_its_saved_record(redis_server: RedisServer) -> None:
    store = await RedisStore.connect(redis_server.url)
    try:
        saved = _story("dev-3", 61_000)
        assert await store.save(saved)
        redis_server.kill()
        assert await store.load("dev-3") == DeviceState("dev-3")       # unreadable: a fresh session starts
        redis_server.start()                                            # back, with the record (as if persisted)
        raw = aioredis.Redis.from_url(redis_server.url)
        await raw.set("xz:dev:dev-3", saved.to_json())
        assert await store.save(_story("dev-3", 2_000)) is True         # the blind session's save ...
        assert DeviceState.from_json(await raw.get("xz:dev:dev-3"), "dev-3") == saved   # ... keeps the record
        assert await store.load("dev-3") == saved                       # a read succeeds: normal saves again
        assert await store.save(_story("dev-3", 3_000))
        assert (await store.load("dev-3")).item.position_ms == 3_000   # type: ignore[union-attr]  # has an item
        await raw.aclose()
    finally:
        await store.close()
