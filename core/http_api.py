"""HTTP side: the device OTA/config endpoint and a health check (docs/xiaozhi-protocol.md §5).

POST /xiaozhi/ota/ answers server_time, firmware (the device's own version echoed: never an upgrade) and
websocket {url, token, version}. Never `mqtt`: its presence would switch the device to MQTT.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web
from loguru import logger

from core.runtime import Runtime

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
        try:
            body = json.loads(await request.text() or "{}")
            app_info = body.get("application") if isinstance(body, dict) else None
            if isinstance(app_info, dict) and isinstance(app_info.get("version"), str):
                version = app_info["version"][:32]
        except (ValueError, UnicodeDecodeError):
            logger.warning("OTA request from {!r} with a body that is not JSON", device_id or "?")
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

    app = web.Application(client_max_size=256 * 1024)
    for path in ("/xiaozhi/ota/", "/xiaozhi/ota"):
        app.router.add_post(path, ota_post)
        app.router.add_get(path, ota_get)
    app.router.add_get("/health", health)
    return app


class HttpApi:
    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
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
