"""Plugin function registry: named functions with JSON-schema parameters, called with a frozen context.

The shape is the one LLM function calling uses (name, description, parameters), so the rule-based intent
recogniser and an LLM provider call the very same functions. A function gets a `PluginContext` (a view of the
catalog, the device's state, its MCP tools) and returns a `PluginResult`: a spoken line and typed actions
(plugins_func/actions.py). The device's player carries the actions out; a plugin never sees the connection.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from core.content.types import Kind, MatchResult, Track
from core.devices.state import DeviceState
from core.lang.request import Request
from plugins_func.actions import Action, PlayTrack

__all__ = ["PluginResult", "PluginFunction", "PluginRegistry", "PluginContext", "CatalogView", "register_function"]


class CatalogView(Protocol):
    """What plugins may ask of the catalog (the matcher implements it)."""

    def find_content_match(self, request: Request | str, language_hint: str | None = None, *,
                           kind: Kind | None = None, avoid: Collection[str] = ()) -> MatchResult: ...

    def find_alternative(self, request: Request | str, language_hint: str | None = None, *,
                         kind: Kind | None = None, avoid: Collection[str] = ()) -> MatchResult: ...

    def pick(self, *, kind: Kind | None = None, collection: str | None = None, avoid: Collection[str] = ()
             ) -> Track | None: ...

    def track(self, uid: str) -> Track | None: ...

    def language_of(self, track: Track) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PluginContext:
    """Everything a plugin may know, frozen at the moment the request is understood."""
    catalog: CatalogView
    device: DeviceState
    tools: Mapping[str, Any] = field(default_factory=dict)     # device MCP tools by name (from tools/list)
    on_miss: str = "say"                                       # matching.on_miss: say / offer / play_alternative
    recent_size: int = 5
    language: str = "en"                                       # the language the child spoke (for replies)
    request: Request | None = None                             # the utterance, read once (core/lang/request.py)
    # The catalog's answer to the whole request when the intent step asked it (a bare title): a plugin for
    # that title's kind takes it instead of matching the same words again.
    probe: MatchResult | None = None

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def now_playing(self) -> Track | None:
        """The item in hand (playing, paused or stopped but remembered), if the catalog still has it."""
        item = self.device.item
        return self.catalog.track(item.uid) if item is not None else None

    @property
    def recent(self) -> tuple[str, ...]:
        """Uids played recently, oldest first (random picks avoid them)."""
        seen = dict.fromkeys(p.uid for p in self.device.history[: self.recent_size])
        return tuple(reversed(seen))


@dataclass(frozen=True, slots=True)
class PluginResult:
    speech: str | None = None            # spoken first (e.g. "Now playing ..."), None = say nothing
    language: str = "en"                 # language of `speech`
    actions: tuple[Action, ...] = ()     # carried out by the player, in order, after the speech starts
    match: MatchResult | None = None     # what the matcher decided (logs, `app.py match`)
    announces: bool = False              # `speech` only announces the track (may be shortened when not ready)
    # A miss: what to say instead when the request suspended an item that should then continue ("I couldn't find
    # X", with the alternative offered in words); None when this result is no miss.
    miss_speech: str | None = None

    @property
    def play(self) -> Track | None:
        """The track this result starts, if any."""
        return next((a.track for a in self.actions if isinstance(a, PlayTrack)), None)


Handler = Callable[..., PluginResult]


Schema = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PluginFunction:
    name: str
    description: str
    # JSON schema of the arguments (without the context); a function builds it when asked, for a schema that
    # reads a registry (the languages a `language_preference` may name).
    schema: Schema
    handler: Handler

    @property
    def parameters(self) -> dict[str, Any]:
        return self.schema() if callable(self.schema) else self.schema

    def tool_schema(self) -> dict[str, Any]:
        """OpenAI tools format."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


class PluginRegistry:
    def __init__(self, functions: Sequence[PluginFunction] | None = None) -> None:
        self._functions: dict[str, PluginFunction] = {}
        self._params: dict[str, frozenset[str]] = {}
        for fn in functions or []:
            self.add(fn)

    def add(self, fn: PluginFunction) -> None:
        if fn.name in self._functions:
            raise ValueError(f"plugin function {fn.name!r} registered twice")
        self._functions[fn.name] = fn
        self._params[fn.name] = frozenset(inspect.signature(fn.handler).parameters) - {"ctx"}

    def get(self, name: str) -> PluginFunction | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return list(self._functions)

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [fn.tool_schema() for fn in self._functions.values()]

    def call(self, name: str, ctx: PluginContext, arguments: Mapping[str, Any]) -> PluginResult:
        """Call a function with JSON arguments; unknown names or bad arguments give a spoken apology."""
        fn = self._functions.get(name)
        if fn is None:
            logger.warning("unknown plugin function {!r}", name)
            return PluginResult(speech="Sorry, I can't do that yet.")
        params = self._params[name]
        parameters = fn.parameters
        schema = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
        # An LLM may send anything: keep only arguments the handler takes and whose JSON type fits the schema.
        accepted = {k: v for k, v in arguments.items() if k in params and _fits(v, schema.get(k))}
        dropped = sorted(set(arguments) - set(accepted))
        if dropped:
            logger.debug("plugin {}: ignoring unknown arguments {}", name, dropped)
        try:
            return fn.handler(ctx, **accepted)
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


def register_function(name: str, description: str, parameters: Schema) -> Callable[[Handler], PluginFunction]:
    """Decorator: turn a handler into a PluginFunction (collected by `plugins_func.loader.default_functions`)."""
    def wrap(handler: Handler) -> PluginFunction:
        return PluginFunction(name=name, description=description, schema=parameters, handler=handler)
    return wrap
