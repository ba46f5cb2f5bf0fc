"""One path from a request's words to what should happen: Request -> intent -> plugin function -> result.

The words are read into one `Request` here (cleaned, cut once, wake words dropped, analysed once), and that
Request travels: the intent recogniser reads it, the title probe matches it, and the plugin gets both the Request
and the probe's match, so nothing is analysed or matched twice. Used by the device session, `app.py match`, the
console's match tester and the tests alike, so what the CLI reports is what a device hears.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.content.titles import match_text
from core.content.types import Kind, MatchResult, MatchType
from core.lang.request import Request, RequestReader
from core.providers.intent.base import Intent, IntentContext, IntentProvider, TitleProbe
from plugins_func.actions import DeviceTool
from plugins_func.registry import CatalogView, PluginContext, PluginRegistry, PluginResult

__all__ = ["Understanding", "Understander", "title_probe", "is_title", "describe"]

_NOT_A_TITLE = (MatchType.NONE, MatchType.TAG, MatchType.COLLECTION, MatchType.RANDOM)
_KIND_OF_INTENT = {"play_music": "music", "play_story": "story"}


def title_probe(catalog: CatalogView, seen: list[MatchResult] | None = None) -> TitleProbe:
    """Tell a bare title ("baa baa black sheep") from chatter: which plugin plays it, if the catalog has it.
    The match is appended to `seen`, so the plugin that answers is handed it instead of matching again."""
    def probe(request: Request) -> str | None:
        r = catalog.find_content_match(request)
        if seen is not None:
            seen.append(r)
        if not is_title(r):
            return None        # "star" is not the story whose alias is "star story"
        assert r.track is not None
        return "play_story" if r.track.kind == Kind.STORY else "play_music"
    return probe


def is_title(r: MatchResult) -> bool:
    """A title match (not a group pick, not an alias that names the item only together with its kind noun)."""
    return r.track is not None and r.match_type not in _NOT_A_TITLE and "kind_word" not in r.notes


@dataclass(frozen=True, slots=True)
class Understanding:
    request: Request
    intent: Intent
    result: PluginResult          # what to say and do; for a non-request, the recogniser's friendly line

    @property
    def text(self) -> str:
        return self.request.text


class Understander:
    """Built once per process from the intent provider, the plugin functions and the wake words."""

    def __init__(self, intent: IntentProvider, registry: PluginRegistry, *, wake_words: Iterable[str] = ()) -> None:
        self.intent = intent
        self.registry = registry
        self.reader = RequestReader(tuple(wake_words), spell=match_text)

    async def __call__(self, heard: str | Request, ctx: PluginContext) -> Understanding:
        request = heard if isinstance(heard, Request) else self.reader.read(heard)
        now = ctx.now_playing
        probed: list[MatchResult] = []
        intent = await self.intent.recognize(request, IntentContext(
            titles=title_probe(ctx.catalog, probed), now_playing=now.display_title if now else None,
            device_tools=ctx.tools))
        if not intent.name:
            return Understanding(request, intent, PluginResult(speech=intent.reply, language=intent.language))
        if self.registry.get(intent.name) is None and intent.name in ctx.tools:
            return Understanding(request, intent, PluginResult(
                speech=intent.reply, language=intent.language,
                actions=(DeviceTool(intent.name, dict(intent.arguments)),)))
        ctx = dataclasses.replace(ctx, language=intent.language, request=request,
                                  probe=probed[0] if probed else None)
        return Understanding(request, intent, self.registry.call(intent.name, ctx, intent.arguments))


def describe(utterance: str, intent_name: str, result: Any, request: Request | None = None) -> dict[str, Any]:
    """The contract line for one utterance from the intent and the PluginResult (and, given the Request, what the
    words were understood as: `app.py match` and the console's match tester print the same line)."""
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
        **({"request": request.summary()} if request is not None else {}),
    }
