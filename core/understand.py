"""One path from a request's words to what should happen: intent -> plugin function -> result.

Used by the device session, `app.py match` and the tests alike, so what the CLI reports is what a device hears.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.content.types import Kind, MatchType
from core.providers.intent.base import Intent, IntentContext, IntentProvider, TitleProbe
from plugins_func.actions import DeviceTool
from plugins_func.registry import CatalogView, PluginContext, PluginRegistry, PluginResult

__all__ = ["Understanding", "Understander", "title_probe"]

_NOT_A_TITLE = (MatchType.NONE, MatchType.TAG, MatchType.COLLECTION, MatchType.RANDOM)


def title_probe(catalog: CatalogView) -> TitleProbe:
    """Tell a bare title ("baa baa black sheep") from chatter: which plugin plays it, if the catalog has it."""
    def probe(utterance: str) -> str | None:
        r = catalog.find_content_match(utterance)
        if r.track is None or r.match_type in _NOT_A_TITLE or "kind_word" in r.notes:
            return None        # "star" is not the story whose alias is "star story"
        return "play_story" if r.track.kind == Kind.STORY else "play_music"
    return probe


@dataclass(frozen=True, slots=True)
class Understanding:
    text: str
    intent: Intent
    result: PluginResult          # what to say and do; for a non-request, the recogniser's friendly line


class Understander:
    """Built once per process from the intent provider and the plugin functions."""

    def __init__(self, intent: IntentProvider, registry: PluginRegistry) -> None:
        self.intent = intent
        self.registry = registry

    async def __call__(self, text: str, ctx: PluginContext) -> Understanding:
        now = ctx.now_playing
        intent = await self.intent.recognize(text, IntentContext(
            titles=title_probe(ctx.catalog), now_playing=now.display_title if now else None, device_tools=ctx.tools))
        if not intent.name:
            return Understanding(text, intent, PluginResult(speech=intent.reply, language=intent.language))
        if self.registry.get(intent.name) is None and intent.name in ctx.tools:
            return Understanding(text, intent, PluginResult(
                speech=intent.reply, language=intent.language,
                actions=(DeviceTool(intent.name, dict(intent.arguments)),)))
        ctx = dataclasses.replace(ctx, language=intent.language)
        return Understanding(text, intent, self.registry.call(intent.name, ctx, intent.arguments))
