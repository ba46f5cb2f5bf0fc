"""A node's membership of the fleet: registry + bus + directory on one Redis, and the operator queries over them."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError

from core.config import FleetConfig
from core.devices.commands import Command, Delivery
from core.devices.redis_store import check_reachable, redis_client
from core.devices.view import SessionView
from core.fleet.bus import Bus
from core.fleet.directory import RedisDirectory
from core.fleet.messages import DeviceCommand, DevicesQuery, DevicesReply, Message, Released, Takeover
from core.fleet.registry import NodeInfo, NodeRegistry, pick_node

__all__ = ["Fleet"]

Snapshots = Callable[[str | None], list[SessionView]]


class Fleet:
    def __init__(self, client: aioredis.Redis, cfg: FleetConfig, node_id: str, url: str, *,
                 report: Callable[[], dict[str, Any]], snapshots: Snapshots) -> None:
        self._r = client
        self.node_id = node_id
        self.url = url
        self._snapshots = snapshots
        self.registry = NodeRegistry(client, node_id, url, prefix=cfg.key_prefix, heartbeat_s=cfg.heartbeat_s,
                                     ttl_s=cfg.node_ttl_s, report=report)
        self.directory = RedisDirectory(client, node_id, prefix=cfg.key_prefix, registry=self.registry,
                                        takeover_timeout_s=cfg.takeover_timeout_s, lease_ttl_s=cfg.lease_ttl_s)
        self.bus = Bus(client, node_id, prefix=cfg.key_prefix, handler=self._on_message)
        self.directory.bus = self.bus
        self._replies: dict[str, asyncio.Queue[DevicesReply]] = {}
        self._sent: dict[str, tuple[float, int]] = {}     # node id -> (its report time, devices sent since)

    @classmethod
    async def join(cls, redis_url: str, cfg: FleetConfig, node_id: str, url: str, *,
                   report: Callable[[], dict[str, Any]], snapshots: Snapshots) -> Fleet:
        """Connect, listen on the bus, register. Raises StoreUnavailable (Redis down) or DuplicateNode."""
        fleet = cls(redis_client(redis_url), cfg, node_id, url, report=report, snapshots=snapshots)
        try:
            await fleet.start(redis_url)
        except BaseException:
            await fleet.close(leave=False)
            raise
        return fleet

    async def start(self, redis_url: str) -> None:
        await check_reachable(self._r, redis_url)
        await self.bus.start()              # listen before registering: a takeover may come at once
        await self.registry.register()

    async def leave(self) -> None:
        await self.registry.leave()

    async def close(self, *, leave: bool = True) -> None:
        if leave:
            await self.registry.leave()
        await self.bus.close()
        with contextlib.suppress(RedisError, OSError):
            await self._r.aclose()

    # ------------------------------------------------------------------ routing
    async def nodes(self) -> list[NodeInfo]:
        return await self.registry.nodes()

    async def route(self) -> NodeInfo | None:
        """The node a joining device should use; None when Redis cannot tell (the caller answers its own URL).

        Reports are up to one heartbeat old, so devices this node sent somewhere since that node's last report
        count as its sessions already: a burst of joins spreads instead of landing on one node."""
        try:
            async with asyncio.timeout(1.0):
                nodes = await self.registry.nodes()
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("fleet: cannot read the registry ({}); OTA answers this node", type(exc).__name__)
            return None
        adjusted = []
        for n in nodes:
            at, sent = self._sent.get(n.id, (n.at, 0))
            sent = sent if at == n.at else 0
            adjusted.append(replace(n, load=max(n.load, (n.sessions + sent) / n.max_sessions)))
        best = pick_node(adjusted)
        if best is not None:
            at, sent = self._sent.get(best.id, (best.at, 0))
            self._sent[best.id] = (best.at, (sent if at == best.at else 0) + 1)
        return best

    # ------------------------------------------------------------------ operator
    async def devices(self, device_id: str | None = None, *,
                      timeout_s: float = 1.0) -> list[tuple[str, SessionView]]:
        """Connected devices across the fleet: (node id, what its session shows)."""
        out = [(self.node_id, view) for view in self._snapshots(device_id)]
        if device_id and out:
            return out
        try:
            expected = len([n for n in await self.registry.nodes() if n.id != self.node_id])
        except (RedisError, OSError):
            return out
        if not expected:
            return out
        request_id = uuid.uuid4().hex
        queue: asyncio.Queue[DevicesReply] = asyncio.Queue()
        self._replies[request_id] = queue
        try:
            await self.bus.publish(None, DevicesQuery(self.node_id, request_id, device_id or ""))
            async with asyncio.timeout(timeout_s):
                for _ in range(expected):
                    reply = await queue.get()
                    out += [(reply.sender, view) for view in reply.devices]
        except TimeoutError:
            logger.warning("fleet: not every node answered the device query within {:.1f} s", timeout_s)
        finally:
            self._replies.pop(request_id, None)
        return out

    async def command(self, device_id: str, cmd: Command) -> Delivery:
        """Deliver `cmd` to the session holding the device: here, or over the bus to the live node whose lease names
        it (TAKEN there means that node received it)."""
        owner = self.directory.local.owner(device_id)
        if owner is not None:
            return Delivery.TAKEN if owner.command(cmd) else Delivery.REFUSED
        try:
            holder = await self.directory.holder(device_id)
            if holder is None or holder == self.node_id or not await self.registry.is_alive(holder):
                return Delivery.NOT_HELD                 # a lease left by a node that died holds nothing
        except (RedisError, OSError) as exc:
            logger.warning("fleet: cannot tell which node holds {} ({})", device_id, type(exc).__name__)
            return Delivery.UNREACHED
        if await self.bus.publish(holder, DeviceCommand(self.node_id, device_id, cmd)) > 0:
            return Delivery.TAKEN
        logger.warning("fleet: node {} holds {} but did not get {} (its bus is not listening)", holder, device_id,
                       type(cmd).__name__)
        return Delivery.UNREACHED

    # ------------------------------------------------------------------ bus
    async def _on_message(self, msg: Message) -> None:
        if isinstance(msg, Takeover):
            await self.directory.on_takeover(msg)
        elif isinstance(msg, Released):
            self.directory.on_released(msg)
        elif isinstance(msg, DeviceCommand):
            self.directory.on_command(msg)
        elif isinstance(msg, DevicesQuery):
            devices = tuple(self._snapshots(msg.device_id or None))
            await self.bus.publish(msg.sender, DevicesReply(self.node_id, msg.request_id, devices))
        elif isinstance(msg, DevicesReply):
            queue = self._replies.get(msg.request_id)
            if queue is not None:
                queue.put_nowait(msg)
