"""Commands for one device from outside its conversation: the operator, the parents' page, another node.

Each is a typed value. The HTTP side and the fleet bus only deliver them to the session holding the device; the
session decides what they mean (core/session). Nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.devices.policy import PolicyRecord

__all__ = ["StopNow", "PauseNow", "SetVolume", "PolicyUpdated", "Reboot", "UpgradeFirmware", "Command",
           "OPERATOR_ONLY"]


@dataclass(frozen=True, slots=True)
class StopNow:
    """Stop what plays; the item stays remembered for "continue", as after the device's own button."""


@dataclass(frozen=True, slots=True)
class PauseNow:
    """Pause what plays at its position (the parents' "pause the speaker now"); an idle speaker shows a notice."""


@dataclass(frozen=True, slots=True)
class SetVolume:
    """Set the speaker's volume; the parents' cap still applies."""
    level: int                       # 0-100


@dataclass(frozen=True, slots=True)
class PolicyUpdated:
    """The household's rules changed (the record as stored); a session applies only a newer revision."""
    record: PolicyRecord


@dataclass(frozen=True, slots=True)
class Reboot:
    """Restart the speaker through its user-only MCP tool."""


@dataclass(frozen=True, slots=True)
class UpgradeFirmware:
    """Point the speaker at a firmware image through its user-only MCP tool."""
    url: str


Command = StopNow | PauseNow | SetVolume | PolicyUpdated | Reboot | UpgradeFirmware
OPERATOR_ONLY = (Reboot, UpgradeFirmware)        # never reachable with a parent's token
