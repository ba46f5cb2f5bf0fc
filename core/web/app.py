"""The node's HTTP app: one route table (each route with the roles that may call it), one middleware for request
ids, tokens and errors, and the server that runs it.

Every request gets an id (the `X-Request-Id` answer header). A handler that raises is one ERROR line in the log with
that id and the traceback, and a plain `500 {"error": "internal error", "request_id"}` to the client.
"""
from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_urldispatcher import AbstractRoute
from loguru import logger

from core.config import Config, firmware_urls
from core.devices.state import valid_device_id
from core.web.auth import ANYONE, CALLER, DEVICE_ID, HOUSEHOLD, OPERATOR, Caller, Role, Roles, TokenGuard, token_from
from core.web.console import Console
from core.web.devices import Devices
from core.web.errors import ApiError, error_body, secure
from core.web.ops import Ops
from core.web.ota import OTA_MAX_BODY, Ota
from core.web.pages import Pages
from core.web.view import NodeView

__all__ = ["Route", "build_app", "HttpServer", "ROUTES", "REQUEST_ID", "HTTP_IDLE_TIMEOUT_S"]

HTTP_IDLE_TIMEOUT_S = 15.0         # an OTA request is one small POST; nobody needs an idle connection for longer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    roles: Roles                       # ANYONE: no token (what a device may call)


ROUTES = web.AppKey("routes", tuple[Route, ...])
_ACCESS = web.AppKey("access", dict[AbstractRoute, Route])
_GUARD = web.AppKey("guard", TokenGuard)
_NODE = web.AppKey("node", NodeView)
_REFUSALS = {401: "wrong_token", 429: "rate_limited", 403: "forbidden"}   # for /metrics (AUTH_REFUSALS["api"])


def route_table(ota: Ota, ops: Ops, pages: Pages, console: Console, devices: Devices) -> tuple[Route, ...]:
    """Every route of the node and who may call it (docs/api.md)."""
    device = "/api/devices/{device_id}"
    return (
        Route("POST", "/xiaozhi/ota/", ota.config, ANYONE),
        Route("POST", "/xiaozhi/ota", ota.config, ANYONE),
        Route("GET", "/xiaozhi/ota/", ota.hello, ANYONE),
        Route("GET", "/xiaozhi/ota", ota.hello, ANYONE),
        Route("GET", "/health", ops.health, ANYONE),
        Route("GET", "/ready", ops.ready, ANYONE),
        Route("GET", "/metrics", ops.metrics, ANYONE),
        Route("GET", "/", pages.page, ANYONE),
        Route("GET", "/parents", pages.page, ANYONE),
        Route("GET", "/operator", pages.page, ANYONE),
        Route("GET", "/web/{name:[A-Za-z0-9_.-]+}", pages.page, ANYONE),
        Route("GET", "/web/{name:img/[A-Za-z0-9_.-]+}", pages.page, ANYONE),
        Route("GET", "/api/whoami", console.whoami, HOUSEHOLD),
        Route("GET", "/api/catalog", console.catalog, OPERATOR),
        Route("POST", "/api/match", console.match, OPERATOR),
        Route("GET", "/api/latency", console.latency, OPERATOR),
        Route("GET", "/api/household", devices.household, HOUSEHOLD),
        Route("GET", "/api/devices", devices.fleet, OPERATOR),
        Route("GET", device, devices.one, OPERATOR),
        Route("POST", f"{device}/stop", devices.stop, OPERATOR),
        Route("POST", f"{device}/volume", devices.volume, OPERATOR),
        Route("POST", f"{device}/pause", devices.pause, HOUSEHOLD),
        Route("POST", f"{device}/reboot", devices.reboot, OPERATOR),
        Route("POST", f"{device}/upgrade", devices.upgrade, OPERATOR),
        Route("GET", f"{device}/policy", devices.policy, HOUSEHOLD),
        Route("PUT", f"{device}/policy", devices.set_policy, HOUSEHOLD),
        Route("GET", f"{device}/history", devices.history, HOUSEHOLD),
        Route("PUT", f"{device}/name", devices.rename, HOUSEHOLD),
        Route("GET", "/api/audit", devices.audit_trail, OPERATOR),
    )


def build_app(node: NodeView, cfg: Config) -> web.Application:
    guard = TokenGuard(operator_token=cfg.fleet.operator_token, parent_token=cfg.web.parent_token,
                       parent_devices=tuple(d.strip().lower() for d in cfg.web.parent_devices),
                       attempts_per_min=cfg.web.login_attempts_per_min)
    app = web.Application(client_max_size=OTA_MAX_BODY, middlewares=[_surface])
    app.on_response_prepare.append(secure)
    routes = route_table(Ota(node, cfg.server, cfg.mqtt), Ops(node), Pages(enabled=cfg.web.enabled), Console(node),
                         Devices(node, firmware_urls(cfg.web)))
    access = {app.router.add_route(r.method, r.path, r.handler): r for r in routes}
    app[ROUTES], app[_ACCESS], app[_GUARD], app[_NODE] = routes, access, guard, node
    return app


@web.middleware
async def _surface(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    response: web.StreamResponse
    try:
        route = request.app[_ACCESS].get(request.match_info.route)
        if route is not None:
            try:
                _admit(request, route, request.app[_GUARD])
            except ApiError as exc:
                if exc.status in _REFUSALS:
                    request.app[_NODE].count_refusal(_REFUSALS[exc.status])
                raise
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:           # the router's 404 / 405, aiohttp's 413
        if exc.status < 400:
            raise
        reason = "no such page or endpoint" if exc.status == 404 else exc.reason.lower()
        response = error_body(exc.status, reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except asyncio.CancelledError:
        raise
    except Exception as exc:   # noqa: BLE001 - a handler's bug: one line in the log, a plain 500 to the client
        logger.opt(exception=exc).error("HTTP {} {} failed (request {}): {}", request.method, request.path,
                                        request_id, type(exc).__name__)
        response = error_body(500, "internal error", None, {"request_id": request_id})
    response.headers["X-Request-Id"] = request_id
    return response


def _admit(request: web.Request, route: Route, guard: TokenGuard) -> None:
    """Who calls and on which device, or the ApiError to answer (401 counted toward the wrong-token limit)."""
    if Role.DEVICE in route.roles:
        request[CALLER] = Caller(Role.DEVICE)
    else:
        request[CALLER] = _token_caller(request, route, guard)
    if "device_id" in request.match_info:
        device_id = request.match_info["device_id"].strip().lower()
        if not valid_device_id(device_id):
            raise ApiError(400, "not a usable device id", "device_id")
        if not request[CALLER].may_manage(device_id):
            raise ApiError(403, f"this token may not manage device {device_id!r}", "device_id")
        request[DEVICE_ID] = device_id


def _token_caller(request: web.Request, route: Route, guard: TokenGuard) -> Caller:
    if not route.roles & guard.configured:
        if route.roles == OPERATOR:
            raise ApiError(404, "the operator API is off; set OPERATOR_TOKEN (fleet.operator_token) to enable it")
        raise ApiError(404, "the console API is off; set OPERATOR_TOKEN (fleet.operator_token) or PARENT_TOKEN "
                            "(web.parent_token)")
    client = request.remote or "?"
    if (wait := guard.blocked(client)) > 0:
        raise ApiError(429, f"too many wrong tokens; try again in {math.ceil(wait)} s", None,
                       retry_after_s=math.ceil(wait))
    who = guard.check(token_from(request.headers), client)
    if who is None:
        logger.warning("HTTP API: refused {} {} from {} (missing or wrong token)", request.method, request.path,
                       client)
        raise ApiError(401, "token missing or wrong (header X-Operator-Token, X-Parent-Token or Authorization: "
                            "Bearer)")
    if who.role not in route.roles:
        allowed = " or ".join(sorted(r.value for r in route.roles))
        logger.info("HTTP API: {} {} from {} is for the {}, not a {}", request.method, request.path, client,
                    allowed, who.role.value)
        raise ApiError(403, f"this is for the {allowed}; this token is a {who.role.value}'s")
    return who


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]  # adapts aiohttp's logger; no parameter needed
    """aiohttp's request-handler logger: a malformed HTTP request (bad request line, oversized header, non-HTTP
    bytes) is one WARNING line without a traceback, so junk cannot flood the log; real handler bugs keep theirs."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, web.RequestPayloadError) and isinstance(exc.__cause__, HttpProcessingError):
            exc = exc.__cause__                  # a body that cannot be decoded, met again while draining it
        if isinstance(exc, HttpProcessingError):
            peer = args[0] if args and msg != "Unhandled exception" else "a client"
            detail = " ".join(str(exc.message).split())[:160]
            self.logger.warning("malformed HTTP request from %s: %s %s", peer, exc.code, detail)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


class HttpServer:
    def __init__(self, app: web.Application, *, idle_timeout_s: float = HTTP_IDLE_TIMEOUT_S) -> None:
        # keepalive_timeout also bounds a connection's wait for its first complete request (aiohttp's default is an
        # hour), so a slowloris client dribbling header bytes is dropped after idle_timeout_s.
        self.app = app
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=idle_timeout_s,
                                     logger=_ServerLog(logging.getLogger("aiohttp.server")))
        self.port = 0

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        self.port = next((addr[1] for addr in self._runner.addresses if isinstance(addr, tuple)), port)
        logger.info("HTTP (OTA, health, ready, metrics, console) on http://{}:{}/xiaozhi/ota/", host, self.port)
        return self.port

    async def close(self) -> None:
        await self._runner.cleanup()
