"""One path from a request's words to what should happen: intent -> plugin function -> result.

Used by the device session, `app.py match` and the tests alike, so what the CLI reports is what a device hears.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.content.types import Kind, MatchType
from core.providers.intent.base import Intent, IntentContext, IntentProvider, TitleProbe
from plugins_func.registry import PluginRegistry, PluginResult

__all__ = ["Understanding", "Understander", "title_probe"]

_NOT_A_TITLE = (MatchType.NONE, MatchType.TAG, MatchType.COLLECTION, MatchType.RANDOM)


def title_probe(matcher: Any) -> TitleProbe:
    """Tell a bare title ("baa baa black sheep") from chatter: which plugin plays it, if the catalog has it."""
    def probe(utterance: str) -> str | None:
        r = matcher.find_content_match(utterance)
        if r.track is None or r.match_type in _NOT_A_TITLE:
            return None
        return "play_story" if r.track.kind == Kind.STORY else "play_music"
    return probe


@dataclass(frozen=True, slots=True)
class Understanding:
    text: str
    intent: Intent
    result: PluginResult | None       # None: a device tool call or not a request (intent.reply says what to say)


class Understander:
    """Built once per process from the intent provider and the plugin functions."""

    def __init__(self, intent: IntentProvider, registry: PluginRegistry) -> None:
        self.intent = intent
        self.registry = registry

    async def __call__(self, text: str, ctx: Any) -> Understanding:
        content = getattr(ctx, "content", None)
        matcher = getattr(content, "matcher", None)
        tools = getattr(ctx, "mcp_tools", None) or {}
        now = getattr(ctx, "now_playing", None)
        intent = await self.intent.recognize(text, IntentContext(
            titles=title_probe(matcher) if matcher is not None else None,
            now_playing=getattr(now, "display_title", None), device_tools=tools))
        if not intent.name or (self.registry.get(intent.name) is None and intent.name in tools):
            return Understanding(text, intent, None)
        return Understanding(text, intent, self.registry.call(intent.name, ctx, intent.arguments))
