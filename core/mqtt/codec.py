"""MQTT 3.1.1 packets, sans-I/O: the subset a Xiaozhi device and this server exchange (OASIS MQTT 3.1.1, §2-3).

Client -> server: CONNECT, PUBLISH (QoS 0; QoS > 0 is decoded so the endpoint can refuse it), SUBSCRIBE,
UNSUBSCRIBE, PINGREQ, DISCONNECT. Server -> client: CONNACK, PUBLISH (QoS 0), SUBACK, UNSUBACK, PINGRESP.
Anything else from a client (a server-only packet, a QoS 1/2 acknowledgement we never asked for, a reserved type)
is a protocol violation. Every failure raises `MalformedPacket` with a log-safe reason; a remaining length over the
reader's cap raises `PacketTooLarge` as soon as the fixed header is read, before the body is buffered.

The PyPI codecs were evaluated first: amqtt's packet classes import its websockets adapters (the wheel pins an older
websockets than ours) and parse through awaited per-field stream reads without a size cap; moat-mqtt has the same
design on anyio with a dozen dependencies; mqtt5 speaks MQTT 5 only; mqtt-codec no longer builds. So the codec is
ours, and the tests talk to it through paho-mqtt, an independent implementation.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "MalformedPacket", "PacketTooLarge", "ConnackCode", "PacketType",
    "Connect", "Publish", "Subscribe", "Unsubscribe", "PingReq", "Disconnect", "ClientPacket",
    "PacketReader", "encode_connack", "encode_publish", "encode_suback", "encode_unsuback", "PINGRESP",
    "encode_remaining_length",
]

MAX_REMAINING_LENGTH = 268_435_455      # four length bytes of seven bits each (§2.2.3)


class MalformedPacket(ValueError):
    """The bytes are not a packet this server accepts; the message is safe to log."""


class PacketTooLarge(MalformedPacket):
    """A packet's remaining length is over the configured cap."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"packet of {size} bytes is over the {limit}-byte limit")
        self.size = size
        self.limit = limit


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnackCode(IntEnum):
    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


@dataclass(frozen=True, slots=True)
class Connect:
    protocol_name: str
    protocol_level: int             # 4 = MQTT 3.1.1 (3 = 3.1 "MQIsdp")
    clean_session: bool
    keepalive_s: int
    client_id: str
    username: str | None
    password: bytes | None
    has_will: bool


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int | None


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]    # (topic filter, requested QoS)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PingReq:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    pass


ClientPacket = Connect | Publish | Subscribe | Unsubscribe | PingReq | Disconnect

_PING = PingReq()
_DISCONNECT = Disconnect()


class _Body:
    """A cursor over one packet's variable header and payload."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def u8(self, what: str) -> int:
        if self.left() < 1:
            raise MalformedPacket(f"{what} is missing")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self, what: str) -> int:
        if self.left() < 2:
            raise MalformedPacket(f"{what} is missing")
        (value,) = struct.unpack_from(">H", self.data, self.pos)
        self.pos += 2
        return int(value)

    def binary(self, what: str) -> bytes:
        size = self.u16(f"length of {what}")
        if self.left() < size:
            raise MalformedPacket(f"{what} is cut short ({self.left()} of {size} bytes)")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return value

    def text(self, what: str) -> str:
        raw = self.binary(what)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket(f"{what} is not UTF-8") from None
        if "\x00" in value:                 # §1.5.3: U+0000 is forbidden in MQTT strings
            raise MalformedPacket(f"{what} contains U+0000")
        return value

    def rest(self) -> bytes:
        value = self.data[self.pos:]
        self.pos = len(self.data)
        return value


def _decode_connect(flags: int, body: _Body) -> Connect:
    if flags:
        raise MalformedPacket("CONNECT with non-zero fixed-header flags")
    name = body.text("protocol name")
    level = body.u8("protocol level")
    connect_flags = body.u8("connect flags")
    if connect_flags & 0x01:
        raise MalformedPacket("CONNECT reserved flag is set")
    keepalive = body.u16("keep alive")
    client_id = body.text("client identifier")
    will = bool(connect_flags & 0x04)
    will_qos = (connect_flags >> 3) & 0x03
    if not will and (will_qos or connect_flags & 0x20):
        raise MalformedPacket("CONNECT will QoS or retain set without a will")
    if will_qos == 3:
        raise MalformedPacket("CONNECT will QoS 3")
    if will:
        body.text("will topic")
        body.binary("will message")
    username = body.text("user name") if connect_flags & 0x80 else None
    password = body.binary("password") if connect_flags & 0x40 else None
    if password is not None and username is None:
        raise MalformedPacket("CONNECT password without a user name")
    if body.left():
        raise MalformedPacket(f"CONNECT has {body.left()} stray bytes")
    return Connect(name, level, bool(connect_flags & 0x02), keepalive, client_id, username, password, will)


def _decode_publish(flags: int, body: _Body) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    dup = bool(flags & 0x08)
    if dup and qos == 0:
        raise MalformedPacket("PUBLISH QoS 0 with DUP set")
    topic = body.text("topic name")
    if not topic or "+" in topic or "#" in topic:
        raise MalformedPacket("PUBLISH topic is empty or has a wildcard")
    packet_id = body.u16("packet identifier") if qos else None
    if packet_id == 0:
        raise MalformedPacket("PUBLISH packet identifier 0")
    return Publish(topic, body.rest(), qos, bool(flags & 0x01), dup, packet_id)


def _decode_subscribe(flags: int, body: _Body) -> Subscribe:
    if flags != 0x02:
        raise MalformedPacket("SUBSCRIBE fixed-header flags must be 0010")
    packet_id = body.u16("packet identifier")
    filters: list[tuple[str, int]] = []
    while body.left():
        topic = body.text("topic filter")
        qos = body.u8("requested QoS")
        if qos > 2:
            raise MalformedPacket("SUBSCRIBE requested QoS above 2")
        filters.append((topic, qos))
    if not filters:
        raise MalformedPacket("SUBSCRIBE without a topic filter")
    return Subscribe(packet_id, tuple(filters))


def _decode_unsubscribe(flags: int, body: _Body) -> Unsubscribe:
    if flags != 0x02:
        raise MalformedPacket("UNSUBSCRIBE fixed-header flags must be 0010")
    packet_id = body.u16("packet identifier")
    filters: list[str] = []
    while body.left():
        filters.append(body.text("topic filter"))
    if not filters:
        raise MalformedPacket("UNSUBSCRIBE without a topic filter")
    return Unsubscribe(packet_id, tuple(filters))


def _decode(kind: int, flags: int, data: bytes) -> ClientPacket:
    body = _Body(data)
    if kind == PacketType.PUBLISH:
        return _decode_publish(flags, body)
    if kind == PacketType.PINGREQ or kind == PacketType.DISCONNECT:
        if flags or data:
            raise MalformedPacket(f"{PacketType(kind).name} with flags or a body")
        return _PING if kind == PacketType.PINGREQ else _DISCONNECT
    if kind == PacketType.CONNECT:
        return _decode_connect(flags, body)
    if kind == PacketType.SUBSCRIBE:
        return _decode_subscribe(flags, body)
    if kind == PacketType.UNSUBSCRIBE:
        return _decode_unsubscribe(flags, body)
    name = PacketType(kind).name if kind in PacketType._value2member_map_ else f"reserved type {kind}"
    raise MalformedPacket(f"{name} is not a packet a client sends here")


class PacketReader:
    """Frames a TCP byte stream into client packets. Feed bytes, then take packets until None."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_packet_bytes: int) -> None:
        self._buf = bytearray()
        self._max = max_packet_bytes

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_packet(self) -> ClientPacket | None:
        """The next whole packet, or None until more bytes arrive. Raises MalformedPacket (the stream cannot be
        resynchronised after one: the caller closes the connection)."""
        buf = self._buf
        if len(buf) < 2:
            return None
        length = 0
        shift = 0
        pos = 1
        while True:
            if pos >= len(buf):
                return None
            byte = buf[pos]
            length |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MalformedPacket("remaining length takes more than four bytes")
        if length > self._max:
            raise PacketTooLarge(length, self._max)
        end = pos + length
        if len(buf) < end:
            return None
        first = buf[0]
        data = bytes(buf[pos:end])
        del buf[:end]
        return _decode(first >> 4, first & 0x0F, data)


# ---------------------------------------------------------------------------------------------- encoding


def encode_remaining_length(length: int) -> bytes:
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {length} is out of range")
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def encode_connack(code: ConnackCode, *, session_present: bool = False) -> bytes:
    return bytes((0x20, 0x02, 0x01 if session_present and code == ConnackCode.ACCEPTED else 0x00, int(code)))


def encode_publish(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH (no packet identifier, no retain)."""
    name = topic.encode("utf-8")
    body_len = 2 + len(name) + len(payload)
    return b"".join((b"\x30", encode_remaining_length(body_len), struct.pack(">H", len(name)), name, payload))


def encode_suback(packet_id: int, return_codes: tuple[int, ...]) -> bytes:
    return b"".join((b"\x90", encode_remaining_length(2 + len(return_codes)), struct.pack(">H", packet_id),
                     bytes(return_codes)))


def encode_unsuback(packet_id: int) -> bytes:
    return b"\xb0\x02" + struct.pack(">H", packet_id)


PINGRESP = b"\xd0\x00"
