"""One path from a request's words to what should happen: intent -> plugin function -> result.

Used by the device session, `app.py match` and the tests alike, so what the CLI reports is what a device hears.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.content.types import Kind, MatchType
from core.providers.intent.base import Intent, IntentContext, IntentProvider, TitleProbe
from plugins_func.actions import DeviceTool
from plugins_func.registry import CatalogView, PluginContext, PluginRegistry, PluginResult

__all__ = ["Understanding", "Understander", "title_probe", "describe"]

_NOT_A_TITLE = (MatchType.NONE, MatchType.TAG, MatchType.COLLECTION, MatchType.RANDOM)
_KIND_OF_INTENT = {"play_music": "music", "play_story": "story"}


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


def describe(utterance: str, intent_name: str, result: Any) -> dict[str, Any]:
    """The contract line for one utterance from the intent and the PluginResult."""
    match = getattr(result, "match", None)
    track = getattr(match, "track", None) if match is not None else None
    if match is not None and getattr(match, "fallback", False):
        track = None                 # an alternative after a miss is not a title the user asked for
    if track is None and match is None and intent_name not in _KIND_OF_INTENT:
        track = getattr(result, "play", None)     # next / previous / repeat choose an item too
    kind = track.kind.value if track is not None else _KIND_OF_INTENT.get(intent_name)
    return {
        "utterance": utterance,
        "intent": intent_name or None,
        "kind": kind,
        "collection": track.collection if track is not None else None,
        "title": track.title if track is not None else None,
        "filename": track.filename if track is not None else None,
        # Always one of the documented values: anything without a catalog match (controls, chat) is "none".
        "match_type": match.match_type.value if match is not None and track is not None else "none",
        "score": round(float(match.score), 1) if match is not None and track is not None else 0.0,
    }
