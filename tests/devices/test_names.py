"""A device's household name and the household's device list, in every store against real backends (a SQLite file, a
real redis-server): the name lives in the rules record (a session never writes it), records written before names
existed read as unnamed and keep their rules and trail when named, and each store lists the devices it knows."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.devices import policy as rules
from core.devices.policy import PolicyRecord
from core.devices.redis_store import RedisStore
from core.devices.state import DeviceState
from core.devices.store import DeviceStore, MemoryStore, PolicyWritten, SqliteStore
from tests.fleet_fixtures import RedisServer

pytestmark = pytest.mark.timeout(60)
DEV = "aa:bb:cc:00:00:71"
AUDIT = [{"at": 1.7e9, "who": "parent", "from": "192.168.1.20", "changes": {"max_volume": [80, 70]}}]
RULES = rules.to_dict(rules.parse({"max_volume": 70, "bedtime": {"mon": {"start": "19:30", "end": "07:00"}}}))
# A rules record as written before names existed, and a device state that still kept its rules inside itself.
NAMELESS = json.dumps({"rev": 3, "rules": RULES, "audit": AUDIT})
LEGACY_STATE = json.dumps({"device_id": DEV, "schema": 1, "volume": 40, "updated_at": 1.7e9,
                           "policy": {**RULES, "rev": 2, "audit": AUDIT}})


def naming(name: str) -> Callable[[PolicyRecord], PolicyRecord]:
    def change(current: PolicyRecord) -> PolicyRecord:
        entry = {"who": "parent", "by": "Mum", "changes": {"name": [current.name, name]}}
        return PolicyRecord(current.rev + 1, current.rules, (entry, *current.audit), name)
    return change


Plant = Callable[[str, str], Awaitable[None]]      # (which: "policy" | "state", raw JSON) -> stored as-is


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[DeviceStore, Plant]]:
    """A real store and a way to write a raw record into it the way older code did."""
    if request.param == "sqlite":
        path = tmp_path / "devices.db"
        store = await SqliteStore(path).open()

        async def plant_sqlite(which: str, raw: str) -> None:
            db = sqlite3.connect(path)
            if which == "policy":
                db.execute("INSERT INTO policies (device_id, rev, record, updated_at) VALUES (?, 3, ?, 0)", (DEV, raw))
            else:
                db.execute("INSERT INTO devices (device_id, state, updated_at) VALUES (?, ?, 0)", (DEV, raw))
            db.commit()
            db.close()
        yield store, plant_sqlite
        await store.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    redis_store = await RedisStore.connect(server.url)
    raw_client = aioredis.Redis.from_url(server.url)

    async def plant_redis(which: str, raw: str) -> None:
        await raw_client.set(redis_store.policy_key(DEV) if which == "policy" else redis_store.key(DEV), raw)
    yield redis_store, plant_redis
    await raw_client.aclose()
    await redis_store.close()


def test_a_record_without_a_name_reads_as_unnamed_and_a_bad_one_too() -> None:
    assert PolicyRecord.from_json(NAMELESS).name == "" and PolicyRecord.from_json(NAMELESS).rev == 3
    named = PolicyRecord(4, RULES, (), "Asha's room")
    assert PolicyRecord.from_json(named.to_json()) == named
    for bad in (42, "x" * 200, "tab\there", ["a"]):
        spoiled = json.loads(named.to_json()) | {"name": bad}
        back = PolicyRecord.from_json(json.dumps(spoiled))
        assert back.name == "" and back.rules == RULES             # the rules survive an odd name
    assert rules.device_name("  Asha's   room ") == "Asha's room"
    assert rules.device_name("") == "" and rules.device_name("माँ का कमरा") == "माँ का कमरा"
    for bad in (5, "x" * 41, "line\nbreak"):
        with pytest.raises(rules.PolicyError) as err:
            rules.device_name(bad)
        assert err.value.field == "name"
    with pytest.raises(rules.PolicyError):
        rules.changed_by("Mum\x00")


async def test_a_nameless_rules_record_is_named_keeping_its_rules_and_trail(backend) -> None:
    store, plant = backend
    await plant("policy", NAMELESS)
    before = await store.load_policy(DEV)
    assert before.name == "" and before.rev == 3 and before.rules == RULES
    written = await store.update_policy(DEV, naming("Asha's room"))
    assert isinstance(written, PolicyWritten)
    after = await store.load_policy(DEV)
    assert after.name == "Asha's room" and after.rev == 4 and after.rules == RULES
    assert [dict(a) for a in after.audit][1:] == AUDIT                     # the older trail kept
    assert await store.save(DeviceState(DEV, volume=20))                   # a session's save
    assert (await store.load_policy(DEV)).name == "Asha's room"            # never touches the name


async def test_rules_kept_inside_an_old_state_record_are_named_too(backend) -> None:
    store, plant = backend
    await plant("state", LEGACY_STATE)
    assert (await store.load_policy(DEV)).name == ""
    written = await store.update_policy(DEV, naming("Kitchen"))
    assert isinstance(written, PolicyWritten) and written.record.rev == 3
    after = await store.load_policy(DEV)
    assert after.name == "Kitchen" and after.rules == RULES
    assert (await store.load(DEV)).volume == 40                            # the state itself is untouched


async def test_each_store_lists_the_devices_it_knows(backend) -> None:
    store, _ = backend
    assert await store.known_devices(10) == []
    await store.save(DeviceState("aa:bb:cc:00:00:01", updated_at=1.0e9))
    await store.update_policy("aa:bb:cc:00:00:02", naming("Nursery"))       # rules only, never connected
    await store.save(DeviceState("aa:bb:cc:00:00:03", updated_at=1.0e9))
    assert sorted(await store.known_devices(10)) == ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03"]
    assert len(await store.known_devices(2)) == 2 and await store.known_devices(0) == []
    await store.update_policy("aa:bb:cc:00:00:03", naming("Den"))          # in both tables: listed once
    assert sorted(await store.known_devices(10)) == ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03"]


async def test_sqlite_and_memory_list_the_most_recently_written_first(tmp_path: Path) -> None:
    for store in (MemoryStore(), await SqliteStore(tmp_path / "devices.db").open()):
        await store.save(DeviceState("aa:bb:cc:00:00:01", updated_at=1.0e9))
        await store.save(DeviceState("aa:bb:cc:00:00:02", updated_at=1.1e9))
        await store.update_policy("aa:bb:cc:00:00:01", naming("Nursery"))    # written now: newest
        assert await store.known_devices(10) == ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"]
        await store.close()
