"""MultilingualMatcher behaviour: ranked levels, groups, margins, recent-avoidance, bad input, honest misses."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from core.config import MatchingConfig
from core.content.matcher import MultilingualMatcher
from core.content.titles import strip_track_number
from core.content.types import Kind, MatchType, Track
from plugins_func.functions.play_music import play_music
from plugins_func.functions.play_story import play_story
from plugins_func.registry import PluginContext
from tests.match_fixtures import load_tracks, make_ctx, make_matcher


@pytest.fixture(scope="module")
def matcher() -> MultilingualMatcher:
    return make_matcher()


def test_levels(matcher: MultilingualMatcher) -> None:
    r = matcher.find_content_match("play Baa Baa Black Sheep", kind=Kind.MUSIC)
    assert (r.track.title, r.match_type, r.score) == ("Baa Baa Black Sheep", MatchType.EXACT, 100.0)
    r = matcher.find_content_match("Machli Jal Ki Rani Hai")
    assert r.track.title == "मछली जल की रानी है" and r.match_type is MatchType.ROMANIZED
    r = matcher.find_content_match("play bus song")
    assert r.track.title == "The Wheels on the Bus" and r.match_type is MatchType.ALTERNATIVE
    r = matcher.find_content_match("twinkel twinkel litel star")
    assert r.track.title == "Twinkle Twinkle Little Star" and r.match_type is MatchType.FUZZY
    assert 82 <= r.score < 100
    r = matcher.find_content_match("ಬಂದರ್ ಮಾಮಾ ಹಾಡು")          # Kannada script meets a Devanagari title
    assert r.track.title == "बंदर मामा" and r.match_type is MatchType.TRANSLITERATED
    r = matcher.find_content_match("बा बा ब्लैक शीप बजाओ")       # Devanagari request, Latin title, fuzzy
    assert r.track.title == "Baa Baa Black Sheep" and r.match_type is MatchType.TRANSLITERATED


def test_trailing_space_keys_are_kept_for_object_names(matcher: MultilingualMatcher) -> None:
    r = matcher.find_content_match("play hanuman chalisa")
    assert r.track.title == "Hanuman Chalisa " and r.track.filename == "Hanuman Chalisa .mp3"


def test_shared_alias_is_a_group_not_a_title(matcher: MultilingualMatcher) -> None:
    seen = Counter()
    for _ in range(40):
        r = matcher.find_content_match("play a nursery rhyme", kind=Kind.MUSIC)
        assert r.match_type is MatchType.TAG and r.track is not None
        assert "nursery rhyme" in r.track.tags or "classic nursery rhyme" in r.track.alternatives
        seen[r.track.title] += 1
    assert len(seen) > 3


def test_near_tie_is_a_miss_unless_the_language_hint_breaks_it() -> None:
    tracks = [Track(Kind.MUSIC, "Hindi", "Bandar Mama", "a.mp3", language="hi"),
              Track(Kind.MUSIC, "Telugu", "Bandar Mami", "b.mp3", language="te"),
              Track(Kind.MUSIC, "English", "Baa Baa Black Sheep", "c.mp3")]
    m = MultilingualMatcher(tracks, MatchingConfig(min_score=82, margin=10))
    r = m.find_content_match("play bandar mamu")
    assert r.track is None and r.match_type is MatchType.NONE and "ambiguous" in r.notes and r.runner_up is not None
    r = m.find_content_match("play bandar mamu", language_hint="Telugu")
    assert r.track.title == "Bandar Mami" and r.match_type is MatchType.FUZZY


def test_same_title_in_two_collections_follows_the_hint() -> None:
    tracks = [Track(Kind.MUSIC, "English", "Twinkle Twinkle Little Star", "en.mp3"),
              Track(Kind.MUSIC, "Kannada", "ಟ್ವಿಂಕಲ್ ಟ್ವಿಂಕಲ್ ಲಿಟಲ್ ಸ್ಟಾರ್", "kn.mp3", romanized="Twinkle Twinkle Little Star")]
    m = MultilingualMatcher(tracks, MatchingConfig())
    assert m.find_content_match("twinkle twinkle little star", "kn").track.collection == "Kannada"
    assert m.find_content_match("twinkle twinkle little star in kannada").track.collection == "Kannada"
    assert m.find_content_match("twinkle twinkle little star").track.collection == "English"


def test_random_picks_avoid_recent_items(matcher: MultilingualMatcher) -> None:
    telugu = [t.uid for t in matcher.tracks if t.collection == "Telugu"]
    avoid = telugu[:-1]
    for _ in range(20):
        r = matcher.find_content_match("play a telugu song", avoid=avoid)
        assert r.track.uid == telugu[-1] and r.match_type is MatchType.COLLECTION
    # Everything recent: the one played longest ago.
    r = matcher.find_content_match("play a telugu song", avoid=telugu)
    assert r.track.uid == telugu[0]


@pytest.mark.parametrize("text", ["", "   ", "!!!", "😀🎵", "x" * 10_000, "play " + "la " * 3000, "\u200d",
                                  "play हनुमान chalisa ಆನೆ తెలుగు", "\x00\x01", "ab" * 5000 + " हिंदी"])
def test_bad_input_never_raises(matcher: MultilingualMatcher, text: str) -> None:
    r = matcher.find_content_match(text, "nonsense", kind=Kind.MUSIC)
    assert r.match_type in set(MatchType)
    assert r.match_type not in (MatchType.FUZZY,) or r.score >= 82


def test_empty_and_odd_catalogs() -> None:
    m = MultilingualMatcher([], MatchingConfig())
    assert m.find_content_match("play baa baa black sheep").track is None
    assert m.find_content_match("play music").track is None
    odd = [Track(Kind.MUSIC, "X", "   ", "a.mp3"), Track(Kind.MUSIC, "X", "song", "b.mp3"),
           Track(Kind.MUSIC, "X", "Lullaby", "c.mp3", alternatives=("lullaby", "lullaby"))]
    m = MultilingualMatcher(odd, MatchingConfig())
    assert m.find_content_match("play lullaby").track is not None


def _conn(on_miss: str) -> PluginContext:
    return make_ctx(MultilingualMatcher(load_tracks(), MatchingConfig(on_miss=on_miss), rng=random.Random(1)))


def test_honest_miss_say_offer_and_alternative() -> None:
    r = play_music.handler(_conn("say"), "play despacito", "specific")
    assert r.speech == "I couldn't find Despacito." and r.play is None and r.match.track is None
    r = play_music.handler(_conn("offer"), "play despacito", "specific")
    assert r.speech.startswith("I couldn't find Despacito.") and "like" in r.speech and r.play is None
    r = play_music.handler(_conn("play_alternative"), "play despacito", "specific")
    assert r.speech.startswith("I couldn't find Despacito. Here's an English song instead: ")
    assert r.play is not None and r.play.collection == "English"
    assert r.match.fallback and r.match.match_type is MatchType.NONE and r.match.requested == "Despacito"
    r = play_music.handler(_conn("play_alternative"), "हम्प्टी डम्प्टी नहीं, कोई मिल गया गाना बजाओ", "specific")
    assert r.language == "hi" and r.match.fallback and r.play.collection == "Hindi"


def test_plugin_speech_never_claims_a_title_for_a_group_pick() -> None:
    conn = _conn("play_alternative")
    r = play_music.handler(conn, "Play Baa Baa Black Sheep", "specific")
    assert r.speech == "Now playing Baa Baa Black Sheep." and r.play.title == "Baa Baa Black Sheep"
    r = play_music.handler(conn, "Play Hindi song", "language_specific", "Hindi")
    assert r.speech.startswith("Here's a Hindi song: ") and r.play.collection == "Hindi"
    r = play_music.handler(conn, "हिंदी गाना बजाओ", "language_specific", "Hindi")
    assert r.language == "hi" and r.speech.startswith("यह रहा हिंदी गाना: ")
    r = play_story.handler(conn, "Tell me a bedtime story", "category", "bedtime")
    assert r.speech.startswith("Here's a bedtime story: ") and r.play.collection == "Bedtime"
    r = play_music.handler(conn, "Play something energetic", "mood")
    assert r.speech.startswith("Here's an energetic song: ") and "energetic" in r.play.tags


def _library(*entries: tuple[Kind, str, str]) -> MultilingualMatcher:
    """A scanned-style catalog: file names, titles without the track number, no hand-written alternatives."""
    tracks = [Track(kind, coll, strip_track_number(name), f"{name}.mp3") for kind, coll, name in entries]
    return MultilingualMatcher(tracks, MatchingConfig(), rng=random.Random(3))


_M, _S = Kind.MUSIC, Kind.STORY


def test_the_first_words_of_a_long_title_name_it_and_a_shared_opening_is_ambiguous() -> None:
    m = _library((_M, "Hindi Rhymes", "Lakdi Ki Kathi Kathi Pe Ghoda Ghode Ki Dum Pe Jo Mara Hathoda"),
                 (_M, "Hindi Rhymes", "Chanda Mama Door Ke Pue Pakaye Boor Ke"),
                 (_M, "Hindi Rhymes", "Chanda Mama Aao Na Doodh Bhari Katori Lao Na"),
                 (_S, "Fairy Tales", "Goldilocks and the Three Bears (Bedtime Story)"),
                 (_M, "Devotional", "Hanuman Chalisa (Full) - Hariharan"))
    r = m.find_content_match("play lakdi ki kathi", kind=_M)
    assert r.track is not None and r.track.title.startswith("Lakdi Ki Kathi") and r.match_type is MatchType.FUZZY
    r = m.find_content_match("play chanda mama door ke", kind=_M)
    assert r.track is not None and r.track.title.startswith("Chanda Mama Door Ke")
    r = m.find_content_match("play chanda mama", kind=_M)
    assert r.track is None and "ambiguous" in r.notes
    r = m.find_content_match("tell me goldilocks", kind=_S)        # one long word that only one item has
    assert r.track is not None and r.track.title.startswith("Goldilocks")
    r = m.find_content_match("play hanuman aarti", kind=_M)        # 'hanuman' alone is what is left, not the request
    assert r.track is None


def test_numbers_in_the_request_must_be_in_the_title() -> None:
    m = _library((_S, "Mythology", "Ramayana for Kids - Part 1 - The Birth of Rama"),
                 (_S, "Mythology", "Ramayana for Kids - Part 3 - Exile to the Forest"),
                 (_M, "Learning Songs", "Table of 2 - Multiplication Song"),
                 (_M, "English Rhymes", "23 - Ten Little Fingers"))
    assert m.find_content_match("tell me ramayana part 4", kind=_S).track is None
    r = m.find_content_match("tell me ramayana part 3", kind=_S)
    assert r.track is not None and "Part 3" in r.track.title
    assert m.find_content_match("play table of 7", kind=_M).track is None
    assert m.find_content_match("tell me the three little pigs").track is None    # not via "twenty three"


def test_a_name_only_the_other_kind_has_is_a_miss_and_a_shared_name_follows_the_kind() -> None:
    m = _library((_M, "Disney Songs", "Aladdin - Friend Like Me"), (_M, "Disney Songs", "Aladdin - A Whole New World"),
                 (_M, "Disney Songs", "Cinderella - Bibbidi-Bobbidi-Boo"),
                 (_S, "Fairy Tales", "Cinderella - A Fairy Tale"), (_S, "Fairy Tales", "Rapunzel"))
    r = m.find_content_match("tell me the story of aladdin", kind=_S)
    assert r.track is None and r.match_type is MatchType.NONE          # not a random story
    r = m.find_content_match("tell me cinderella", kind=_S)
    assert r.track is not None and r.track.title == "Cinderella - A Fairy Tale"
    r = m.find_content_match("play cinderella", kind=_M)
    assert r.track is not None and r.track.title == "Cinderella - Bibbidi-Bobbidi-Boo"


@pytest.mark.parametrize("utterance", ["play some lullabies", "play a few lullabies", "play a couple of lullabies",
                                       "play me a few rhymes"])
def test_a_quantifier_asks_for_the_group(utterance: str) -> None:
    m = _library((_M, "Lullabies", "Hush Little Baby"), (_M, "Lullabies", "Golden Slumbers"),
                 (_M, "Hindi Rhymes", "Chuhe Ki Shaadi"), (_M, "Kannada Rhymes", "Bannada Chitte"))
    r = m.find_content_match(utterance, kind=_M)
    assert r.track is not None and r.match_type in (MatchType.COLLECTION, MatchType.TAG), r
    want = {"Lullabies"} if "lullabies" in utterance else {"Hindi Rhymes", "Kannada Rhymes"}
    assert {m.track(uid).collection for uid in r.group} <= want


def test_a_series_several_items_share_is_asked_for_as_a_group_never_as_one_title() -> None:
    m = _library((_M, "Kids", "CoComelon - Bath Song"), (_M, "Kids", "CoComelon - Yes Yes Vegetables Song"),
                 (_M, "Disney", "The Lion King - Circle of Life"), (_M, "Disney", "The Lion King - Hakuna Matata"),
                 (_S, "Akbar Birbal", "Akbar and Birbal - The Mango Tree"), (_S, "Akbar Birbal", "Birbal's Khichdi"))
    r = m.find_content_match("play cocomelon", kind=_M)
    assert r.match_type is MatchType.TAG and len(r.group) == 2
    r = m.find_content_match("play the bath song", kind=_M)
    assert r.track is not None and r.track.title == "CoComelon - Bath Song"
    assert m.find_content_match("tell me the story of the lion king", kind=_S).track is None
    assert m.find_content_match("the lion king", kind=_M).match_type is MatchType.TAG
    r = m.find_content_match("tell me an akbar and birbal story", kind=_S)     # the folder, said with "and"
    assert r.match_type is MatchType.COLLECTION and r.track is not None and r.track.collection == "Akbar Birbal"
