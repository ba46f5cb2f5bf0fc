"""The pub/sub bus between nodes: one direct channel per node and one broadcast channel.

Incoming messages are decoded and validated (`core.fleet.messages`); a malformed one is logged (rate-limited) and
dropped. Each handled message runs in its own task, so a slow eviction never holds up the bus. When Redis goes away
the bus reconnects with backoff and logs the outage once.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError

from core.fleet.messages import Message, MessageError, decode, encode

__all__ = ["Bus"]

Handler = Callable[[Message], Awaitable[None]]


class Bus:
    def __init__(self, client: aioredis.Redis, node_id: str, *, prefix: str, handler: Handler) -> None:
        self._r = client
        self.node_id = node_id
        self._prefix = prefix
        self._handler = handler
        self.direct = self.channel(node_id)
        self.broadcast = f"{prefix}bus:*"
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self.malformed = 0
        self.received = 0
        self._last_malformed_log = 0.0

    def channel(self, node_id: str) -> str:
        return f"{self._prefix}bus:{node_id}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fleet-bus")
        async with asyncio.timeout(5.0):
            await self._subscribed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def publish(self, to: str | None, msg: Message) -> int:
        """Send to one node (`to`) or to every node (None); the number of subscribers that got it (0 on failure)."""
        try:
            return int(await self._r.publish(self.channel(to) if to else self.broadcast, encode(msg)))
        except (RedisError, OSError) as exc:
            logger.warning("fleet bus: cannot publish {} ({})", msg.TYPE, type(exc).__name__)
            return 0

    async def _run(self) -> None:
        delay = 0.2
        down_since: float | None = None
        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.direct, self.broadcast)
                self._subscribed.set()
                if down_since is not None:
                    logger.info("fleet bus: Redis answers again after {:.1f} s", time.monotonic() - down_since)
                    down_since, delay = None, 0.2
                while True:
                    raw = await pubsub.get_message(timeout=1.0)
                    if raw is not None and raw.get("type") == "message":
                        self._dispatch(raw["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis's PubSub.aclose is untyped
                raise
            except (RedisError, OSError) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    logger.error("fleet bus: lost Redis ({}); devices keep playing, reconnecting", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis's PubSub.aclose is untyped
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _dispatch(self, data: bytes) -> None:
        try:
            msg = decode(data)
        except MessageError as exc:
            self.malformed += 1
            now = time.monotonic()
            if now - self._last_malformed_log > 10 or self.malformed <= 3:
                self._last_malformed_log = now
                logger.warning("fleet bus: ignored a malformed message ({}; {} so far): {!r}", exc, self.malformed,
                               bytes(data[:120]))
            return
        if msg.sender == self.node_id and msg.TYPE == "devices?":
            return                 # a node hears its own broadcast query; it answers that one locally
        self.received += 1
        task = asyncio.create_task(self._handle(msg), name=f"fleet-{msg.TYPE}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Message) -> None:
        try:
            await self._handler(msg)
        except Exception:   # noqa: BLE001 - one bad handler run must not stop the bus
            logger.exception("fleet bus: handling {} failed", msg.TYPE)
