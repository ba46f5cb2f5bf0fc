"""The device OTA/config endpoint (docs/xiaozhi-protocol.md §5): the fleet's router.

POST /xiaozhi/ota/ answers server_time, firmware (the device's own version echoed: never an upgrade) and
websocket {url, token, version}; with a fleet the url is the least-loaded live node's (never a draining or
overloaded one), with one node or no Redis this node's own. With `mqtt.enabled` the answer also carries `mqtt`
{endpoint, client_id, username, password, publish_topic, subscribe_topic, keepalive} of the same node, and the
firmware then prefers MQTT + UDP (docs/protocol.md, "MQTT + UDP"); without it, never `mqtt`, so devices stay on
WebSocket. A device whose Device-Id is not a MAC, or routed to a node without MQTT, gets WebSocket only.
Bodies it cannot read are 400/413/415 with the reason, never 500.
"""
from __future__ import annotations

import codecs
import time
from typing import Any

from aiohttp import web
from loguru import logger

from core.config import MqttConfig, ServerConfig
from core.devices.view import OtaSeen
from core.mqtt.credentials import mqtt_credentials
from core.protocol.messages import clean_text
from core.utils import safejson
from core.utils.net import is_wildcard, lan_address
from core.web.errors import ApiError, ok
from core.web.view import OtaView

__all__ = ["Ota", "OTA_MAX_BODY", "websocket_url", "mqtt_endpoint"]

OTA_MAX_BODY = 256 * 1024          # firmware sends ~1 KiB of board info
_TEXT_CHARSETS = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                  "utf-32-le", "utf-32-be"}


def websocket_url(server: ServerConfig, port: int, host_seen: str | None = None) -> str:
    """The WebSocket URL devices are given: server.advertised_url, else the address the device used to reach us
    (`host_seen`), else the configured host (the address the ready line prints when it listens on every address:
    a fleet node advertises this one to devices routed to it by another node)."""
    if server.advertised_url:
        return server.advertised_url
    host = host_seen or lan_address(server.host)
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}{server.websocket_path}"


def mqtt_endpoint(mqtt: MqttConfig, server: ServerConfig, port: int, host_seen: str | None = None) -> str:
    """The MQTT endpoint devices are given: mqtt.public_endpoint, else the address the device used to reach us
    with this node's MQTT port, else the configured host (this machine's LAN address when it listens everywhere)."""
    if mqtt.public_endpoint:
        return mqtt.public_endpoint
    host = host_seen or next((h for h in (mqtt.host, server.host) if not is_wildcard(h)), None) \
        or lan_address("0.0.0.0")
    return f"{host}:{port}"


def _printable(text: str, limit: int = 64) -> str:
    return "".join(c for c in text[:limit] if c.isprintable())


def _board(body: dict[str, Any], user_agent: str) -> str:
    """The board type of an OTA request: body.board.type (or name), else the User-Agent's "<board>/<version>"."""
    board = body.get("board")
    if isinstance(board, dict):
        for key in ("type", "name"):
            if isinstance(board.get(key), str) and board[key].strip():
                return _printable(board[key].strip(), 64)
    return _printable(user_agent.partition("/")[0].strip(), 64)


class Ota:
    def __init__(self, node: OtaView, server: ServerConfig, mqtt: MqttConfig | None = None) -> None:
        self.node = node
        self.server = server
        self.mqtt = mqtt or MqttConfig()

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
        if routed is not None:
            node, url, endpoint = routed.node_id, routed.websocket_url, routed.mqtt_endpoint
        else:
            host = request.url.host
            node, url, endpoint = self.node.node_id, self.node.websocket_url(host), self.node.mqtt_endpoint(host)
        self.node.count_ota(routed is None)
        now = time.time()
        board = _board(body, request.headers.get("User-Agent", ""))
        answer: dict[str, Any] = {
            "server_time": {"timestamp": int(now * 1000), "timezone_offset": self.server.timezone_offset_min},
            "firmware": {"version": version, "url": ""},
            "websocket": {"url": url, "token": token, "version": self.server.protocol_version},
        }
        mqtt = self._mqtt(device_id, client_id, board, version, request.remote or "", endpoint, now)
        if mqtt is not None:
            answer["mqtt"] = mqtt            # the firmware prefers it over `websocket`
        if device_id:
            self.node.note_ota(device_id, OtaSeen(board=board, firmware=version, at=now))
        logger.info("OTA config for device {!r} (firmware {}): node {} at {} (board {}, {})", device_id or "?",
                    version, node, endpoint if mqtt is not None else url, board or "?",
                    "mqtt" if mqtt is not None else "websocket")
        return ok(answer)

    def _mqtt(self, device_id: str, client_id: str, board: str, version: str, ip: str, endpoint: str | None,
              now: float) -> dict[str, object] | None:
        """The `mqtt` object (it holds the password: never log it), or None: the device stays on WebSocket."""
        if endpoint is None or not self.mqtt.signature_key:
            return None
        try:
            return mqtt_credentials(device_id=device_id, client_uuid=client_id, board=board or "xiaozhi", ip=ip,
                                    endpoint=endpoint, signature_key=self.mqtt.signature_key,
                                    keepalive_s=self.mqtt.keepalive_s, firmware=version, issued_at=now)
        except ValueError:
            logger.info("OTA: device {!r} is offered WebSocket only: its Device-Id is not a MAC address",
                        device_id[:40] or "?")
            return None

    async def hello(self, request: web.Request) -> web.Response:
        host = request.url.host
        endpoint = self.node.mqtt_endpoint(host)
        mqtt = f"; mqtt: {endpoint}" if endpoint is not None else ""
        return web.Response(text=f"OTA interface is running; websocket: {self.node.websocket_url(host)}{mqtt}\n")


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
