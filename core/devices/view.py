"""What the outside may see of a live device session: a frozen, typed snapshot (the console, the operator API, the
fleet's device query and the tests read this, never the session's internals)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["NowPlaying", "DeviceStatus", "SessionView", "OtaSeen"]


@dataclass(frozen=True, slots=True)
class NowPlaying:
    uid: str
    title: str
    position_ms: int


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What the speaker last reported about itself (its `self.get_device_status` tool), where the board has it."""
    volume: int | None = None
    battery: int | None = None       # percent
    charging: bool | None = None
    signal: str | None = None        # "strong" | "medium" | "weak"
    at: float = 0.0                  # wall time of the report


@dataclass(frozen=True, slots=True)
class OtaSeen:
    """What the device's last OTA request said about it (its board, its firmware) and when it came."""
    board: str = ""
    firmware: str = ""
    at: float = 0.0                  # wall time of the request (0: never seen)


@dataclass(frozen=True, slots=True)
class SessionView:
    device_id: str
    session_id: str
    transport: str                   # "websocket" | "mqtt"
    state: str                       # one word for people: idle, listening, understanding, speaking, playing, paused...
    conversation: str                # ConversationState value
    playback: str                    # PlaybackState value
    listen_mode: str | None
    now_playing: NowPlaying | None
    last_request: str
    last_match: str
    connected_at: float              # wall time
    status: DeviceStatus | None = None
    rules_rev: int = 0               # the revision of the household's rules the session enforces
    board: str = ""                  # from the OTA request ("" when the node never saw one)
    firmware: str = ""               # the firmware version of that request
    last_ota_at: float = 0.0         # its wall time (0: unknown)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
