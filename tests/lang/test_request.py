"""One Request per utterance, and the bad input it must survive: empty and whitespace-only text, control
characters, 10,000 characters (one limit, one log line), mixed scripts, number words out of range, transcripts of
punctuation or one repeated syllable. Each goes the server's understanding path (rule intents, the real matcher over
the fixture catalog, the plugins) and gets an answer; none is searched as a title it is not."""
from __future__ import annotations

import asyncio

import pytest

from core.content.matcher import MultilingualMatcher
from core.lang import text as text_mod
from core.lang.replies import say
from core.lang.request import MAX_CHARS
from core.providers.intent.contract import SLEEP_MINUTES
from core.providers.intent.rules import RuleIntentRecognizer, RulesIntentProvider
from core.understand import Understander, Understanding
from plugins_func.loader import default_functions
from plugins_func.registry import PluginRegistry
from tests.match_fixtures import make_ctx, make_matcher

WAKE = ("hey cheeko", "cheeko")
MATCHER = make_matcher()
UNDERSTAND = Understander(RulesIntentProvider(RuleIntentRecognizer(wake_words=WAKE)),
                          PluginRegistry(default_functions()), wake_words=WAKE)
READ = UNDERSTAND.reader.read          # the reader a device's words go through


def understand(text: str) -> Understanding:
    return asyncio.run(UNDERSTAND(text, make_ctx(MATCHER, on_miss="say")))


# ------------------------------------------------------------------------------------------ one request, one pass


def test_one_utterance_is_analysed_once_and_matched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The intent rules, the title probe, the plugin and the matcher share the one Request: a bare title is
    analysed once and matched once (it was analysed up to 3 times and matched up to 3 times)."""
    import core.lang.request as request_mod
    calls = {"analyze": 0, "match": 0}
    real_analyze, real_match = text_mod.analyze, MultilingualMatcher.find_content_match

    def analyze(*a, **k):                                        # type: ignore[no-untyped-def]
        calls["analyze"] += 1
        return real_analyze(*a, **k)

    def match(self, *a, **k):                                    # type: ignore[no-untyped-def]
        calls["match"] += 1
        return real_match(self, *a, **k)

    monkeypatch.setattr(request_mod, "analyze", analyze)
    monkeypatch.setattr(MultilingualMatcher, "find_content_match", match)
    for text, title in (("baa baa black sheep", "Baa Baa Black Sheep"), ("play hanuman chalisa", "Hanuman Chalisa "),
                        ("tell me the thirsty crow", "The Thirsty Crow")):
        calls.update(analyze=0, match=0)
        u = understand(text)
        assert u.result.play is not None and u.result.play.title == title, text
        assert calls == {"analyze": 1, "match": 1}, (text, calls)
    assert not hasattr(MATCHER, "_analyses") and not hasattr(MATCHER, "analyze")     # the shared memo is gone


def test_a_request_is_read_once_wake_words_dropped_and_numbers_spelled_for_matching() -> None:
    r = READ("Hey, Cheeko! play 3 little   pigs")
    assert r.text == "play 3 little pigs" and r.wake_words == 2
    assert r.tokens == ("play", "3", "little", "pigs")                 # the intent rules read digits as digits
    assert r.analysis.words(r.analysis.residual) == "three little pigs"     # the matcher reads them spelled
    assert r.language == "en" and r.script == "latin" and not r.clipped
    assert READ("stop in 1.5 hours").tokens == ("stop", "in", "1", "point", "5", "hours")


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("text", ["", "   ", "\t\n  \r", "\x00\x07\x1b", "\u200b\ufeff", "...", "?!?!", "।।",
                                  "- - -", "😀😀", "hey cheeko", "Hey, Cheeko!!"])
def test_nothing_to_understand_gets_the_help_line_not_a_search(text: str) -> None:
    r = READ(text)
    assert r.empty
    u = understand(text)
    assert u.intent.name == "" and u.result.play is None and u.result.match is None
    assert u.result.speech == say("help", "en")


@pytest.mark.parametrize("text", ["la la la la", "la la la la la la la la la la", "ma ma ma ma ma",
                                  "ना ना ना ना ना", "da. da. da. da."])
def test_a_transcript_of_one_repeated_syllable_is_not_a_title_search(text: str) -> None:
    assert READ(text).babble
    u = understand(text)
    assert u.intent.name == "" and u.result.play is None, text
    assert u.result.speech == say("help", u.result.language)


def test_a_title_said_twice_or_a_real_request_is_not_babble() -> None:
    for text in ("baa baa", "play la la la la", "twinkle twinkle twinkle twinkle", "chanda mama chanda mama"):
        assert not READ(text).babble, text
    # A short control said over and over is still that control.
    for text, name in (("bas bas bas bas", "stop"), ("बस बस बस बस", "stop"), ("stop stop stop stop", "stop")):
        assert understand(text).intent.name == name, text


def test_control_characters_are_spaces_and_the_request_still_plays() -> None:
    u = understand("play\x00 baa\x07 baa\u200bblack\x1b sheep\u2028")
    assert u.request.text == "play baa baa black sheep"
    assert u.result.play is not None and u.result.play.title == "Baa Baa Black Sheep"


def test_ten_thousand_characters_are_cut_once_with_one_log_line(captured_logs) -> None:
    long = "play baa baa black sheep " + "and then some more words " * 400
    assert len(long) >= 10_000
    u = understand(long)
    assert u.request.clipped and len(u.request.text) <= MAX_CHARS and u.request.heard_chars == len(long)
    lines = [line for line in captured_logs.lines if "request cut" in line]
    assert len(lines) == 1, lines                           # one limit, one line, however many steps read it
    assert f"first {MAX_CHARS} of {len(long)} characters" in lines[0] and "MAX_CHARS" in lines[0]
    assert u.result.speech                                  # answered: a miss said as such, or a title
    # 10,000 characters of one word and of no spaces at all are cut the same way, and answered.
    for text in ("a" * 10_000, "baa " * 2_500, "हनुमान" * 2_000):
        u = understand(text)
        assert u.request.clipped and len(u.request.text) <= MAX_CHARS and u.result.speech


def test_mixed_scripts_in_one_request() -> None:
    u = understand("play हनुमान chalisa")                  # a Devanagari word among Latin ones
    assert u.result.play is not None and u.result.play.title == "Hanuman Chalisa "
    u = understand("ಬಂದರ್ ಮಾಮಾ ಹಾಡು")                         # a Kannada request for a Devanagari title
    assert u.result.play is not None and u.result.play.collection == "Hindi"
    r = READ("चिट्टी చిలకమ్మ ಹಾಡು please")                     # three scripts and Latin: the most letters win
    assert r.script == "telugu" and r.language == "te"
    u = understand("चिट्टी చిలకమ్మ ಹಾಡು please")
    assert u.result.speech                                  # answered in the language the script implies


def test_a_script_the_registry_does_not_have_is_answered_in_the_default_language() -> None:
    for text in ("একটা গান বাজাও", "ஒரு பாடல் போடு", "ওহে"):
        u = understand(text)
        assert u.request.language == "en" and u.result.language == "en", text
        assert u.result.speech is not None and u.result.speech.startswith("I couldn't find"), text


@pytest.mark.parametrize("text, minutes", [
    ("stop in 100000 minutes", SLEEP_MINUTES[1]),           # digits beyond the cap: the cap
    ("sleep timer 9999", SLEEP_MINUTES[1]),
    ("stop in 0 minutes", SLEEP_MINUTES[0]),                # zero: the shortest timer
    ("stop in nine hundred ninety nine minutes", SLEEP_MINUTES[1]),
    ("stop in one hundred hours", SLEEP_MINUTES[1]),
])
def test_number_words_out_of_range_are_held_to_the_timer_bounds(text: str, minutes: int) -> None:
    u = understand(text)
    assert u.intent.name == "sleep_timer" and u.intent.arguments == {"minutes": minutes}, (text, u.intent)


@pytest.mark.parametrize("text", ["stop in a million minutes", "stop in twenty hundred minutes",
                                  "stop in 1234567 minutes", "stop in five twenty minutes"])
def test_numbers_that_are_not_numbers_never_set_a_timer_beyond_the_bounds(text: str) -> None:
    u = understand(text)
    minutes = u.intent.arguments.get("minutes")
    assert minutes is None or SLEEP_MINUTES[0] <= minutes <= SLEEP_MINUTES[1], (text, u.intent)
    assert u.result.speech and u.result.play is None        # said as not understood; nothing starts playing
