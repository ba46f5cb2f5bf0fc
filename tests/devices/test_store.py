"""Device state on disk: SQLite round trips, and every way the file or a record can be bad."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from core.devices.backends import open_store
from core.devices.state import DeviceState, Item, Play, PlaybackState, Repeat, StateError, Timer
from core.devices.store import MemoryStore, SqliteStore


def state(device_id: str = "aa:bb:cc:dd:ee:ff") -> DeviceState:
    return DeviceState(device_id, item=Item("story/Bedtime/x.mp3", "story", "X", 61_000, "e1", 120_000),
                       playback=PlaybackState.PAUSED, queue=("story/Bedtime/x.mp3", "story/Bedtime/y.mp3"), index=0,
                       continuous=True,
                       repeat=Repeat.ALL, shuffle=True, timer=Timer(after_item=True),
                       history=(Play("story/Bedtime/x.mp3", "story", "X", 1.7e9, 61_000),), favourites=("u",),
                       volume=40)


async def test_round_trip_survives_a_new_process_view(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:{tmp_path / 'sub' / 'devices.db'}")    # the folder is created
    assert await store.load("aa:bb:cc:dd:ee:ff") == DeviceState("aa:bb:cc:dd:ee:ff")
    assert await store.save(state())
    await store.close()
    again = await open_store(f"sqlite:{tmp_path / 'sub' / 'devices.db'}")
    assert await again.load("aa:bb:cc:dd:ee:ff") == state()
    assert await again.ping()
    await again.close()


async def test_a_corrupt_file_is_set_aside_and_play_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "devices.db"
    db.write_bytes(b"this is not sqlite" * 100)
    store = await SqliteStore(db).open()
    assert await store.save(state()) and await store.load(state().device_id) == state()
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    await store.close()


async def test_a_corrupt_record_reads_as_empty_state(tmp_path: Path) -> None:
    db = tmp_path / "devices.db"
    store = await SqliteStore(db).open()
    await store.save(state())
    con = sqlite3.connect(db)
    con.execute("UPDATE devices SET state = ?", ('{"item": {"uid": 5}, "queue": "nope"}',))
    con.commit()
    con.close()
    assert await store.load(state().device_id) == DeviceState(state().device_id)
    await store.close()
    with pytest.raises(StateError):
        DeviceState.from_json("[" * 100_000, "x")
    with pytest.raises(StateError):
        DeviceState.from_json("x" * 300_000, "x")


async def test_a_locked_database_costs_the_save_not_the_session(tmp_path: Path) -> None:
    db = tmp_path / "devices.db"
    store = await SqliteStore(db, timeout_s=0.2).open()
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert await asyncio.wait_for(store.save(state()), 5) is False
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert await store.save(state())
    await store.close()


async def test_ids_that_cannot_be_keys_are_not_persisted(tmp_path: Path) -> None:
    store = await SqliteStore(tmp_path / "devices.db").open()
    long_id = "x" * 5000
    assert await store.save(state(long_id)) is False
    assert await store.load(long_id) == DeviceState(long_id)
    await store.close()
    mem = MemoryStore()
    assert await mem.save(state()) and await mem.load(state().device_id) == state()
