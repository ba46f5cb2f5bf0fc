"""One live session per device across the fleet: the `DeviceDirectory` of several nodes.

A lease key `<prefix>lease:<device_id>` names the node holding the device's live session. `claim()` on node B:
1. evicts an older session on B itself (the local directory);
2. swaps the lease to B (`SET ... GET`), learning the previous holder A;
3. if A is another live node, sends it `Takeover` and waits (up to `takeover_timeout_s`) for `Released`, which A
   sends after its session saved the device's state and closed. B loads the state only after that, so the position
   is neither lost nor stale. A holder that is dead (SIGKILL, expired from the registry) is not waited for: the state
   is the one it last saved (at most one save interval behind).
Redis failures never keep a device from connecting: the claim falls back to the local directory and says so.
"""
from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError

from core.devices.directory import LocalDirectory, Owner
from core.devices.redis_store import text
from core.fleet.bus import Bus
from core.fleet.messages import DeviceCommand, Released, Takeover
from core.fleet.registry import NodeRegistry

__all__ = ["RedisDirectory"]

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDirectory:
    def __init__(self, client: aioredis.Redis, node_id: str, *, prefix: str, registry: NodeRegistry,
                 takeover_timeout_s: float, lease_ttl_s: float) -> None:
        self._r = client
        self.node_id = node_id
        self._prefix = prefix
        self._registry = registry
        self._timeout = takeover_timeout_s
        self._lease_ms = int(lease_ttl_s * 1000)
        self.local = LocalDirectory(evict_timeout_s=takeover_timeout_s)
        self.bus: Bus | None = None                 # set by Fleet (the bus needs the directory's handler first)
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self.takeovers = 0

    def lease_key(self, device_id: str) -> str:
        return f"{self._prefix}lease:{device_id}"

    async def claim(self, owner: Owner) -> None:
        await self.local.claim(owner)
        device_id = owner.device_id
        try:
            old_raw = await self._r.set(self.lease_key(device_id), self.node_id, px=self._lease_ms, get=True)
        except (RedisError, OSError) as exc:
            logger.warning("fleet: cannot take the lease of {} ({}); one session per device holds on this node only "
                           "until Redis answers", device_id, type(exc).__name__)
            return
        old = text(old_raw) if isinstance(old_raw, bytes | str) and old_raw else None
        if not old or old == self.node_id:
            return
        try:
            alive = await self._registry.is_alive(old)
        except (RedisError, OSError):
            alive = False
        if not alive:
            logger.info("device {} was last held by node {}, which is gone; resuming from its last save",
                        device_id, old)
            return
        await self._take_over(device_id, old)

    async def _take_over(self, device_id: str, old: str) -> None:
        assert self.bus is not None
        request_id = uuid.uuid4().hex
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = done
        started = asyncio.get_running_loop().time()
        try:
            if not await self.bus.publish(old, Takeover(self.node_id, device_id, request_id)):
                logger.info("device {}: node {} does not listen; resuming from its last save", device_id, old)
                return
            async with asyncio.timeout(self._timeout):
                await done
            self.takeovers += 1
            logger.info("device {} taken over from node {} after it saved ({:.0f} ms)", device_id, old,
                        (asyncio.get_running_loop().time() - started) * 1000)
        except TimeoutError:
            logger.error("device {}: node {} did not release it within {:.1f} s; going on with its last save",
                         device_id, old, self._timeout)
        finally:
            self._waiting.pop(request_id, None)

    async def release(self, owner: Owner) -> None:
        await self.local.release(owner)
        if self.local.owner(owner.device_id) is not None:
            return                                   # a newer session on this node holds the lease
        try:
            await self._r.eval(_RELEASE, 1, self.lease_key(owner.device_id), self.node_id)
        except (RedisError, OSError) as exc:
            logger.debug("fleet: lease of {} not released ({}); it expires by itself", owner.device_id,
                         type(exc).__name__)

    async def holder(self, device_id: str) -> str | None:
        raw = await self._r.get(self.lease_key(device_id))
        return text(raw) if raw else None

    # ------------------------------------------------------------------ messages from other nodes
    async def on_takeover(self, msg: Takeover) -> None:
        owner = self.local.owner(msg.device_id)
        if owner is not None:
            logger.info("device {} reconnected on node {}; saving and closing it here", msg.device_id, msg.sender)
            await owner.evict(f"replaced by a connection on node {msg.sender}")
            await self.local.release(owner)
        assert self.bus is not None
        await self.bus.publish(msg.sender, Released(self.node_id, msg.device_id, msg.request_id))

    def on_released(self, msg: Released) -> None:
        fut = self._waiting.get(msg.request_id)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def on_command(self, msg: DeviceCommand) -> bool:
        """A command for a device connected here, handed to its session; False when the device is not here or its
        session did not take it."""
        owner = self.local.owner(msg.device_id)
        if owner is None:
            logger.info("command {} from node {}: device {} is not connected to node {}",
                        type(msg.command).__name__, msg.sender, msg.device_id, self.node_id)
            return False
        taken = owner.command(msg.command)
        logger.info("command {} from node {} {} by the session of {}", type(msg.command).__name__, msg.sender,
                    "taken" if taken else "not taken", msg.device_id)
        return taken
