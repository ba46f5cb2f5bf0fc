"""play_music: find a song in the catalog and say honestly what was found.

A title match is announced as such ("Now playing Baa Baa Black Sheep") and plays once; a pick from a group says
which group ("Here's a Hindi song: Bandar Mama") and the group plays on by itself (a queue in shuffled order); a
miss says so ("I couldn't find Despacito") and then, per `matching.on_miss`, stops there, offers, or plays a
clearly labelled alternative (MatchResult.fallback=True). When the request suspended an item, the session core says
`miss_speech` instead (the alternative offered in words) and gives the child back what was playing.
"""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from core.content.matcher import read_request
from core.content.titles import spoken_form
from core.content.types import Kind, MatchResult, MatchType, Track
from core.lang import registry
from core.lang.replies import language_name, noun, say
from core.lang.request import Request
from plugins_func.actions import PlayTrack
from plugins_func.registry import PluginContext, PluginResult, register_function

__all__ = ["play_music", "respond", "TITLE_LEVELS", "spoken_title"]

TITLE_LEVELS = frozenset({MatchType.EXACT, MatchType.ROMANIZED, MatchType.ALTERNATIVE, MatchType.FUZZY,
                          MatchType.TRANSLITERATED})
_say = say


def spoken_title(track: Track, lang: str) -> str:
    """The native-script title in a native-language reply; otherwise the romanized display title; either cleaned
    by `catalog scan`'s title rules ("The 3 Little Pigs - Full Story" is said "The 3 Little Pigs")."""
    if lang != "en" and not track.title.strip().isascii():
        return spoken_form(track.title.strip())
    return spoken_form(track.display_title)


def _what(kind: Kind, lang: str, *, language: str | None = None, mood: str | None = None,
          collection: str | None = None) -> str:
    what = noun(kind.value, lang)
    if lang == "en":
        label = (language_name(language, "en") or mood or
                 (collection.lower() if collection and kind is Kind.STORY else collection) or "")
        words = f"{label} {what}".strip()
        return ("an " if words[0] in "aeiouAEIOU" else "a ") + words
    return f"{language_name(language, lang)} {what}".strip()


def play_group(track: Track, group: tuple[str, ...]) -> PlayTrack:
    """`track` now, then the rest of its group in shuffled order, advancing by itself."""
    rest = [u for u in group if u != track.uid]
    random.shuffle(rest)
    return PlayTrack(track, queue=(track.uid, *rest), continuous=True)


def request_of(ctx: PluginContext, user_request: object) -> Request:
    """The utterance's Request when `user_request` says the same words (the rule recogniser passes them on);
    other words (an LLM's rewording, a category added) are read as a request of their own."""
    text = user_request if isinstance(user_request, str) else ""
    if ctx.request is not None and ctx.request.same_words(text):
        return ctx.request
    return read_request(text)


def respond(ctx: PluginContext, kind: Kind, request: Request, language_preference: str | None) -> PluginResult:
    """The shared music/story flow: match, fall back to a title of the other kind, answer honestly."""
    matcher = ctx.catalog
    a = request.analysis
    lang = request.language
    avoid = ctx.recent
    probe = ctx.probe if request is ctx.request else None
    if probe is not None and _titled(probe) and probe.track is not None and probe.track.kind is kind:
        result = probe          # the intent step already found this title over the whole catalog
    else:
        result = matcher.find_content_match(request, language_preference, kind=kind, avoid=avoid)
    # A probe over the whole catalog that found no title has already answered for the other kind too.
    if result.track is None and result.requested and probe is None:
        # "play the lion and the mouse": a title of the other kind is still a title match.
        other = Kind.STORY if kind is Kind.MUSIC else Kind.MUSIC
        alt = matcher.find_content_match(request, language_preference, kind=other, avoid=avoid)
        if _titled(alt):
            result = alt
    track = result.track
    if track is not None and result.match_type in TITLE_LEVELS:
        if not a.language_cued:
            # A bare title ("Hanuman Chalisa": whisper drops the "sunao" it mishears) is answered in the title's own
            # language, typed or spoken alike; a request word ("play", "sunao") still decides when there is one.
            said = matcher.language_of(track)
            lang = said if said is not None and registry.find(said) is not None else lang
        key = "now_telling" if track.kind is Kind.STORY else "now_playing"
        return PluginResult(speech=_say(key, lang, title=spoken_title(track, lang)), language=lang,
                            actions=(PlayTrack(track),), match=result, announces=True)
    if track is not None:
        what = _what(track.kind, lang, language=_group_language(a, matcher, track, language_preference),
                     mood=a.moods[0] if a.moods and result.match_type is MatchType.TAG else None,
                     collection=track.collection if result.match_type is MatchType.COLLECTION else None)
        return PluginResult(speech=_say("group_pick", lang, what=what, title=spoken_title(track, lang)),
                            language=lang, actions=(play_group(track, result.group or (track.uid,)),), match=result,
                            announces=True)
    if not result.requested:
        what = noun(kind.value, lang)
        return PluginResult(speech=_say("empty_catalog", lang, what=what), language=lang, match=result)
    return _miss(ctx, kind, request, language_preference, result, lang, avoid)


def _titled(r: MatchResult) -> bool:
    """A title match of any level. An alias counts too ("play goldilocks" for the story "Goldilocks (and the 3
    Bears)"), unless it named the item only together with its kind noun ("star story" does not make "play star"
    the story)."""
    return r.track is not None and r.match_type in TITLE_LEVELS and not (
        r.match_type is MatchType.ALTERNATIVE and "kind_word" in r.notes)


def _group_language(a: Any, matcher: Any, track: Track, preference: str | None) -> str | None:
    from core.content.matcher import language_code
    wanted = language_code(preference) or a.language
    return wanted if wanted and matcher.language_of(track) == wanted else None


def _miss(ctx: PluginContext, kind: Kind, request: Request, preference: str | None, result: MatchResult, lang: str,
          avoid: tuple[str, ...]) -> PluginResult:
    matcher = ctx.catalog
    speech = _say("not_found", lang, requested=result.requested)
    policy = ctx.on_miss
    if policy == "say":
        return PluginResult(speech=speech, language=lang, match=result)
    alt = matcher.find_alternative(request, preference, kind=kind, avoid=avoid)
    if alt.track is None:
        return PluginResult(speech=speech, language=lang, match=result)
    alt_lang = matcher.language_of(alt.track) if alt.match_type is MatchType.COLLECTION else None
    what = _what(alt.track.kind, lang, language=alt_lang)
    title = spoken_title(alt.track, lang)
    if policy == "offer":
        return PluginResult(speech=f"{speech} {_say('offer', lang, what=what, title=title)}", language=lang,
                            match=result)
    labelled = replace(result, track=alt.track, fallback=True, notes=result.notes + (f"alternative:{alt.match_type}",))
    offer = _say("offer_say_story" if alt.track.kind is Kind.STORY else "offer_say_music", lang, title=title)
    return PluginResult(speech=f"{speech} {_say('instead', lang, what=what, title=title)}", language=lang,
                        actions=(PlayTrack(alt.track),), match=labelled, miss_speech=f"{speech} {offer}")


def language_preference_schema() -> dict[str, Any]:
    """The `language_preference` argument of play_music and play_story: one of the registry's languages."""
    return {"type": "string", "enum": registry.labels(), "description": "Only when the user named a language"}


def _music_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "user_request": {"type": "string",
                             "description": "The user's words, e.g. 'play baa baa black sheep' or 'हिंदी गाना बजाओ'"},
            "song_type": {"type": "string",
                          "enum": ["specific", "random", "language_specific", "category", "mood"],
                          "description": "specific: a named song; language_specific: any song in a language; "
                                         "category: e.g. phonics; mood: calm/lullaby/dance/energetic; random"},
            "language_preference": language_preference_schema(),
        },
        "required": ["user_request", "song_type"],
    }


@register_function(
    "play_music",
    "Play a song, rhyme or music for a child. Use for any request to play/sing/put on a song, a song in a "
    "language, phonics, or a mood (calm, lullaby, dance, energetic).",
    _music_schema,
)
def play_music(ctx: PluginContext, user_request: str, song_type: str = "specific",
               language_preference: str | None = None) -> PluginResult:
    # song_type is advisory: the matcher reads the request itself, so a wrong type cannot hide a title.
    return respond(ctx, Kind.MUSIC, request_of(ctx, user_request), language_preference)
