"""`MqttLink`: the `Link` of one MQTT connection (JSON over MQTT, audio over the node's UDP channel).

One link per MQTT connection; it lives as long as the TCP connection does, and conversations come and go on it:
every device hello calls `hello_fields()`, which opens a fresh UDP session (new key, nonce, connection id, sequence
numbers from 0) and forgets the previous one; `end_conversation()` forgets it too. Text goes to the device as a
QoS 0 PUBLISH on devices/p2p/<mac_with_underscores>, a topic the device never subscribes to (the firmware relies on
the server delivering there anyway).

What the link bounds: at `TEXT_HIGH_WATER` JSON messages waiting for the session, the connection stops handling
packets and reading its socket until the session has taken all but `TEXT_LOW_WATER` (TCP back-pressure on that device
alone, nothing is dropped); uplink audio waiting past `AUDIO_QUEUE_LIMIT` packets is
dropped and counted (UDP is lossy anyway); downlink audio before the device's first datagram is dropped and counted,
and once `udp_first_packet_timeout_s` has passed since the hello with audio waiting, `AudioChannelLost` is reported
through `incoming()` once per conversation and the log says UDP never arrived.

The firmware's 120 s channel rule (docs/protocol.md, "MQTT + UDP"): the device drops a conversation after
`CHANNEL_TIMEOUT_S` without anything from the server, where anything is a JSON message with a string `type` (known or
not) or, since firmware 2.4.0, a UDP audio datagram. While a story plays the downlink audio keeps it open. While a
story is paused nothing flows, so the session (which owns the conversation) sends a harmless message at least every
`CHANNEL_REFRESH_S`: an MCP `tools/call` of `self.get_device_status` does it and also re-reads the volume the
parents' cap must clamp. `send_text` works at any time, conversation or not, so the session needs nothing more from
the link; `seconds_since_downlink()` tells it when the last text or audio went out.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol

from loguru import logger

from core.auth import DeviceIdentity
from core.mqtt.codec import encode_publish
from core.mqtt.credentials import MqttIdentity, p2p_topic
from core.mqtt.udp import UdpAudioChannel, UdpSession
from core.protocol.errors import SendError
from core.session.link import AudioChannelLost, Incoming

__all__ = ["MqttLink", "MqttWire", "CHANNEL_TIMEOUT_S", "CHANNEL_REFRESH_S", "TEXT_HIGH_WATER", "AUDIO_QUEUE_LIMIT"]

CHANNEL_TIMEOUT_S = 120.0          # the firmware closes a conversation after this long without server traffic
CHANNEL_REFRESH_S = 90.0           # the session sends something at least this often while nothing else flows
TEXT_HIGH_WATER = 64               # JSON messages waiting for the session before the socket stops being read
TEXT_LOW_WATER = 16                # ... and reading resumes at or below this many
AUDIO_QUEUE_LIMIT = 50             # uplink packets (3 s) waiting for the session; more are dropped


class MqttWire(Protocol):
    """What a link needs from its MQTT connection."""

    @property
    def closed(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    async def writable(self) -> None:
        """Returns when the socket's write buffer is below its high-water mark (or the connection is closed)."""
        ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...


class MqttLink:
    """The transport side of one MQTT+UDP device connection (implements core.session.link.Link)."""

    transport = "mqtt"
    persistent = True

    def __init__(self, wire: MqttWire, identity: MqttIdentity, *, peer: str, udp: UdpAudioChannel,
                 udp_host: str, udp_port: int, first_packet_timeout_s: float) -> None:
        self.peer = peer
        self.mqtt = identity
        self.device_id = identity.device_id
        self._wire = wire
        self._topic = p2p_topic(identity.device_id)
        self._udp = udp
        self._udp_host = udp_host
        self._udp_port = udp_port
        self._first_packet_timeout_s = first_packet_timeout_s
        self._items: deque[Incoming] = deque()
        self._texts_waiting = 0
        self._audio_waiting = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._session: UdpSession | None = None
        self._lost_timer: asyncio.TimerHandle | None = None
        self._lost_reported = False
        self._last_downlink = time.monotonic()
        self.conversations = 0
        self.audio_dropped_queue = 0      # uplink packets dropped because the session fell behind
        self.audio_dropped_no_peer = 0    # downlink packets dropped before the device's first datagram
        self.audio_dropped_no_session = 0  # downlink packets sent outside a conversation

    @property
    def identity(self) -> DeviceIdentity:
        """The device identity the session shell uses for any transport (raw Opus: framing version 1)."""
        return DeviceIdentity(device_id=self.device_id, client_id=self.mqtt.client_uuid, token="", protocol_version=1)

    @property
    def closed(self) -> bool:
        return self._wire.closed

    @property
    def udp_session(self) -> UdpSession | None:
        return self._session

    @property
    def texts_waiting(self) -> int:
        """Device messages received and not yet taken by the session (at most TEXT_HIGH_WATER)."""
        return self._texts_waiting

    def seconds_since_downlink(self) -> float:
        return time.monotonic() - self._last_downlink

    # ---------------------------------------------------------------------------------------------- incoming
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def push_text(self, text: str) -> None:
        """A device message (already checked to be a JSON object) from the connection."""
        if self._ended:
            return
        self._items.append(text)
        self._texts_waiting += 1
        if self._texts_waiting >= TEXT_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self._wire.pause_reading()
        self._wake()

    def _push_audio(self, payload: bytes) -> None:
        if self._ended:
            return
        if self._audio_waiting >= AUDIO_QUEUE_LIMIT:
            self.audio_dropped_queue += 1
            return
        self._items.append(payload)
        self._audio_waiting += 1
        self._wake()

    def connection_ended(self) -> None:
        """The TCP connection is gone: forget the conversation and let `incoming()` finish."""
        if self._ended:
            return
        self._ended = True
        self.end_conversation()
        self._wake()

    async def incoming(self) -> AsyncIterator[Incoming]:
        """Device messages, audio and link events in arrival order; ends when the connection is gone. One reader."""
        while True:
            while self._items:
                item = self._items.popleft()
                if isinstance(item, str):
                    self._texts_waiting -= 1
                    if self._reading_paused and self._texts_waiting <= TEXT_LOW_WATER:
                        self._reading_paused = False
                        self._wire.resume_reading()
                elif isinstance(item, bytes):
                    self._audio_waiting -= 1
                yield item
            if self._ended:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    # ---------------------------------------------------------------------------------------------- conversations
    def hello_fields(self) -> dict[str, object]:
        """Open the new conversation's UDP session; the transport fields of the server hello (holds the key)."""
        self.end_conversation()
        self._session = self._udp.open_session(self._push_audio, self.device_id)
        self._lost_reported = False
        self.conversations += 1
        return {"transport": "udp", "udp": self._udp.hello_udp(self._session, self._udp_host, self._udp_port)}

    def end_conversation(self) -> None:
        if self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None
        if self._session is not None:
            self._udp.close_session(self._session)
            self._session = None

    # ---------------------------------------------------------------------------------------------- outgoing
    async def send_text(self, text: str) -> None:
        if self._wire.closed:
            raise SendError("the MQTT connection is closed")
        await self._wire.writable()
        if self._wire.closed:
            raise SendError("the MQTT connection is closed")
        self._wire.write(encode_publish(self._topic, text.encode("utf-8")))
        self._last_downlink = time.monotonic()

    async def send_audio(self, packet: bytes, timestamp_ms: int) -> None:
        """One raw Opus packet to the device over UDP (never a WebSocket framing header). Raises SendError when the
        MQTT connection is gone; dropped and counted while the conversation cannot carry audio."""
        if self._wire.closed:
            raise SendError("the MQTT connection is closed")
        session = self._session
        if session is None:
            self.audio_dropped_no_session += 1
            return
        if session.peer is None:
            self.audio_dropped_no_peer += 1
            self._udp.drops["no_peer"] += 1
            self._watch_first_packet(session)
            return
        if self._udp.send(session, packet, timestamp_ms):
            self._last_downlink = time.monotonic()

    def _watch_first_packet(self, session: UdpSession) -> None:
        if self._lost_reported or self._lost_timer is not None:
            return
        deadline = session.opened_at + self._first_packet_timeout_s
        loop = asyncio.get_running_loop()
        delay = deadline - time.monotonic()
        if delay <= 0:
            self._report_lost(session)
        else:
            self._lost_timer = loop.call_later(delay, self._report_lost, session)

    def _report_lost(self, session: UdpSession) -> None:
        self._lost_timer = None
        if session is not self._session or session.peer is not None or self._lost_reported or self._ended:
            return
        self._lost_reported = True
        reason = (f"no UDP datagram arrived within {self._first_packet_timeout_s:g} s of the hello while audio "
                  "was waiting to be sent")
        logger.warning("device {} ({}): UDP never arrived: {}; {} audio packets dropped", self.device_id, self.peer,
                       reason, self.audio_dropped_no_peer)
        self._items.append(AudioChannelLost(reason))
        self._wake()

    async def close(self, code: int, reason: str) -> None:
        if not self._wire.closed:
            logger.info("device {} ({}): closing the MQTT connection ({} {})", self.device_id, self.peer, code, reason)
            self._wire.close()
