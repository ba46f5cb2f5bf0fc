"""What the HTTP side may see and do of its node: narrow Protocols the handlers take instead of the node itself.

`core.node.Node` implements `NodeView`; each handler class takes only the part it uses.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.content.types import Kind, Track
from core.devices.commands import Command, Delivery
from core.devices.store import DeviceStore
from core.devices.view import OtaSeen, SessionView
from core.understand import Understanding

__all__ = ["OtaView", "OpsView", "ConsoleView", "DevicesView", "NodeView", "RoutedNode"]


@dataclass(frozen=True, slots=True)
class RoutedNode:
    """Another node a joining device is sent to, and where devices reach it."""
    node_id: str
    websocket_url: str
    mqtt_endpoint: str | None = None     # "host:port"; None when that node serves no MQTT


class OtaView(Protocol):
    @property
    def node_id(self) -> str: ...

    def websocket_url(self, host_seen: str | None = None) -> str:
        """This node's WebSocket URL; `host_seen`: the address a device used to reach the HTTP port."""
        ...

    def mqtt_endpoint(self, host_seen: str | None = None) -> str | None:
        """This node's MQTT endpoint "host:port" for devices; None when it serves no MQTT (mqtt.enabled off)."""
        ...

    async def route(self) -> RoutedNode | None:
        """Another node a joining device should use (the least loaded); None: this node."""
        ...

    def mint_token(self, client_id: str, device_id: str) -> str:
        """The device's WebSocket token ("" when none is needed)."""
        ...

    def count_ota(self, routed_to_self: bool) -> None: ...

    def count_refusal(self, reason: str) -> None:
        """A caller of the token-guarded API refused (core/metrics.py AUTH_REFUSALS["api"])."""

    def note_ota(self, device_id: str, seen: OtaSeen) -> None:
        """Remember what a device's OTA request said (the console shows board, firmware and when)."""
        ...


class OpsView(Protocol):
    @property
    def node_id(self) -> str: ...

    def session_count(self) -> int: ...

    def tracks(self, kind: Kind | None = None) -> list[Track]: ...

    def audio_stats(self) -> Mapping[str, int | bool | float]: ...

    async def readiness(self) -> dict[str, bool]:
        """Each readiness check by name; the node is ready when all are True."""
        ...

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition."""
        ...


class ConsoleView(Protocol):
    @property
    def node_id(self) -> str: ...

    def tracks(self, kind: Kind | None = None) -> list[Track]: ...

    async def understand(self, text: str) -> Understanding:
        """The server's own path (intent -> plugin -> catalog match) for a device with nothing played."""
        ...

    def stage_latency(self) -> Mapping[str, Mapping[str, float | None]]:
        """This node's request stages (asr, understand, tts, song): count, p50 and p99 in seconds."""
        ...


class DevicesView(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def store(self) -> DeviceStore: ...

    @property
    def policy_refresh_s(self) -> float:
        """How soon a live session re-reads its rules record by itself (a lost bus message heals within this)."""
        ...

    def tracks(self, kind: Kind | None = None) -> list[Track]: ...

    def session(self, device_id: str) -> SessionView | None:
        """The device's live session on this node, if it is connected here."""
        ...

    async def devices(self, device_id: str | None) -> list[tuple[str, SessionView]]:
        """Connected devices across the fleet (one when `device_id`): (node id, session view)."""
        ...

    async def command(self, device_id: str, cmd: Command) -> Delivery:
        """Deliver `cmd` to the session holding the device, wherever it is. Never raises."""
        ...


class NodeView(OtaView, OpsView, ConsoleView, DevicesView, Protocol):
    """Everything the HTTP surface uses of a node."""
