"""The control grammar (core/lang/controls.py) on its own and through the rule recogniser, with phrasings that are
not in the held-out set (tests/data/controls_eval.jsonl is measured by bench/controls_eval_report.py)."""
from __future__ import annotations

from typing import Any

import pytest

from core.lang.controls import CONTROL_WORDS, ROLES, Control, ControlGrammar
from core.providers.intent.rules import RuleIntentRecognizer
from core.understand import title_probe
from tests.match_fixtures import make_matcher

GRAMMAR = ControlGrammar()
REC = RuleIntentRecognizer()
PROBE = title_probe(make_matcher())


def _key(text: str) -> tuple[str, ...]:
    return REC._phon(text)          # folded as the recogniser folds an utterance


def parse(text: str) -> Control | None:
    return GRAMMAR.parse(_key(text)).control


@pytest.mark.parametrize("text, function, steps", [
    ("turn it up a little bit please", "volume_up", 1),
    ("can you make it much quieter", "volume_down", 3),
    ("louder louder louder", "volume_up", 3),
    ("louder louder louder louder", "volume_up", 3),           # never more than three steps
    ("too soft", "volume_up", 1),                              # a negation or "too" turns a loudness word over
    ("not so quiet please", "volume_up", 1),
    ("volume down", "volume_down", 1),
    ("थोड़ा धीरे करो ना", "volume_down", 1),
    ("bahut zor se bajao", "volume_up", 3),
    ("konchem mellaga pettandi", "volume_down", 1),
    ("chala gattiga pettu", "volume_up", 3),
    ("ಸ್ವಲ್ಪ ಜೋರಾಗಿ ಹಾಕಿ", "volume_up", 1),
    ("tumba mellage haaku", "volume_down", 3),
    ("skip it please", "next", 1),
    ("malli okasari pettu", "play_again", 1),
    ("could you please go back", "previous", 1),
    ("hold on please", "pause", 1),
    ("ಮತ್ತೆ ಒಂದು ಸಲ ಹಾಕಿ", "play_again", 1),
])
def test_controls_with_softeners_quantities_and_politeness(text: str, function: str, steps: int) -> None:
    assert parse(text) == Control(function, steps)


@pytest.mark.parametrize("text", [
    "louder than a lion", "twinkle twinkle little star", "play little", "play hold on", "play dont stop me now",
    "play next to you", "dont turn it up", "louder softer", "next louder", "a little more please", "",
])
def test_no_one_control(text: str) -> None:
    assert parse(text) is None


def test_only_control_words_but_no_control_is_never_a_title_search() -> None:
    for text in ("a little more please", "louder softer", "thoda aur na", "volume"):
        assert GRAMMAR.parse(_key(text)).not_a_title, text
        intent = REC.recognize(text, titles=PROBE)
        assert intent.name == "" and intent.reply, text            # asked again, nothing searched
    for text in ("play little", "louder than a lion", "play the song"):
        assert not GRAMMAR.parse(_key(text)).not_a_title, text


@pytest.mark.parametrize("text, name, args", [
    ("make it a lot louder please", "volume_up", {"steps": 3}),
    ("a little softer", "volume_down", {}),
    ("louder louder", "volume_up", {"steps": 2}),
    ("sound chala tagginchu", "volume_down", {"steps": 3}),
    ("could you play it one more time", "play_again", {}),
    ("continue the story please", "resume", {"target": "story"}),
    ("repeat this song", "set_repeat", {"mode": "one"}),         # the phrase lists still come first
    ("stop for a minute", "pause", {}),                          # and the slotted requests after them
    ("play the song louder than a lion", "play_music", None),
    ("play twinkle twinkle little star", "play_music", None),
])
def test_through_the_recogniser(text: str, name: str, args: dict[str, Any] | None) -> None:
    intent = REC.recognize(text, titles=PROBE)
    assert intent.name == name, text
    if args is not None:
        assert dict(intent.arguments) == args, text


def test_every_language_has_every_role_and_a_bad_role_is_named() -> None:
    assert set(CONTROL_WORDS) == {"en", "hi", "te", "kn"}
    for lang, roles in CONTROL_WORDS.items():
        assert set(roles) <= set(ROLES), lang
        for role in ("up", "down", "loud", "soft", "small", "large", "next", "previous", "play_again", "stop",
                     "pause", "resume", "polite", "filler"):
            assert roles.get(role), (lang, role)
    with pytest.raises(ValueError, match="unknown role 'louder'"):
        ControlGrammar(tables={"en": {"louder": ("louder",)}})


@pytest.mark.parametrize("text, name, args", [
    ("louder " * 5000, "volume_up", {"steps": 3}),           # one length limit; steps still at most three
    ("\x00\x01 louder \x7f", "volume_up", {}),
    ("please please please", "", {}),                         # politeness alone asks again
    ("louder ಜೋರಾಗಿ थोड़ा", "volume_up", {}),                   # mixed scripts, one control
])
def test_bad_input(text: str, name: str, args: dict[str, Any]) -> None:
    intent = REC.recognize(text, titles=PROBE)
    assert (intent.name, dict(intent.arguments)) == (name, args)
