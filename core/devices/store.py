"""Where device state lives: the `DeviceStore` interface, an in-memory store and the SQLite default.

SQLite: one file (created on first run, WAL mode, so several worker processes on one machine can share it), one
row per device holding its `DeviceState` JSON. Every call runs on one dedicated thread per store (sqlite3
connections are not shared across threads) and never raises: a corrupt or unreadable record is logged and read as
empty state; a database that cannot be opened (corrupt file, locked, read-only disk) is set aside or replaced by
memory so devices keep playing. A fleet uses the Redis store with the same interface (core/devices/redis_store.py).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Protocol

from loguru import logger

from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState, StateError, valid_device_id

__all__ = ["DeviceStore", "MemoryStore", "SqliteStore", "open_store", "legacy_policy"]


class DeviceStore(Protocol):
    async def load(self, device_id: str) -> DeviceState:
        """The saved state, or an empty one (unknown device, unreadable record). Never raises."""
        ...

    async def save(self, state: DeviceState) -> bool:
        """Persist `state`; False (logged) when it could not be written. Never raises."""
        ...

    async def load_policy(self, device_id: str) -> PolicyRecord:
        """The household's rules for the device (never set: an empty record). Never raises."""
        ...

    async def ping(self) -> bool:
        """True when the backend answers (readiness)."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    """Process memory: tests, anonymous devices, and the fallback when the database cannot be opened."""

    def __init__(self) -> None:
        self._rows: dict[str, str] = {}

    async def load(self, device_id: str) -> DeviceState:
        row = self._rows.get(device_id)
        if row is None:
            return DeviceState(device_id)
        return DeviceState.from_json(row, device_id)

    async def save(self, state: DeviceState) -> bool:
        self._rows[state.device_id] = state.to_json()
        return True

    async def load_policy(self, device_id: str) -> PolicyRecord:
        row = self._rows.get(device_id)
        return legacy_policy(row) if row is not None else PolicyRecord()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class SqliteStore:
    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 2.0) -> None:
        self.path = Path(path)
        self._timeout = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="device-store")
        self._db: sqlite3.Connection | None = None
        self._fallback: MemoryStore | None = None
        self._failures = 0
        self.saves = 0

    async def open(self) -> SqliteStore:
        await self._run(self._open)
        return self

    def _open(self) -> None:
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                with contextlib.suppress(OSError):
                    os.replace(self.path, aside)
                logger.error("device state: {} is not a usable database ({}); moved it to {} and starting empty",
                             self.path, exc, aside.name)
                try:
                    self._db = self._connect()
                    return
                except sqlite3.Error as again:
                    exc = again
            logger.error("device state: cannot open {} ({}); keeping state in memory only until restart",
                         self.path, exc)
            self._fallback = MemoryStore()
        except OSError as exc:
            logger.error("device state: cannot open {} ({}); keeping state in memory only until restart",
                         self.path, exc.strerror or exc)
            self._fallback = MemoryStore()

    def _connect(self) -> sqlite3.Connection:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self._timeout, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")      # WAL + NORMAL: durable across process crashes
            db.execute("CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, state TEXT NOT NULL, "
                       "updated_at REAL NOT NULL)")
            db.execute("SELECT count(*) FROM devices").fetchone()     # a corrupt file fails here, not later
        except BaseException:
            db.close()
            raise
        return db

    async def _run(self, fn, *args):   # type: ignore[no-untyped-def]  # passes any function and its result through
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def load(self, device_id: str) -> DeviceState:
        if self._fallback is not None:
            return await self._fallback.load(device_id)
        if not valid_device_id(device_id):
            return DeviceState(device_id)
        try:
            row = await self._run(self._select, device_id)
        except sqlite3.Error as exc:
            logger.warning("device state: cannot read {} ({}); starting with empty state", device_id, exc)
            return DeviceState(device_id)
        if row is None:
            return DeviceState(device_id)
        try:
            return DeviceState.from_json(row, device_id)
        except StateError as exc:
            logger.warning("device state: the record of {} is unusable ({}); starting with empty state",
                           device_id, exc)
            return DeviceState(device_id)

    async def load_policy(self, device_id: str) -> PolicyRecord:
        if self._fallback is not None:
            return await self._fallback.load_policy(device_id)
        if not valid_device_id(device_id):
            return PolicyRecord()
        try:
            row = await self._run(self._select, device_id)
        except sqlite3.Error as exc:
            logger.warning("device state: cannot read the rules of {} ({}); none apply", device_id, exc)
            return PolicyRecord()
        return legacy_policy(row) if row is not None else PolicyRecord()

    def _select(self, device_id: str) -> str | None:
        assert self._db is not None
        row = self._db.execute("SELECT state FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return row[0] if row else None

    async def save(self, state: DeviceState) -> bool:
        if self._fallback is not None:
            return await self._fallback.save(state)
        if not valid_device_id(state.device_id):
            return False
        try:
            await self._run(self._upsert, state.device_id, state.to_json(), state.updated_at or time.time())
        except sqlite3.Error as exc:
            self._failures += 1
            if self._failures in (1, 10, 100) or self._failures % 1000 == 0:    # a locked disk must not flood logs
                logger.warning("device state: save of {} failed ({}; {} failures so far)", state.device_id, exc,
                               self._failures)
            return False
        self.saves += 1
        return True

    def _upsert(self, device_id: str, text: str, updated: float) -> None:
        assert self._db is not None
        self._db.execute("INSERT INTO devices (device_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(device_id) "
                         "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                         (device_id, text, updated))

    async def ping(self) -> bool:
        if self._fallback is not None:
            return False
        try:
            await self._run(lambda: self._db.execute("SELECT 1").fetchone())   # type: ignore[union-attr]  # db is open
            return True
        except sqlite3.Error:
            return False

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.close)
        self._pool.shutdown(wait=False)


def legacy_policy(row: str | bytes) -> PolicyRecord:
    """The rules kept inside a device record written before they had a record of their own."""
    try:
        raw = json.loads(row)
    except (ValueError, RecursionError):
        return PolicyRecord()
    embedded = raw.get("policy") if isinstance(raw, dict) else None
    return PolicyRecord.from_legacy(embedded) if isinstance(embedded, dict) else PolicyRecord()


async def open_store(url: str) -> DeviceStore:
    """`sqlite:PATH` (default), `memory:`, or `redis://...` (a fleet's shared store)."""
    if url.startswith("redis://") or url.startswith("rediss://"):
        from core.devices.redis_store import RedisStore  # only a fleet needs the redis client
        return await RedisStore.connect(url)
    if url in ("memory:", "memory"):
        return MemoryStore()
    path = url.split(":", 1)[1] if url.startswith("sqlite:") else url
    path = path[2:] if path.startswith("//") else path        # sqlite:///abs/path and sqlite:rel/path
    return await SqliteStore(path).open()
