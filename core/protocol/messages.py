"""Xiaozhi JSON text messages (sans-I/O): parse what devices send, build what we send.

Follows docs/xiaozhi-protocol.md §2-3. Parsing never raises on device input: anything we cannot use becomes
`Invalid` with a reason the session logs. Unknown types are `Unknown` (the firmware ignores them too).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.utils import safejson

__all__ = [
    "ListenState", "ListenMode", "TtsState",
    "Hello", "Listen", "Abort", "Mcp", "Goodbye", "Iot", "Unknown", "Invalid", "ClientMessage",
    "parse_message", "ServerHello", "Stt", "Tts", "LlmEmotion", "McpMessage", "Alert", "ServerGoodbye",
    "ServerMessage", "encode", "clean_text", "UDP_TRANSPORT",
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


UDP_TRANSPORT = "udp"      # the hello's transport over MQTT: audio goes in encrypted UDP datagrams, raw Opus


@dataclass(frozen=True, slots=True)
class Hello:
    version: int                        # binary framing version the device will use (1, 2, 3); over UDP always 3
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
class Goodbye:
    """MQTT: the device closed the conversation's audio channel (anchors: the device sends it, then idles)."""
    session_id: str | None = None


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


ClientMessage = Hello | Listen | Abort | Mcp | Goodbye | Iot | Unknown | Invalid

_MAX_TEXT = 4096   # longest utterance text we keep (a 10 kB "utterance" is truncated, not rejected)
MAX_MESSAGE_CHARS = 1 << 20   # websockets already caps frames at server.max_message_bytes; this bounds direct callers
MAX_DEPTH = 32                # an MCP tools/list reply nests ~10 levels (JSON schemas); 32 leaves room, not recursion


def parse_message(text: str, *, max_chars: int = MAX_MESSAGE_CHARS, max_depth: int = MAX_DEPTH) -> ClientMessage:
    """Parse one text frame from a device. Deep nesting is refused by a bracket pre-scan, never by recursion."""
    try:
        obj = safejson.loads(text, max_chars=max_chars, max_depth=max_depth)
    except safejson.JsonLimitError as exc:
        return Invalid(f"not JSON ({exc})")
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
        return Abort(clean_text(reason[:64]) if isinstance(reason, str) else None)
    if kind == "mcp":
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return Invalid("mcp message without an object payload")
        return Mcp(payload)
    if kind == "goodbye":
        sid = obj.get("session_id")
        return Goodbye(clean_text(sid[:64]) if isinstance(sid, str) else None)
    if kind == "iot":
        return Iot(obj)
    return Unknown(clean_text(kind[:40]))


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
    raw = obj.get("state")
    try:
        state = ListenState(raw if isinstance(raw, str) else "")
    except ValueError:
        return Invalid(f"listen with unknown state {str(obj.get('state'))[:20]!r}")
    mode: ListenMode | None
    try:
        mode = ListenMode(obj["mode"]) if "mode" in obj else None
    except ValueError:
        mode = None
    text = obj.get("text")
    return Listen(state, mode, clean_text(text[:_MAX_TEXT]) if isinstance(text, str) else None)


# ----------------------------------------------------------------------------------------- server -> device
# One frozen dataclass per message we send; `encode` stamps the session id in exactly one place.


@dataclass(frozen=True, slots=True)
class ServerHello:
    """§2.2: type + transport are mandatory (firmware dereferences a missing transport); audio_params is OUR
    downlink. Over MQTT the transport adds its `udp` block (a fresh key per hello) when the message is encoded."""
    sample_rate: int
    frame_ms: int = 60
    udp: bool = False                   # the device said transport "udp": answer as the MQTT gateway does

    def fields(self) -> dict[str, Any]:
        return {"type": "hello", "version": 3 if self.udp else 1,
                "transport": UDP_TRANSPORT if self.udp else "websocket",
                "audio_params": {"format": "opus", "sample_rate": self.sample_rate, "channels": 1,
                                 "frame_duration": self.frame_ms}}


@dataclass(frozen=True, slots=True)
class Stt:
    """§3.2: what we heard (the device shows it as the child's line)."""
    text: str

    def fields(self) -> dict[str, Any]:
        return {"type": "stt", "text": self.text}


@dataclass(frozen=True, slots=True)
class Tts:
    """§3.4: start / sentence_start {text} / stop of a speaking turn."""
    state: TtsState
    text: str | None = None

    def fields(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "tts", "state": self.state.value}
        if self.text is not None:
            msg["text"] = self.text
        return msg


@dataclass(frozen=True, slots=True)
class LlmEmotion:
    """§3.3: the device's face."""
    emotion: str
    emoji: str

    def fields(self) -> dict[str, Any]:
        return {"type": "llm", "text": self.emoji, "emotion": self.emotion}


@dataclass(frozen=True, slots=True)
class McpMessage:
    """§3.6: a JSON-RPC 2.0 payload for the device's MCP server."""
    payload: dict[str, Any]

    def fields(self) -> dict[str, Any]:
        return {"type": "mcp", "payload": self.payload}


@dataclass(frozen=True, slots=True)
class Alert:
    """§3.5: status, message and emotion are all required strings, else the firmware ignores it."""
    status: str
    message: str
    emotion: str = "sad"

    def fields(self) -> dict[str, Any]:
        return {"type": "alert", "status": self.status, "message": self.message, "emotion": self.emotion}


@dataclass(frozen=True, slots=True)
class ServerGoodbye:
    """MQTT: the conversation is over; the device closes its audio channel (only for its current session id)."""

    def fields(self) -> dict[str, Any]:
        return {"type": "goodbye"}


ServerMessage = ServerHello | Stt | Tts | LlmEmotion | McpMessage | Alert | ServerGoodbye


def encode(msg: ServerMessage, session_id: str, extra: Mapping[str, object] | None = None) -> str:
    """The JSON text frame for `msg`, with the session id (and the transport's fields of a hello, `extra`)."""
    return json.dumps({**msg.fields(), **(extra or {}), "session_id": session_id}, ensure_ascii=False,
                      separators=(",", ":"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text a device sent, safe to log and to send back: lone surrogates (valid JSON escapes, invalid UTF-8)
    become U+FFFD instead of failing the first send that echoes them."""
    return _SURROGATE.sub("\ufffd", text)
