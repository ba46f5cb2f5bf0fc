"""What goes into the session core (events) and what comes out (actions). Plain frozen values, no I/O.

The connection shell (core/session/connection.py) turns socket traffic, timers, task results and commands from the
operator or the parents (core/devices/commands.py) into events, and carries out the actions in order.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.content.types import Track
from core.devices.commands import Command
from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState
from core.playback.turn import Segment, Turn
from core.protocol.errors import CloseCode
from core.protocol.messages import ListenMode, ListenState, ServerMessage
from core.understand import Understanding

__all__ = ["Event", "Action"] + [
    "TextIn", "BinaryIn", "Tick", "VoiceUtterance", "BargeIn", "StateLoaded", "Understood", "UnderstandFailed",
    "SpeechStarted", "TrackStarted", "TrackNearEnd", "TrackFinished", "TrackFailed", "TurnEnded", "ToolsDiscovered",
    "ToolResult", "ChannelLost", "Evict", "Disconnected",
    "Send", "Close", "LoadState", "SaveState", "LoadPolicy", "Understand", "CancelUnderstanding", "StartTurn",
    "Continue", "CancelTurn", "FadeOut", "CallTool", "McpIn", "McpDiscover", "VoiceListen", "VoiceFeed",
    "EndConversation"]


# ------------------------------------------------------------------------------------------------ events

@dataclass(frozen=True, slots=True)
class TextIn:
    text: str


@dataclass(frozen=True, slots=True)
class BinaryIn:
    """One audio packet from the device, in the framing the hello agreed (over UDP: raw Opus, framing v1)."""
    data: bytes


@dataclass(frozen=True, slots=True)
class Tick:
    mono: float                      # time.monotonic(): timeouts
    wall: float                      # time.time(): what is saved (timers, history), the household's clock
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
    policy: PolicyRecord


@dataclass(frozen=True, slots=True)
class Understood:
    request_id: int
    understanding: Understanding


@dataclass(frozen=True, slots=True)
class UnderstandFailed:
    request_id: int


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The turn's first spoken frame went out to the device."""
    turn_id: int


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
class ToolsDiscovered:
    """The device's MCP tools (names), after discovery."""
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to CallTool(call_id, ...): `result` is the tool's parsed content (None when it failed)."""
    call_id: int
    ok: bool
    result: object = None


@dataclass(frozen=True, slots=True)
class ChannelLost:
    """The transport lost the conversation's audio channel (e.g. no UDP datagram ever arrived)."""
    reason: str


@dataclass(frozen=True, slots=True)
class Evict:
    """Save and close: a newer connection took the device over, or the node drains."""
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    pass


Event = (TextIn | BinaryIn | Tick | VoiceUtterance | BargeIn | StateLoaded | Understood | UnderstandFailed
         | SpeechStarted | TrackStarted | TrackNearEnd | TrackFinished | TrackFailed | TurnEnded | ToolsDiscovered
         | ToolResult | ChannelLost | Evict | Disconnected | Command)


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
    """Claim the device (an older session saves and closes first), then load its state and its household's rules
    -> StateLoaded."""
    device_id: str


@dataclass(frozen=True, slots=True)
class SaveState:
    """Save the device state as it is when this action runs (a cancelled turn's position lands first)."""


@dataclass(frozen=True, slots=True)
class LoadPolicy:
    """Read the household's rules as stored -> PolicyUpdated (a change the bus did not bring reaches us this way)."""


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
class CallTool:
    """Call one of the device's MCP tools -> ToolResult(call_id, ...)."""
    call_id: int
    name: str
    arguments: dict[str, object]


@dataclass(frozen=True, slots=True)
class McpIn:
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class McpDiscover:
    """Initialise the device's MCP server and list its tools -> ToolsDiscovered."""


@dataclass(frozen=True, slots=True)
class VoiceListen:
    state: ListenState
    mode: ListenMode | None


@dataclass(frozen=True, slots=True)
class VoiceFeed:
    opus: bytes


@dataclass(frozen=True, slots=True)
class EndConversation:
    """The conversation is over (a goodbye either way): the transport drops its audio channel; the link stays."""


Action = (Send | Close | LoadState | SaveState | LoadPolicy | Understand | CancelUnderstanding | StartTurn | Continue
          | CancelTurn | FadeOut | CallTool | McpIn | McpDiscover | VoiceListen | VoiceFeed | EndConversation)
