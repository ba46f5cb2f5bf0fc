"""Plugin function registry: named functions with JSON-schema parameters, called with the connection context.

The shape is the one LLM function calling uses (name, description, parameters), so the rule-based intent
recogniser and an LLM provider call the very same functions. Functions return a `PluginResult`; the session,
which owns the device state, decides what to do with it (speak, play, apply a control).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

if TYPE_CHECKING:
    from core.content.types import MatchResult, Track

__all__ = ["Control", "PluginResult", "PluginFunction", "PluginRegistry", "PluginContext", "register_function"]


class Control(StrEnum):
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    NEXT = "next"
    PREVIOUS = "previous"
    REPEAT = "repeat"
    WHAT_PLAYING = "what_playing"
    VOLUME_UP = "volume_up"
    VOLUME_DOWN = "volume_down"


@dataclass(frozen=True, slots=True)
class PluginResult:
    speech: str | None = None           # spoken first (e.g. "Now playing ..."), None = say nothing
    language: str = "en"                # language of `speech`
    play: Track | None = None           # item to play after the speech
    control: Control | None = None      # a transport control for the session to apply
    match: MatchResult | None = None    # what the matcher decided (logs, `app.py match`)
    data: Mapping[str, Any] = field(default_factory=dict)   # extra, e.g. {"volume_delta": 10}


class PluginContext(Protocol):
    """What a plugin may see of the connection (the seed's `conn`)."""
    device_id: str

    @property
    def content(self) -> Any: ...           # core.content.service.ContentService (catalog + matcher)

    @property
    def recent(self) -> Any: ...            # collections.deque[str] of Track.uid, most recent last

    @property
    def now_playing(self) -> Track | None: ...

    @property
    def mcp_tools(self) -> Mapping[str, Any]: ...   # device MCP tools by name (from tools/list)


Handler = Callable[..., PluginResult]


@dataclass(frozen=True, slots=True)
class PluginFunction:
    name: str
    description: str
    parameters: dict[str, Any]          # JSON schema of the arguments (without conn)
    handler: Handler

    def tool_schema(self) -> dict[str, Any]:
        """OpenAI tools format."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


class PluginRegistry:
    def __init__(self, functions: list[PluginFunction] | None = None) -> None:
        self._functions: dict[str, PluginFunction] = {}
        for fn in functions or []:
            self.add(fn)

    def add(self, fn: PluginFunction) -> None:
        if fn.name in self._functions:
            raise ValueError(f"plugin function {fn.name!r} registered twice")
        self._functions[fn.name] = fn

    def get(self, name: str) -> PluginFunction | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return list(self._functions)

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [fn.tool_schema() for fn in self._functions.values()]

    def call(self, name: str, conn: PluginContext, arguments: Mapping[str, Any]) -> PluginResult:
        """Call a function with JSON arguments; unknown names or bad arguments give a spoken apology."""
        fn = self._functions.get(name)
        if fn is None:
            logger.warning("unknown plugin function {!r}", name)
            return PluginResult(speech="Sorry, I can't do that yet.")
        params = inspect.signature(fn.handler).parameters
        schema = fn.parameters.get("properties", {}) if isinstance(fn.parameters, dict) else {}
        # An LLM may send anything: keep only arguments the handler takes and whose JSON type fits the schema.
        accepted = {k: v for k, v in arguments.items()
                    if k in params and k != "conn" and _fits(v, schema.get(k))}
        dropped = sorted(set(arguments) - set(accepted))
        if dropped:
            logger.debug("plugin {}: ignoring unknown arguments {}", name, dropped)
        try:
            return fn.handler(conn, **accepted)
        except TypeError as exc:
            logger.warning("plugin {}: bad arguments {}: {}", name, sorted(arguments), exc)
            return PluginResult(speech="Sorry, I didn't understand that request.")


_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                           "boolean": (bool,), "array": (list,), "object": (dict,)}


def _fits(value: Any, schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True
    if value is None:
        return True                       # optional arguments may be null
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    allowed = tuple(t for k in kinds for t in _JSON_TYPES.get(k, ()))
    # bool is an int subclass in Python, but not a JSON integer
    if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
        return False
    enum = schema.get("enum")
    return not (isinstance(enum, list) and value not in enum)


def register_function(name: str, description: str, parameters: dict[str, Any]) -> Callable[[Handler], PluginFunction]:
    """Decorator: turn a handler into a PluginFunction (collected by `plugins_func.loader.default_functions`)."""
    def wrap(handler: Handler) -> PluginFunction:
        return PluginFunction(name=name, description=description, parameters=parameters, handler=handler)
    return wrap
