"""The language registry: a fifth language is one record plus its data.

Tamil is registered here as a toy fifth language (a handful of words, five numbers, five replies) and a request in
it goes the server's whole understanding path: Request -> rule intent -> plugin -> matcher over a catalog with
Tamil items -> the reply in Tamil words. Nothing else in the project is told about Tamil.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from core.config import MatchingConfig
from core.content.matcher import MultilingualMatcher
from core.content.types import Kind, Track
from core.lang import registry
from core.lang.numbers import parse_number
from core.lang.registry import Language, Script, Words
from core.lang.replies import say
from core.lang.script import native_language, script_of
from core.providers.asr.catalog import prompt_phrases
from core.providers.intent.llm import system_prompt
from core.providers.intent.rules import RuleIntentRecognizer, RulesIntentProvider
from core.providers.tts.espeak import EspeakTTS
from core.understand import Understander, Understanding
from plugins_func.loader import default_functions
from plugins_func.registry import PluginRegistry
from tests.match_fixtures import load_tracks, make_ctx

TAMIL = Language(
    code="ta", label="Tamil", names=("tamil", "thamizh", "தமிழ்"),
    script=Script("tamil", 0x0B80, 0x0BFF, "tamil"),
    cues=("paadal", "podu", "kathai", "sollu", "enakku"),
    numbers={1: ("ஒன்று", "ondru"), 2: ("இரண்டு", "irandu"), 3: ("மூன்று", "moondru"), 4: ("நான்கு", "naangu"),
             5: ("ஐந்து", "ainthu")},
    words=Words(carriers=("paadal", "பாடல்", "podu", "போடு", "kathai", "கதை", "sollu", "சொல்லு", "enakku",
                          "எனக்கு", "oru", "ஒரு"),
                music_nouns=("paadal", "பாடல்"), story_nouns=("kathai", "கதை"), music_verbs=("podu", "போடு"),
                story_verbs=("sollu", "சொல்லு")),
    nouns={"music": "பாடல்", "story": "கதை"},
    names_in={"en": "ஆங்கில", "ta": "தமிழ்"},
    replies={"now_playing": "இப்போது {title} பாடல்.", "now_telling": "இப்போது {title} கதை.",
             "group_pick": "இதோ ஒரு {what}: {title}.", "not_found": "{requested} கிடைக்கவில்லை.",
             "help": "நான் பாடல் போடுவேன், கதை சொல்லுவேன்."},
    controls={"pause": ("konjam iru", "கொஞ்சம் இரு"), "next": ("adutha paadal", "அடுத்த பாடல்")},
    control_words={"up": ("sattham koodu", "சத்தம் கூடு"), "small": ("konjam", "கொஞ்சம்"),
                   "large": ("romba", "ரொம்ப"), "polite": ("please",)},
    tts_voice="ta", asr_request="{} paadal podu",
)
NILA = Track(Kind.MUSIC, "Tamil", "நிலா நிலா ஓடி வா", "nila.mp3", romanized="Nila Nila Odi Vaa", language="ta")
AMMA = Track(Kind.MUSIC, "Tamil", "அம்மா இங்கே வா", "amma.mp3", romanized="Amma Inge Vaa", language="ta")
CROW = Track(Kind.STORY, "Tamil", "காகமும் நரியும்", "crow.mp3", romanized="Kaakamum Nariyum", language="ta")


@pytest.fixture
def tamil() -> Iterator[None]:
    registry.register(TAMIL)
    try:
        yield
    finally:
        registry.unregister("ta")


def understand(text: str, *, on_miss: str = "say") -> Understanding:
    """The server's path, built after the registry changed (as a server built with the language would be)."""
    matcher = MultilingualMatcher([*load_tracks(), NILA, AMMA, CROW], MatchingConfig())
    und = Understander(RulesIntentProvider(RuleIntentRecognizer(wake_words=("hey cheeko",))),
                       PluginRegistry(default_functions()), wake_words=("hey cheeko",))
    return asyncio.run(und(text, make_ctx(matcher, on_miss=on_miss)))


def test_a_request_in_the_fifth_language_native_script_plays_its_item_and_answers_in_it(tamil: None) -> None:
    u = understand("நிலா நிலா ஓடி வா பாடல் போடு")
    assert u.request.language == "ta" and u.request.script == "tamil"
    assert u.intent.name == "play_music"
    assert u.result.play == NILA and u.result.match is not None and u.result.match.match_type.value == "exact"
    assert u.result.language == "ta"
    assert u.result.speech == "இப்போது நிலா நிலா ஓடி வா பாடல்."


def test_a_romanized_request_is_known_by_its_cue_words(tamil: None) -> None:
    u = understand("hey cheeko nila nila odi vaa paadal podu")
    assert u.request.wake_words == 2 and u.request.language == "ta" and u.request.script == "latin"
    assert u.result.play == NILA
    assert u.result.speech == "இப்போது நிலா நிலா ஓடி வா பாடல்."      # the native title in a Tamil reply


def test_a_story_by_its_tamil_verb_and_noun(tamil: None) -> None:
    u = understand("காகமும் நரியும் கதை சொல்லு")
    assert u.intent.name == "play_story" and u.result.play == CROW
    assert u.result.speech == "இப்போது காகமும் நரியும் கதை."


def test_the_language_named_in_english_picks_from_its_items_and_passes_the_schema(tamil: None) -> None:
    u = understand("play a tamil song")
    # The plugin schema's enum comes from the registry: "Tamil" is accepted, not dropped as an unknown value.
    assert u.intent.arguments.get("language_preference") == "Tamil"
    track = u.result.play
    assert track is not None and track.collection == "Tamil"
    assert u.result.language == "en" and u.result.speech is not None
    assert u.result.speech.startswith("Here's a Tamil song:")


def test_a_miss_is_said_in_tamil(tamil: None) -> None:
    u = understand("டெஸ்பாசிட்டோ பாடல் போடு")
    assert u.result.play is None and u.result.language == "ta"
    assert u.result.speech is not None and u.result.speech.endswith("கிடைக்கவில்லை.")


def test_number_words_script_prompts_and_voice_come_from_the_record(tamil: None) -> None:
    rec = RuleIntentRecognizer()
    assert [rec.recognize(t).name for t in ("konjam iru", "கொஞ்சம் இரு", "அடுத்த பாடல்")] == ["pause", "pause", "next"]
    assert parse_number(["ainthu"]) == 5.0 and parse_number(["ஐந்து"]) == 5.0
    intent = RuleIntentRecognizer().recognize("stop in ainthu minutes")
    assert (intent.name, intent.arguments) == ("sleep_timer", {"minutes": 5})
    assert native_language("நிலா") == "ta" and script_of("நிலா") == "tamil"
    funcs = PluginRegistry(default_functions())
    for name in ("play_music", "play_story"):
        fn = funcs.get(name)
        assert fn is not None and "Tamil" in fn.parameters["properties"]["language_preference"]["enum"]
    assert "Tamil" in system_prompt()
    assert prompt_phrases(["நிலா நிலா ஓடி வா"]) == ["Nila Nila Odhi Va paadal podu"]
    assert EspeakTTS().voice_for("ta") == "ta"
    assert say("help", "ta") == "நான் பாடல் போடுவேன், கதை சொல்லுவேன்."
    assert say("paused", "ta") == say("paused", "en")     # a line the record lacks: the default language's


def test_softened_controls_in_the_fifth_language_come_from_its_record(tamil: None) -> None:
    rec = RuleIntentRecognizer()
    for text, steps in (("konjam sattham koodu", 1), ("romba சத்தம் கூடு please", 3)):
        intent = rec.recognize(text)
        assert intent.name == "volume_up" and intent.arguments.get("steps", 1) == steps, (text, intent)


def test_without_the_record_the_same_words_are_answered_in_the_default_language() -> None:
    assert registry.find("ta") is None
    u = understand("நிலா நிலா ஓடி வா பாடல் போடு")
    assert u.request.language == "en" and u.request.script == "other"
    assert u.result.language == "en" and u.result.speech == "Now playing Nila Nila Odi Vaa."  # the title still
    assert "Tamil" not in system_prompt()
    fn = PluginRegistry(default_functions()).get("play_music")
    assert fn is not None and "Tamil" not in fn.parameters["properties"]["language_preference"]["enum"]
    # A script no record has: no romanized cue word is read into it ("বাজাও" is not Hindi "bajao").
    u = understand("একটা গান বাজাও")
    assert u.request.language == "en" and u.result.language == "en"
    assert u.result.speech is not None and u.result.speech.startswith("I couldn't find")


def test_the_registry_refuses_a_record_without_names_and_keeps_the_default() -> None:
    with pytest.raises(ValueError, match="code, a label and names"):
        registry.register(Language(code="xx", label="", names=()))
    with pytest.raises(ValueError, match="default language"):
        registry.unregister("en")
    assert registry.codes() == ("en", "hi", "te", "kn")
    assert registry.get("xx").code == "en"


@pytest.mark.parametrize("first", ["core.lang.script", "core.lang.numbers", "core.lang.request"])
def test_the_registry_loads_whole_whichever_module_asks_first_and_from_threads(first: str) -> None:
    """The built-in records import the tables they point at; nothing in those tables may read the registry at
    import, or the first reader would see a half-loaded registry. A fresh interpreter per first importer."""
    import subprocess
    import sys
    code = ("import importlib, threading\n"
            f"importlib.import_module({first!r})\n"
            "from core.lang import numbers, registry, script\n"
            "out = []\n"
            "ts = [threading.Thread(target=lambda: out.append((len(script.scripts()), registry.codes(),\n"
            "      numbers.parse_number(['ఇరవై', 'ఐదు'])))) for _ in range(8)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print(sorted(set(out)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(3, ('en', 'hi', 'te', 'kn'), 25.0)]"
