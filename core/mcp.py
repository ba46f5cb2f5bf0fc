"""Server side of the device's MCP channel (docs/xiaozhi-protocol.md §3.6): the device is the MCP *server*.

After a hello with `features.mcp` we send `initialize`, then `tools/list` (following `nextCursor`, with
`withUserTools` so the user-only tools such as reboot are listed too), and keep the tool list; `call()` invokes a
device tool (e.g. `self.audio_speaker.set_volume`) and awaits its result.
What a device sends is bounded: tool count, name and description lengths, schema size, result text size and depth.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

from core.protocol.tools import USER_ONLY
from core.utils import safejson

__all__ = ["McpClient", "McpError", "MAX_TOOLS", "MAX_RESULT_CHARS"]

MAX_TOOLS = 64                 # a speaker exposes about ten; more is a broken or hostile device
MAX_PAGES = 20                 # tools/list pages followed (a device that keeps returning cursors cannot loop us)
MAX_DESCRIPTION = 1024
MAX_SCHEMA_CHARS = 8192        # one tool's inputSchema, as JSON
MAX_RESULT_CHARS = 16384       # the text content of one tools/call result
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")   # what the firmware uses: self.audio_speaker.set_volume

SendPayload = Callable[[dict[str, Any]], Awaitable[None]]


class McpError(Exception):
    pass


class McpClient:
    def __init__(self, send: SendPayload, *, timeout_s: float = 5.0, log: Any = logger) -> None:
        self._send = send
        self._timeout = timeout_s
        self._log = log
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.tools: dict[str, dict[str, Any]] = {}

    async def discover(self) -> None:
        """initialize + tools/list; failures are logged, never raised (MCP is optional for playback)."""
        try:
            await self.request("initialize", {"protocolVersion": "2024-11-05", "capabilities": {},
                                              "clientInfo": {"name": "xiaozhi-content-server", "version": "1.0"}})
            cursor = ""
            dropped = 0
            for _ in range(MAX_PAGES):
                result = await self.request("tools/list", {"cursor": cursor, "withUserTools": True})
                tools = result.get("tools")
                if not isinstance(tools, list):
                    raise McpError("tools/list result without a tools list")
                for tool in tools:
                    kept = _bounded_tool(tool) if len(self.tools) < MAX_TOOLS else None
                    if kept is None:
                        dropped += 1
                    else:
                        self.tools[kept["name"]] = kept
                following = result.get("nextCursor")
                cursor = following if isinstance(following, str) else ""
                if not cursor or len(cursor) > 256:
                    break
            if dropped:
                self._log.warning("device MCP tools: ignored {} malformed, oversized or surplus tools (limit {})",
                                  dropped, MAX_TOOLS)
            self._log.info("device MCP tools: {}", sorted(self.tools))
        except TimeoutError:
            self._log.warning("MCP discovery: the device did not answer within {:.0f} s", self._timeout)
        except McpError as exc:
            self._log.warning("MCP discovery failed: {}", exc)

    @property
    def llm_tools(self) -> dict[str, dict[str, Any]]:
        """The tools an intent may name: never the user-only ones (the firmware keeps those from its own model)."""
        return {name: tool for name, tool in self.tools.items() if name not in USER_ONLY}

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        try:
            await self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
            async with asyncio.timeout(self._timeout):
                return await fut
        finally:
            self._pending.pop(msg_id, None)

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a device tool; returns the parsed text content (JSON if it parses)."""
        result = await self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise McpError(f"device tool {name} reported an error")
        content = result.get("content")
        if not isinstance(content, list):
            raise McpError(f"device tool {name} returned no content list")
        texts = [c.get("text", "") for c in content[:16] if isinstance(c, dict)]
        text = "".join(t for t in texts if isinstance(t, str))
        if len(text) > MAX_RESULT_CHARS:
            raise McpError(f"device tool {name} returned {len(text)} characters (limit {MAX_RESULT_CHARS})")
        try:
            return safejson.loads(text, max_chars=MAX_RESULT_CHARS)
        except safejson.JsonLimitError:
            return text

    def on_message(self, payload: dict[str, Any]) -> None:
        """A device `mcp` payload: a response to one of our requests, or a notification."""
        msg_id = payload.get("id")
        fut = self._pending.get(msg_id) if isinstance(msg_id, int) else None
        if fut is None or fut.done():
            return
        if isinstance(payload.get("error"), dict):
            message = payload["error"].get("message", "error")
            fut.set_exception(McpError(str(message)[:200] if isinstance(message, str | int) else "error"))
        elif isinstance(payload.get("result"), dict):
            fut.set_result(payload["result"])
        else:
            fut.set_exception(McpError("response without result"))


def _bounded_tool(tool: Any) -> dict[str, Any] | None:
    """The tool as we keep it, or None when it is unusable: a plain name, a short description, a small schema."""
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not _TOOL_NAME.fullmatch(tool["name"]):
        return None
    schema = tool.get("inputSchema", {})
    if not isinstance(schema, dict):
        return None
    try:
        if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
            return None
    except (ValueError, TypeError, RecursionError):
        return None
    description = tool.get("description")
    return {"name": tool["name"], "description": description[:MAX_DESCRIPTION] if isinstance(description, str) else "",
            "inputSchema": schema}
