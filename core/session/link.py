"""The transport side of one device connection, as the session shell drives it.

A `Link` moves bytes and decides nothing: WebSocket (core/server.py) carries JSON text frames and binary audio frames
over one socket that lives as long as a conversation; MQTT + UDP (core/mqtt/) carries JSON on MQTT publishes and
audio in encrypted UDP datagrams, and its connection outlives conversations (`persistent`), so a speaker nobody is
talking to can still be reached.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Link", "LinkEvent", "AudioChannelLost", "Incoming"]


@dataclass(frozen=True, slots=True)
class AudioChannelLost:
    """The conversation's audio channel does not work (e.g. no UDP datagram arrived while audio waited to go out)."""
    reason: str


LinkEvent = AudioChannelLost
Incoming = str | bytes | LinkEvent          # what a link delivers: JSON text, an audio packet, a transport fact


class Link(Protocol):
    transport: str          # "websocket" | "mqtt" (what the operator view shows)
    peer: str               # "ip:port", for logs
    persistent: bool        # the link outlives a conversation (MQTT): goodbye ends the conversation, not the link

    def incoming(self) -> AsyncIterator[Incoming]:
        """What the device sends, in order: JSON text messages (str) and audio packets (bytes: one packet in the
        framing the hello agreed; over UDP the decrypted Opus payload of one valid datagram, i.e. framing v1).
        Ends when the link is gone."""
        ...

    def hello_fields(self) -> dict[str, object]:
        """Called once per device hello, just before the server's hello goes out: opens the new conversation's
        audio channel and returns the transport's fields of the server hello ({} for WebSocket; for MQTT the `udp`
        block with a fresh key, nonce and connection id)."""
        ...

    def end_conversation(self) -> None:
        """The conversation ended: its audio channel is forgotten (later datagrams for it are dropped)."""
        ...

    async def send_text(self, text: str) -> None:
        """One JSON message to the device; raises SendError when the link is gone."""
        ...

    async def send_audio(self, packet: bytes, timestamp_ms: int) -> None:
        """One downlink audio packet (already framed for WebSocket; raw Opus for UDP); raises SendError when the
        link is gone."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the link."""
        ...
