"""HTTP side of a node: the device OTA/config endpoint (the fleet's router), health, readiness, metrics, and the
operator API (docs/xiaozhi-protocol.md §5, docs/deploy.md).

POST /xiaozhi/ota/ answers server_time, firmware (the device's own version echoed: never an upgrade) and
websocket {url, token, version}; with a fleet the url is the least-loaded live node's (never a draining or
overloaded one), with one node or no Redis this node's own. Never `mqtt`: its presence would switch the device to MQTT.

GET /health: liveness (the process answers). GET /ready: 200 only when the catalog is loaded, the models are warm,
the device-state store answers, and the node is neither draining nor overloaded (503 with the failing checks).
GET /metrics: Prometheus text exposition.
GET /api/devices, GET /api/devices/{id}, POST /api/devices/{id}/stop, POST /api/devices/{id}/volume {"volume": n}:
operator API, off unless an operator token is configured; the token goes in the X-Operator-Token header (or
`Authorization: Bearer`), compared in constant time, never in the URL.
"""
from __future__ import annotations

import asyncio
import codecs
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger

from core.fleet.messages import SetVolume, StopDevice
from core.metrics import CONTENT_TYPE, Metrics, NullMetrics
from core.protocol.messages import clean_text
from core.runtime import Runtime
from core.utils import safejson

__all__ = ["build_http_app", "HttpApi", "NodeOps"]


async def _nothing_routed() -> tuple[str, str] | None:
    return None


async def _no_devices(_device_id: str | None) -> list[dict[str, Any]]:
    return []


async def _no_command(_msg: StopDevice | SetVolume) -> bool:
    return False


async def _always_ready() -> dict[str, bool]:
    return {}


@dataclass(slots=True)
class NodeOps:
    """What the HTTP side needs from its node (all optional: a bare app answers OTA with its own URL)."""
    node_id: str = "local"
    metrics: Metrics = field(default_factory=NullMetrics)
    ready_checks: Callable[[], Awaitable[dict[str, bool]]] = _always_ready
    route: Callable[[], Awaitable[tuple[str, str] | None]] = _nothing_routed   # (node id, ws url) of another node
    devices: Callable[[str | None], Awaitable[list[dict[str, Any]]]] = _no_devices
    command: Callable[[StopDevice | SetVolume], Awaitable[bool]] = _no_command
    operator_token: str = ""


def _ws_url(rt: Runtime, request: web.Request, ws_port: int) -> str:
    cfg = rt.config.server
    if cfg.advertised_url:
        return cfg.advertised_url
    host = request.url.host or "127.0.0.1"        # the address the device used to reach us
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{ws_port}{cfg.websocket_path}"


def _printable(text: str, limit: int = 64) -> str:
    return "".join(c for c in text[:limit] if c.isprintable())


def build_http_app(rt: Runtime, *, ws_port: Callable[[], int], session_count: Callable[[], int],
                   ops: NodeOps | None = None) -> web.Application:
    started = time.time()
    ops = ops or NodeOps()

    async def ota_post(request: web.Request) -> web.Response:
        device_id = _printable(request.headers.get("Device-Id", "").strip().lower())
        client_id = request.headers.get("Client-Id", "").strip()
        version = "0.0.0"
        body, refused = await _ota_body(request)
        if refused is not None:
            logger.warning("OTA request from {!r} refused ({}): {}", device_id[:40] or "?", refused.status,
                           refused.text)
            return refused
        app_info = body.get("application")
        if isinstance(app_info, dict) and isinstance(app_info.get("version"), str):
            version = clean_text(app_info["version"][:32])
        token = rt.auth.mint(client_id, device_id) if device_id and client_id else ""
        routed = await ops.route()
        node, url = routed if routed is not None else (ops.node_id, _ws_url(rt, request, ws_port()))
        ops.metrics.ota_request(routed is None)
        reply = {
            "server_time": {"timestamp": int(time.time() * 1000),
                            "timezone_offset": rt.config.server.timezone_offset_min},
            "firmware": {"version": version, "url": ""},
            "websocket": {"url": url, "token": token, "version": rt.config.server.protocol_version},
        }
        logger.info("OTA config for device {!r} (firmware {}): node {} at {}", device_id or "?", version, node, url)
        return web.json_response(reply)

    async def ota_get(request: web.Request) -> web.Response:
        return web.Response(text=f"OTA interface is running; websocket: {_ws_url(rt, request, ws_port())}\n")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node": ops.node_id, "sessions": session_count(),
                                  "tracks": len(rt.content.tracks()), "uptime_s": round(time.time() - started, 1),
                                  "audio": rt.pipeline.stats()})

    async def ready(request: web.Request) -> web.Response:
        checks = {"catalog_loaded": len(rt.content.tracks()) > 0, **await ops.ready_checks()}
        ok = all(checks.values())
        return web.json_response({"ready": ok, "node": ops.node_id, "checks": checks}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(ops.metrics.exposition)     # reads /proc and the cache folder
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application(client_max_size=OTA_MAX_BODY)
    from core.console.routes import add_console  # the pages and the parents'/operator API (docs/api.md)
    guard = add_console(app, rt, operator_token=ops.operator_token, node_id=ops.node_id,
                        command=lambda msg: ops.command(msg))     # late-bound: the node fills ops in after building

    def operator(request: web.Request) -> web.Response | None:
        """None when the request carries the operator token; otherwise the refusal to send."""
        if not ops.operator_token:
            return web.json_response({"error": "the operator API is off; set OPERATOR_TOKEN (fleet.operator_token) "
                                               "to enable it"}, status=404)
        client = request.remote or "?"
        if (wait := guard.blocked(client)) > 0:              # wrong tokens are rate-limited with the console's
            return web.json_response({"error": f"too many wrong tokens; try again in {wait:.0f} s"}, status=429)
        given = request.headers.get("X-Operator-Token", "")
        auth = request.headers.get("Authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), ops.operator_token.encode()):
            guard.check(given, client)                        # counts the failure (a parent token is no operator's)
            logger.warning("operator API: refused {} {} from {} (missing or wrong token)", request.method,
                           request.path, request.remote or "?")
            return web.json_response({"error": "operator token missing or wrong (header X-Operator-Token)"},
                                     status=401)
        return None

    async def devices(request: web.Request) -> web.Response:
        if (refused := operator(request)) is not None:
            return refused
        found = await ops.devices(None)
        return web.json_response({"devices": found, "count": len(found)}, dumps=_dumps)

    async def device(request: web.Request) -> web.Response:
        if (refused := operator(request)) is not None:
            return refused
        device_id = request.match_info["device_id"].strip().lower()
        found = await ops.devices(device_id)
        if not found:
            return web.json_response({"error": f"device {device_id!r} is not connected to any node"}, status=404)
        return web.json_response(found[0], dumps=_dumps)

    async def stop(request: web.Request) -> web.Response:
        if (refused := operator(request)) is not None:
            return refused
        device_id = request.match_info["device_id"].strip().lower()
        delivered = await ops.command(StopDevice(ops.node_id, device_id))
        return web.json_response({"device_id": device_id, "delivered": delivered}, status=200 if delivered else 404)

    async def volume(request: web.Request) -> web.Response:
        if (refused := operator(request)) is not None:
            return refused
        device_id = request.match_info["device_id"].strip().lower()
        try:
            body = await safejson.read_body(request, max_bytes=1024)
        except safejson.BodyError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        level = body.get("volume") if isinstance(body, dict) else None
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            return web.json_response({"error": 'send {"volume": N} with N a whole number 0-100'}, status=400)
        delivered = await ops.command(SetVolume(ops.node_id, device_id, level))
        return web.json_response({"device_id": device_id, "volume": level, "delivered": delivered},
                                 status=200 if delivered else 404)

    for path in ("/xiaozhi/ota/", "/xiaozhi/ota"):
        app.router.add_post(path, ota_post)
        app.router.add_get(path, ota_get)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/devices", devices)
    app.router.add_get("/api/devices/{device_id}", device)
    app.router.add_post("/api/devices/{device_id}/stop", stop)
    app.router.add_post("/api/devices/{device_id}/volume", volume)
    return app


# ---------------------------------------------------------------------------------------------- bounded input

OTA_MAX_BODY = 256 * 1024          # firmware sends ~1 KiB of board info
HTTP_IDLE_TIMEOUT_S = 15.0         # an OTA request is one small POST; nobody needs an idle connection for longer
_TEXT_CHARSETS = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                  "utf-32-le", "utf-32-be"}


def _refuse(status: int, why: str) -> web.Response:
    return web.json_response({"error": why}, status=status)


async def _ota_body(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
    """The OTA body as a JSON object, or a 400/413/415 answer saying why it cannot be read (never a 500)."""
    try:
        raw = await request.read()           # capped at client_max_size: larger raises 413
    except web.HTTPRequestEntityTooLarge:
        return {}, _refuse(413, f"body larger than {OTA_MAX_BODY} bytes")
    except web.RequestPayloadError:          # e.g. a Content-Encoding: gzip body that is not gzip
        return {}, _refuse(400, "body could not be read (bad transfer or content encoding)")
    if not raw.strip():
        return {}, None                      # an empty POST is a plain config request
    charset = (request.charset or "utf-8").strip().lower()
    try:
        known = codecs.lookup(charset).name in _TEXT_CHARSETS
    except LookupError:
        known = False
    if not known:
        return {}, _refuse(415, f"unsupported charset {charset[:40]!r}; send UTF-8 JSON")
    try:
        text = raw.decode(charset)
    except (UnicodeError, LookupError):
        return {}, _refuse(400, f"body is not valid {charset}")
    try:
        body = safejson.loads(text, max_chars=OTA_MAX_BODY)
    except safejson.JsonLimitError as exc:
        return {}, _refuse(400, f"body is not usable JSON: {exc}")
    if not isinstance(body, dict):
        return {}, _refuse(400, "body must be a JSON object")
    return body, None


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]  # adapts aiohttp's logger; no parameter needed
    """aiohttp's request-handler logger: a malformed HTTP request (bad request line, oversized header, non-HTTP
    bytes) is one WARNING line without a traceback, so junk cannot flood the log; real handler bugs keep theirs."""

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, web.RequestPayloadError) and isinstance(exc.__cause__, HttpProcessingError):
            exc = exc.__cause__                  # a body that cannot be decoded, met again while draining it
        if isinstance(exc, HttpProcessingError):
            peer = args[0] if args and msg != "Unhandled exception" else "a client"
            detail = " ".join(str(exc.message).split())[:160]
            self.logger.warning("malformed HTTP request from %s: %s %s", peer, exc.code, detail)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class HttpApi:
    def __init__(self, app: web.Application, *, idle_timeout_s: float = HTTP_IDLE_TIMEOUT_S) -> None:
        # keepalive_timeout also bounds a connection's wait for its first complete request (aiohttp's default is an
        # hour), so a slowloris client dribbling header bytes is dropped after idle_timeout_s.
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=idle_timeout_s,
                                     logger=_ServerLog(logging.getLogger("aiohttp.server")))
        self.port = 0

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        server = site._server   # aiohttp exposes bound sockets only here
        self.port = server.sockets[0].getsockname()[1] if server and server.sockets else port
        logger.info("HTTP (OTA, health, ready, metrics) on http://{}:{}/xiaozhi/ota/", host, self.port)
        return self.port

    async def close(self) -> None:
        await self._runner.cleanup()
