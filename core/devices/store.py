"""Where device state lives: the `DeviceStore` interface, an in-memory store and the SQLite default.

Each device has two records with one writer each:
- its state (`DeviceState`: what plays, history, favourites, volume, today's listening), written by the session
  holding the device;
- its household rules (`PolicyRecord`), written only by the policy API through `update_policy`: a compare-and-set on
  the record's revision, so two parents saving at once both land in order and a session's save never touches them.
  Sessions read the rules (`load_policy`) and never write them.
Records written before that split kept the rules inside the state; they are read as they are
(`PolicyRecord.from_legacy`) and moved to a rules record of their own the first time the device's state is loaded.

SQLite: one file (created on first run, WAL mode, so several worker processes on one machine can share it), a row
per device for each record. Every call runs on one dedicated thread per store (sqlite3 connections are not shared
across threads) and never raises: a corrupt or unreadable record is logged and read as empty; a database that
cannot be opened (corrupt file, locked, read-only disk) is set aside or replaced by memory so devices keep playing.
A fleet uses the Redis store with the same interface (core/devices/redis_store.py); `core/devices/backends.py`
opens the one a URL names.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from loguru import logger

from core.devices.policy import PolicyRecord
from core.devices.state import MAX_STATE_BYTES, DeviceState, StateError, valid_device_id

__all__ = ["DeviceStore", "MemoryStore", "SqliteStore", "PolicyChange", "PolicyWrite", "PolicyWritten",
           "PolicyConflict", "PolicyUnavailable", "POLICY_WRITE_ATTEMPTS"]

POLICY_WRITE_ATTEMPTS = 5        # a revision conflict is retried this often before the writer hears of it

_T = TypeVar("_T")

PolicyChange = Callable[[PolicyRecord], PolicyRecord]
"""The new record from the current one; pure (it may run more than once, and on the store's thread)."""


@dataclass(frozen=True, slots=True)
class PolicyWritten:
    record: PolicyRecord             # as stored, with its new revision


@dataclass(frozen=True, slots=True)
class PolicyConflict:
    current: PolicyRecord            # the record that stands (another writer's, or not the revision expected)


@dataclass(frozen=True, slots=True)
class PolicyUnavailable:
    reason: str                      # safe to show: nothing was written and nothing waits to be


PolicyWrite = PolicyWritten | PolicyConflict | PolicyUnavailable


class DeviceStore(Protocol):
    async def load(self, device_id: str) -> DeviceState:
        """The saved state, or an empty one (unknown device, unreadable record). Never raises."""
        ...

    async def save(self, state: DeviceState) -> bool:
        """Persist `state` (never its rules); False (logged) when it could not be written. Never raises."""
        ...

    async def load_policy(self, device_id: str) -> PolicyRecord:
        """The household's rules of the device: `PolicyRecord()` when there are none or they cannot be read (logged).
        Never raises."""
        ...

    async def update_policy(self, device_id: str, change: PolicyChange, *,
                            expect_rev: int | None = None) -> PolicyWrite:
        """Read the rules record, apply `change`, write the result with the next revision only if nobody wrote in
        between (retried up to POLICY_WRITE_ATTEMPTS times). `expect_rev`: the revision the caller last saw; another
        one is a conflict at once. A backend that does not answer is `PolicyUnavailable`: nothing is queued."""
        ...

    async def known_devices(self, limit: int) -> list[str]:
        """Up to `limit` ids of devices with a saved state or rules record (the parents' device list): the most
        recently written first in SQLite and memory, in key order in Redis (which keeps no write time). [] when the
        backend does not answer (logged). Never raises."""
        ...

    async def ping(self) -> bool:
        """True when the backend answers (readiness)."""
        ...

    async def close(self) -> None: ...


def next_revision(current: PolicyRecord, change: PolicyChange) -> PolicyRecord:
    """`change` applied, stamped with the revision after the current one (whatever `change` put there)."""
    return replace(change(current), rev=current.rev + 1)


def legacy_rules(raw: str | bytes | None) -> Mapping[str, Any] | None:
    """The rules an older state record kept inside itself (its `policy` object), if any."""
    if raw is None or len(raw) > MAX_STATE_BYTES:
        return None
    marked = b'"policy"' in raw if isinstance(raw, bytes) else '"policy"' in raw
    if not marked:
        return None                                     # records written since the split: no parse needed
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    embedded = data.get("policy") if isinstance(data, dict) else None
    return embedded if isinstance(embedded, dict) and embedded else None


def policy_record(raw: str | bytes | None, legacy: Mapping[str, Any] | None) -> PolicyRecord:
    """The stored rules record, else the rules kept in an older state record, else none."""
    if raw is None:
        return PolicyRecord.from_legacy(legacy)
    if len(raw) > MAX_STATE_BYTES:
        logger.warning("device rules: a record of {} bytes is larger than {}; read as no rules", len(raw),
                       MAX_STATE_BYTES)
        return PolicyRecord()
    return PolicyRecord.from_json(raw)


class MemoryStore:
    """Process memory: tests, anonymous devices, and the fallback when the database cannot be opened."""

    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._policies: dict[str, str] = {}
        self._order: dict[str, None] = {}          # every device written, the most recent last

    async def load(self, device_id: str) -> DeviceState:
        row = self._rows.get(device_id)
        if row is None:
            return DeviceState(device_id)
        return DeviceState.from_json(row, device_id)

    async def save(self, state: DeviceState) -> bool:
        self._rows[state.device_id] = state.to_json()
        self._written(state.device_id)
        return True

    async def load_policy(self, device_id: str) -> PolicyRecord:
        return policy_record(self._policies.get(device_id), None)     # saves here never held rules

    async def update_policy(self, device_id: str, change: PolicyChange, *,
                            expect_rev: int | None = None) -> PolicyWrite:
        current = await self.load_policy(device_id)       # no await between this read and the write below
        if expect_rev is not None and current.rev != expect_rev:
            return PolicyConflict(current)
        record = next_revision(current, change)
        self._policies[device_id] = record.to_json()
        self._written(device_id)
        return PolicyWritten(record)

    async def known_devices(self, limit: int) -> list[str]:
        return list(reversed(self._order))[:max(0, limit)]

    def _written(self, device_id: str) -> None:
        self._order.pop(device_id, None)          # re-insert: the newest write goes to the back
        self._order[device_id] = None

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
            failure: sqlite3.Error = exc
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
                    failure = again
            logger.error("device state: cannot open {} ({}); keeping state in memory only until restart",
                         self.path, failure)
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
            db.execute("CREATE TABLE IF NOT EXISTS policies (device_id TEXT PRIMARY KEY, rev INTEGER NOT NULL, "
                       "record TEXT NOT NULL, updated_at REAL NOT NULL)")
            db.execute("SELECT count(*) FROM devices").fetchone()     # a corrupt file fails here, not later
        except BaseException:
            db.close()
            raise
        return db

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.OperationalError("the device database is closed")
        return self._db

    async def load(self, device_id: str) -> DeviceState:
        if self._fallback is not None:
            return await self._fallback.load(device_id)
        if not valid_device_id(device_id):
            return DeviceState(device_id)
        try:
            row, _record = await self._run(self._select_and_move_rules, device_id)
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

    def _select_and_move_rules(self, device_id: str) -> tuple[str | None, PolicyRecord]:
        """The state row and the rules; rules still kept in an older state row get a record of their own (only if
        none exists: the policy API's record always wins)."""
        db = self._conn()
        row = db.execute("SELECT state FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        state = row[0] if row else None
        stored = db.execute("SELECT record FROM policies WHERE device_id = ?", (device_id,)).fetchone()
        if stored is not None:
            return state, policy_record(stored[0], None)
        legacy = legacy_rules(state)
        record = PolicyRecord.from_legacy(legacy)
        if legacy is not None:
            db.execute("INSERT OR IGNORE INTO policies (device_id, rev, record, updated_at) VALUES (?, ?, ?, ?)",
                       (device_id, record.rev, record.to_json(), time.time()))
        return state, record

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
        self._conn().execute("INSERT INTO devices (device_id, state, updated_at) VALUES (?, ?, ?) "
                             "ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, "
                             "updated_at = excluded.updated_at", (device_id, text, updated))

    async def load_policy(self, device_id: str) -> PolicyRecord:
        if self._fallback is not None:
            return await self._fallback.load_policy(device_id)
        if not valid_device_id(device_id):
            return PolicyRecord()
        try:
            return await self._run(self._current_policy, device_id)
        except sqlite3.Error as exc:
            logger.warning("device rules: cannot read those of {} ({}); none apply until they can be", device_id,
                           exc)
            return PolicyRecord()

    def _current_policy(self, device_id: str) -> PolicyRecord:
        db = self._conn()
        stored = db.execute("SELECT record FROM policies WHERE device_id = ?", (device_id,)).fetchone()
        if stored is not None:
            return policy_record(stored[0], None)
        row = db.execute("SELECT state FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return PolicyRecord.from_legacy(legacy_rules(row[0] if row else None))

    async def update_policy(self, device_id: str, change: PolicyChange, *,
                            expect_rev: int | None = None) -> PolicyWrite:
        if self._fallback is not None:
            return await self._fallback.update_policy(device_id, change, expect_rev=expect_rev)
        if not valid_device_id(device_id):
            return PolicyUnavailable("not a device id that can be stored")
        try:
            return await self._run(self._update_policy, device_id, change, expect_rev)
        except sqlite3.Error as exc:
            logger.warning("device rules: the change for {} was not written ({})", device_id, exc)
            return PolicyUnavailable("the device database did not take the change")

    def _update_policy(self, device_id: str, change: PolicyChange, expect_rev: int | None) -> PolicyWrite:
        """One transaction that holds the write lock from the read to the write: no other process (several workers
        share the file) can write in between, so the revision check below cannot fail within it."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self._current_policy(device_id)
            if expect_rev is not None and current.rev != expect_rev:
                db.execute("ROLLBACK")
                return PolicyConflict(current)
            record = next_revision(current, change)
            written = db.execute(
                "INSERT INTO policies (device_id, rev, record, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(device_id) DO UPDATE SET rev = excluded.rev, record = excluded.record, "
                "updated_at = excluded.updated_at WHERE policies.rev = ?",
                (device_id, record.rev, record.to_json(), time.time(), current.rev)).rowcount
            if written != 1:                  # cannot happen under the lock; never report a write that did not land
                db.execute("ROLLBACK")
                return PolicyConflict(self._current_policy(device_id))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return PolicyWritten(record)

    async def known_devices(self, limit: int) -> list[str]:
        if self._fallback is not None:
            return await self._fallback.known_devices(limit)
        try:
            return await self._run(self._known, max(0, limit))
        except sqlite3.Error as exc:
            logger.warning("device state: cannot list the devices ({})", exc)
            return []

    def _known(self, limit: int) -> list[str]:
        rows = self._conn().execute(
            "SELECT device_id FROM (SELECT device_id, updated_at FROM devices UNION ALL "
            "SELECT device_id, updated_at FROM policies) GROUP BY device_id ORDER BY max(updated_at) DESC, device_id "
            "LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in rows]

    async def ping(self) -> bool:
        if self._fallback is not None:
            return False
        try:
            await self._run(lambda: self._conn().execute("SELECT 1").fetchone())
            return True
        except sqlite3.Error:
            return False

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.close)
        self._pool.shutdown(wait=False)
