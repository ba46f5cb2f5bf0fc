"""One answer shape for the whole HTTP surface: JSON bodies, errors as {"error", "field"}, the security headers.

A handler raises `ApiError` for anything it refuses; the middleware (core/web/app.py) turns it into the answer.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from core.utils import safejson

__all__ = ["ApiError", "CSP", "SECURITY_HEADERS", "ok", "error_body", "secure", "json_body"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class ApiError(Exception):
    """A refusal: `status`, a message safe to show, the one input at fault (`field`), and any extra keys."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra

    def response(self) -> web.Response:
        return error_body(self.status, self.message, self.field, self.extra)


def _dumps(body: object) -> str:
    return json.dumps(body, ensure_ascii=False)


def ok(body: Mapping[str, object], *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(dict(body), status=status, dumps=_dumps, headers=headers)


def error_body(status: int, message: str, field: str | None = None,
               extra: Mapping[str, object] | None = None) -> web.Response:
    return ok({"error": message, "field": field, **(extra or {})}, status=status)


async def secure(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer carries the security headers, errors and aiohttp's own included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def json_body(request: web.Request, *, max_bytes: int) -> object:
    """The request's JSON body within size and depth limits; ApiError 400/413/415 when it cannot be used (a deep or
    huge body is a 4xx, never a 500)."""
    try:
        return await safejson.read_body(request, max_bytes=max_bytes)
    except safejson.BodyError as exc:
        raise ApiError(exc.status, exc.message, "body" if exc.status == 400 else None) from None
