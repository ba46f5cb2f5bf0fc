"""The device's own MCP tools as the session uses them: which exist, the calls in flight and what each was for.

Sans-I/O. The shell runs `CallTool` actions and feeds `ToolResult`s back; this class turns a volume step into "read
the speaker's volume, then set it within the cap", remembers what the speaker last reported about itself, and keeps
the cap on the speaker (a lower cap, or a report of a volume above it, sets it down).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from core.devices.view import DeviceStatus
from core.protocol.tools import GET_DEVICE_STATUS, SET_VOLUME
from core.session.events import CallTool

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["DeviceTools", "ToolOutcome", "VolumeStep", "VolumeSet", "StatusRead", "PlainCall", "Purpose", "status_of"]


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


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool result means for the session: calls to make next, a volume now known, a volume change that
    failed (the child asked for it: say so)."""
    calls: tuple[CallTool, ...] = ()
    volume: int | None = None
    volume_failed: bool = False


Cap = Callable[[int], int]          # the parents' cap on a volume level (core/session/house.py)


class DeviceTools:
    def __init__(self, *, log: Logger = logger, default_volume: int = 60) -> None:
        self.names: frozenset[str] = frozenset()
        self.status: DeviceStatus | None = None
        self._calls: dict[int, Purpose] = {}
        self._ids = itertools.count(1)
        self._log = log
        self._default = default_volume      # assumed when the speaker cannot say its volume

    def has(self, name: str) -> bool:
        return name in self.names

    def read_status(self) -> list[CallTool]:
        return [self._call(GET_DEVICE_STATUS, {}, StatusRead())] if self.has(GET_DEVICE_STATUS) else []

    def step(self, delta: int, tool: str, why: str, known: int | None, cap: Cap) -> list[CallTool]:
        """Move the volume by `delta` within the cap: from what the speaker says it is, when it can say."""
        if self.has(GET_DEVICE_STATUS):
            return [self._call(GET_DEVICE_STATUS, {}, VolumeStep(delta, tool, why))]
        return self.set((known or self._default) + delta, why, cap, tool)

    def set(self, level: int, why: str, cap: Cap, tool: str = SET_VOLUME) -> list[CallTool]:
        target = cap(level)
        if not self.has(tool):
            self._log.info("volume {} ({}): the device has no volume tool", target, why)
            return []
        return [self._call(tool, {"volume": target}, VolumeSet(target, why))]

    def named(self, name: str, arguments: dict[str, object], cap: Cap) -> CallTool:
        """A device tool an intent named; a volume among its arguments stays within the cap."""
        level = arguments.get("volume")
        if isinstance(level, int) and not isinstance(level, bool):
            arguments = {**arguments, "volume": cap(level)}
        return self._call(name, arguments, PlainCall(name))

    def operator(self, name: str, arguments: dict[str, object]) -> list[CallTool]:
        """An operator-only action (reboot, firmware upgrade), audited in the log."""
        if not self.has(name):
            self._log.warning("operator action {}: the device did not list that tool", name)
            return []
        self._log.bind(audit=True).info("operator action {} sent to the device", name)
        return [self._call(name, arguments, PlainCall(name, audit=True))]

    def result(self, call_id: int, ok: bool, result: object, *, known: int | None, cap: Cap, wall: float
               ) -> ToolOutcome:
        purpose = self._calls.pop(call_id, None)
        match purpose:
            case VolumeStep(delta, tool, why):
                status = status_of(result, wall) if ok else None
                if status is not None:
                    self.status = status
                now = (status.volume if status is not None else None) or known or self._default
                return ToolOutcome(tuple(self.set(now + delta, why, cap, tool)))
            case VolumeSet(level, why):
                if ok:
                    self._log.info("volume -> {} ({})", level, why)
                    return ToolOutcome(volume=level)
                return ToolOutcome(volume_failed=why == "asked")
            case StatusRead():
                status = status_of(result, wall) if ok else None
                if status is None:
                    return ToolOutcome()
                self.status = status
                if status.volume is not None and cap(status.volume) < status.volume:
                    # the buttons raised it past the parents' cap
                    return ToolOutcome(tuple(self.set(status.volume, "cap", cap)), volume=status.volume)
                return ToolOutcome(volume=status.volume)
            case PlainCall(name, audit):
                (self._log.bind(audit=True) if audit else self._log).info("device tool {} {}", name,
                                                                         "done" if ok else "failed")
        return ToolOutcome()

    def _call(self, name: str, arguments: dict[str, object], purpose: Purpose) -> CallTool:
        call_id = next(self._ids)
        self._calls[call_id] = purpose
        return CallTool(call_id, name, arguments)


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
