"""One server node: the runtime, the device WebSocket server, the MQTT + UDP device server (when `mqtt.enabled`) and
the HTTP API, started and stopped together; with a Redis state URL also its place in the fleet (registry, bus, device
directory across nodes), and graceful drain. Both device servers share the runtime's session deps, so a device on
MQTT is claimed, stored, ruled and commanded exactly like a WebSocket one."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loguru import logger

from core.config import Config, safe_url
from core.content.types import Kind, Track
from core.devices.backends import open_store
from core.devices.commands import Command, Delivery
from core.devices.directory import LocalDirectory, Owner
from core.devices.state import DeviceState
from core.devices.store import DeviceStore
from core.devices.view import OtaSeen, SessionView
from core.fleet.registry import CpuMeter
from core.metrics import Metrics
from core.mqtt.device_link import MqttLink
from core.mqtt.server import MqttDeviceServer
from core.protocol.errors import CloseCode
from core.runtime import Runtime
from core.server import DeviceServer
from core.session.connection import Connection
from core.understand import Understanding
from core.utils.net import is_loopback_host, is_wildcard
from core.web.app import HttpServer, build_app
from core.web.ota import mqtt_endpoint, websocket_url
from core.web.view import RoutedNode
from plugins_func.registry import PluginContext

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from core.fleet.directory import RedisDirectory
    from core.fleet.fleet import Fleet

__all__ = ["Node", "NodeStartError", "node_id_for"]

_LOCAL_FALLBACK_URL = "sqlite:metadata/devices.db"
_OTA_SEEN_MAX = 50_000            # devices whose last OTA request a node remembers (about 100 B each)


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
    """A running node; also the `NodeView` its HTTP side reads (core/web/view.py)."""
    rt: Runtime
    ws: DeviceServer
    store: DeviceStore                   # SQLite by default, Redis in a fleet
    directory: LocalDirectory | RedisDirectory
    fleet: Fleet | None = None           # when state.url is Redis
    http: HttpServer | None = None
    mqtt: MqttDeviceServer | None = None  # when mqtt.enabled
    ws_port: int = 0
    http_port: int = 0
    mqtt_port: int = 0
    udp_port: int = 0
    metrics: Metrics = field(default_factory=Metrics)
    node_id: str = "local"
    draining: bool = False
    cpu: float = 0.0                     # share of the machine used by this node (process + ffmpeg children)
    machine_cpu: float = 0.0             # share of the machine in use by anyone
    _load_task: asyncio.Task[None] | None = None
    _cpu_meter: CpuMeter = field(default_factory=lambda: CpuMeter(process=True))
    _machine_meter: CpuMeter = field(default_factory=CpuMeter)
    _ota_seen: OrderedDict[str, OtaSeen] = field(default_factory=OrderedDict)

    @classmethod
    async def start(cls, cfg: Config, *, reuse_port: bool = False) -> Node:
        node_id = node_id_for(cfg)
        metrics = Metrics(node_id=node_id)
        store, in_fleet = await _open_state(cfg, metrics)
        fleet: Fleet | None = None
        if in_fleet:
            from core.fleet.fleet import Fleet
            fleet = Fleet(_fleet_client(cfg), cfg.fleet, node_id, "", report=lambda: node.load_report(),
                          snapshots=lambda dev: node.snapshots(dev))
        directory: LocalDirectory | RedisDirectory = fleet.directory if fleet is not None else LocalDirectory()
        try:
            rt = await Runtime.create(cfg, directory=directory, store=store, metrics=metrics)   # closes the store
        except BaseException:
            await store.close()
            if fleet is not None:
                await fleet.close(leave=False)
            raise
        node = cls(rt, DeviceServer(rt), store, directory, fleet, metrics=metrics, node_id=node_id)
        node.http = HttpServer(build_app(node, cfg))
        metrics.watch_pipeline(rt.pipeline)
        metrics.watch_load(node.load_report)
        metrics.watch_content(rt.content.catalog)
        rt.pipeline.fetch_counts.on_first_byte = metrics.audio_fetch
        try:
            node.ws_port = await node.ws.start(cfg.server.host, cfg.server.port, reuse_port=reuse_port)
            node.http_port = await node.http.start(cfg.server.host, cfg.server.http_port, reuse_port=reuse_port)
            if cfg.mqtt.enabled:
                node.mqtt = MqttDeviceServer(cfg.mqtt, rt.session)
                node.mqtt_port, node.udp_port = await _start_mqtt(node.mqtt, cfg)
                metrics.watch_mqtt(node.mqtt.endpoint.stats)
            _warn_on_loopback_advertised_url(cfg)
            if fleet is not None:
                fleet.url = fleet.registry.url = node.websocket_url()
                fleet.registry.mqtt = node.mqtt_endpoint() or ""
                await _join(fleet, cfg)
                _say_where_devices_are_sent(cfg, fleet.url)
        except BaseException:
            await node.close()
            raise
        node._load_task = asyncio.create_task(node._sample_load(), name="node-load")
        logger.info("node {} up: state in {}{}", node_id, safe_url(cfg.state.url) if in_fleet else cfg.state.url,
                    ", fleet member" if fleet is not None else "")
        return node

    # ------------------------------------------------------------------ what the node reports
    def connections(self) -> list[Connection]:
        """Every device session on this node, WebSocket and MQTT (idle MQTT speakers included)."""
        held = list(self.ws.connections)
        if self.mqtt is not None:
            held += self.mqtt.connections
        return held

    def _conversations(self) -> int:
        """Sessions doing work: every WebSocket one, and MQTT ones with a conversation open."""
        busy = len(self.ws.connections)
        if self.mqtt is not None:
            busy += sum(1 for c in self.mqtt.connections if c.core.conversation.open)
        return busy

    def snapshots(self, device_id: str | None = None) -> list[SessionView]:
        out: list[SessionView] = []
        for conn in self.connections():
            if device_id is not None and conn.device_id != device_id:
                continue
            try:
                out.append(self._with_ota(conn, conn.view()))
            except Exception:   # noqa: BLE001 - one odd connection must not break the operator view
                logger.exception("view of a connection failed")
        return out

    def _with_ota(self, conn: Connection, view: SessionView) -> SessionView:
        """The view with the device's board and firmware from its latest OTA request: the one this node answered,
        or the one an MQTT device's signed credentials carry (answered by any node of the fleet)."""
        seen = self._ota_seen.get(view.device_id)
        link = conn.link
        if isinstance(link, MqttLink):
            ident = link.mqtt
            if seen is None or ident.ota_at > seen.at:
                seen = OtaSeen(board=ident.board, firmware=ident.firmware, at=ident.ota_at)
        if seen is None:
            return view
        return replace(view, board=seen.board, firmware=seen.firmware, last_ota_at=seen.at)

    def load_report(self) -> dict[str, Any]:
        f = self.rt.config.fleet
        # sessions: conversations (the work a node does); an idle MQTT speaker costs a few KiB and is counted
        # against mqtt.max_connections instead, so thousands of them do not make a node look full
        sessions = self._conversations()
        mqtt_devices = len(self.mqtt.connections) if self.mqtt is not None else 0
        mqtt_full = mqtt_devices / self.rt.config.mqtt.max_connections if self.mqtt is not None else 0.0
        cpu_limited = f.max_cpu < 1.0          # 1.0: CPU never counts (a shared test machine)
        # load ranks nodes by what each one carries; overload is about the machine (another node may use it up)
        # and by the share of its cold-stream audio budget in use (core/audio/budget.py)
        load = max(sessions / f.max_sessions, mqtt_full, self.cpu / f.max_cpu if cpu_limited else 0.0,
                   self.rt.pipeline.audio_load)
        asr_waiting = int(getattr(self.rt.asr, "waiting", 0))        # utterances queued for a local recogniser
        return {"sessions": sessions, "streams": self.rt.pipeline.active_streams,
                "cpu": round(self.cpu, 3), "machine_cpu": round(self.machine_cpu, 3), "load": round(load, 3),
                "max_sessions": f.max_sessions, "draining": self.draining, "asr_waiting": asr_waiting,
                "mqtt_devices": mqtt_devices,
                "overloaded": (sessions >= f.max_sessions or mqtt_full >= 1.0
                               or (cpu_limited and self.machine_cpu >= f.max_cpu)
                               or asr_waiting >= f.max_asr_waiting
                               or self.rt.pipeline.overloaded)}   # audio budget near full, or decoders all taken

    async def ready_checks(self) -> dict[str, bool]:
        report = self.load_report()
        store_ok = False
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

    def _local(self) -> LocalDirectory:
        return self.directory if isinstance(self.directory, LocalDirectory) else self.directory.local

    # ------------------------------------------------------------------ NodeView (core/web/view.py)
    @property
    def policy_refresh_s(self) -> float:
        return self.rt.session.settings.policy_refresh_s

    def websocket_url(self, host_seen: str | None = None) -> str:
        return websocket_url(self.rt.config.server, self.ws_port, host_seen)

    def mqtt_endpoint(self, host_seen: str | None = None) -> str | None:
        if self.mqtt is None:
            return None
        return mqtt_endpoint(self.rt.config.mqtt, self.rt.config.server, self.mqtt_port, host_seen)

    async def route(self) -> RoutedNode | None:
        if self.fleet is None:
            return None
        best = await self.fleet.route()
        if best is None or best.id == self.node_id:
            return None
        return RoutedNode(best.id, best.url, best.mqtt or None)

    def mint_token(self, client_id: str, device_id: str) -> str:
        return self.rt.auth.mint(client_id, device_id)

    def count_ota(self, routed_to_self: bool) -> None:
        self.metrics.ota_request(routed_to_self)

    def count_refusal(self, reason: str) -> None:
        self.metrics.auth_refused("api", reason)

    def note_ota(self, device_id: str, seen: OtaSeen) -> None:
        self._ota_seen[device_id] = seen
        self._ota_seen.move_to_end(device_id)
        while len(self._ota_seen) > _OTA_SEEN_MAX:
            self._ota_seen.popitem(last=False)

    def session_count(self) -> int:
        return len(self.connections())

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        return self.rt.content.tracks(kind)

    def audio_stats(self) -> Mapping[str, int | bool | float]:
        return self.rt.pipeline.stats()

    async def readiness(self) -> dict[str, bool]:
        return {"catalog_loaded": len(self.rt.content.tracks()) > 0, **await self.ready_checks()}

    async def metrics_text(self) -> bytes:
        return await asyncio.to_thread(self.metrics.exposition)     # reads /proc and the cache folder

    def stage_latency(self) -> Mapping[str, Mapping[str, float | None]]:
        return self.metrics.stage_summary()

    async def understand(self, text: str) -> Understanding:
        deps = self.rt.session
        ctx = PluginContext(catalog=self.rt.content.matcher, device=DeviceState("match-web"), on_miss=deps.on_miss,
                            recent_size=deps.recent_history)
        return await deps.understand(text, ctx)

    def session(self, device_id: str) -> SessionView | None:
        owner: Owner | None = self._local().owner(device_id)
        return owner.view() if owner is not None else None

    async def devices(self, device_id: str | None) -> list[tuple[str, SessionView]]:
        if self.fleet is not None:
            return await self.fleet.devices(device_id)
        return [(self.node_id, view) for view in self.snapshots(device_id)]

    async def command(self, device_id: str, cmd: Command) -> Delivery:
        if self.fleet is not None:
            return await self.fleet.command(device_id, cmd)
        owner = self._local().owner(device_id)
        if owner is None:
            return Delivery.NOT_HELD
        return Delivery.TAKEN if owner.command(cmd) else Delivery.REFUSED

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
        self.ws.stop_accepting()
        if self.mqtt is not None:
            self.mqtt.stop_accepting()        # MQTT devices reconnect within a minute, through OTA, elsewhere
        conns = self.connections()
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
        # close any that missed the deadline: 1001, devices reconnect elsewhere
        try:
            async with asyncio.timeout(max(1.0, deadline - (time.monotonic() - started))):
                await self.ws.close()
                if self.mqtt is not None:
                    await self.mqtt.close()
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
        if self.mqtt is not None:
            await self.mqtt.close()
        if self.http is not None:
            await self.http.close()
        await self.rt.close()
        if self.fleet is not None:
            await self.fleet.close(leave=False)


def _fleet_client(cfg: Config) -> aioredis.Redis:
    from core.devices.redis_store import redis_client
    return redis_client(cfg.state.url)


async def _start_mqtt(server: MqttDeviceServer, cfg: Config) -> tuple[int, int]:
    try:
        return await server.start()
    except OSError as exc:
        m = cfg.mqtt
        raise NodeStartError(f"mqtt: cannot listen on MQTT {m.host}:{m.port} / UDP {m.udp_host}:{m.udp_port} "
                             f"({exc.strerror or exc}); free the port or change mqtt.port / mqtt.udp_port") from None


def _warn_on_loopback_advertised_url(cfg: Config) -> None:
    """A configured advertised URL on localhost (compose's PUBLIC_HOST left at its default) is what OTA hands every
    device, and no device can reach it, although the server listens on all interfaces."""
    url = cfg.server.advertised_url
    if url and is_wildcard(cfg.server.host) and is_loopback_host(urlsplit(url).hostname or ""):
        logger.warning("server.advertised_url (SERVER_ADVERTISED_URL) is {}: OTA gives devices this loopback address, "
                       "which no device on the network can reach; set it (PUBLIC_HOST in deploy/) to the address "
                       "devices reach this machine by", url)


def _say_where_devices_are_sent(cfg: Config, url: str) -> None:
    """Other nodes' OTA sends devices to this node's registered URL; without server.advertised_url it is derived
    (the ready line's address), which is wrong behind NAT or a proxy and unusable when it is loopback."""
    if cfg.server.advertised_url:
        return
    if is_wildcard(cfg.server.host) and is_loopback_host(urlsplit(url).hostname or ""):
        logger.warning("fleet: this node advertises {}, which no other machine can reach (no route off this "
                       "machine was found); set server.advertised_url (SERVER_ADVERTISED_URL)", url)
    else:
        logger.info("fleet: devices routed here by other nodes get {} (the ready line's address); set "
                    "server.advertised_url (SERVER_ADVERTISED_URL) if devices reach this node by another", url)


async def _join(fleet: Fleet, cfg: Config) -> None:
    from core.devices.redis_store import StoreUnavailable
    from core.fleet.registry import DuplicateNode
    try:
        await fleet.start(cfg.state.url)
    except (DuplicateNode, StoreUnavailable) as exc:
        raise NodeStartError(str(exc)) from None
