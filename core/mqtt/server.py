"""The MQTT + UDP device server of a node: the endpoint, the node's UDP socket, and one session per connection.

The counterpart of core/server.py (WebSocket). Every MQTT connection becomes a `Connection` (core/session) over its
`MqttLink`, which lives as long as the MQTT connection: the speaker is claimed and its state loaded at connect, so an
idle speaker (MQTT up, no conversation) is reachable for the parents' rules and the operator. A duplicate client id
takes over after the older session saved and closed, as the device directory does for WebSocket.
"""
from __future__ import annotations

import asyncio

from loguru import logger

from core.config import MqttConfig
from core.mqtt.device_link import MqttLink
from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.udp import UdpAudioChannel
from core.protocol.errors import CloseCode
from core.session.connection import Connection, SessionDeps

__all__ = ["MqttDeviceServer"]


class MqttDeviceServer:
    def __init__(self, cfg: MqttConfig, deps: SessionDeps) -> None:
        self._cfg = cfg
        self._deps = deps
        self.udp = UdpAudioChannel()
        self.endpoint = MqttEndpoint(cfg, udp=self.udp, on_link=self._run, on_takeover=self._take_over)
        self.connections: set[Connection] = set()
        self._by_link: dict[int, Connection] = {}
        self.port = 0
        self.udp_port = 0

    async def start(self) -> tuple[int, int]:
        """Bind the UDP socket and the MQTT port (mqtt.host/port, mqtt.udp_host/udp_port); returns both ports."""
        self.udp_port = await self.udp.start(self._cfg.udp_host, self._cfg.udp_port)
        self.port = await self.endpoint.start(self._cfg.host, self._cfg.port)
        logger.info("MQTT on {}:{}, UDP audio on {}:{}", self._cfg.host, self.port, self._cfg.udp_host, self.udp_port)
        return self.port, self.udp_port

    def stop_accepting(self) -> None:
        self.endpoint.stop_accepting()

    async def drain(self, code: CloseCode, reason: str) -> None:
        """Save every device's position and close its connection (the device reconnects, through OTA, elsewhere)."""
        self.stop_accepting()
        await asyncio.gather(*(c.save_and_close(code, reason) for c in list(self.connections)),
                             return_exceptions=True)

    async def close(self) -> None:
        if self.connections:
            await self.drain(CloseCode.GOING_AWAY, "server shutting down")
        await self.endpoint.close()
        self.udp.close()

    async def _run(self, link: MqttLink) -> None:
        conn = Connection(self._deps, link.identity, link)
        self.connections.add(conn)
        self._by_link[id(link)] = conn
        try:
            await conn.run()
        except Exception:  # noqa: BLE001 - contain any session bug to this one device
            conn.log.exception("session failed")
            await link.close(int(CloseCode.INTERNAL), "internal error")
        finally:
            self.connections.discard(conn)
            self._by_link.pop(id(link), None)

    async def _take_over(self, old: MqttLink) -> None:
        conn = self._by_link.get(id(old))
        if conn is not None:
            await conn.save_and_close(CloseCode.REPLACED, "replaced by a newer connection")
