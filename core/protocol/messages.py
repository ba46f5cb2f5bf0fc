"""Xiaozhi JSON text messages (sans-I/O): parse what devices send, build what we send.

Follows docs/xiaozhi-protocol.md §2-3. Parsing never raises on device input: anything we cannot use becomes
`Invalid` with a reason the session logs. Unknown types are `Unknown` (the firmware ignores them too).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ListenState", "ListenMode", "TtsState",
    "Hello", "Listen", "Abort", "Mcp", "Iot", "Unknown", "Invalid", "ClientMessage",
    "parse_message", "server_hello", "stt", "tts", "llm_emotion", "mcp", "alert", "dumps",
]


class ListenState(StrEnum):
    START = "start"
    STOP = "stop"
    DETECT = "detect"


class ListenMode(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"
    REALTIME = "realtime"


class TtsState(StrEnum):
    START = "start"
    SENTENCE_START = "sentence_start"
    SENTENCE_END = "sentence_end"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Hello:
    version: int                        # binary framing version the device will use (1, 2, 3)
    features: dict[str, Any] = field(default_factory=dict)
    transport: str = "websocket"
    audio_format: str = "opus"          # uplink audio params (ours may differ; the device follows our hello)
    sample_rate: int = 16000
    channels: int = 1
    frame_duration: int = 60

    @property
    def mcp(self) -> bool:
        return bool(self.features.get("mcp"))


@dataclass(frozen=True, slots=True)
class Listen:
    state: ListenState
    mode: ListenMode | None = None
    text: str | None = None             # wake word on "detect"; text clients put the utterance here


@dataclass(frozen=True, slots=True)
class Abort:
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Mcp:
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Iot:
    """Legacy firmware (< 1.8) IoT descriptors/states; accepted and ignored."""
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unknown:
    type: str


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str


ClientMessage = Hello | Listen | Abort | Mcp | Iot | Unknown | Invalid

_MAX_TEXT = 4096   # longest utterance text we keep (a 10 kB "utterance" is truncated, not rejected)


def parse_message(text: str) -> ClientMessage:
    """Parse one text frame from a device."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Invalid("not JSON")
    if not isinstance(obj, dict):
        return Invalid("JSON is not an object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        return Invalid("missing message type")
    if kind == "hello":
        return _parse_hello(obj)
    if kind == "listen":
        return _parse_listen(obj)
    if kind == "abort":
        reason = obj.get("reason")
        return Abort(reason if isinstance(reason, str) else None)
    if kind == "mcp":
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return Invalid("mcp message without an object payload")
        return Mcp(payload)
    if kind == "iot":
        return Iot(obj)
    return Unknown(kind[:40])


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():   # "²".isdigit() is True
        return int(value.strip())
    return default


def _parse_hello(obj: dict[str, Any]) -> Hello | Invalid:
    version = _int(obj.get("version", 1), -1)
    if version not in (1, 2, 3):
        return Invalid(f"hello with unsupported protocol version {str(obj.get('version'))[:10]!r}")
    features = obj.get("features")
    params = obj.get("audio_params")
    params = params if isinstance(params, dict) else {}
    transport = obj.get("transport")
    return Hello(
        version=version,
        features=features if isinstance(features, dict) else {},
        transport=transport if isinstance(transport, str) else "websocket",
        audio_format=str(params.get("format", "opus"))[:16],
        sample_rate=_int(params.get("sample_rate"), 16000),
        channels=_int(params.get("channels"), 1),
        frame_duration=_int(params.get("frame_duration"), 60),
    )


def _parse_listen(obj: dict[str, Any]) -> Listen | Invalid:
    try:
        state = ListenState(obj.get("state"))
    except ValueError:
        return Invalid(f"listen with unknown state {str(obj.get('state'))[:20]!r}")
    mode: ListenMode | None
    try:
        mode = ListenMode(obj["mode"]) if "mode" in obj else None
    except ValueError:
        mode = None
    text = obj.get("text")
    return Listen(state, mode, text[:_MAX_TEXT] if isinstance(text, str) else None)


# ----------------------------------------------------------------------------------------- server -> device


def dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def server_hello(session_id: str, sample_rate: int, frame_ms: int = 60) -> dict[str, Any]:
    # §2.2: type + transport are mandatory (firmware dereferences a missing transport); audio_params is OUR downlink.
    return {"type": "hello", "version": 1, "transport": "websocket", "session_id": session_id,
            "audio_params": {"format": "opus", "sample_rate": sample_rate, "channels": 1,
                             "frame_duration": frame_ms}}


def stt(session_id: str, text: str) -> dict[str, Any]:
    return {"type": "stt", "text": text, "session_id": session_id}


def tts(session_id: str, state: TtsState, text: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "tts", "state": state.value, "session_id": session_id}
    if text is not None:
        msg["text"] = text
    return msg


def llm_emotion(session_id: str, emotion: str, emoji: str) -> dict[str, Any]:
    return {"type": "llm", "text": emoji, "emotion": emotion, "session_id": session_id}


def mcp(session_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "mcp", "payload": payload, "session_id": session_id}


def alert(session_id: str, status: str, message: str, emotion: str = "sad") -> dict[str, Any]:
    return {"type": "alert", "status": status, "message": message, "emotion": emotion, "session_id": session_id}
