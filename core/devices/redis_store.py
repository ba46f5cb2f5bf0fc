"""Device state in Redis: the `DeviceStore` of a fleet, so a device that reconnects to any node resumes its story.

Two string keys per device: `<prefix>dev:<device_id>` (the `DeviceState` JSON, written by the session holding the
device) and `<prefix>policy:<device_id>` (the household's `PolicyRecord`, written only by the policy API). A rules
change is a compare-and-set: WATCH the rules key, read it, MULTI/SET/EXEC; a write in between makes EXEC fail and
the change is applied again to the newer record (POLICY_WRITE_ATTEMPTS times, then the caller hears of the conflict).
While Redis is away a rules change fails at once (`PolicyUnavailable`; the API answers 503): it is never queued, so
a parent is never told "saved" for a change that may land later or not at all.

For the device state, like every store it never raises:
- a corrupt record is logged and read as empty state;
- Redis lost while serving: `save` keeps the newest state of each device in memory and a single background task
  writes them back (oldest first, with backoff) once Redis answers again; while writes are pending every save goes
  through that queue, so an older state can never overwrite a newer one. `load` of a device with a pending write
  answers the pending state. Failures and the recovery are logged once each, not per call.
A device whose record could not be read (Redis away when it connected) is "blind": its saves are written only if no
record exists (`SET NX`) until a read succeeds, so a session started during an outage never overwrites the history
and favourites saved before it.
Redis unreachable at start is the caller's decision (`connect` raises `StoreUnavailable`, naming REDIS_URL).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError, WatchError

from core.config import safe_url
from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState, StateError, valid_device_id
from core.devices.store import (
    POLICY_WRITE_ATTEMPTS,
    PolicyChange,
    PolicyConflict,
    PolicyUnavailable,
    PolicyWrite,
    PolicyWritten,
    legacy_rules,
    next_revision,
    policy_record,
)

__all__ = ["RedisStore", "StoreUnavailable", "redis_client"]

_OP_TIMEOUT_S = 1.0
_MAX_PENDING = 100_000          # devices whose newest state waits for Redis (memory bound: a few KiB each)


class StoreUnavailable(RuntimeError):
    """The shared store cannot be reached at start-up."""


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client answers bytes; its types allow str)."""
    return value.decode() if isinstance(value, bytes) else value


def redis_client(url: str, *, timeout_s: float = _OP_TIMEOUT_S) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                   health_check_interval=30, decode_responses=False)


async def check_reachable(client: aioredis.Redis, url: str) -> None:
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"cannot reach Redis at {safe_url(url)} (state.url, env REDIS_URL): {exc}; start "
                               "Redis there, fix REDIS_URL, or set fleet.redis_fallback: true to run this node "
                               "alone on local SQLite state") from None


class RedisStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "xz:", metrics: Any = None,
                 retry_max_s: float = 5.0) -> None:
        self._r = client
        self._prefix = prefix
        self._metrics = metrics
        self._retry_max = retry_max_s
        self._pending: dict[str, DeviceState] = {}       # newest unsaved state per device, in failure order
        self._blind: set[str] = set()                     # devices whose saved record could not be read
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.saves = 0
        self.failures = 0

    @classmethod
    async def connect(cls, url: str, *, prefix: str = "xz:", metrics: Any = None) -> RedisStore:
        client = redis_client(url)
        try:
            await check_reachable(client, url)
        except StoreUnavailable:
            await client.aclose()
            raise
        logger.info("device state in Redis at {}", safe_url(url))
        return cls(client, prefix=prefix, metrics=metrics)

    def key(self, device_id: str) -> str:
        return f"{self._prefix}dev:{device_id}"

    def policy_key(self, device_id: str) -> str:
        return f"{self._prefix}policy:{device_id}"

    def _observe(self, op: str, started: float, ok: bool) -> None:
        # Only background retries: the session measures its own load/save calls (latency and failures).
        if self._metrics is not None:
            self._metrics.store_latency(op, time.perf_counter() - started)
            if not ok:
                self._metrics.store_error(op)

    # ------------------------------------------------------------------ DeviceStore
    async def load(self, device_id: str) -> DeviceState:
        if not valid_device_id(device_id):
            return DeviceState(device_id)
        pending = self._pending.get(device_id)
        if pending is not None:
            return pending
        try:
            raw, rules_raw = await self._r.mget([self.key(device_id), self.policy_key(device_id)])
        except (RedisError, OSError) as exc:
            self._blind.add(device_id)
            logger.warning("device state: cannot read {} from Redis ({}); starting with empty state (its saved "
                           "record is kept)", device_id, type(exc).__name__)
            return DeviceState(device_id)
        self._blind.discard(device_id)
        await self._rules_of(device_id, raw, rules_raw)         # older records' rules move to their own record
        if raw is None:
            return DeviceState(device_id)
        try:
            return DeviceState.from_json(raw, device_id)
        except StateError as exc:
            logger.warning("device state: the record of {} is unusable ({}); starting with empty state",
                           device_id, exc)
            return DeviceState(device_id)

    async def _rules_of(self, device_id: str, state_raw: bytes | str | None,
                        rules_raw: bytes | str | None) -> PolicyRecord:
        """The rules record; rules still kept in an older state record get a key of their own (`SET NX`: the
        policy API's record always wins)."""
        if rules_raw is not None:
            return policy_record(rules_raw, None)
        legacy = legacy_rules(state_raw)
        record = PolicyRecord.from_legacy(legacy)
        if legacy is not None:
            try:
                if not await self._r.set(self.policy_key(device_id), record.to_json(), nx=True):
                    return await self._read_policy(device_id)      # written meanwhile by the policy API
            except (RedisError, OSError) as exc:
                logger.warning("device rules: could not move those of {} to their own record ({}); read from the "
                               "state record until then", device_id, type(exc).__name__)
        return record

    async def save(self, state: DeviceState) -> bool:
        if not valid_device_id(state.device_id) or self._closed:
            return False
        if self._pending:                      # Redis was failing: keep the order, the flusher writes it
            self._queue(state)
            return False
        try:
            await self._write(state)
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("device state: Redis write of {} failed ({}); keeping it and retrying in the background",
                           state.device_id, type(exc).__name__)
            self._queue(state)
            return False
        self.saves += 1
        return True

    async def load_policy(self, device_id: str) -> PolicyRecord:
        if not valid_device_id(device_id):
            return PolicyRecord()
        try:
            return await self._read_policy(device_id)
        except (RedisError, OSError) as exc:
            logger.warning("device rules: cannot read those of {} from Redis ({}); none apply until they can be",
                           device_id, type(exc).__name__)
            return PolicyRecord()

    async def _read_policy(self, device_id: str) -> PolicyRecord:
        rules_raw, raw = await self._r.mget([self.policy_key(device_id), self.key(device_id)])
        return policy_record(rules_raw, None if rules_raw is not None else legacy_rules(raw))

    async def update_policy(self, device_id: str, change: PolicyChange, *,
                            expect_rev: int | None = None) -> PolicyWrite:
        if not valid_device_id(device_id):
            return PolicyUnavailable("not a device id that can be stored")
        key = self.policy_key(device_id)
        current = PolicyRecord()
        try:
            for _ in range(POLICY_WRITE_ATTEMPTS):
                async with self._r.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)            # EXEC below fails if anyone writes the key from here on
                    rules_raw, raw = await pipe.mget([key, self.key(device_id)])
                    current = policy_record(rules_raw, None if rules_raw is not None else legacy_rules(raw))
                    if expect_rev is not None and current.rev != expect_rev:
                        return PolicyConflict(current)
                    record = next_revision(current, change)
                    pipe.multi()   # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.multi unannotated
                    pipe.set(key, record.to_json())
                    try:
                        await pipe.execute()
                    except WatchError:
                        logger.info("device rules of {}: another change landed first; applying this one again",
                                    device_id)
                        continue
                    return PolicyWritten(record)
        except (RedisError, OSError) as exc:
            logger.warning("device rules: the change for {} was not written: Redis did not answer ({})", device_id,
                           type(exc).__name__)
            return PolicyUnavailable("the shared device store (Redis) did not answer; nothing was changed")
        logger.warning("device rules of {}: {} writers in a row changed them first; the caller gets the current "
                       "record", device_id, POLICY_WRITE_ATTEMPTS)
        return PolicyConflict(await self.load_policy(device_id))

    async def known_devices(self, limit: int) -> list[str]:
        found: set[str] = set()
        if limit <= 0:
            return []
        try:
            for kind in ("dev:", "policy:"):
                head = f"{self._prefix}{kind}"
                async for key in self._r.scan_iter(match=f"{head}*", count=500):
                    found.add(text(key)[len(head):])
                    if len(found) >= limit:
                        return sorted(found)
        except (RedisError, OSError) as exc:
            logger.warning("device state: cannot list the devices in Redis ({})", type(exc).__name__)
            return []
        return sorted(found)

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._pending:                      # last chance, bounded: a drain must not hang on a dead Redis
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._flush_once()
            if self._pending:
                logger.error("device state: {} device states could not be written to Redis before shutdown",
                             len(self._pending))
        self._closed = True
        await self._r.aclose()

    async def _write(self, state: DeviceState) -> None:
        if state.device_id not in self._blind:
            await self._r.set(self.key(state.device_id), state.to_json())
        elif not await self._r.set(self.key(state.device_id), state.to_json(), nx=True):
            logger.info("device state: kept the saved record of {} (it could not be read when the device "
                        "connected)", state.device_id)

    # ------------------------------------------------------------------ retries
    @property
    def pending(self) -> int:
        return len(self._pending)

    def _queue(self, state: DeviceState) -> None:
        if state.device_id not in self._pending and len(self._pending) >= _MAX_PENDING:
            logger.error("device state: {} writes already wait for Redis; dropping the state of {}",
                         _MAX_PENDING, state.device_id)
            return
        self._pending.pop(state.device_id, None)   # re-insert: the newest state goes to the back
        self._pending[state.device_id] = state
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="redis-store-retry")

    async def _flush_loop(self) -> None:
        delay = 0.1
        first_failure = time.monotonic()
        while self._pending:
            await asyncio.sleep(delay)
            if await self._flush_once():
                break
            delay = min(delay * 2, self._retry_max)
        logger.info("device state: Redis answers again; pending writes saved after {:.1f} s",
                    time.monotonic() - first_failure)

    async def _flush_once(self) -> bool:
        """Write pending states in order; False as soon as Redis fails again (the rest stays queued)."""
        while self._pending:
            device_id, state = next(iter(self._pending.items()))
            started = time.perf_counter()
            try:
                await self._write(state)
            except (RedisError, OSError):
                self._observe("retry", started, False)
                self.failures += 1
                return False
            self._observe("retry", started, True)
            self.saves += 1
            if self._pending.get(device_id) is state:      # a newer save arrived meanwhile: keep that one
                del self._pending[device_id]
        return True
