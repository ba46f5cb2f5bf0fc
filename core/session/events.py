"""What goes into the session core (events) and what comes out (actions). Plain frozen values, no I/O.

The connection shell (core/session/connection.py) turns socket traffic, timers and task results into events and
carries out the actions in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.content.types import Track
from core.devices.state import DeviceState
from core.playback.turn import Segment, Turn
from core.protocol.errors import CloseCode
from core.protocol.messages import ListenMode, ListenState, ServerMessage
from core.understand import Understanding

__all__ = ["SessionState", "Event", "Action"] + [
    "TextIn", "BinaryIn", "Tick", "VoiceUtterance", "BargeIn", "StateLoaded", "Understood", "UnderstandFailed",
    "TrackStarted", "TrackNearEnd", "TrackFinished", "TrackFailed", "TurnEnded", "ToolDone", "Evict",
    "Disconnected", "Send", "Close", "LoadState", "SaveState", "Understand", "CancelUnderstanding", "StartTurn",
    "Continue", "CancelTurn", "FadeOut", "VolumeChange", "CallTool", "McpIn", "McpDiscover", "VoiceListen",
    "VoiceFeed"]


class SessionState(StrEnum):
    AWAITING_HELLO = "awaiting_hello"
    IDLE = "idle"
    LISTENING = "listening"          # the device streams its microphone (listen start)
    UNDERSTANDING = "understanding"  # a request is being recognised and answered
    SPEAKING = "speaking"            # a spoken reply is on the device
    PLAYING = "playing"              # a song or story is on the device
    PAUSED = "paused"                # an item is held at its position (paused, or interrupted and waiting)
    CLOSED = "closed"


# ------------------------------------------------------------------------------------------------ events

@dataclass(frozen=True, slots=True)
class TextIn:
    text: str


@dataclass(frozen=True, slots=True)
class BinaryIn:
    data: bytes


@dataclass(frozen=True, slots=True)
class Tick:
    mono: float                      # time.monotonic(): timeouts
    wall: float                      # time.time(): what is saved (timers, history)
    position_ms: int | None = None   # where the device is in the current track, if one plays


@dataclass(frozen=True, slots=True)
class VoiceUtterance:
    text: str                        # "" = speech was heard but nothing understood
    busy: bool = False               # the recogniser had no time for it: the node is past its voice capacity


@dataclass(frozen=True, slots=True)
class BargeIn:
    pass


@dataclass(frozen=True, slots=True)
class StateLoaded:
    state: DeviceState


@dataclass(frozen=True, slots=True)
class Understood:
    request_id: int
    understanding: Understanding


@dataclass(frozen=True, slots=True)
class UnderstandFailed:
    request_id: int


@dataclass(frozen=True, slots=True)
class TrackStarted:
    turn_id: int
    track: Track
    start_ms: int
    etag: str | None


@dataclass(frozen=True, slots=True)
class TrackNearEnd:
    turn_id: int
    track: Track


@dataclass(frozen=True, slots=True)
class TrackFinished:
    turn_id: int
    track: Track
    end_ms: int


@dataclass(frozen=True, slots=True)
class TrackFailed:
    turn_id: int
    track: Track
    busy: bool


@dataclass(frozen=True, slots=True)
class TurnEnded:
    turn_id: int
    cancelled: bool
    position_ms: int | None          # where the device was in the track, when one was playing


@dataclass(frozen=True, slots=True)
class ToolDone:
    ok: bool
    volume: int | None = None


@dataclass(frozen=True, slots=True)
class Evict:
    """Save and close: a newer connection took the device over, or the node drains."""
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    pass


Event = (TextIn | BinaryIn | Tick | VoiceUtterance | BargeIn | StateLoaded | Understood | UnderstandFailed
         | TrackStarted | TrackNearEnd | TrackFinished | TrackFailed | TurnEnded | ToolDone | Evict | Disconnected)


# ------------------------------------------------------------------------------------------------ actions

@dataclass(frozen=True, slots=True)
class Send:
    message: ServerMessage


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class LoadState:
    """Claim the device (an older session saves and closes first), then load its state -> StateLoaded."""
    device_id: str


@dataclass(frozen=True, slots=True)
class SaveState:
    """Save the device state as it is when this action runs (a cancelled turn's position lands first)."""


@dataclass(frozen=True, slots=True)
class Understand:
    """Run understand(text, ctx) with the device state as it is when this action runs -> Understood."""
    request_id: int
    text: str


@dataclass(frozen=True, slots=True)
class CancelUnderstanding:
    pass


@dataclass(frozen=True, slots=True)
class StartTurn:
    turn: Turn


@dataclass(frozen=True, slots=True)
class Continue:
    """The answer to TrackNearEnd/TrackFailed: the next segment, or None to end the turn."""
    turn_id: int
    segment: Segment | None


@dataclass(frozen=True, slots=True)
class CancelTurn:
    """Stop the turn now (cancel and await it) -> TurnEnded(cancelled=True, position)."""
    reason: str


@dataclass(frozen=True, slots=True)
class FadeOut:
    seconds: float


@dataclass(frozen=True, slots=True)
class VolumeChange:
    delta: int
    tool: str
    cap: int | None = None           # the parents' maximum volume


@dataclass(frozen=True, slots=True)
class CallTool:
    name: str
    arguments: dict[str, object]


@dataclass(frozen=True, slots=True)
class McpIn:
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class McpDiscover:
    pass


@dataclass(frozen=True, slots=True)
class VoiceListen:
    state: ListenState
    mode: ListenMode | None


@dataclass(frozen=True, slots=True)
class VoiceFeed:
    opus: bytes


Action = (Send | Close | LoadState | SaveState | Understand | CancelUnderstanding | StartTurn | Continue | CancelTurn
          | FadeOut | VolumeChange | CallTool | McpIn | McpDiscover | VoiceListen | VoiceFeed)
