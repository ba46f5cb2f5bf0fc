"""One server node: the runtime, the device WebSocket server and the HTTP API, started and stopped together; with a
Redis state URL also its place in the fleet (registry, bus, device directory across nodes), and graceful drain."""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from core.config import Config, safe_url
from core.devices.directory import LocalDirectory
from core.devices.store import DeviceStore, open_store
from core.fleet.messages import SetVolume, StopDevice
from core.fleet.registry import CpuMeter
from core.http_api import HttpApi, NodeOps, build_http_app
from core.metrics import Metrics
from core.protocol.errors import CloseCode
from core.runtime import Runtime
from core.server import DeviceServer

__all__ = ["Node", "NodeStartError", "node_id_for"]

_LOCAL_FALLBACK_URL = "sqlite:metadata/devices.db"


class NodeStartError(RuntimeError):
    """The node cannot start; the message says why and what to change."""


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def node_id_for(cfg: Config) -> str:
    """fleet.node_id, else <hostname>-<ws port> (a random suffix when the port is picked at bind time)."""
    if cfg.fleet.node_id:
        return cfg.fleet.node_id
    host = socket.gethostname()[:48]
    return f"{host}-{cfg.server.port}" if cfg.server.port else f"{host}-{uuid.uuid4().hex[:6]}"


def _advertised(cfg: Config, ws_port: int) -> str:
    """The WebSocket URL other nodes hand out for this one (server.advertised_url, else host and port)."""
    s = cfg.server
    if s.advertised_url:
        return s.advertised_url
    host = s.host if s.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{ws_port}{s.websocket_path}"


async def _open_state(cfg: Config, metrics: Metrics) -> tuple[DeviceStore, bool]:
    """The device store and whether this node is part of a fleet (Redis)."""
    url = cfg.state.url
    if not _is_redis(url):
        return await open_store(url), False
    from core.devices.redis_store import RedisStore, StoreUnavailable
    try:
        return await RedisStore.connect(url, prefix=cfg.fleet.key_prefix, metrics=metrics), True
    except StoreUnavailable as exc:
        if not cfg.fleet.redis_fallback:
            raise NodeStartError(str(exc)) from None
        logger.error("{}; fleet.redis_fallback is on: running alone with device state in {}", exc,
                     _LOCAL_FALLBACK_URL)
        return await open_store(_LOCAL_FALLBACK_URL), False


@dataclass(slots=True)
class Node:
    rt: Runtime
    ws: DeviceServer
    http: HttpApi
    ws_port: int = 0
    http_port: int = 0
    metrics: Metrics = field(default_factory=Metrics)
    store: Any = None                    # DeviceStore: SQLite by default, Redis in a fleet
    directory: Any = None                # DeviceDirectory: LocalDirectory, or the fleet's RedisDirectory
    fleet: Any = None                    # core.fleet.fleet.Fleet when state.url is Redis
    node_id: str = "local"
    draining: bool = False
    cpu: float = 0.0                     # share of the machine used by this node (process + ffmpeg children)
    machine_cpu: float = 0.0             # share of the machine in use by anyone
    _load_task: asyncio.Task[None] | None = None
    _cpu_meter: CpuMeter = field(default_factory=lambda: CpuMeter(process=True))
    _machine_meter: CpuMeter = field(default_factory=CpuMeter)

    @classmethod
    async def start(cls, cfg: Config, *, reuse_port: bool = False) -> Node:
        node_id = node_id_for(cfg)
        metrics = Metrics(node_id=node_id)
        store, in_fleet = await _open_state(cfg, metrics)
        fleet: Any = None
        if in_fleet:
            from core.fleet.fleet import Fleet
            fleet = Fleet(_fleet_client(cfg), cfg.fleet, node_id, "", report=lambda: node.load_report(),
                          snapshots=lambda dev: node.snapshots(dev))
        directory = fleet.directory if fleet is not None else LocalDirectory()
        try:
            rt = await Runtime.create(cfg, directory=directory, store=store, metrics=metrics)   # closes the store
        except BaseException:
            await store.close()
            if fleet is not None:
                await fleet.close(leave=False)
            raise
        ws = DeviceServer(rt)
        ops = NodeOps(node_id=node_id, metrics=metrics, operator_token=cfg.fleet.operator_token)
        node = cls(rt, ws, HttpApi(build_http_app(rt, ws_port=lambda: node.ws_port,
                                                  session_count=lambda: len(node.connections()), ops=ops)),
                   metrics=metrics, store=store, directory=directory, fleet=fleet, node_id=node_id)
        ops.ready_checks, ops.route, ops.devices, ops.command = (node.ready_checks, node._route, node._devices,
                                                                 node._command)
        metrics.watch_pipeline(rt.pipeline)
        metrics.watch_load(node.load_report)
        try:
            node.ws_port = await ws.start(cfg.server.host, cfg.server.port, reuse_port=reuse_port)
            node.http_port = await node.http.start(cfg.server.host, cfg.server.http_port, reuse_port=reuse_port)
            if fleet is not None:
                fleet.url = fleet.registry.url = _advertised(cfg, node.ws_port)
                await _join(fleet, cfg)
        except BaseException:
            await node.close()
            raise
        node._load_task = asyncio.create_task(node._sample_load(), name="node-load")
        logger.info("node {} up: state in {}{}", node_id, safe_url(cfg.state.url) if in_fleet else cfg.state.url,
                    ", fleet member" if fleet is not None else "")
        return node

    # ------------------------------------------------------------------ what the node reports
    def connections(self) -> list[Any]:
        """Live device connections (the session redesign names them `connections`; today's server `sessions`)."""
        conns = getattr(self.ws, "connections", None)
        if conns is None:
            conns = getattr(self.ws, "sessions", ())
        return list(conns)

    def snapshots(self, device_id: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for conn in self.connections():
            if device_id is not None and getattr(conn, "device_id", None) != device_id:
                continue
            snap = getattr(conn, "snapshot", None)
            try:
                out.append(snap() if snap is not None else {"device_id": getattr(conn, "device_id", "?"),
                                                            "session_id": getattr(conn, "session_id", "")})
            except Exception:   # noqa: BLE001 - one odd connection must not break the operator view
                logger.exception("snapshot of a connection failed")
        return out

    def load_report(self) -> dict[str, Any]:
        f = self.rt.config.fleet
        sessions = len(self.connections())
        cpu_limited = f.max_cpu < 1.0          # 1.0: CPU never counts (a shared test machine)
        # load ranks nodes by what each one carries; overload is about the machine (another node may use it up)
        load = max(sessions / f.max_sessions, self.cpu / f.max_cpu if cpu_limited else 0.0)
        asr_waiting = int(getattr(self.rt.asr, "waiting", 0))        # utterances queued for a local recogniser
        return {"sessions": sessions, "streams": int(getattr(self.rt.pipeline, "active_streams", 0)),
                "cpu": round(self.cpu, 3), "machine_cpu": round(self.machine_cpu, 3), "load": round(load, 3),
                "max_sessions": f.max_sessions, "draining": self.draining, "asr_waiting": asr_waiting,
                "overloaded": (sessions >= f.max_sessions or (cpu_limited and self.machine_cpu >= f.max_cpu)
                               or asr_waiting >= f.max_asr_waiting
                               or bool(getattr(self.rt.pipeline, "overloaded", False)))}   # decoders all taken

    async def ready_checks(self) -> dict[str, bool]:
        report = self.load_report()
        store_ok = False
        if self.store is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    store_ok = bool(await self.store.ping())
        return {"models_warm": True,            # Runtime.create returns only after the warm-up
                "store_reachable": store_ok, "not_draining": not self.draining,
                "not_overloaded": not report["overloaded"]}

    async def _sample_load(self) -> None:
        while True:
            await asyncio.sleep(self.rt.config.fleet.heartbeat_s)
            self.cpu, self.machine_cpu = self._cpu_meter(), self._machine_meter()

    async def _route(self) -> tuple[str, str] | None:
        if self.fleet is None:
            return None
        best = await self.fleet.route()
        if best is None or best.id == self.node_id:
            return None
        return best.id, best.url

    async def _devices(self, device_id: str | None) -> list[dict[str, Any]]:
        if self.fleet is not None:
            return await self.fleet.devices(device_id)
        return [{**d, "node": self.node_id} for d in self.snapshots(device_id)]

    async def _command(self, msg: StopDevice | SetVolume) -> bool:
        if self.fleet is not None:
            return await self.fleet.command(msg)
        owner = self.directory.owner(msg.device_id) if isinstance(self.directory, LocalDirectory) else None
        control = getattr(owner, "control", None)
        if control is None:
            return False
        await control(msg)
        return True

    # ------------------------------------------------------------------ drain and close
    async def drain(self, deadline_s: float | None = None) -> float:
        """Graceful drain: not ready at once, leave the registry, stop accepting, save every device's position and
        close it with 1012 (devices reconnect through OTA elsewhere). Returns the seconds it took."""
        if self.draining:
            return 0.0
        deadline = self.rt.config.fleet.drain_deadline_s if deadline_s is None else deadline_s
        started = time.monotonic()
        self.draining = True
        logger.info("node {} draining: {} devices to save and hand over (deadline {:.0f} s)", self.node_id,
                    len(self.connections()), deadline)
        if self.fleet is not None:
            await self.fleet.leave()
        await _stop_accepting(self.ws)
        conns = [c for c in self.connections() if hasattr(c, "save_and_close")]
        if conns:
            left = max(0.1, deadline - (time.monotonic() - started))
            tasks = [asyncio.create_task(c.save_and_close(CloseCode.SERVICE_RESTART, "server restarting"))
                     for c in conns]
            done, pending = await asyncio.wait(tasks, timeout=left)
            for t in pending:
                t.cancel()
            failed = sum(1 for t in done if not t.cancelled() and t.exception() is not None)
            if pending or failed:
                logger.error("drain: {} of {} devices not saved in time, {} failed", len(pending), len(conns),
                             failed)
        # close what is left (today's sessions, or any that missed the deadline): 1001, devices reconnect elsewhere
        try:
            async with asyncio.timeout(max(1.0, deadline - (time.monotonic() - started))):
                await self.ws.close()
        except TimeoutError:
            logger.error("drain: connections still open after the {:.0f} s deadline", deadline)
        took = time.monotonic() - started
        self.metrics.drain_seconds(took)
        logger.info("node {} drained in {:.2f} s", self.node_id, took)
        return took

    async def close(self) -> None:
        if self._load_task is not None:
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        if self.fleet is not None:
            await self.fleet.leave()
        await self.ws.close()
        await self.http.close()
        await self.rt.close()
        if self.fleet is not None:
            await self.fleet.close(leave=False)


def _fleet_client(cfg: Config) -> Any:
    from core.devices.redis_store import redis_client
    return redis_client(cfg.state.url)


async def _join(fleet: Any, cfg: Config) -> None:
    from core.devices.redis_store import StoreUnavailable
    from core.fleet.registry import DuplicateNode
    try:
        await fleet.start(cfg.state.url)
    except (DuplicateNode, StoreUnavailable) as exc:
        raise NodeStartError(str(exc)) from None


async def _stop_accepting(ws: Any) -> None:
    """No new device connections; live ones stay until they are saved and closed. (A server without
    `stop_accepting` stops accepting when `close()` closes everything at the end of the drain.)"""
    stop = getattr(ws, "stop_accepting", None)
    if stop is not None:
        result = stop()
        if inspect.isawaitable(result):
            await result
