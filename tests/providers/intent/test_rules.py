"""Rule intents, the plugin JSON schemas they must satisfy, and the transport controls."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.config import Config
from core.lang import replies
from core.providers.intent.base import IntentContext
from core.providers.intent.contract import PLAYER_FUNCTIONS
from core.providers.intent.rules import CONTROL_FUNCTIONS, RuleIntentRecognizer, RulesIntentProvider
from core.understand import title_probe
from plugins_func.loader import default_functions
from plugins_func.registry import PluginRegistry
from tests.match_fixtures import make_matcher

REGISTRY = PluginRegistry(default_functions())
REC = RuleIntentRecognizer(wake_words=Config().server.wake_words)


_JSON = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


def check_schema(name: str, args: dict[str, Any]) -> None:
    """The arguments fit the function's JSON schema: the plugin's, else the player contract's."""
    fn = REGISTRY.get(name)
    schema = fn.parameters if fn is not None else PLAYER_FUNCTIONS[name].parameters
    props = schema["properties"]
    assert set(schema.get("required", [])) <= set(args), (name, args)
    for k, v in args.items():
        assert k in props, (name, k)
        kind = props[k].get("type", "string")
        assert isinstance(v, _JSON[kind]) and (kind == "boolean" or not isinstance(v, bool)), (name, k, v)
        if "enum" in props[k]:
            assert v in props[k]["enum"], (name, k, v)
        if "minimum" in props[k]:
            assert props[k]["minimum"] <= v <= props[k]["maximum"], (name, k, v)


def test_registry_has_every_function_and_openai_schemas() -> None:
    assert {"play_music", "play_story", *CONTROL_FUNCTIONS} <= set(REGISTRY.names())
    for tool in REGISTRY.tool_schemas():
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"


def test_contract_schemas_are_openai_schemas() -> None:
    assert set(CONTROL_FUNCTIONS) == set(PLAYER_FUNCTIONS)
    for name, spec in PLAYER_FUNCTIONS.items():
        assert spec.description and spec.parameters["type"] == "object", name
        assert set(spec.parameters["required"]) <= set(spec.parameters["properties"]), name


def test_registry_implements_the_player_contract() -> None:
    assert set(REGISTRY.names()) == {"play_music", "play_story", *CONTROL_FUNCTIONS}
    for name, spec in PLAYER_FUNCTIONS.items():
        assert REGISTRY.get(name).parameters["properties"] == spec.parameters["properties"], name


@pytest.mark.parametrize("text,name,args,lang", [
    ("Play Baa Baa Black Sheep", "play_music", {"song_type": "specific"}, "en"),
    ("हनुमान चालीसा सुनाओ", "play_music", {"song_type": "specific"}, "hi"),
    ("చిట్టి చిలకమ్మ పాట పెట్టు", "play_music", {"song_type": "specific"}, "te"),
    ("Play Hindi song", "play_music", {"song_type": "language_specific", "language_preference": "Hindi"}, "en"),
    ("हिंदी गाना बजाओ", "play_music", {"song_type": "language_specific", "language_preference": "Hindi"}, "hi"),
    ("kannada haadu haaku", "play_music", {"song_type": "language_specific", "language_preference": "Kannada"}, "kn"),
    ("Tell me a bedtime story", "play_story", {"story_type": "category", "category_preference": "bedtime"}, "en"),
    ("ಕಥೆ ಹೇಳು", "play_story", {"story_type": "random"}, "kn"),
    ("Play something energetic", "play_music", {"song_type": "mood"}, "en"),
    ("play music", "play_music", {"song_type": "random"}, "en"),
    ("play phonics", "play_music", {"song_type": "category"}, "en"),
])
def test_play_intents_fill_the_schema(text: str, name: str, args: dict[str, str], lang: str) -> None:
    intent = REC.recognize(text)
    assert intent.name == name and intent.language == lang
    assert {k: intent.arguments[k] for k in args} == args
    assert intent.arguments["user_request"] == text
    check_schema(name, intent.arguments)


@pytest.mark.parametrize("text,name", [
    ("stop", "stop"), ("Stop the music please", "stop"), ("बंद करो", "stop"), ("ఆపు", "stop"), ("ನಿಲ್ಲಿಸು", "stop"),
    ("next song", "next"), ("अगला गाना", "next"), ("play it again", "play_again"),
    ("phir se", "play_again"),
    ("what song is this", "what_playing"), ("volume up", "volume_up"), ("too loud", "volume_down"),
    ("pause", "pause"), ("resume", "resume"), ("go back", "previous"),
])
def test_controls(text: str, name: str) -> None:
    assert REC.recognize(text).name == name


@pytest.mark.parametrize("text", ["play don't stop me now", "play the bus song", "play stop and go"])
def test_titles_with_control_words_are_play_requests(text: str) -> None:
    assert REC.recognize(text).name == "play_music"


@pytest.mark.parametrize("text", ["", "  ", "!!!", "😀", "hello", "namaste", "what is your name", "tell me a joke",
                                  "x" * 10_000 + "?"])
def test_non_requests_get_a_friendly_reply(text: str) -> None:
    intent = REC.recognize(text) if len(text) < 100 else REC.recognize("what " + text)
    assert intent.name == "" and intent.arguments == {}
    assert intent.reply == replies.REPLIES["help"][intent.language]


def test_bare_title_uses_the_catalog_probe() -> None:
    ctx = IntentContext(titles=title_probe(make_matcher()))
    provider = RulesIntentProvider(REC)
    assert asyncio.run(provider.recognize("baa baa black sheep", ctx)).name == "play_music"
    assert asyncio.run(provider.recognize("the thirsty crow", ctx)).name == "play_story"
    assert asyncio.run(provider.recognize("how are you", ctx)).name == ""
