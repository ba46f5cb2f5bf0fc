"""JSON from outside (devices, OTA bodies, MCP replies, catalogs, state files) parsed within size and depth limits.

`json.loads` recurses once per nesting level: 100,000 nested brackets raise RecursionError (not ValueError) and
cost a deep C stack first. A cheap pre-scan counts bracket depth outside strings and refuses deep documents before
the parser sees them; every failure is a `JsonLimitError` (a ValueError) with a message safe to log and to return.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["JsonLimitError", "BodyError", "loads", "read_body", "depth_exceeds", "MAX_DEPTH"]

MAX_DEPTH = 32               # our own messages and catalogs nest 4 deep; JSON-RPC tool schemas rarely pass 10

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)   # unrolled: linear, no catastrophic backtracking
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonLimitError(ValueError):
    """The text is not JSON we accept: malformed, too large or nested too deep."""


def depth_exceeds(text: str, max_depth: int) -> bool:
    """True when `text` nests objects/arrays deeper than `max_depth` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if brackets.count("[") + brackets.count("{") <= max_depth:
        return False
    depth = 0
    for c in brackets:
        if c == "[" or c == "{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(text: str | bytes, *, max_chars: int, max_depth: int = MAX_DEPTH,
          object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """`json.loads` that raises only JsonLimitError for anything it will not parse."""
    if isinstance(text, bytes | bytearray):
        if len(text) > max_chars:
            raise JsonLimitError(f"too large ({len(text)} bytes; the limit is {max_chars})")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JsonLimitError(f"not UTF-8 (byte {exc.start})") from None
    if len(text) > max_chars:
        raise JsonLimitError(f"too large ({len(text)} characters; the limit is {max_chars})")
    if depth_exceeds(text, max_depth):
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise JsonLimitError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:   # e.g. an integer literal longer than 4300 digits
        raise JsonLimitError(f"unreadable JSON: {str(exc)[:120]}") from None


class BodyError(ValueError):
    """An HTTP request body we will not read: `status` (400, 413, 415) and a message safe to return."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Any, *, max_bytes: int) -> Any:
    """The JSON body of an aiohttp request, read at most `max_bytes` (+1 to tell) and parsed within limits; every
    refusal is a BodyError, so an API answers 4xx and never 500 (a deep body would be a RecursionError)."""
    if request.content_type != "application/json":
        raise BodyError(415, "send Content-Type: application/json")
    try:
        raw = await request.content.read(max_bytes + 1)
    except Exception:   # noqa: BLE001 - aiohttp's payload errors: the client broke its own body
        raise BodyError(400, "body could not be read") from None
    if len(raw) > max_bytes:
        raise BodyError(413, f"body larger than {max_bytes} bytes")
    try:
        return loads(raw, max_chars=max_bytes)
    except JsonLimitError as exc:
        raise BodyError(400, f"body is not JSON we accept: {exc}") from None
