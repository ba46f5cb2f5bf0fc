"""MQTT packets built and read by hand in the tests (independent of the server's codec), over asyncio streams."""
from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + remaining_length(len(body)) + body


def connect(client_id: str, username: str | None = None, password: str | None = None, *, keepalive: int = 240,
            level: int = 4, name: str = "MQTT") -> bytes:
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = string(name) + bytes([level, flags]) + struct.pack(">H", keepalive) + string(client_id)
    if username is not None:
        body += string(username)
    if password is not None:
        body += string(password)
    return packet(0x10, body)


def publish(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 1) -> bytes:
    body = string(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


def subscribe(packet_id: int, *filters: str) -> bytes:
    return packet(0x82, struct.pack(">H", packet_id) + b"".join(string(f) + b"\x00" for f in filters))


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


@dataclass
class RawPacket:
    kind: int          # the high nibble of the first byte
    flags: int
    body: bytes


class RawClient:
    """A TCP connection that sends bytes and reads whole MQTT packets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, timeout: float = 5.0) -> RawPacket | None:
        """The next packet, or None when the server closed the connection."""
        async with asyncio.timeout(timeout):
            try:
                first = await self.reader.readexactly(1)
                mult, length = 1, 0
                while True:
                    byte = (await self.reader.readexactly(1))[0]
                    length += (byte & 0x7F) * mult
                    mult *= 128
                    if not byte & 0x80:
                        break
                body = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                return None
        return RawPacket(first[0] >> 4, first[0] & 0x0F, body)

    async def closed_by_server(self, timeout: float = 10.0) -> bool:
        """True once the server has closed the connection (packets before that are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                if await self.read(timeout) is None:
                    return True

    async def connack(self, timeout: float = 5.0) -> int:
        pkt = await self.read(timeout)
        assert pkt is not None and pkt.kind == 2 and len(pkt.body) == 2, pkt
        return pkt.body[1]

    def close(self) -> None:
        self.writer.close()


def publish_topic_and_payload(pkt: RawPacket) -> tuple[str, bytes]:
    assert pkt.kind == 3
    (n,) = struct.unpack(">H", pkt.body[:2])
    qos = (pkt.flags >> 1) & 3
    start = 2 + n + (2 if qos else 0)
    return pkt.body[2:2 + n].decode(), pkt.body[start:]
