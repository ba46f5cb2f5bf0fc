"""The household's rules as a record of their own, in every store, against real backends (SQLite files, a real
redis-server): records written in the older shape read unchanged and move out of the state record, a session's save
never writes rules, a revision compare-and-set under racing writers, and Redis away during a rules write."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from core.devices import policy as rules
from core.devices.policy import PolicyRecord
from core.devices.redis_store import RedisStore
from core.devices.state import DeviceState, PlaybackState
from core.devices.store import (
    POLICY_WRITE_ATTEMPTS,
    DeviceStore,
    MemoryStore,
    PolicyChange,
    PolicyConflict,
    PolicyUnavailable,
    PolicyWritten,
    SqliteStore,
)
from tests.fleet_fixtures import RedisServer

pytestmark = pytest.mark.timeout(60)
DEV = "aa:bb:cc:00:00:61"
AUDIT = [{"at": 1.7e9, "who": "parent", "from": "192.168.1.20", "changes": {"max_volume": [80, 70]}}]
# A device record as the code before the split wrote it: the rules inside the state, with their revision and trail.
OLD_SHAPE = {
    "device_id": DEV, "schema": 1,
    "item": {"uid": "stories/Bedtime/moon.mp3", "kind": "story", "title": "The Moon", "position_ms": 61000,
             "etag": "e1", "duration_ms": 120000},
    "playing": False, "paused": True, "queue": [], "index": -1, "continuous": False, "repeat": "off",
    "shuffle": False, "timer": None, "history": [], "favourites": ["stories/Bedtime/moon.mp3"], "volume": 40,
    "policy": {"bedtime": {"mon": {"start": "19:30", "end": "07:00"}}, "sleep_collections": ["Bedtime"],
               "daily_limit_min": 60, "max_volume": 70, "allowed_collections": [], "blocked_tags": ["scary"],
               "sleep_timer_min": None, "utc_offset_min": 330, "rev": 3, "audit": AUDIT},
    "updated_at": 1.7e9, "listened_day": "", "listened_s": 0.0,
}


def rules_of(**values: object) -> dict[str, object]:
    return rules.to_dict(rules.parse(values))


def setting(max_volume: int, who: str) -> PolicyChange:
    def change(current: PolicyRecord) -> PolicyRecord:
        return PolicyRecord(current.rev + 1, rules_of(max_volume=max_volume), ({"who": who}, *current.audit))
    return change


async def check_old_shape_moves_out(store: DeviceStore, raw_state: object) -> None:
    record = await store.load_policy(DEV)          # read unchanged, before anything moved
    assert record.rev == 3 and [dict(a) for a in record.audit] == AUDIT
    assert record.rules == {k: v for k, v in OLD_SHAPE["policy"].items() if k in rules.RULE_KEYS}
    state = await store.load(DEV)                   # the session's load
    assert state.item is not None and state.item.position_ms == 61000 and state.playback is PlaybackState.PAUSED
    assert state.volume == 40
    assert await store.save(state)                  # the session's save: no rules in it any more
    assert '"policy"' not in raw_state() and '"scary"' not in raw_state()   # type: ignore[operator]  # a reader
    assert await store.load_policy(DEV) == record   # the rules held: they have a record of their own now
    written = await store.update_policy(DEV, setting(50, "parent"))
    assert isinstance(written, PolicyWritten) and written.record.rev == 4
    assert [a["who"] for a in written.record.audit] == ["parent", "parent"]   # the older trail kept
    assert '"policy"' not in raw_state()            # type: ignore[operator]  # a reader


async def test_an_old_shape_record_in_sqlite_reads_unchanged_and_moves_out(tmp_path: Path) -> None:
    db_path = tmp_path / "devices.db"
    store = await SqliteStore(db_path).open()
    db = sqlite3.connect(db_path)
    db.execute("INSERT INTO devices (device_id, state, updated_at) VALUES (?, ?, 0)", (DEV, json.dumps(OLD_SHAPE)))
    db.commit()

    def raw_state() -> str:
        return str(db.execute("SELECT state FROM devices WHERE device_id = ?", (DEV,)).fetchone()[0])
    try:
        await check_old_shape_moves_out(store, raw_state)
    finally:
        db.close()
        await store.close()


async def test_an_old_shape_record_in_redis_reads_unchanged_and_moves_out(redis_server: RedisServer) -> None:
    store = await RedisStore.connect(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(f"xz:dev:{DEV}", json.dumps(OLD_SHAPE))
    try:
        await check_old_shape_moves_out(store, lambda: raw.get(f"xz:dev:{DEV}").decode())   # type: ignore[union-attr]
    finally:
        raw.close()
        await store.close()


async def test_a_sessions_save_never_writes_rules(tmp_path: Path) -> None:
    for store in (MemoryStore(), await SqliteStore(tmp_path / "devices.db").open()):
        assert isinstance(await store.update_policy(DEV, setting(30, "parent")), PolicyWritten)
        assert await store.save(DeviceState(DEV, volume=20))           # a session's save: the state alone
        assert (await store.load_policy(DEV)).rules["max_volume"] == 30
        loaded = await store.load(DEV)
        assert loaded.volume == 20 and (await store.load_policy(DEV)).rev == 1
        await store.close()


async def test_a_stale_revision_is_a_conflict_and_writes_nothing(tmp_path: Path) -> None:
    for store in (MemoryStore(), await SqliteStore(tmp_path / "devices.db").open()):
        first = await store.update_policy(DEV, setting(30, "parent"), expect_rev=0)
        assert isinstance(first, PolicyWritten) and first.record.rev == 1
        late = await store.update_policy(DEV, setting(80, "operator"), expect_rev=0)   # a page loaded before
        assert isinstance(late, PolicyConflict) and late.current == first.record
        assert await store.load_policy(DEV) == first.record
        await store.close()


async def test_sqlite_writers_in_two_processes_views_all_land_in_order(tmp_path: Path) -> None:
    a = await SqliteStore(tmp_path / "devices.db").open()
    b = await SqliteStore(tmp_path / "devices.db").open()        # another worker on the same file
    try:
        results = await asyncio.gather(*(store.update_policy(DEV, setting(10 + i, f"w{i}"))
                                         for i, store in enumerate([a, b] * 10)))
        assert all(isinstance(r, PolicyWritten) for r in results)
        revs = sorted(r.record.rev for r in results if isinstance(r, PolicyWritten))
        assert revs == list(range(1, 21))                              # each write saw the one before it
        final = await b.load_policy(DEV)
        assert final.rev == 20 and len(final.audit) == rules.MAX_AUDIT
        assert {a["who"] for a in final.audit} == {f"w{i}" for i in range(20)}   # nobody's change was lost
    finally:
        await a.close()
        await b.close()


async def test_a_racing_writer_in_redis_is_retried_then_reported(redis_server: RedisServer) -> None:
    store = await RedisStore.connect(redis_server.url)
    racer = redis.Redis.from_url(redis_server.url)              # another node's policy API, writing in between
    key = store.policy_key(DEV)
    calls = 0

    def race(times: int, max_volume: int) -> PolicyChange:
        def change(current: PolicyRecord) -> PolicyRecord:
            nonlocal calls
            calls += 1
            if calls <= times:
                other = PolicyRecord(current.rev + 1, rules_of(max_volume=20), ({"who": "other"}, *current.audit))
                racer.set(key, other.to_json())
            return PolicyRecord(current.rev + 1, rules_of(max_volume=max_volume), ({"who": "me"}, *current.audit))
        return change
    try:
        written = await store.update_policy(DEV, race(1, 40))
        assert isinstance(written, PolicyWritten) and calls == 2              # retried once ...
        assert written.record.rev == 2 and written.record.rules["max_volume"] == 40
        assert [a["who"] for a in written.record.audit] == ["me", "other"]    # ... on top of the other change
        calls = 0
        lost = await store.update_policy(DEV, race(POLICY_WRITE_ATTEMPTS, 45))
        assert isinstance(lost, PolicyConflict) and calls == POLICY_WRITE_ATTEMPTS
        assert lost.current.rev == 2 + POLICY_WRITE_ATTEMPTS and lost.current.rules["max_volume"] == 20
        assert await store.load_policy(DEV) == lost.current                  # the winner's record stands
    finally:
        racer.close()
        await store.close()


async def test_redis_away_during_a_rules_write_fails_at_once_and_queues_nothing(redis_server: RedisServer) -> None:
    store = await RedisStore.connect(redis_server.url)
    try:
        before = await store.update_policy(DEV, setting(30, "parent"))
        assert isinstance(before, PolicyWritten)
        assert await store.save(DeviceState(DEV, volume=10))
        redis_server.pause()
        started = time.monotonic()
        failed = await store.update_policy(DEV, setting(90, "parent"))
        assert isinstance(failed, PolicyUnavailable) and "Redis" in failed.reason
        assert time.monotonic() - started < 10
        assert await store.save(DeviceState(DEV, volume=11)) is False          # a session's save waits in order
        assert store.pending == 1
        redis_server.resume()
        async with asyncio.timeout(20):
            while store.pending:
                await asyncio.sleep(0.05)
        check = aioredis.Redis.from_url(redis_server.url)
        try:
            assert PolicyRecord.from_json(await check.get(store.policy_key(DEV))) == before.record   # unchanged
            assert DeviceState.from_json(await check.get(store.key(DEV)), DEV).volume == 11          # landed
        finally:
            await check.aclose()
        assert (await store.load_policy(DEV)).rules["max_volume"] == 30        # the refused change never landed
    finally:
        await store.close()
