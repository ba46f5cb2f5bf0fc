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

from core.content.types import Kind, MatchResult, MatchType, Track
from core.lang import vocab
from core.lang.replies import LANGUAGE_NAMES_IN, NOUNS, say
from plugins_func.actions import PlayTrack
from plugins_func.registry import PluginContext, PluginResult, register_function

__all__ = ["play_music", "respond", "TITLE_LEVELS", "spoken_title"]

TITLE_LEVELS = frozenset({MatchType.EXACT, MatchType.ROMANIZED, MatchType.ALTERNATIVE, MatchType.FUZZY,
                          MatchType.TRANSLITERATED})
_say = say


def spoken_title(track: Track, lang: str) -> str:
    """The native-script title in a native-language reply; otherwise the romanized display title."""
    if lang != "en" and not track.title.strip().isascii():
        return track.title.strip()
    return track.display_title


def _what(kind: Kind, lang: str, *, language: str | None = None, mood: str | None = None,
          collection: str | None = None) -> str:
    noun = NOUNS[kind.value].get(lang, NOUNS[kind.value]["en"])
    if lang == "en":
        label = (vocab.LANGUAGE_LABELS.get(language or "") or mood or
                 (collection.lower() if collection and kind is Kind.STORY else collection) or "")
        words = f"{label} {noun}".strip()
        return ("an " if words[0] in "aeiouAEIOU" else "a ") + words
    label = LANGUAGE_NAMES_IN.get(lang, {}).get(language or "", "")
    return f"{label} {noun}".strip()


def play_group(track: Track, group: tuple[str, ...]) -> PlayTrack:
    """`track` now, then the rest of its group in shuffled order, advancing by itself."""
    rest = [u for u in group if u != track.uid]
    random.shuffle(rest)
    return PlayTrack(track, queue=(track.uid, *rest), continuous=True)


def respond(ctx: PluginContext, kind: Kind, user_request: str, language_preference: str | None) -> PluginResult:
    """The shared music/story flow: match, fall back to a title of the other kind, answer honestly."""
    matcher = ctx.catalog
    request = user_request if isinstance(user_request, str) else ""
    a = matcher.analyze(request)
    lang = a.utterance_language
    avoid = ctx.recent
    result = matcher.find_content_match(request, language_preference, kind=kind, avoid=avoid)
    if result.track is None and result.requested:
        # "play the lion and the mouse": a title of the other kind is still a title match.
        other = Kind.STORY if kind is Kind.MUSIC else Kind.MUSIC
        alt = matcher.find_content_match(request, language_preference, kind=other, avoid=avoid)
        # An alias counts too ("play goldilocks" for the story "Goldilocks (and the 3 Bears)"), unless it named
        # the item only together with its kind noun ("star story" does not make "play star" the story).
        if alt.track is not None and alt.match_type in TITLE_LEVELS and not (
                alt.match_type is MatchType.ALTERNATIVE and "kind_word" in alt.notes):
            result = alt
    track = result.track
    if track is not None and result.match_type in TITLE_LEVELS:
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
        what = NOUNS[kind.value].get(lang, NOUNS[kind.value]["en"])
        return PluginResult(speech=_say("empty_catalog", lang, what=what), language=lang, match=result)
    return _miss(ctx, kind, request, language_preference, result, lang, avoid)


def _group_language(a: Any, matcher: Any, track: Track, preference: str | None) -> str | None:
    from core.content.matcher import language_code
    wanted = language_code(preference) or a.language
    return wanted if wanted and matcher.language_of(track) == wanted else None


def _miss(ctx: PluginContext, kind: Kind, request: str, preference: str | None, result: MatchResult, lang: str,
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


@register_function(
    "play_music",
    "Play a song, rhyme or music for a child. Use for any request to play/sing/put on a song, a song in a "
    "language (English, Hindi, Telugu, Kannada), phonics, or a mood (calm, lullaby, dance, energetic).",
    {
        "type": "object",
        "properties": {
            "user_request": {"type": "string",
                             "description": "The user's words, e.g. 'play baa baa black sheep' or 'हिंदी गाना बजाओ'"},
            "song_type": {"type": "string",
                          "enum": ["specific", "random", "language_specific", "category", "mood"],
                          "description": "specific: a named song; language_specific: any song in a language; "
                                         "category: e.g. phonics; mood: calm/lullaby/dance/energetic; random"},
            "language_preference": {"type": "string", "enum": ["English", "Hindi", "Telugu", "Kannada"],
                                    "description": "Only when the user named a language"},
        },
        "required": ["user_request", "song_type"],
    },
)
def play_music(ctx: PluginContext, user_request: str, song_type: str = "specific",
               language_preference: str | None = None) -> PluginResult:
    # song_type is advisory: the matcher reads the request itself, so a wrong type cannot hide a title.
    return respond(ctx, Kind.MUSIC, user_request, language_preference)
