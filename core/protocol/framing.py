"""Binary audio framing, protocol versions 1/2/3 (docs/xiaozhi-protocol.md §4), sans-I/O.

v1: the message is the raw Opus packet. v2: 16-byte big-endian header (version u16, type u16, reserved u32,
timestamp u32 ms, payload_size u32). v3: 4-byte header (type u8, reserved u8, payload_size u16) -- byte-identical to
one `.p3` record. Every WebSocket binary message carries exactly one Opus packet.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["FramingError", "AudioPacket", "pack", "unpack", "V2_HEADER", "V3_HEADER"]

V2_HEADER = struct.Struct(">HHIII")
V3_HEADER = struct.Struct(">BBH")
MAX_OPUS_PACKET = 4000   # far above any 60 ms packet; larger means a corrupt header


class FramingError(ValueError):
    """A binary message does not fit the negotiated framing."""


@dataclass(frozen=True, slots=True)
class AudioPacket:
    opus: bytes
    timestamp_ms: int = 0       # v2 only (server-side AEC alignment)


def pack(version: int, opus: bytes, timestamp_ms: int = 0) -> bytes:
    if len(opus) > 0xFFFF:
        raise FramingError(f"Opus packet of {len(opus)} bytes is too large to frame")
    if version == 1:
        return opus
    if version == 2:
        return V2_HEADER.pack(2, 0, 0, timestamp_ms & 0xFFFFFFFF, len(opus)) + opus
    if version == 3:
        return V3_HEADER.pack(0, 0, len(opus)) + opus
    raise FramingError(f"unknown protocol version {version}")


def unpack(version: int, data: bytes) -> AudioPacket:
    if version == 1:
        return AudioPacket(bytes(data))
    if version == 2:
        if len(data) < V2_HEADER.size:
            raise FramingError(f"v2 frame of {len(data)} bytes is shorter than its 16-byte header")
        _ver, _type, _res, ts, size = V2_HEADER.unpack_from(data)
        payload = data[V2_HEADER.size:]
        # Firmware trusts payload_size; we check it so a corrupt header cannot make us read garbage.
        if size > len(payload) or size > MAX_OPUS_PACKET:
            raise FramingError(f"v2 payload_size {size} but {len(payload)} bytes follow")
        return AudioPacket(bytes(payload[:size]), ts)
    if version == 3:
        if len(data) < V3_HEADER.size:
            raise FramingError(f"v3 frame of {len(data)} bytes is shorter than its 4-byte header")
        _type, _res, size = V3_HEADER.unpack_from(data)
        payload = data[V3_HEADER.size:]
        if size > len(payload):
            raise FramingError(f"v3 payload_size {size} but {len(payload)} bytes follow")
        return AudioPacket(bytes(payload[:size]))
    raise FramingError(f"unknown protocol version {version}")
