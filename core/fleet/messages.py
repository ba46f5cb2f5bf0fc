"""Messages between nodes on the pub/sub bus: typed, validated on arrival, versioned.

A message is one JSON object {"v": 1, "type": ..., "from": node_id, ...fields}. `decode` raises `MessageError` for
anything else (not JSON, unknown type, missing or ill-typed field, oversize), and the bus logs and drops it: a
malformed message never reaches a handler and never stops the bus.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, assert_never

from core.devices.commands import (
    Command,
    PauseNow,
    PolicyUpdated,
    Reboot,
    SetVolume,
    StopNow,
    UpgradeFirmware,
    firmware_url_problem,
)
from core.devices.policy import PolicyRecord
from core.devices.view import DeviceStatus, NowPlaying, SessionView

__all__ = ["Message", "Takeover", "Released", "DeviceCommand", "DevicesQuery", "DevicesReply", "MessageError",
           "encode", "decode", "MAX_MESSAGE_BYTES"]

VERSION = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024      # a DevicesReply of a full node (1000 snapshots) fits easily
_MAX_ID = 128


class MessageError(ValueError):
    """A bus message that cannot be used."""


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[str] = ""
    sender: str                              # node id ("from" on the wire)


@dataclass(frozen=True, slots=True)
class Takeover(Message):
    """`sender` has a new connection of `device_id`: the owner saves the device's state, closes it, answers Released."""
    TYPE: ClassVar[str] = "takeover"
    device_id: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Released(Message):
    """Answer to Takeover: the device's state is saved (or it was not connected here)."""
    TYPE: ClassVar[str] = "released"
    device_id: str
    request_id: str


@dataclass(frozen=True, slots=True)
class DeviceCommand(Message):
    """A command for the session holding `device_id` (the operator's, the parents'); the node holding it hands it to
    the session (`Owner.command`), which decides what it means."""
    TYPE: ClassVar[str] = "command"
    device_id: str
    command: Command


@dataclass(frozen=True, slots=True)
class DevicesQuery(Message):
    """Operator view: every node answers with snapshots of its connected devices (one device when device_id)."""
    TYPE: ClassVar[str] = "devices?"
    request_id: str
    device_id: str = ""


@dataclass(frozen=True, slots=True)
class DevicesReply(Message):
    TYPE: ClassVar[str] = "devices"
    request_id: str
    devices: tuple[SessionView, ...] = ()


_TYPES: dict[str, type[Message]] = {c.TYPE: c for c in (Takeover, Released, DeviceCommand, DevicesQuery,
                                                       DevicesReply)}


def encode(msg: Message) -> bytes:
    data = asdict(msg)
    data["from"] = data.pop("sender")
    if isinstance(msg, DevicesReply):
        data["devices"] = [view.to_dict() for view in msg.devices]
    if isinstance(msg, DeviceCommand):
        data["command"] = _command_out(msg.command)
    return json.dumps({"v": VERSION, "type": msg.TYPE, **data}, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def _command_out(cmd: Command) -> dict[str, Any]:
    match cmd:
        case StopNow():
            return {"name": "stop"}
        case PauseNow():
            return {"name": "pause"}
        case SetVolume(level=level):
            return {"name": "volume", "level": level}
        case PolicyUpdated(record=record):
            return {"name": "policy", "record": json.loads(record.to_json())}
        case Reboot():
            return {"name": "reboot"}
        case UpgradeFirmware(url=url):
            return {"name": "upgrade", "url": url}
        case _:
            assert_never(cmd)


def _command_in(value: Any) -> Command:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise MessageError('command must be an object with a "name"')
    name = value["name"]
    if name == "stop":
        return StopNow()
    if name == "pause":
        return PauseNow()
    if name == "reboot":
        return Reboot()
    if name == "volume":
        level = value.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            raise MessageError("volume level must be an integer 0-100")
        return SetVolume(level)
    if name == "policy":
        record = value.get("record")
        if not isinstance(record, dict) or not isinstance(record.get("rules"), dict):
            raise MessageError("policy record must be an object with rules")
        rev = record.get("rev")
        if isinstance(rev, bool) or not isinstance(rev, int) or rev < 1:
            raise MessageError("policy record rev must be a positive integer")
        return PolicyUpdated(PolicyRecord.from_json(json.dumps(record)))     # rules that do not parse are dropped
    if name == "upgrade":
        url = value.get("url")
        problem = firmware_url_problem(url)
        if problem is not None or not isinstance(url, str):
            raise MessageError(f"upgrade url {problem}")
        return UpgradeFirmware(url)
    raise MessageError(f"unknown command {name[:32]!r}")


def _text(d: Mapping[str, Any], name: str, *, limit: int = 1024) -> str:
    value = d.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise MessageError(f"device view: {name} must be a string of at most {limit} characters")
    return value


def _opt_text(d: Mapping[str, Any], name: str, *, limit: int) -> str | None:
    return None if d.get(name) is None else _text(d, name, limit=limit)


def _number(d: Mapping[str, Any], name: str) -> float:
    value = d.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"device view: {name} must be a number")
    return float(value)


def _whole(d: Mapping[str, Any], name: str) -> int:
    value = d.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(f"device view: {name} must be a whole number")
    return value


def _opt_whole(d: Mapping[str, Any], name: str) -> int | None:
    return None if d.get(name) is None else _whole(d, name)


def _view(d: Any) -> SessionView:
    """A session view another node sent, checked field by field."""
    if not isinstance(d, dict):
        raise MessageError("devices must be a list of objects")
    now, status = d.get("now_playing"), d.get("status")
    if now is not None and not isinstance(now, dict):
        raise MessageError("device view: now_playing must be an object or null")
    if status is not None and not isinstance(status, dict):
        raise MessageError("device view: status must be an object or null")
    charging = status.get("charging") if status else None
    return SessionView(
        device_id=_ident(d.get("device_id"), "device_id"), session_id=_text(d, "session_id", limit=_MAX_ID),
        transport=_text(d, "transport", limit=16), state=_text(d, "state", limit=32),
        conversation=_text(d, "conversation", limit=32), playback=_text(d, "playback", limit=32),
        listen_mode=_opt_text(d, "listen_mode", limit=32),
        now_playing=NowPlaying(_text(now, "uid"), _text(now, "title"), _whole(now, "position_ms")) if now else None,
        last_request=_text(d, "last_request"), last_match=_text(d, "last_match"),
        connected_at=_number(d, "connected_at"),
        status=DeviceStatus(volume=_opt_whole(status, "volume"), battery=_opt_whole(status, "battery"),
                            charging=charging if isinstance(charging, bool) else None,
                            signal=_opt_text(status, "signal", limit=16), at=_number(status, "at"))
        if status else None,
        rules_rev=_opt_whole(d, "rules_rev") or 0,
        board=_opt_text(d, "board", limit=64) or "", firmware=_opt_text(d, "firmware", limit=32) or "",
        last_ota_at=_number(d, "last_ota_at") if d.get("last_ota_at") is not None else 0.0)


def _ident(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > _MAX_ID or (not value and not empty) or not value.isprintable():
        raise MessageError(f"{name} must be a printable string of 1-{_MAX_ID} characters")
    return value


def decode(raw: bytes | str) -> Message:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"{len(raw)} bytes is larger than {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise MessageError("not JSON") from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    if data.get("v") != VERSION:
        raise MessageError(f"unknown version {str(data.get('v'))[:16]!r}")
    kind = data.get("type")
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MessageError(f"unknown type {str(data.get('type'))[:32]!r}")
    kwargs: dict[str, Any] = {"sender": _ident(data.get("from"), "from")}
    for f in fields(cls):
        if f.name == "sender":
            continue
        if f.name not in data:
            if f.default is not MISSING:
                continue
            raise MessageError(f"{cls.TYPE}: missing {f.name}")
        value = data[f.name]
        if f.name == "command":
            value = _command_in(value)
        elif f.name == "devices":
            if not isinstance(value, list):
                raise MessageError("devices must be a list of objects")
            value = tuple(_view(d) for d in value)
        else:
            value = _ident(value, f.name, empty=(f.name == "device_id" and cls is DevicesQuery))
        kwargs[f.name] = value
    return cls(**kwargs)
