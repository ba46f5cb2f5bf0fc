"""The node registry: which nodes are alive, where devices reach them, how loaded they are.

Each node keeps one key `<prefix>node:<id>` (its report as JSON, expiring after `node_ttl_s`) refreshed every
`heartbeat_s`, and its id in the set `<prefix>nodes`. A node killed with SIGKILL simply stops refreshing: its key
expires and nobody routes to it any more. Registration is `SET NX`: a second live node with the same id is refused at
start. Every report carries a random instance token, so a node never refreshes or deletes a key another process owns.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError

from core.devices.redis_store import text

__all__ = ["NodeInfo", "NodeRegistry", "DuplicateNode", "CpuMeter", "pick_node"]

# Refresh only our own key (same instance token); re-create it if it expired while Redis was unreachable.
_HEARTBEAT = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if not ok or old['instance'] ~= ARGV[3] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
"""
_LEAVE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and old['instance'] == ARGV[1] then
    redis.call('DEL', KEYS[1]); redis.call('SREM', KEYS[2], ARGV[2]); return 1
  end
end
return 0
"""


class DuplicateNode(RuntimeError):
    """Another live node already runs under this id."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    url: str                     # WebSocket URL devices are sent to
    mqtt: str = ""               # MQTT endpoint "host:port" devices are sent to ("" = the node serves no MQTT)
    sessions: int = 0
    streams: int = 0
    cpu: float = 0.0             # share of the machine's CPU this node uses, 0-1
    load: float = 0.0            # max(sessions / max_sessions, cpu / max_cpu): 1.0 = full
    max_sessions: int = 1000
    draining: bool = False
    overloaded: bool = False
    at: float = 0.0              # wall clock of the report
    instance: str = ""

    @classmethod
    def parse(cls, raw: bytes | str) -> NodeInfo | None:
        try:
            d = json.loads(raw)
            return cls(id=str(d["id"]), url=str(d["url"]), mqtt=str(d.get("mqtt") or ""),
                       sessions=int(d.get("sessions", 0)),
                       streams=int(d.get("streams", 0)), cpu=float(d.get("cpu", 0.0)), load=float(d.get("load", 0)),
                       max_sessions=max(1, int(d.get("max_sessions", 1000))),
                       draining=bool(d.get("draining")), overloaded=bool(d.get("overloaded")),
                       at=float(d.get("at", 0.0)), instance=str(d.get("instance", "")))
        except (ValueError, TypeError, KeyError):
            return None


def pick_node(nodes: list[NodeInfo]) -> NodeInfo | None:
    """The least-loaded node that is neither draining nor overloaded. Nodes within 0.02 of the lowest load count as
    equal and one of them is drawn at random, so many devices joining at once do not all land on one node between
    two heartbeats."""
    live = [n for n in nodes if not n.draining and not n.overloaded and n.url]
    if not live:
        return None
    low = min(n.load for n in live)
    return random.choice([n for n in live if n.load <= low + 0.02])


class CpuMeter:
    """Share of the machine's CPU used since the previous call: by the whole machine (/proc/stat), or by this process
    and its reaped children (ffmpeg) when `process=True`; 0-1 either way."""

    def __init__(self, *, process: bool = False) -> None:
        self._process = process
        self._last = self._sample()

    def _sample(self) -> tuple[float, float]:
        if not self._process:
            try:
                with open("/proc/stat", encoding="ascii") as f:
                    parts = [float(v) for v in f.readline().split()[1:]]
                idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)
                return sum(parts) - idle, sum(parts)
            except (OSError, ValueError, IndexError):
                pass
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system, time.monotonic() * (os.cpu_count() or 1)

    def __call__(self) -> float:
        busy, total = self._sample()
        d_busy, d_total = busy - self._last[0], total - self._last[1]
        self._last = (busy, total)
        return min(1.0, max(0.0, d_busy / d_total)) if d_total > 0 else 0.0


class NodeRegistry:
    def __init__(self, client: aioredis.Redis, node_id: str, url: str, *, prefix: str, heartbeat_s: float,
                 ttl_s: float, report: Callable[[], dict[str, float | int | bool]]) -> None:
        self._r = client
        self.node_id = node_id
        self.url = url
        self.mqtt = ""                   # this node's MQTT endpoint, when it serves MQTT
        self._prefix = prefix
        self._heartbeat = heartbeat_s
        self._ttl_ms = int(ttl_s * 1000)
        self._report = report
        self.instance = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._left = False
        self.beats = 0

    def key(self, node_id: str) -> str:
        return f"{self._prefix}node:{node_id}"

    @property
    def set_key(self) -> str:
        return f"{self._prefix}nodes"

    def _payload(self) -> str:
        return json.dumps({**self._report(), "id": self.node_id, "url": self.url, "mqtt": self.mqtt,
                           "at": time.time(),
                           "instance": self.instance}, separators=(",", ":"))

    async def register(self) -> None:
        """Join the fleet; `DuplicateNode` when a live node already has this id. Starts the heartbeat."""
        ok = await self._r.set(self.key(self.node_id), self._payload(), nx=True, px=self._ttl_ms)
        if not ok:
            other = NodeInfo.parse(await self._r.get(self.key(self.node_id)) or b"{}")
            where = f" at {other.url}" if other else ""
            raise DuplicateNode(f"node id {self.node_id!r} is already used by a live node{where}; give every node "
                                f"its own fleet.node_id (env NODE_ID), or wait {self._ttl_ms / 1000:.0f} s if that "
                                "node has just died")
        await self._r.sadd(self.set_key, self.node_id)
        logger.info("fleet: node {} registered ({})", self.node_id, self.url)
        self._task = asyncio.create_task(self._beat_loop(), name="fleet-heartbeat")

    async def beat(self) -> bool:
        """Refresh our report now; False when another process owns the id (logged)."""
        ok = await self._r.eval(_HEARTBEAT, 2, self.key(self.node_id), self.set_key, self._payload(),
                                self._ttl_ms, self.instance, self.node_id)
        self.beats += 1
        return bool(ok)

    async def _beat_loop(self) -> None:
        down_since: float | None = None
        stolen = False
        while not self._left:
            await asyncio.sleep(self._heartbeat)
            if self._left:
                return
            try:
                ok = await self.beat()
            except (RedisError, OSError) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    logger.error("fleet: cannot report to Redis ({}); devices keep playing, no new ones are routed "
                                 "here until it answers", type(exc).__name__)
                continue
            if down_since is not None:
                logger.info("fleet: Redis answers again after {:.1f} s; node {} reports again",
                            time.monotonic() - down_since, self.node_id)
                down_since = None
            if not ok and not stolen:
                logger.error("fleet: another process registered node id {} while Redis was unreachable; this node "
                             "is no longer routed to (give every node its own fleet.node_id)", self.node_id)
            stolen = not ok

    async def stop_heartbeat(self) -> None:
        """Stop reporting without leaving: to the fleet this node now looks like one killed with SIGKILL."""
        self._left = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def leave(self) -> None:
        """Leave the registry at once (drain or shutdown): nobody routes new devices here any more."""
        if self._left:
            return
        self._left = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(1.0):
                if await self._r.eval(_LEAVE, 2, self.key(self.node_id), self.set_key, self.instance,
                                      self.node_id):
                    logger.info("fleet: node {} left the registry", self.node_id)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("fleet: could not leave the registry ({}); the entry expires by itself",
                           type(exc).__name__)

    async def nodes(self) -> list[NodeInfo]:
        """Live nodes (expired entries are dropped from the set on the way)."""
        ids = sorted(text(m) for m in await self._r.smembers(self.set_key))
        if not ids:
            return []
        raws = await self._r.mget([self.key(i) for i in ids])
        out: list[NodeInfo] = []
        gone: list[str] = []
        for node_id, raw in zip(ids, raws, strict=True):
            info = NodeInfo.parse(raw) if raw is not None else None
            if info is None:
                gone.append(node_id)
            else:
                out.append(info)
        if gone:
            with contextlib.suppress(RedisError, OSError):
                await self._r.srem(self.set_key, *gone)
        return out

    async def is_alive(self, node_id: str) -> bool:
        return bool(await self._r.exists(self.key(node_id)))
