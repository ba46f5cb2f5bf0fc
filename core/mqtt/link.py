"""The seam between a transport and the session shell: one `Link` per device connection.

The session shell moves bytes through a Link and decides everything; the Link decides nothing. WebSocket and
MQTT+UDP both implement it. Nothing here knows about MQTT, so the module can move beside the session unchanged.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Link", "LinkEvent", "AudioChannelLost", "Incoming"]


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A transport fact the session must act on (it arrives through `Link.incoming()` between messages)."""


@dataclass(frozen=True, slots=True)
class AudioChannelLost(LinkEvent):
    """The conversation's audio channel cannot carry audio (e.g. no UDP datagram arrived after the hello while
    audio was waiting to be sent). `reason` is log-safe."""
    reason: str


Incoming = str | bytes | LinkEvent


class Link(Protocol):
    """The transport side of one device connection. The session shell moves bytes through it; it decides nothing."""

    transport: str          # "websocket" | "mqtt" (what the operator view shows)
    peer: str               # "ip:port", for logs
    persistent: bool        # True: the link outlives a conversation (MQTT stays up while the speaker is idle;
                            # goodbye ends the conversation, not the link). False for WebSocket.

    def incoming(self) -> AsyncIterator[Incoming]:
        """What the device sends, in order: JSON text messages (str) and audio packets (bytes), plus LinkEvents.
        Over UDP an audio packet is the decrypted Opus payload of one valid datagram. The iterator ends when the
        link is gone."""
        ...

    def hello_fields(self) -> dict[str, object]:
        """Called once per device hello, just before the server's hello goes out: opens the new conversation's
        audio channel and returns the transport fields of the server hello."""
        ...

    def end_conversation(self) -> None:
        """The conversation ended: forget its audio channel; later audio for it is dropped and counted."""
        ...

    async def send_text(self, text: str) -> None:
        """One JSON message to the device. Raises SendError (core/protocol/errors.py) if the link is gone."""
        ...

    async def send_audio(self, packet: bytes, timestamp_ms: int) -> None:
        """One downlink Opus packet. Packets that cannot be delivered yet are dropped and counted, never queued
        without bound."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the link."""
        ...
