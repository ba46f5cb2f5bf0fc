"""The WebSocket server: the only module that knows about `websockets`.

Accepts any path (the advertised one is /xiaozhi/v1/), reads the device identity from headers or the query
string, refuses unauthenticated clients with HTTP 401 at the upgrade, and runs one Connection per socket through a
`WebSocketLink` (core/session/link.py). A failing session is logged and closed with 1011; it never affects other
devices.
"""
from __future__ import annotations

import asyncio
import contextlib
import http
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from core.auth import NO_TOKEN, DeviceIdentity, identity_from
from core.metrics import NullMetrics
from core.protocol.errors import CloseCode, SendError
from core.runtime import Runtime
from core.session.connection import Connection
from core.session.link import LinkEvent

__all__ = ["DeviceServer", "WebSocketLink"]


class WebSocketLink:
    """One device WebSocket: a conversation lasts as long as the socket."""
    transport = "websocket"
    persistent = False

    def __init__(self, ws: ServerConnection) -> None:
        self._ws = ws
        self.peer = _peer(ws)

    async def incoming(self) -> AsyncIterator[str | bytes | LinkEvent]:
        async for message in self._ws:
            yield message

    def hello_fields(self) -> dict[str, object]:
        return {}

    def end_conversation(self) -> None:
        return None

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise SendError("connection closed") from exc

    async def send_audio(self, packet: bytes, timestamp_ms: int) -> None:
        try:
            await self._ws.send(packet)
        except ConnectionClosed as exc:
            raise SendError("connection closed") from exc

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)


def _identity(request: Request) -> DeviceIdentity:
    query = dict(parse_qsl(urlsplit(request.path).query))
    return identity_from(dict(request.headers.raw_items()), query)


class DeviceServer:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._metrics = rt.session.metrics if rt.session.metrics is not None else NullMetrics()
        self.connections: set[Connection] = set()
        self._server: Server | None = None
        self._accepting = True

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        cfg = self.rt.config.server
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request,
            max_size=cfg.max_message_bytes, max_queue=64, ping_interval=30, ping_timeout=30,
            compression=None,   # Opus does not deflate; compression would only cost CPU and memory per device
            open_timeout=10, close_timeout=2, reuse_port=reuse_port or None)
        bound = int(self._server.sockets[0].getsockname()[1])
        logger.info("WebSocket server on ws://{}:{}{}", host, bound, cfg.websocket_path)
        return bound

    def stop_accepting(self) -> None:
        """New connections are refused (503) from now on; live ones go on until closed."""
        self._accepting = False

    async def drain(self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        """Save every device's position, then close each with `code` so it reconnects elsewhere or later."""
        self.stop_accepting()
        await asyncio.gather(*(c.save_and_close(code, reason) for c in list(self.connections)),
                             return_exceptions=True)

    async def close(self) -> None:
        if self.connections:
            await self.drain()
        if self._server is not None:
            self._server.close()          # 1001 to anything left, then waits for handlers
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health" and "upgrade" not in request.headers.get("Connection", "").lower():
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if not self._accepting:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining; reconnect through OTA\n")
        try:
            ident = _identity(request)
            reason = self.rt.auth.check(ident)
        except Exception as exc:   # noqa: BLE001 - a malformed handshake is refused, never a 500
            logger.warning("refused a malformed handshake from {}: {}", _peer(connection), type(exc).__name__)
            self._metrics.auth_refused("websocket", "malformed")
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        if reason is not None:
            self._metrics.auth_refused("websocket", "no_token" if reason == NO_TOKEN else "bad_token")
            logger.warning("refused device {!r} from {}: {}", ident.device_id or "?",
                           _peer(connection), reason)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        ident = _identity(ws.request)
        conn = Connection(self.rt.session, ident, WebSocketLink(ws))
        self.connections.add(conn)
        try:
            await conn.run()
        except ConnectionClosed:
            pass                          # the device vanished; the connection cleaned up in its finally
        except Exception:   # noqa: BLE001 - contain any session bug to this one connection
            conn.log.exception("session failed")
            await ws.close(int(CloseCode.INTERNAL), "internal error")
        finally:
            self.connections.discard(conn)
            await self._count_close(ws)

    async def _count_close(self, ws: ServerConnection) -> None:
        """The close code and who sent it, for /metrics. The handler's end would close a socket still open with
        1000; it is closed here the same way first, so the code is known."""
        if ws.protocol.state is not State.CLOSED:
            with contextlib.suppress(Exception):   # a socket already broken closes as 1006, counted below
                await ws.close()
        proto = ws.protocol
        if proto.close_rcvd is None and proto.close_sent is None:
            by = "lost"
        elif proto.close_rcvd is not None and (proto.close_sent is None or proto.close_rcvd_then_sent):
            by = "device"
        else:
            by = "server"
        self._metrics.device_closed(ws.close_code, by)


def _peer(ws: ServerConnection) -> str:
    try:
        addr = ws.remote_address
        return f"{addr[0]}:{addr[1]}" if addr else "?"
    except (OSError, TypeError, IndexError):
        return "?"

