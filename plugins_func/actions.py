"""What a plugin function asks for: a spoken line plus typed actions the device's player carries out.

Plugins never see the connection. The player (core/playback/player.py) applies the actions to the device state;
the session core decides what that means for the wire. Only `PlayTrack`, `Pause` and `Stop` decide what plays
next; after any other action an interrupted item simply continues where it was.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.content.types import Track
from core.devices.state import Repeat

__all__ = ["PlayTrack", "Pause", "Stop", "Enqueue", "SetModes", "SetTimer", "CancelTimer", "Favourite",
           "ChangeVolume", "DeviceTool", "Action", "PLAYBACK_ACTIONS"]


@dataclass(frozen=True, slots=True)
class PlayTrack:
    """Play `track` from `start_ms`. `queue` (uids) is what plays around it; None = just this item."""
    track: Track
    start_ms: int = 0
    queue: tuple[str, ...] | None = None
    index: int = 0
    continuous: bool = False       # advance through `queue` by itself
    keep_queue: bool = False       # play within the current queue (next / previous / resume) without replacing it


@dataclass(frozen=True, slots=True)
class Pause:
    """Keep the item and its position; no audio until resumed."""


@dataclass(frozen=True, slots=True)
class Stop:
    """End playback; the item and its position stay remembered for "continue"."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    track: Track
    next: bool = True              # play right after the current item; False: at the end of the queue


@dataclass(frozen=True, slots=True)
class SetModes:
    shuffle: bool | None = None
    repeat: Repeat | None = None


@dataclass(frozen=True, slots=True)
class SetTimer:
    minutes: float | None = None   # stop this many minutes from now (the last seconds fade out)
    after_item: bool = False       # stop when the current item ends


@dataclass(frozen=True, slots=True)
class CancelTimer:
    pass


@dataclass(frozen=True, slots=True)
class Favourite:
    uid: str
    add: bool = True


@dataclass(frozen=True, slots=True)
class ChangeVolume:
    delta: int                     # percent points, through the device's MCP volume tool
    tool: str


@dataclass(frozen=True, slots=True)
class DeviceTool:
    """One of the device's own MCP tools (an LLM intent may name one)."""
    name: str
    arguments: dict[str, object]


Action = PlayTrack | Pause | Stop | Enqueue | SetModes | SetTimer | CancelTimer | Favourite | ChangeVolume | DeviceTool
PLAYBACK_ACTIONS = (PlayTrack, Pause, Stop)
