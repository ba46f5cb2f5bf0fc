"""Intent provider interface: an utterance in, the plugin function to call (with its JSON arguments) out."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.lang.request import Request

__all__ = ["Intent", "IntentContext", "IntentProvider", "TitleProbe"]

TitleProbe = Callable[[Request], str | None]     # request -> "play_music" / "play_story" when it names a title


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised request: the plugin function (or device MCP tool) to call and its JSON arguments."""
    name: str                       # registered function name, e.g. "play_music"; "" = not a request
    arguments: dict[str, Any] = field(default_factory=dict)
    language: str = "en"            # language of the utterance (for the spoken reply)
    reply: str | None = None        # for non-requests: a friendly line to speak


@dataclass(frozen=True, slots=True)
class IntentContext:
    """What a recogniser may know besides the words: how to tell a bare title from chatter, what plays now,
    and the device's own MCP tools (name -> {description, inputSchema})."""
    titles: TitleProbe | None = None
    now_playing: str | None = None
    device_tools: Mapping[str, Any] = field(default_factory=dict)


class IntentProvider(Protocol):
    name: str

    async def recognize(self, request: Request, context: IntentContext) -> Intent:
        """Decide what `request` asks for; never raises for odd input."""
        ...
