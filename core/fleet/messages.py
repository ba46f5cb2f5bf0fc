"""Messages between nodes on the pub/sub bus: typed, validated on arrival, versioned.

A message is one JSON object {"v": 1, "type": ..., "from": node_id, ...fields}. `decode` raises `MessageError` for
anything else (not JSON, unknown type, missing or ill-typed field, oversize), and the bus logs and drops it: a
malformed message never reaches a handler and never stops the bus.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

__all__ = ["Message", "Takeover", "Released", "StopDevice", "SetVolume", "SetPolicy", "DevicesQuery", "DevicesReply",
           "MessageError", "encode", "decode", "MAX_MESSAGE_BYTES"]

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
class StopDevice(Message):
    """Operator: stop what the device plays (its state is saved, the item remembered for "continue")."""
    TYPE: ClassVar[str] = "stop"
    device_id: str


@dataclass(frozen=True, slots=True)
class SetVolume(Message):
    """Operator: set the device's volume (0-100)."""
    TYPE: ClassVar[str] = "volume"
    device_id: str
    volume: int


@dataclass(frozen=True, slots=True)
class SetPolicy(Message):
    """The parents changed the device's rules (the whole stored policy record, already saved): the session
    holding the device applies it, so its own saves keep it."""
    TYPE: ClassVar[str] = "policy"
    device_id: str
    policy: dict[str, Any]


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
    devices: tuple[dict[str, Any], ...] = ()


_TYPES: dict[str, type[Message]] = {c.TYPE: c for c in (Takeover, Released, StopDevice, SetVolume, SetPolicy,
                                                       DevicesQuery, DevicesReply)}


def encode(msg: Message) -> bytes:
    data = asdict(msg)
    data["from"] = data.pop("sender")
    data["devices"] = list(data["devices"]) if "devices" in data else None
    if data["devices"] is None:
        del data["devices"]
    return json.dumps({"v": VERSION, "type": msg.TYPE, **data}, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


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
    cls = _TYPES.get(data.get("type")) if isinstance(data.get("type"), str) else None
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
        if f.name == "volume":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise MessageError("volume must be an integer 0-100")
        elif f.name == "policy":
            if not isinstance(value, dict):
                raise MessageError("policy must be an object")
        elif f.name == "devices":
            if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
                raise MessageError("devices must be a list of objects")
            value = tuple(value)
        else:
            value = _ident(value, f.name, empty=(f.name == "device_id" and cls is DevicesQuery))
        kwargs[f.name] = value
    return cls(**kwargs)
