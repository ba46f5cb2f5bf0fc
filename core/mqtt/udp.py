"""The UDP audio channel of the MQTT transport: one socket per node, AES-128-CTR, a 16-byte header per datagram.

    offset size  field
    0      1     type = 0x01
    1      1     flags = 0
    2      2     payload_len (big-endian)
    4      4     connection id (chosen by the server per hello; the device copies it from the nonce)
    8      4     timestamp, ms
    12     4     sequence (+1 per datagram, from 1, per direction)
    16     n     AES-128-CTR(key, counter block = the 16 header bytes) of the Opus packet, n = payload_len

Each hello opens a `UdpSession` with a fresh random key, connection id and nonce (01 00 0000 <id> 00000000 00000000),
sequence numbers from 0. Datagrams are demultiplexed by the connection id; the device's address is learned from the
first valid datagram and packets for that id from any other address are dropped until the next hello. Every check
that can refuse a datagram runs before decryption (length, type, id, source, sequence, the per-session rate), so a
flood costs a dict lookup per datagram. CTR has no integrity check: ciphertext under a wrong key decrypts to garbage
Opus, which is delivered like any payload (the Opus decoder downstream tolerates it).
"""
from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from loguru import logger

from core.mqtt.ratelog import RateLimitedLog

__all__ = ["UdpAudioChannel", "UdpSession", "HEADER_BYTES", "AUDIO_TYPE", "pack_header", "ctr", "nonce_for",
           "DROP_REASONS"]

# Every reason `drops` counts under, here and in core/mqtt/device_link.py (/metrics shows each from the start, at 0).
DROP_REASONS = ("bad_source", "bad_type", "icmp_error", "no_peer", "oversize", "rate", "send_buffer_full",
                "send_oversize", "short", "stale_sequence", "too_long", "truncated", "unknown_id", "wrong_source")

HEADER = struct.Struct(">BBHIII")
HEADER_BYTES = HEADER.size
AUDIO_TYPE = 0x01
MAX_PAYLOAD_BYTES = 4000            # three 20 ms Opus frames of the largest size fit; a 60 ms frame is ~100-400 B
RATE_PER_S = 60.0                   # datagrams per second a session may send (a device sends ~17)
RATE_BURST = 120.0                  # ... in bursts up to this (a wake word's buffered audio comes at once)


def pack_header(payload_len: int, conn_id: int, timestamp_ms: int, sequence: int) -> bytes:
    return HEADER.pack(AUDIO_TYPE, 0, payload_len, conn_id, timestamp_ms & 0xFFFFFFFF, sequence & 0xFFFFFFFF)


def nonce_for(conn_id: int) -> bytes:
    """The hello's 16-byte nonce: a header with the connection id and zeros elsewhere."""
    return HEADER.pack(AUDIO_TYPE, 0, 0, conn_id, 0, 0)


def ctr(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """AES-128-CTR over `data` with `counter_block` as the initial counter (encryption and decryption alike)."""
    return Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor().update(data)


class UdpSession:
    """One conversation's audio channel. The channel owns the bookkeeping; the link holds the session."""

    __slots__ = ("conn_id", "key", "on_audio", "label", "peer", "last_in_seq", "out_seq", "opened_at", "_tokens",
                 "_refill_at", "received", "sent", "dropped")

    def __init__(self, conn_id: int, key: bytes, on_audio: Callable[[bytes], None], label: str) -> None:
        self.conn_id = conn_id
        self.key = key
        self.on_audio = on_audio
        self.label = label                        # the device id, for log lines
        self.peer: tuple[str, int] | None = None  # learned from the first valid datagram
        self.last_in_seq = 0
        self.out_seq = 0
        self.opened_at = time.monotonic()
        self._tokens = RATE_BURST
        self._refill_at = self.opened_at
        self.received = 0
        self.sent = 0
        self.dropped = 0                          # datagrams of this session refused (any reason)

    @property
    def nonce(self) -> bytes:
        return nonce_for(self.conn_id)

    def take_token(self, now: float) -> bool:
        self._tokens = min(RATE_BURST, self._tokens + (now - self._refill_at) * RATE_PER_S)
        self._refill_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class UdpAudioChannel(asyncio.DatagramProtocol):
    """The node's UDP socket: demultiplexes uplink datagrams to sessions and sends downlink packets."""

    def __init__(self) -> None:
        self._sessions: dict[int, UdpSession] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self.drops: Counter[str] = Counter()      # reason -> datagrams (uplink) or packets (downlink) dropped
        self.accepted = 0
        self.sent = 0
        self.port = 0
        self._send_paused = False      # the transport's own buffer is past its high-water mark (64 KiB)
        self._log = RateLimitedLog()

    # ---------------------------------------------------------------------------------------------- lifecycle
    async def start(self, host: str, port: int) -> int:
        """Bind the socket; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port), family=family)
        self.port = int(transport.get_extra_info("sockname")[1])
        logger.debug("MQTT audio (UDP) on {}:{}", host, self.port)
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass asyncio.DatagramTransport, though it is one.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def pause_writing(self) -> None:
        self._send_paused = True

    def resume_writing(self) -> None:
        self._send_paused = False

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._sessions.clear()

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def stats(self) -> dict[str, object]:
        return {"sessions": len(self._sessions), "accepted": self.accepted, "sent": self.sent,
                "dropped": dict(self.drops)}

    # ---------------------------------------------------------------------------------------------- sessions
    def open_session(self, on_audio: Callable[[bytes], None], label: str) -> UdpSession:
        """A new conversation's channel with a fresh key and connection id."""
        while True:
            conn_id = secrets.randbits(32)
            if conn_id and conn_id not in self._sessions:
                break
        session = UdpSession(conn_id, secrets.token_bytes(16), on_audio, label)
        self._sessions[conn_id] = session
        return session

    def close_session(self, session: UdpSession) -> None:
        """Forget the session: its datagrams are `unknown_id` from now on."""
        if self._sessions.get(session.conn_id) is session:
            del self._sessions[session.conn_id]

    def hello_udp(self, session: UdpSession, server_host: str, server_port: int) -> dict[str, object]:
        """The hello's `udp` object for `session` (the key and nonce are secrets: never log this)."""
        return {"server": server_host, "port": server_port or self.port, "encryption": "aes-128-ctr",
                "key": session.key.hex(), "nonce": session.nonce.hex()}

    # ---------------------------------------------------------------------------------------------- uplink
    def _drop(self, reason: str, session: UdpSession | None = None) -> None:
        self.drops[reason] += 1
        if session is not None:
            session.dropped += 1
            self._log.warning(f"udp:{reason}:{session.label}",
                              f"UDP audio of device {session.label}: a datagram dropped ({reason})")
        else:
            self._log.warning(f"udp:{reason}", f"UDP audio: a datagram dropped ({reason})")

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        size = len(data)
        if size < HEADER_BYTES:
            self._drop("short")
            return
        kind, _flags, payload_len, conn_id, _ts, seq = HEADER.unpack_from(data)
        if kind != AUDIO_TYPE:
            self._drop("bad_type")
            return
        if size < HEADER_BYTES + payload_len:
            self._drop("truncated")
            return
        if size > HEADER_BYTES + payload_len:
            self._drop("too_long")
            return
        if payload_len > MAX_PAYLOAD_BYTES:
            self._drop("oversize")
            return
        session = self._sessions.get(conn_id)
        if session is None:
            self._drop("unknown_id")
            return
        host, port = addr[0], addr[1]
        if not isinstance(host, str) or not isinstance(port, int):
            self._drop("bad_source")
            return
        source = (host, port)
        if session.peer is not None and session.peer != source:
            self._drop("wrong_source", session)
            return
        if seq <= session.last_in_seq:
            self._drop("stale_sequence", session)
            return
        if not session.take_token(time.monotonic()):
            self._drop("rate", session)
            return
        if session.peer is None:
            session.peer = source
            logger.info("device {}: UDP audio arrives from {}:{}", session.label, source[0], source[1])
        session.last_in_seq = seq
        session.received += 1
        self.accepted += 1
        session.on_audio(ctr(session.key, data[:HEADER_BYTES], data[HEADER_BYTES:]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable after a send to a device that went away: nothing to do but count it.
        self.drops["icmp_error"] += 1

    # ---------------------------------------------------------------------------------------------- downlink
    def send(self, session: UdpSession, payload: bytes, timestamp_ms: int) -> bool:
        """Encrypt and send one packet to the session's peer; False (and counted) when it was dropped."""
        transport = self._transport
        if transport is None or session.peer is None:
            self.drops["no_peer"] += 1
            return False
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.drops["send_oversize"] += 1
            return False
        if self._send_paused:
            self.drops["send_buffer_full"] += 1
            return False
        session.out_seq += 1
        header = pack_header(len(payload), session.conn_id, timestamp_ms, session.out_seq)
        transport.sendto(header + ctr(session.key, header, payload), session.peer)
        session.sent += 1
        self.sent += 1
        return True
