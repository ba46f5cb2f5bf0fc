"""The device's own MCP tools as the session uses them: which exist, the calls in flight and what each was for.

Sans-I/O. The shell runs `CallTool` actions and feeds `ToolResult`s back; this class turns a volume step into "read
the speaker's volume, then set it within the cap", remembers what the speaker last reported about itself, and keeps
the cap on the speaker (a lower cap, or a report of a volume above it, sets it down).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from core.devices.view import DeviceStatus
from core.protocol.tools import GET_DEVICE_STATUS, SET_VOLUME
from core.session.events import CallTool

__all__ = ["DeviceTools", "VolumeStep", "VolumeSet", "StatusRead", "PlainCall", "Purpose", "status_of"]


@dataclass(frozen=True, slots=True)
class VolumeStep:
    """Read the volume, then move it by `delta` (within the cap) with `tool`."""
    delta: int
    tool: str
    why: str                       # "asked", "cap"


@dataclass(frozen=True, slots=True)
class VolumeSet:
    level: int
    why: str                       # "asked", "operator", "cap"


@dataclass(frozen=True, slots=True)
class StatusRead:
    """A status report: at session start and every few minutes while idle (the cap is re-applied from it)."""


@dataclass(frozen=True, slots=True)
class PlainCall:
    name: str
    audit: bool = False            # an operator action: logged as such


Purpose = VolumeStep | VolumeSet | StatusRead | PlainCall


class DeviceTools:
    def __init__(self) -> None:
        self.names: frozenset[str] = frozenset()
        self.status: DeviceStatus | None = None
        self._calls: dict[int, Purpose] = {}
        self._ids = itertools.count(1)

    def has(self, name: str) -> bool:
        return name in self.names

    def call(self, name: str, arguments: dict[str, object], purpose: Purpose) -> CallTool:
        call_id = next(self._ids)
        self._calls[call_id] = purpose
        return CallTool(call_id, name, arguments)

    def done(self, call_id: int) -> Purpose | None:
        return self._calls.pop(call_id, None)

    def read_status(self) -> CallTool | None:
        return self.call(GET_DEVICE_STATUS, {}, StatusRead()) if self.has(GET_DEVICE_STATUS) else None

    def set_volume(self, level: int, why: str, tool: str = SET_VOLUME) -> CallTool | None:
        return self.call(tool, {"volume": level}, VolumeSet(level, why)) if self.has(tool) else None


def status_of(result: Any, wall: float) -> DeviceStatus | None:
    """`self.get_device_status`'s JSON (fields only where the board has them), or None when it is not one."""
    if not isinstance(result, dict):
        return None
    speaker, battery, network = (result.get(k) for k in ("audio_speaker", "battery", "network"))
    volume = speaker.get("volume") if isinstance(speaker, dict) else None
    level = battery.get("level") if isinstance(battery, dict) else None
    charging = battery.get("charging") if isinstance(battery, dict) else None
    signal = network.get("signal") if isinstance(network, dict) else None
    return DeviceStatus(
        volume=volume if isinstance(volume, int) and not isinstance(volume, bool) and 0 <= volume <= 100 else None,
        battery=level if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 100 else None,
        charging=charging if isinstance(charging, bool) else None,
        signal=signal[:16] if isinstance(signal, str) else None, at=wall)
