"""The device OTA/config endpoint (docs/xiaozhi-protocol.md §5): the fleet's router.

POST /xiaozhi/ota/ answers server_time, firmware (the device's own version echoed: never an upgrade) and
websocket {url, token, version}; with a fleet the url is the least-loaded live node's (never a draining or
overloaded one), with one node or no Redis this node's own. Never `mqtt`: its presence would switch the device to MQTT.
Bodies it cannot read are 400/413/415 with the reason, never 500.
"""
from __future__ import annotations

import codecs
import socket
import time
from typing import Any

from aiohttp import web
from loguru import logger

from core.config import MqttConfig, ServerConfig
from core.protocol.messages import clean_text
from core.utils import safejson
from core.web.errors import ApiError, ok
from core.web.view import OtaView

__all__ = ["Ota", "OTA_MAX_BODY", "websocket_url", "mqtt_endpoint"]

OTA_MAX_BODY = 256 * 1024          # firmware sends ~1 KiB of board info
_TEXT_CHARSETS = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                  "utf-32-le", "utf-32-be"}


def websocket_url(server: ServerConfig, port: int, host_seen: str | None = None) -> str:
    """The WebSocket URL devices are given: server.advertised_url, else the address the device used to reach us
    (`host_seen`), else the configured host (this machine's name when it listens on every address)."""
    if server.advertised_url:
        return server.advertised_url
    host = host_seen or (server.host if server.host not in ("0.0.0.0", "::", "") else socket.gethostname())
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}{server.websocket_path}"


def mqtt_endpoint(mqtt: MqttConfig, server: ServerConfig, port: int, host_seen: str | None = None) -> str:
    """The MQTT endpoint devices are given: mqtt.public_endpoint, else the address the device used to reach us
    with this node's MQTT port, else the configured host (this machine's name when it listens everywhere)."""
    if mqtt.public_endpoint:
        return mqtt.public_endpoint
    host = host_seen or next((h for h in (mqtt.host, server.host) if h not in ("0.0.0.0", "::", "")),
                             socket.gethostname())
    return f"{host}:{port}"


def _printable(text: str, limit: int = 64) -> str:
    return "".join(c for c in text[:limit] if c.isprintable())


class Ota:
    def __init__(self, node: OtaView, server: ServerConfig) -> None:
        self.node = node
        self.server = server

    async def config(self, request: web.Request) -> web.Response:
        device_id = _printable(request.headers.get("Device-Id", "").strip().lower())
        client_id = request.headers.get("Client-Id", "").strip()
        try:
            body = await _ota_body(request)
        except ApiError as exc:
            logger.warning("OTA request from {!r} refused ({}): {}", device_id[:40] or "?", exc.status, exc.message)
            raise
        version = "0.0.0"
        app_info = body.get("application")
        if isinstance(app_info, dict) and isinstance(app_info.get("version"), str):
            version = clean_text(app_info["version"][:32])
        token = self.node.mint_token(client_id, device_id) if device_id and client_id else ""
        routed = await self.node.route()
        node, url = ((routed.node_id, routed.websocket_url) if routed is not None
                     else (self.node.node_id, self.node.websocket_url(request.url.host)))
        self.node.count_ota(routed is None)
        logger.info("OTA config for device {!r} (firmware {}): node {} at {}", device_id or "?", version, node, url)
        return ok({
            "server_time": {"timestamp": int(time.time() * 1000), "timezone_offset": self.server.timezone_offset_min},
            "firmware": {"version": version, "url": ""},
            "websocket": {"url": url, "token": token, "version": self.server.protocol_version},
        })

    async def hello(self, request: web.Request) -> web.Response:
        return web.Response(text=f"OTA interface is running; websocket: {self.node.websocket_url(request.url.host)}\n")


async def _ota_body(request: web.Request) -> dict[str, Any]:
    """The OTA body as a JSON object; ApiError 400/413/415 saying why it cannot be read."""
    try:
        raw = await request.read()           # capped at client_max_size: larger raises 413
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"body larger than {OTA_MAX_BODY} bytes", "body") from None
    except web.RequestPayloadError:          # e.g. a Content-Encoding: gzip body that is not gzip
        raise ApiError(400, "body could not be read (bad transfer or content encoding)", "body") from None
    if not raw.strip():
        return {}                            # an empty POST is a plain config request
    charset = (request.charset or "utf-8").strip().lower()
    try:
        known = codecs.lookup(charset).name in _TEXT_CHARSETS
    except LookupError:
        known = False
    if not known:
        raise ApiError(415, f"unsupported charset {charset[:40]!r}; send UTF-8 JSON", "body")
    try:
        text = raw.decode(charset)
    except (UnicodeError, LookupError):
        raise ApiError(400, f"body is not valid {charset}", "body") from None
    try:
        body = safejson.loads(text, max_chars=OTA_MAX_BODY)
    except safejson.JsonLimitError as exc:
        raise ApiError(400, f"body is not usable JSON: {exc}", "body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", "body")
    return body
