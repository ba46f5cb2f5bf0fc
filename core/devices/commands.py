"""Commands for one device from outside its conversation: the operator, the parents' page, another node.

Each is a typed value. The HTTP side and the fleet bus only deliver them to the session holding the device; the
session decides what they mean (core/session). Nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.devices.policy import PolicyRecord

__all__ = ["StopNow", "PauseNow", "SetVolume", "PolicyUpdated", "Reboot", "UpgradeFirmware", "Command",
           "OPERATOR_ONLY", "Delivery", "firmware_url_problem"]


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


def firmware_url_problem(url: object) -> str | None:
    """Why `url` cannot be a firmware image's address (None: it can)."""
    if not isinstance(url, str) or not 0 < len(url) <= 1024 or not url.isprintable():
        return "must be a URL of 1-1024 printable characters"
    if not url.startswith(("https://", "http://")):
        return "must start with https:// or http://"
    return None


Command = StopNow | PauseNow | SetVolume | PolicyUpdated | Reboot | UpgradeFirmware
OPERATOR_ONLY = (Reboot, UpgradeFirmware)        # never reachable with a parent's token


class Delivery(StrEnum):
    """What became of a command sent towards the session holding a device."""
    TAKEN = "taken"                  # the session on this node took it, or the node holding the device received it
    REFUSED = "refused"              # the session on this node did not take it (closing, or not a command it knows)
    UNREACHED = "unreached"          # a live node holds the device but the message did not reach it
    NOT_HELD = "not_held"            # no node holds the device: it is not connected
