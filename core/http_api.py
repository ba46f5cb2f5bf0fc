"""HTTP side: the device OTA/config endpoint and a health check (docs/xiaozhi-protocol.md §5).

POST /xiaozhi/ota/ answers server_time, firmware (the device's own version echoed: never an upgrade) and
websocket {url, token, version}. Never `mqtt`: its presence would switch the device to MQTT.
"""
from __future__ import annotations

import codecs
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger

from core.protocol.messages import clean_text
from core.runtime import Runtime
from core.utils import safejson

__all__ = ["build_http_app", "HttpApi"]


def _ws_url(rt: Runtime, request: web.Request, ws_port: int) -> str:
    cfg = rt.config.server
    if cfg.advertised_url:
        return cfg.advertised_url
    host = request.url.host or "127.0.0.1"        # the address the device used to reach us
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{ws_port}{cfg.websocket_path}"


def build_http_app(rt: Runtime, *, ws_port: Callable[[], int], session_count: Callable[[], int]) -> web.Application:
    started = time.time()

    async def ota_post(request: web.Request) -> web.Response:
        device_id = request.headers.get("Device-Id", "").strip().lower()
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
        reply = {
            "server_time": {"timestamp": int(time.time() * 1000),
                            "timezone_offset": rt.config.server.timezone_offset_min},
            "firmware": {"version": version, "url": ""},
            "websocket": {"url": _ws_url(rt, request, ws_port()), "token": token,
                          "version": rt.config.server.protocol_version},
        }
        logger.info("OTA config for device {!r} (firmware {})", device_id or "?", version)
        return web.json_response(reply)

    async def ota_get(request: web.Request) -> web.Response:
        return web.Response(text=f"OTA interface is running; websocket: {_ws_url(rt, request, ws_port())}\n")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "sessions": session_count(),
                                  "tracks": len(rt.content.tracks()), "uptime_s": round(time.time() - started, 1),
                                  "audio": rt.pipeline.stats()})

    app = web.Application(client_max_size=OTA_MAX_BODY)
    for path in ("/xiaozhi/ota/", "/xiaozhi/ota"):
        app.router.add_post(path, ota_post)
        app.router.add_get(path, ota_get)
    app.router.add_get("/health", health)
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


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
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
        logger.info("HTTP (OTA, health) on http://{}:{}/xiaozhi/ota/", host, self.port)
        return self.port

    async def close(self) -> None:
        await self._runner.cleanup()
