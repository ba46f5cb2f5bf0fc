"""The MQTT 3.1.1 endpoint: TCP accept, CONNECT with OTA-issued credentials, QoS 0 traffic, one `MqttLink` each.

This is no general broker. Devices publish JSON on `device-server`; the server publishes to
devices/p2p/<mac_with_underscores>, which the device never subscribes to. SUBSCRIBE is acknowledged (granted QoS 0)
and otherwise ignored, UNSUBSCRIBE likewise. A QoS > 0 PUBLISH closes the connection.

Each connection is an `asyncio.Protocol`: bytes are framed and handled inside `data_received`, which never awaits, so
a PINGREQ is answered in the same callback that reads it, whatever the sessions are doing. Slow work (the takeover of
a duplicate client id, the session itself) runs in tasks.

Bounds, each with one log line when hit (rate-limited): while `max_pending` connections are accepted and have not
finished their CONNECT, no more are accepted (they wait in the kernel's listen backlog, so a reconnect storm is
served in turn instead of refused: the firmware would only retry 60 s later); a connection without CONNECT after
`connect_timeout_s` is closed, which also frees the slots a half-open flood takes; connections beyond
`max_connections` get CONNACK 3 (server unavailable); a packet over `max_payload_bytes` closes its connection; more
than `PUBLISH_BURST` device messages at once (refilled at `PUBLISH_RATE_PER_S`) close that device's connection; a
connection silent for 1.5x its keepalive is closed (MQTT 3.1.1 §3.1.2.10). Messages that are not UTF-8 JSON objects
are dropped and counted.

A duplicate client id takes over: `on_takeover(old_link)` lets the old link's owner save and close first (bounded by
`connect_timeout_s`), the old connection is closed and its `on_link` task awaited (bounded likewise), and only then
does the new connection get its CONNACK.
"""
from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from enum import Enum

from loguru import logger

from core.config import MqttConfig
from core.mqtt.codec import (
    PINGRESP,
    ConnackCode,
    Connect,
    Disconnect,
    MalformedPacket,
    PacketReader,
    PacketTooLarge,
    PingReq,
    Publish,
    Subscribe,
    Unsubscribe,
    encode_connack,
    encode_suback,
    encode_unsuback,
)
from core.mqtt.credentials import PUBLISH_TOPIC, CredentialsRefused, MqttIdentity, check_credentials
from core.mqtt.device_link import MqttLink
from core.mqtt.ratelog import RateLimitedLog
from core.mqtt.udp import UdpAudioChannel
from core.utils import safejson

__all__ = ["MqttEndpoint", "OnLink", "OnTakeover", "MAX_KEEPALIVE_S", "CLOSE_REASONS", "DROPPED_MESSAGES"]

# Every reason `abort()` and `dropped` count under (/metrics shows each from the start, at 0).
CLOSE_REASONS = ("admission_error", "connect_timeout", "decoder_error", "disconnect", "early_data", "flood",
                 "keepalive", "malformed", "no_connect", "not_accepting", "oversize", "qos", "refused", "replaced",
                 "second_connect", "server", "session_ended", "shutdown")
DROPPED_MESSAGES = ("unusable_json", "wrong_topic")

OnLink = Callable[[MqttLink], Awaitable[None]]
OnTakeover = Callable[[MqttLink], Awaitable[None]]

MAX_KEEPALIVE_S = 3600            # a device keepalive of 0 (off) or above this is replaced by mqtt.keepalive_s
PUBLISH_RATE_PER_S = 20.0         # device messages per second, sustained (a device sends a few per request)
PUBLISH_BURST = 200.0             # ... and at once (an MCP tool list in pages, a burst of listen/abort)
WRITE_HIGH_WATER = 256 * 1024     # bytes queued to a device before send_text waits
LISTEN_BACKLOG = 4096             # connections the kernel holds while mqtt.max_pending are mid-CONNECT


class _State(Enum):
    AWAIT_CONNECT = 1
    ADMITTING = 2                 # CONNECT accepted; a takeover may be running; CONNACK not sent yet
    CONNECTED = 3
    CLOSED = 4


class _Connection(asyncio.Protocol):
    """One device's TCP connection (the `MqttWire` of its link)."""

    __slots__ = ("_ep", "_transport", "_reader", "_state", "peer", "link", "ident", "_last_rx", "_keepalive",
                 "_timer", "_write_ready", "_tokens", "_refill_at", "_close_reason", "_sockname", "_paused",
                 "_state_at_close")

    def __init__(self, endpoint: MqttEndpoint) -> None:
        self._ep = endpoint
        self._transport: asyncio.Transport | None = None
        self._reader = PacketReader(endpoint.config.max_payload_bytes)
        self._state = _State.AWAIT_CONNECT
        self.peer = "?"
        self._sockname = ""
        self.link: MqttLink | None = None
        self.ident: MqttIdentity | None = None
        self._last_rx = time.monotonic()
        self._keepalive = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._write_ready: asyncio.Future[None] | None = None
        self._tokens = PUBLISH_BURST
        self._refill_at = self._last_rx
        self._close_reason = ""
        self._paused = False          # the link holds enough unread messages: packets wait in the reader
        self._state_at_close: _State | None = None   # the state abort() found (the socket may flush for a moment)

    # ---------------------------------------------------------------------------------------------- MqttWire
    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    def write(self, data: bytes) -> None:
        if self._transport is not None and self._state is not _State.CLOSED:
            self._transport.write(data)

    async def writable(self) -> None:
        while self._write_ready is not None and self._state is not _State.CLOSED:
            await asyncio.shield(self._write_ready)

    def pause_reading(self) -> None:
        """Stop handling packets (those already read wait in the reader) and stop reading the socket."""
        if self._transport is not None and self._state is not _State.CLOSED and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and self._state is not _State.CLOSED and self._paused:
            self._paused = False
            self._transport.resume_reading()
            asyncio.get_running_loop().call_soon(self._drain_packets)

    def close(self) -> None:
        self.abort("server")

    # ---------------------------------------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"
        sock = transport.get_extra_info("sockname")
        self._sockname = str(sock[0]) if isinstance(sock, tuple) and sock else ""
        if not self._ep.connection_opened(self):
            return
        self._timer = asyncio.get_running_loop().call_later(self._ep.config.connect_timeout_s, self._connect_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        was = self._state_at_close or self._state
        self._state = _State.CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)
        self._write_ready = None
        if self.link is not None:
            self.link.connection_ended()
        self._ep.connection_closed(self, was, self._close_reason or ("connection lost" if exc else "closed by peer"))

    def pause_writing(self) -> None:
        if self._write_ready is None:
            self._write_ready = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)
        self._write_ready = None

    def data_received(self, data: bytes) -> None:
        if self._state is _State.CLOSED:
            return
        self._last_rx = time.monotonic()
        self._reader.feed(data)
        if self._state is _State.ADMITTING:
            if self._reader.buffered > self._ep.config.max_payload_bytes + 8:
                self.abort("early_data")
            return
        self._drain_packets()

    def eof_received(self) -> bool | None:
        return None               # close the transport: half-closed connections are of no use here

    # ---------------------------------------------------------------------------------------------- packets
    def _drain_packets(self) -> None:
        while (self._state is _State.AWAIT_CONNECT or self._state is _State.CONNECTED) and not self._paused:
            try:
                packet = self._reader.next_packet()
            except PacketTooLarge as exc:
                self._ep.ratelog.warning(f"oversize:{self.peer}", f"MQTT {self._who()}: closed: {exc} "
                                         "(mqtt.max_payload_bytes)")
                self.abort("oversize")
                return
            except MalformedPacket as exc:
                self._ep.ratelog.warning("malformed", f"MQTT {self._who()}: closed: malformed packet: {exc}")
                self.abort("malformed")
                return
            except Exception:   # noqa: BLE001 - a codec bug must cost this connection only, never the loop
                logger.exception("MQTT {}: closed: the packet could not be decoded", self._who())
                self.abort("decoder_error")
                return
            if packet is None:
                return
            if self._state is _State.AWAIT_CONNECT:
                if not isinstance(packet, Connect):
                    self._ep.ratelog.warning("no_connect", f"MQTT {self.peer}: closed: first packet was not CONNECT")
                    self.abort("no_connect")
                    return
                self._on_connect(packet)
            elif isinstance(packet, PingReq):
                self.write(PINGRESP)
            elif isinstance(packet, Publish):
                self._on_publish(packet)
            elif isinstance(packet, Subscribe):
                self.write(encode_suback(packet.packet_id, tuple(0 for _ in packet.filters)))
            elif isinstance(packet, Unsubscribe):
                self.write(encode_unsuback(packet.packet_id))
            elif isinstance(packet, Disconnect):
                self.abort("disconnect")
                return
            else:
                self._ep.ratelog.warning("second_connect", f"MQTT {self._who()}: closed: a second CONNECT")
                self.abort("second_connect")
                return

    def _who(self) -> str:
        return f"device {self.ident.device_id} ({self.peer})" if self.ident else self.peer

    def _on_connect(self, packet: Connect) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ep = self._ep
        if packet.protocol_level != 4 or packet.protocol_name != "MQTT":
            self.refuse(ConnackCode.UNACCEPTABLE_PROTOCOL, f"protocol level {packet.protocol_level} "
                        "(only MQTT 3.1.1 is served)")
            return
        try:
            ident = check_credentials(packet.client_id, packet.username, packet.password, ep.config.signature_key)
        except CredentialsRefused as exc:
            self.refuse(exc.code, exc.reason, client_id=packet.client_id)
            return
        self.ident = ident
        keepalive = packet.keepalive_s if 0 < packet.keepalive_s <= MAX_KEEPALIVE_S else ep.config.keepalive_s
        self._keepalive = 1.5 * keepalive
        self._state = _State.ADMITTING
        ep.admit(self, ident)

    def refuse(self, code: ConnackCode, reason: str, *, client_id: str = "") -> None:
        """CONNACK with a refusal code, then close; one log line (rate-limited) without secrets."""
        ep = self._ep
        ep.refused[code.name.lower()] += 1
        shown = "".join(c for c in client_id[:80] if c.isprintable())
        ep.ratelog.warning(f"refused:{code.name}", f"MQTT {self.peer}: CONNECT refused ({code.name.lower()}): "
                           f"{reason}" + (f"; client id {shown!r}" if shown else ""))
        self.write(encode_connack(code))
        self.abort("refused")

    def accepted(self, link: MqttLink) -> None:
        """The admission is complete: CONNACK, keepalive watch, then the packets that waited."""
        if self._state is not _State.ADMITTING:
            return
        self.link = link
        self._state = _State.CONNECTED
        self.write(encode_connack(ConnackCode.ACCEPTED))
        self._last_rx = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self._keepalive, self._keepalive_check)
        self._drain_packets()

    def _on_publish(self, packet: Publish) -> None:
        ep = self._ep
        if packet.qos:
            ep.ratelog.warning("qos", f"MQTT {self._who()}: closed: PUBLISH with QoS {packet.qos} (only QoS 0 is "
                               "served)")
            self.abort("qos")
            return
        now = time.monotonic()
        self._tokens = min(PUBLISH_BURST, self._tokens + (now - self._refill_at) * PUBLISH_RATE_PER_S)
        self._refill_at = now
        if self._tokens < 1.0:
            ep.ratelog.warning(f"flood:{self.peer}", f"MQTT {self._who()}: closed: more than {PUBLISH_BURST:g} "
                               f"messages at once ({PUBLISH_RATE_PER_S:g}/s sustained)")
            self.abort("flood")
            return
        self._tokens -= 1.0
        if packet.topic != PUBLISH_TOPIC:
            ep.dropped["wrong_topic"] += 1
            ep.ratelog.warning(f"topic:{self.peer}", f"MQTT {self._who()}: a message on topic "
                               f"{packet.topic[:64]!r} dropped (devices publish on {PUBLISH_TOPIC!r})")
            return
        try:
            text = packet.payload.decode("utf-8")
            message = safejson.loads(text, max_chars=ep.config.max_payload_bytes)
        except UnicodeDecodeError:
            self._drop_message("not UTF-8")
            return
        except safejson.JsonLimitError as exc:
            self._drop_message(str(exc))
            return
        if not isinstance(message, dict):
            self._drop_message("not a JSON object")
            return
        assert self.link is not None
        self.link.push_text(text)

    def _drop_message(self, why: str) -> None:
        self._ep.dropped["unusable_json"] += 1
        self._ep.ratelog.warning(f"json:{self.peer}", f"MQTT {self._who()}: a message dropped: {why}")

    # ---------------------------------------------------------------------------------------------- timers
    def _connect_deadline(self) -> None:
        self._timer = None
        if self._state is _State.AWAIT_CONNECT:
            self._ep.ratelog.warning("connect_timeout", f"MQTT {self.peer}: closed: no CONNECT within "
                                     f"{self._ep.config.connect_timeout_s:g} s (mqtt.connect_timeout_s)")
            self.abort("connect_timeout")

    def _keepalive_check(self) -> None:
        self._timer = None
        if self._state is not _State.CONNECTED:
            return
        idle = time.monotonic() - self._last_rx
        if idle >= self._keepalive:
            logger.info("MQTT {}: closed: nothing received for {:.0f} s (1.5x its keepalive)", self._who(), idle)
            self.abort("keepalive")
            return
        self._timer = asyncio.get_running_loop().call_later(self._keepalive - idle, self._keepalive_check)

    # ---------------------------------------------------------------------------------------------- closing
    def abort(self, reason: str) -> None:
        """Close the TCP connection (buffered writes such as a CONNACK refusal are flushed first); `reason` is the
        counter label of `MqttEndpoint.closes`."""
        if self._state is _State.CLOSED or self._transport is None:
            return
        if not self._close_reason:
            self._close_reason = reason
            self._ep.count_close(reason)
        self._state_at_close = self._state
        self._state = _State.CLOSED       # nothing more is read or written; a queued CONNACK still goes out
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.link is not None:
            self.link.connection_ended()
        self._transport.close()

    @property
    def local_host(self) -> str:
        return self._sockname


class MqttEndpoint:
    """The node's MQTT listener. `on_link(link)` runs once per accepted connection (the session over it); when it
    returns the connection is closed, and when the connection closes `link.incoming()` ends."""

    def __init__(self, config: MqttConfig, *, udp: UdpAudioChannel, on_link: OnLink,
                 on_takeover: OnTakeover | None = None) -> None:
        self.config = config
        self.udp = udp
        self._on_link = on_link
        self._on_takeover = on_takeover
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._slot_free: asyncio.Future[None] | None = None  # set when a pending connection finishes or goes
        self._pending: set[_Connection] = set()
        self._admitting: dict[str, asyncio.Task[None]] = {}
        self._connected: dict[str, _Connection] = {}           # client id -> its live connection
        self._link_tasks: dict[_Connection, asyncio.Task[None]] = {}
        self._accepting = True
        self.port = 0
        self.ratelog = RateLimitedLog()
        self.refused: Counter[str] = Counter()                # CONNACK refusal code -> count
        self.closes: Counter[str] = Counter()                 # why connections ended -> count
        self.dropped: Counter[str] = Counter()                # device messages dropped -> count
        self.accepted_total = 0

    # ---------------------------------------------------------------------------------------------- lifecycle
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Listen on `host:port` (default: the config's); returns the bound port."""
        _raise_open_file_limit(self.config.max_connections + self.config.max_pending + 256)
        bind_host = host or self.config.host
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        listener = socket.create_server((bind_host, self.config.port if port is None else port), family=family,
                                        backlog=LISTEN_BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop(listener))
        logger.debug("MQTT endpoint on {}:{}", bind_host, self.port)
        return self.port

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if len(self._pending) >= self.config.max_pending:
                self.ratelog.warning("pending_limit", f"MQTT: {len(self._pending)} connections are waiting for their "
                                     "CONNECT; new ones wait in the listen backlog (mqtt.max_pending)")
                self._slot_free = loop.create_future()
                await self._slot_free
                continue
            try:
                sock, _addr = await loop.sock_accept(listener)
            except OSError as exc:            # e.g. EMFILE: out of file descriptors; try again shortly
                self.ratelog.warning("accept", f"MQTT: accepting a connection failed: {exc.strerror or exc}")
                await asyncio.sleep(0.1)
                continue
            try:
                await loop.connect_accepted_socket(lambda: _Connection(self), sock)
            except OSError:
                sock.close()

    def _release_pending(self, conn: _Connection) -> None:
        if conn in self._pending:
            self._pending.discard(conn)
            waiter = self._slot_free
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def stop_accepting(self) -> None:
        """New TCP connections are closed at once from now on; live ones go on until closed."""
        self._accepting = False

    async def close(self) -> None:
        """Close the listener and every connection; waits for the links' `on_link` tasks."""
        self._accepting = False
        if self._accept_task is not None:
            self._accept_task.cancel()
            await asyncio.gather(self._accept_task, return_exceptions=True)
            self._accept_task = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in list(self._pending) + list(self._connected.values()):
            conn.abort("shutdown")
        for task in list(self._admitting.values()):
            task.cancel()
        tasks = list(self._link_tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.connect_timeout_s)

    # ---------------------------------------------------------------------------------------------- views
    @property
    def links(self) -> dict[str, MqttLink]:
        """Live links by client id."""
        return {cid: c.link for cid, c in self._connected.items() if c.link is not None}

    def link_of(self, device_id: str) -> MqttLink | None:
        for conn in self._connected.values():
            if conn.link is not None and conn.link.device_id == device_id:
                return conn.link
        return None

    def stats(self) -> dict[str, object]:
        return {"connections": len(self._connected), "pending": len(self._pending), "admitting": len(self._admitting),
                "accepted_total": self.accepted_total, "refused": dict(self.refused), "closed": dict(self.closes),
                "dropped_messages": dict(self.dropped), "udp": self.udp.stats()}

    def count_close(self, reason: str) -> None:
        self.closes[reason] += 1

    # ---------------------------------------------------------------------------------------------- connections
    def connection_opened(self, conn: _Connection) -> bool:
        if not self._accepting:
            conn.abort("not_accepting")
            return False
        self._pending.add(conn)
        return True

    def connection_closed(self, conn: _Connection, was: _State, reason: str) -> None:
        self._release_pending(conn)
        if conn.ident is not None and self._connected.get(conn.ident.client_id) is conn:
            del self._connected[conn.ident.client_id]
        if was is _State.CONNECTED and conn.ident is not None:
            logger.info("MQTT device {} ({}) disconnected: {}", conn.ident.device_id, conn.peer, reason)

    def admit(self, conn: _Connection, ident: MqttIdentity) -> None:
        """CONNECT passed the credential check: take over a live duplicate, then CONNACK (in a task)."""
        self._release_pending(conn)
        previous = self._admitting.get(ident.client_id)
        task = asyncio.get_running_loop().create_task(self._admit_guarded(conn, ident, previous))
        self._admitting[ident.client_id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._admitting.get(ident.client_id) is t:
                del self._admitting[ident.client_id]
        task.add_done_callback(done)

    async def _admit_guarded(self, conn: _Connection, ident: MqttIdentity,
                             previous: asyncio.Task[None] | None) -> None:
        try:
            await self._admit(conn, ident, previous)
        except Exception:   # noqa: BLE001 - an admission bug must not leave the connection waiting forever
            logger.exception("MQTT device {}: admitting the connection failed", ident.device_id)
            conn.abort("admission_error")

    async def _admit(self, conn: _Connection, ident: MqttIdentity, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])         # two CONNECTs with one client id: in order
        old = self._connected.get(ident.client_id)
        if old is not None and old is not conn:
            await self._take_over(old)
        if conn.closed:
            return
        if len(self._connected) >= self.config.max_connections:
            self.ratelog.warning("connection_limit", f"MQTT: {len(self._connected)} devices connected; device "
                                 f"{ident.device_id} refused (mqtt.max_connections)")
            conn.refuse(ConnackCode.SERVER_UNAVAILABLE, "the node holds mqtt.max_connections devices")
            return
        udp_host = self.config.udp_public_host or conn.local_host or "127.0.0.1"
        link = MqttLink(conn, ident, peer=conn.peer, udp=self.udp, udp_host=udp_host,
                        udp_port=self.config.udp_public_port or self.udp.port,
                        first_packet_timeout_s=self.config.udp_first_packet_timeout_s)
        self._connected[ident.client_id] = conn
        self.accepted_total += 1
        conn.accepted(link)
        logger.info("MQTT device {} connected from {} (board {})", ident.device_id, conn.peer, ident.board)
        task = asyncio.get_running_loop().create_task(self._run_link(conn, link))
        self._link_tasks[conn] = task
        task.add_done_callback(lambda _t: self._link_tasks.pop(conn, None))

    async def _run_link(self, conn: _Connection, link: MqttLink) -> None:
        try:
            await self._on_link(link)
        except Exception:   # noqa: BLE001 - a failing session is contained to its own connection
            logger.exception("MQTT device {}: the session failed", link.device_id)
        finally:
            if not conn.closed:
                conn.abort("session_ended")

    async def _take_over(self, old: _Connection) -> None:
        limit = self.config.connect_timeout_s
        link = old.link
        who = link.device_id if link is not None else "?"
        logger.info("MQTT device {}: a new connection takes over from {}", who, old.peer)
        if link is not None and self._on_takeover is not None:
            try:
                async with asyncio.timeout(limit):
                    await self._on_takeover(link)
            except TimeoutError:
                logger.warning("MQTT device {}: the takeover hook took over {:g} s; closing anyway", who, limit)
            except Exception:   # noqa: BLE001 - the new connection must not fail because the old owner did
                logger.exception("MQTT device {}: the takeover hook failed", who)
        old.abort("replaced")
        task = self._link_tasks.get(old)
        if task is not None:
            await asyncio.wait([task], timeout=limit)


def _raise_open_file_limit(needed: int) -> None:
    """Lift the soft open-file limit toward `needed` (one descriptor per connection); say so when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < needed:
        logger.warning("the open-file limit is {} but mqtt.max_connections needs about {}; raise it (ulimit -n, "
                       "LimitNOFILE=, or the container's nofile ulimit) or lower mqtt.max_connections", soft, needed)

