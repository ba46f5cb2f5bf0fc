"""The player's requests in English, Hindi, Telugu and Kannada (native script and romanized): the right function,
the right arguments (fitting the player contract), and titles that contain control words staying titles."""
from __future__ import annotations

import re
from typing import Any

import pytest

from core.config import Config
from core.lang import replies, vocab
from core.lang.script import script_of
from core.providers.intent.contract import PLAYER_FUNCTIONS
from core.providers.intent.rules import RuleIntentRecognizer, expand_pattern
from core.understand import title_probe
from tests.match_fixtures import load_eval_set, make_matcher

REC = RuleIntentRecognizer(wake_words=Config().server.wake_words)
_JSON = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


def fits_contract(name: str, args: dict[str, Any]) -> None:
    schema = PLAYER_FUNCTIONS[name].parameters
    props = schema["properties"]
    assert set(schema["required"]) <= set(args), (name, args)
    for k, v in args.items():
        assert k in props, (name, k)
        kind = props[k]["type"]
        assert isinstance(v, _JSON[kind]) and (kind == "boolean" or not isinstance(v, bool)), (name, k, v)
        if "enum" in props[k]:
            assert v in props[k]["enum"], (name, k, v)
        if "minimum" in props[k]:
            assert props[k]["minimum"] <= v <= props[k]["maximum"], (name, k, v)


def expect(text: str, name: str, args: dict[str, Any], lang: str | None = None) -> None:
    intent = REC.recognize(text)
    assert (intent.name, intent.arguments) == (name, args), text
    fits_contract(name, intent.arguments)
    if lang is not None:
        assert intent.language == lang, text


def rows(name: str, args: dict[str, Any], table: dict[str, tuple[str, ...]]) -> list[Any]:
    return [pytest.param(text, name, args, lang, id=f"{name}-{lang}-{text}") for lang, texts in table.items()
            for text in texts]


PAUSE = rows("pause", {}, {
    "en": ("pause", "wait", "hold on", "one minute", "hang on", "wait a minute", "pause the story please",
           "cheeko wait", "stop for a minute", "wait 5 minutes", "pause for ten minutes"),
    "hi": ("ruko", "रुको", "ठहरो", "ek minute", "एक मिनट", "ruko zara", "रुक जाओ", "थोड़ा रुको",
           "paanch minute ruko", "दो मिनट के लिए रुको"),
    "te": ("aagu", "ఆగు", "ఆగండి", "ఒక్క నిమిషం", "okka nimisham", "కొంచెం ఆగు", "రెండు నిమిషాలు ఆగు"),
    "kn": ("nillu", "ನಿಲ್ಲು", "ಸ್ವಲ್ಪ ನಿಲ್ಲು", "swalpa iru", "ಒಂದು ನಿಮಿಷ", "ಎರಡು ನಿಮಿಷ ನಿಲ್ಲು"),
})
STOP = rows("stop", {}, {
    "en": ("stop", "stop the music", "that's enough", "turn it off"),
    "hi": ("bas", "bas karo", "band karo", "बंद करो", "बस", "gaana band kar dena"),
    "te": ("aapu", "ఆపు", "ఆపేయి", "ఆపండి", "పాట ఆపేసెయ్"),
    "kn": ("nillisu", "saaku", "ನಿಲ್ಲಿಸು", "ಸಾಕು", "ಹಾಡು ನಿಲ್ಲಿಸಿಬಿಡು"),
})
RESUME_ANY = rows("resume", {"target": "any"}, {
    "en": ("resume", "continue", "carry on", "keep playing", "go on", "play again from where it stopped",
           "continue from where we stopped", "start from where we left off", "unpause", "where we left off"),
    "hi": ("chalu karo", "चालू करो", "जारी रखो", "jahan ruka tha wahin se chalao", "जहाँ रुका था वहीं से चलाओ"),
    "te": ("konasaginchu", "కొనసాగించు", "ఆగిన దగ్గర నుంచి పెట్టు"),
    "kn": ("munduvarisu", "ಮುಂದುವರಿಸು", "ನಿಂತಲ್ಲಿಂದ ಹಾಕು"),
})
RESUME_STORY = rows("resume", {"target": "story"}, {
    "en": ("continue the story", "continue my story", "resume the story", "carry on with the story",
           "continue the bedtime story", "continue the story from where it stopped"),
    "hi": ("kahani aage sunao", "कहानी आगे सुनाओ", "कहानी जारी रखो"),
    "te": ("కథ కొనసాగించు", "katha konasaginchu"),
    "kn": ("ಕಥೆ ಮುಂದುವರಿಸು", "kathe munduvarisu"),
})
RESUME_SONG = rows("resume", {"target": "song"}, {
    "en": ("continue the song", "resume the song", "keep playing the song"),
    "hi": ("gaana chalu karo", "गाना आगे बजाओ"),
    "te": ("పాట కొనసాగించు",),
    "kn": ("ಹಾಡು ಮುಂದುವರಿಸು",),
})
PLAY_AGAIN = rows("play_again", {}, {
    "en": ("play it again", "once more", "again", "one more time", "start again", "from the beginning",
           "repeat", "play that again", "start over", "tell the story again", "start the song again"),
    "hi": ("phir se", "dobara", "फिर से", "दोबारा", "phir se bajao", "शुरू से"),
    "te": ("malli", "మళ్ళీ", "malli pettu", "మొదటి నుంచి"),
    "kn": ("matte", "ಮತ್ತೆ", "matte haaku", "ಇನ್ನೊಮ್ಮೆ", "ಮೊದಲಿನಿಂದ"),
})
REPEAT_ONE = rows("set_repeat", {"mode": "one"}, {
    "en": ("repeat this", "repeat this song", "loop this", "repeat this one please", "keep repeating this"),
    "hi": ("isko repeat karo", "baar baar bajao", "इसे बार बार बजाओ"),
    "te": ("malli malli pettu", "ఇది మళ్ళీ మళ్ళీ పెట్టు"),
    "kn": ("matte matte haaku", "ಇದನ್ನು ಮತ್ತೆ ಮತ್ತೆ ಹಾಕು"),
})
REPEAT_ALL = rows("set_repeat", {"mode": "all"}, {
    "en": ("repeat all", "repeat everything", "repeat all songs", "loop all"),
    "hi": ("sab repeat karo", "सब बार बार बजाओ"),
    "te": ("anni repeat cheyi", "అన్నీ మళ్ళీ మళ్ళీ పెట్టు"),
    "kn": ("ella repeat maadu", "ಎಲ್ಲವನ್ನೂ ಮತ್ತೆ ಮತ್ತೆ ಹಾಕು"),
})
REPEAT_OFF = rows("set_repeat", {"mode": "off"}, {
    "en": ("stop repeating", "repeat off", "no repeat", "turn off repeat"),
    "hi": ("repeat band karo", "रिपीट बंद करो"),
    "te": ("repeat aapu", "రిపీట్ ఆపు"),
    "kn": ("repeat nillisu", "ರಿಪೀಟ್ ನಿಲ್ಲಿಸು"),
})
SHUFFLE_ON = rows("shuffle", {"on": True}, {
    "en": ("shuffle", "shuffle on", "mix it up", "shuffle the songs"),
    "hi": ("shuffle karo", "शफ़ल करो"),
    "te": ("shuffle cheyi", "షఫుల్ చెయ్యి"),
    "kn": ("shuffle maadu", "ಶಫಲ್ ಮಾಡು"),
})
SHUFFLE_OFF = rows("shuffle", {"on": False}, {
    "en": ("shuffle off", "play in order", "stop shuffling", "no shuffle"),
    "hi": ("shuffle band karo", "क्रम से बजाओ"),
    "te": ("shuffle aapu", "వరుసగా పెట్టు"),
    "kn": ("shuffle nillisu", "ಕ್ರಮವಾಗಿ ಹಾಕು"),
})
NEXT = rows("next", {}, {
    "en": ("next", "skip", "next one", "play the next song", "skip this song"),
    "hi": ("agla gaana", "अगला", "dusra gaana"),
    "te": ("ఇంకో పాట", "vere paata"),
    "kn": ("ಮುಂದಿನ ಹಾಡು", "innondu"),
})
PREVIOUS = rows("previous", {}, {
    "en": ("previous", "go back", "previous song"), "hi": ("pichla gaana", "पिछला"),
    "te": ("మునుపటి పాట",), "kn": ("ಹಿಂದಿನ ಹಾಡು",),
})
WHATS_NEXT = rows("whats_next", {}, {
    "en": ("what's next", "what is next", "what comes next", "what's after this", "which song is next",
           "what's playing next"),
    "hi": ("agla kaunsa hai", "अगला कौन सा है", "इसके बाद क्या है"),
    "te": ("తర్వాత ఏది", "tarvata enti"),
    "kn": ("ಮುಂದಿನದು ಯಾವುದು", "aamele yaavudu"),
})
CANCEL_TIMER = rows("cancel_timer", {}, {
    "en": ("cancel the timer", "cancel the sleep timer", "no timer", "turn off the timer", "stop the timer"),
    "hi": ("timer band karo", "टाइमर बंद करो", "टाइमर हटाओ"),
    "te": ("timer aapu", "టైమర్ ఆపు"),
    "kn": ("timer nillisu", "ಟೈಮರ್ ನಿಲ್ಲಿಸು"),
})
WHAT_PLAYING = rows("what_playing", {}, {
    "en": ("what's playing", "who sings this", "is this a story?", "what song is this", "what story is this",
           "who is singing", "is this a song"),
    "hi": ("yeh kaunsa gaana hai", "ये कौन सा गाना है", "ये कौन गा रहा है", "क्या ये कहानी है"),
    "te": ("ఇది ఏ పాట", "idi emi"),
    "kn": ("ಇದು ಯಾವ ಹಾಡು", "idu yaava haadu"),
})
WHAT_WAS_THAT = rows("what_was_that", {}, {
    "en": ("what was that song", "what was that story", "what was the last song", "what was that",
           "which song was that"),
    "hi": ("woh kaunsa gaana tha", "वो कौन सा गाना था", "पिछला गाना कौन सा था"),
    "te": ("అది ఏ పాట", "adi e paata"),
    "kn": ("ಅದು ಯಾವ ಹಾಡು", "adu yaava haadu"),
})
HISTORY = rows("history", {}, {
    "en": ("what did I listen to", "what did we play today", "what have I heard", "what did I listen to today"),
    "hi": ("maine kya suna", "मैंने क्या सुना", "आज क्या क्या सुना"),
    "te": ("నేను ఏమి విన్నాను", "emi vinnanu"),
    "kn": ("ನಾನು ಏನು ಕೇಳಿದೆ", "enu kelide"),
})
FAVOURITE_ADD = rows("favourite", {"add": True}, {
    "en": ("I like this", "I love this song", "add to favourites", "add to favorites", "favourite this",
           "add this song to my favourites", "I love it"),
    "hi": ("mujhe ye pasand hai", "मुझे यह पसंद है", "फेवरेट में डालो", "ye gaana mujhe pasand hai"),
    "te": ("నాకు ఇది నచ్చింది", "naaku idi nachindi", "ఈ పాట నాకు నచ్చింది"),
    "kn": ("ನನಗೆ ಇದು ಇಷ್ಟ", "nanage idu ishta", "ಈ ಹಾಡು ನನಗೆ ಇಷ್ಟ"),
})
FAVOURITE_REMOVE = rows("favourite", {"add": False}, {
    "en": ("remove from favourites", "I don't like this", "remove this from my favorites", "I don't like it"),
    "hi": ("mujhe ye pasand nahi", "मुझे ये पसंद नहीं है", "ye kahani mujhe pasand nahi"),
    "te": ("నాకు ఇది నచ్చలేదు", "idi nachaledu"),
    "kn": ("ನನಗೆ ಇದು ಇಷ್ಟ ಇಲ್ಲ", "idu ishta illa"),
})
PLAY_FAVOURITES = rows("play_favourites", {}, {
    "en": ("play my favourites", "play my favorite songs", "my favourites", "play favourites"),
    "hi": ("mere favourite bajao", "मेरे फेवरेट बजाओ", "पसंदीदा गाने बजाओ"),
    "te": ("నాకు నచ్చిన పాటలు పెట్టు", "naa favourite paatalu pettu"),
    "kn": ("ನನಗೆ ಇಷ್ಟದ ಹಾಡುಗಳು ಹಾಕು", "nanna favourite haadu haaku"),
})
VOLUME = rows("volume_up", {}, {"en": ("volume up", "louder"), "hi": ("awaaz badhao",), "te": ("సౌండ్ పెంచు",),
                                "kn": ("ಸೌಂಡ್ ಜಾಸ್ತಿ ಮಾಡು",)}) + \
    rows("volume_down", {}, {"en": ("too loud", "softer"), "hi": ("आवाज़ कम करो",), "te": ("సౌండ్ తగ్గించు",),
                             "kn": ("ಸೌಂಡ್ ಕಡಿಮೆ ಮಾಡು",)})


@pytest.mark.parametrize("text,name,args,lang", PAUSE + STOP + RESUME_ANY + RESUME_STORY + RESUME_SONG + PLAY_AGAIN
                         + REPEAT_ONE + REPEAT_ALL + REPEAT_OFF + SHUFFLE_ON + SHUFFLE_OFF + NEXT + PREVIOUS
                         + WHATS_NEXT + CANCEL_TIMER + WHAT_PLAYING + WHAT_WAS_THAT + HISTORY + FAVOURITE_ADD
                         + FAVOURITE_REMOVE + PLAY_FAVOURITES + VOLUME)
def test_player_phrases(text: str, name: str, args: dict[str, Any], lang: str) -> None:
    expect(text, name, args, lang)


def _m(n: int) -> dict[str, int]:
    return {"minutes": n}


AFTER = {"after": "item"}


@pytest.mark.parametrize("text,args,lang", [
    # after the current item
    ("stop after this story", AFTER, "en"), ("stop after this song", AFTER, "en"),
    ("stop at the end of this one", AFTER, "en"), ("turn off after this", AFTER, "en"),
    ("stop when this song ends", AFTER, "en"), ("please stop after the current story", AFTER, "en"),
    ("is gaane ke baad band karo", AFTER, "hi"), ("इस कहानी के बाद बंद करो", AFTER, "hi"),
    ("ye kahani khatam hone ke baad band karo", AFTER, "hi"), ("इसके बाद बंद करो", AFTER, "hi"),
    ("ee paata tarvata aapu", AFTER, "te"), ("ఈ కథ అయిపోయాక ఆపు", AFTER, "te"), ("ఇది అయ్యాక ఆపేయి", AFTER, "te"),
    ("ee haadu aada mele nillisu", AFTER, "kn"), ("ಈ ಕಥೆ ಮುಗಿದ ಮೇಲೆ ನಿಲ್ಲಿಸು", AFTER, "kn"),
    ("ಇದರ ನಂತರ ನಿಲ್ಲಿಸು", AFTER, "kn"),
    # minutes: digits, English words, halves and hours
    ("stop in 10 minutes", _m(10), "en"), ("sleep timer 20 minutes", _m(20), "en"),
    ("turn off in five minutes", _m(5), "en"), ("stop in half an hour", _m(30), "en"),
    ("stop in twenty five minutes", _m(25), "en"), ("set a sleep timer for 45 minutes", _m(45), "en"),
    ("stop playing in an hour", _m(60), "en"), ("switch off in an hour and a half", _m(90), "en"),
    ("sleep timer 15", _m(15), "en"), ("stop the music in 1 minute", _m(1), "en"),
    ("stop in 10min", _m(10), "en"), ("turn off in two hours", _m(120), "en"),
    ("Stop in 1.5 hours.", _m(90), "en"), ("stop in ten-minutes", _m(10), "en"),
    # Hindi, Telugu, Kannada: digits, native-script and romanized number words
    ("10 मिनट बाद बंद करो", _m(10), "hi"), ("das minute baad band karo", _m(10), "hi"),
    ("पच्चीस मिनट बाद बंद करो", _m(25), "hi"), ("aadha ghanta baad band karo", _m(30), "hi"),
    ("dedh ghante baad band karo", _m(90), "hi"), ("साठ मिनट में बंद करो", _m(60), "hi"),
    ("saat minute baad band karo", _m(7), "hi"), ("१५ मिनट बाद बंद करो", _m(15), "hi"),
    ("10 minute ke baad band kar dena", _m(10), "hi"), ("padi nimishallo aapesey", _m(10), "te"),
    ("ಹತ್ತು ನಿಮಿಷ ಆದ ಮೇಲೆ ನಿಲ್ಲಿಸಿಬಿಡು", _m(10), "kn"),
    ("10 నిమిషాల తర్వాత ఆపు", _m(10), "te"), ("padi nimishala tarvata aapu", _m(10), "te"),
    ("ఇరవై ఐదు నిమిషాల తర్వాత ఆపు", _m(25), "te"), ("అర గంట తర్వాత ఆపేయి", _m(30), "te"),
    ("10 ನಿಮಿಷದ ನಂತರ ನಿಲ್ಲಿಸು", _m(10), "kn"), ("hattu nimishada nantara nillisu", _m(10), "kn"),
    ("ಇಪ್ಪತ್ತು ನಿಮಿಷದ ನಂತರ ನಿಲ್ಲಿಸು", _m(20), "kn"), ("ಅರ್ಧ ಗಂಟೆ ನಂತರ ನಿಲ್ಲಿಸು", _m(30), "kn"),
    # bounded to 1..720
    ("stop in 0 minutes", _m(1), "en"), ("stop in 1000 minutes", _m(720), "en"), ("stop in 20 hours", _m(720), "en"),
])
def test_sleep_timer(text: str, args: dict[str, Any], lang: str) -> None:
    expect(text, "sleep_timer", args, lang)


def _q(title: str, position: str) -> dict[str, str]:
    return {"user_request": title, "position": position}


@pytest.mark.parametrize("text,args,lang", [
    ("play baa baa black sheep next", _q("baa baa black sheep", "next"), "en"),
    ("baby shark next", _q("baby shark", "next"), "en"),
    ("after this play jack and jill", _q("jack and jill", "next"), "en"),
    ("play humpty dumpty after this song please", _q("humpty dumpty", "next"), "en"),
    ("add twinkle twinkle little star", _q("twinkle twinkle little star", "end"), "en"),
    ("add the lion and the mouse to the queue", _q("the lion and the mouse", "end"), "en"),
    ("queue humpty dumpty", _q("humpty dumpty", "end"), "en"),
    ("put rain rain go away in the queue", _q("rain rain go away", "end"), "en"),
    ("play the thirsty crow later", _q("the thirsty crow", "end"), "en"),
    ("iske baad bandar mama bajao", _q("bandar mama", "next"), "hi"),
    ("इसके बाद बंदर मामा बजाओ", _q("बंदर मामा", "next"), "hi"),
    ("हाथी राजा नेक्स्ट बजाओ", _q("हाथी राजा", "next"), "hi"),
    ("chanda mama bhi bajao", _q("chanda mama", "end"), "hi"),
    ("मछली जल की रानी है लिस्ट में डालो", _q("मछली जल की रानी है", "end"), "hi"),
    ("hathi raja ko queue mein daalo", _q("hathi raja", "end"), "hi"),
    ("బుజ్జి మేక ని క్యూ లో పెట్టు", _q("బుజ్జి మేక", "end"), "te"),
    ("jo jo laali annu queue ge haaku", _q("jo jo laali", "end"), "kn"),
    ("chitti chilakamma next pettu", _q("chitti chilakamma", "next"), "te"),
    ("ఇది అయ్యాక బుజ్జి మేక పెట్టు", _q("బుజ్జి మేక", "next"), "te"),
    ("చందమామ రావే కూడా పెట్టు", _q("చందమామ రావే", "end"), "te"),
    ("ಇದರ ನಂತರ ಬಾ ಬಾ ಗಿಳಿಯೆ ಹಾಕು", _q("ಬಾ ಬಾ ಗಿಳಿಯೆ", "next"), "kn"),
    ("aane bantondu aane next haaku", _q("aane bantondu aane", "next"), "kn"),
    ("ಚಂದಮಾಮ ಬಾ ಸೇರಿಸು", _q("ಚಂದಮಾಮ ಬಾ", "end"), "kn"),
])
def test_enqueue_takes_only_the_title(text: str, args: dict[str, Any], lang: str) -> None:
    expect(text, "enqueue", args, lang)


@pytest.mark.parametrize("text", [
    "play don't stop me now", "play wait for me", "play hold on", "play stop and go", "play the bus song",
    "play continue", "play pause and play", "play again and again", "play one more time song",
    "play next to you", "play add it up", "play shuffle dance", "play sleep timer song",
    "play repeat after me", "play i like it", "play what was that", "play ten minutes of fame",
])
def test_titles_with_control_words_stay_play_requests(text: str) -> None:
    intent = REC.recognize(text)
    assert intent.name in ("play_music", "play_story"), (text, intent)
    assert intent.arguments["user_request"] == text


@pytest.mark.parametrize("text", [
    "play ek do teen char", "play one two buckle my shoe", "ఒకటి రెండు మూడు పాట పెట్టు",
    "ಒಂದು ಎರಡು ಬಾಳೆಲೆ ಹರಡು ಹಾಡು ಹಾಕು",
])
def test_number_titles_are_not_timers(text: str) -> None:
    intent = REC.recognize(text)
    assert intent.name == "play_music", (text, intent)


@pytest.mark.parametrize("text", ["play something next", "add", "what next please", "who is singing next"])
def test_enqueue_needs_a_title(text: str) -> None:
    assert REC.recognize(text).name != "enqueue", text


def test_every_control_phrase_means_what_its_table_says() -> None:
    """No phrase in the table is shadowed by another function's phrase after filler removal."""
    wrong = []
    for key, phrases in vocab.CONTROLS.items():
        name, args = vocab.CONTROL_VARIANTS.get(key, (key, {}))
        for p in phrases:
            got = REC.recognize(p)
            if got.name != name or any(got.arguments.get(k) != v for k, v in args.items()):
                wrong.append((p, key, got.name, got.arguments))
    assert not wrong


def test_enqueue_patterns_expand_and_all_match() -> None:
    assert expand_pattern("after this (one|song|) play {title}") == [
        "after this one play {title}", "after this song play {title}", "after this play {title}"]
    for position, templates in vocab.ENQUEUE_PATTERNS.items():
        for template in templates:
            for spelling in expand_pattern(template):
                text = spelling.replace("{title}", "twinkle twinkle little star")
                intent = REC.recognize(text)
                assert (intent.name, intent.arguments.get("position")) == ("enqueue", position), text
                assert intent.arguments["user_request"] == "twinkle twinkle little star", text


def test_player_phrases_bare_title_probe_does_not_win() -> None:
    """With the catalog's title probe on, controls still come first (a catalog title never shadows them)."""
    probe = title_probe(make_matcher())
    for text in ("pause", "ruko", "continue the story", "stop in 10 minutes", "what was that song", "shuffle"):
        assert REC.recognize(text, titles=probe).name not in ("play_music", "play_story"), text


def test_eval_set_controls_use_the_contract_names() -> None:
    names = {r["intent"] for r in load_eval_set() if r["match"] == "control"}
    assert names <= set(PLAYER_FUNCTIONS), names


# --------------------------------------------------------------------------- replies

PLAYER_REPLIES = {
    "paused": set(), "resumed": {"title"}, "continuing": {"title"}, "nothing_to_resume": set(),
    "stopped_after": {"what"}, "timer_set_minutes": {"minutes"}, "timer_set_after_item": {"what"},
    "timer_cancelled": set(), "no_timer": set(), "queued_next": {"title"}, "queued_end": {"title"},
    "up_next": {"title"}, "nothing_next": set(), "repeat_one": set(), "repeat_all": set(), "repeat_off": set(),
    "shuffle_on": set(), "shuffle_off": set(), "favourite_added": {"title"}, "favourite_removed": {"title"},
    "no_favourites": set(), "history_intro": {"titles"}, "history_empty": set(), "was_that": {"what", "title"},
    "changed_restart": {"title"}, "cannot_find_any_more": {"title"}, "busy": set(),
}
NATIVE = {"hi": "devanagari", "te": "telugu", "kn": "kannada"}


def test_player_reply_keys_exist() -> None:
    assert set(PLAYER_REPLIES) <= set(replies.REPLIES)


@pytest.mark.parametrize("key", sorted(replies.REPLIES))
def test_every_reply_in_four_languages_with_the_same_slots(key: str) -> None:
    table = replies.REPLIES[key]
    assert set(table) == set(vocab.LANGS), key
    slots = set(re.findall(r"{(\w+)}", table["en"]))
    for lang, line in table.items():
        assert set(re.findall(r"{(\w+)}", line)) == slots, (key, lang)
        if lang in NATIVE:
            assert script_of(re.sub(r"{\w+}", "", line)) == NATIVE[lang], (key, lang)


@pytest.mark.parametrize("key,slots", sorted(PLAYER_REPLIES.items()))
def test_player_replies_in_four_languages(key: str, slots: set[str]) -> None:
    table = replies.REPLIES[key]
    assert set(table) == set(vocab.LANGS), key
    for lang, line in table.items():
        assert set(re.findall(r"{(\w+)}", line)) == slots, (key, lang)
        assert len(line) <= 120, (key, lang)
        if lang in NATIVE:
            assert script_of(re.sub(r"{\w+}", "", line)) == NATIVE[lang], (key, lang)
        filled = replies.say(key, lang, title="Baby Shark", what=replies.NOUNS["story"][lang],
                             minutes=replies.duration_words(10, lang), titles="A, B")
        assert "{" not in filled and filled.strip(), (key, lang)


@pytest.mark.parametrize("key,lang,phrase,name", [
    ("paused", "hi", "चालू करो", "resume"), ("paused", "te", "కొనసాగించు", "resume"),
    ("paused", "kn", "ಮುಂದುವರಿಸು", "resume"), ("paused", "en", "continue", "resume"),
    ("no_favourites", "en", "I like this", "favourite"), ("no_favourites", "hi", "मुझे यह पसंद है", "favourite"),
    ("no_favourites", "te", "నాకు ఇది నచ్చింది", "favourite"), ("no_favourites", "kn", "ನನಗೆ ಇದು ಇಷ್ಟ", "favourite"),
])
def test_phrases_the_replies_suggest_are_understood(key: str, lang: str, phrase: str, name: str) -> None:
    assert phrase in replies.REPLIES[key][lang]
    assert REC.recognize(phrase).name == name


@pytest.mark.parametrize("minutes,lang,words", [
    (1, "en", "1 minute"), (10, "en", "10 minutes"), (60, "en", "1 hour"), (90, "en", "1 hour and 30 minutes"),
    (10, "hi", "10 मिनट"), (60, "hi", "1 घंटे"), (90, "hi", "1 घंटा 30 मिनट"),
    (1, "te", "1 నిమిషం"), (10, "te", "10 నిమిషాల"), (120, "te", "2 గంటల"),
    (1, "kn", "1 ನಿಮಿಷದ"), (10, "kn", "10 ನಿಮಿಷಗಳ"), (60, "kn", "1 ಗಂಟೆಯ"),
])
def test_duration_words(minutes: int, lang: str, words: str) -> None:
    assert replies.duration_words(minutes, lang) == words


def test_join_titles() -> None:
    assert replies.join_titles([], "en") == "" and replies.join_titles(["A"], "hi") == "A"
    assert replies.join_titles(["A", "B", "C"], "en") == "A, B and C"
    assert replies.join_titles(["A", "B"], "kn") == "A ಮತ್ತು B"


def test_every_catalog_title_asked_with_play_stays_a_title_and_can_be_queued() -> None:
    from core.lang.text import normalize
    for track in make_matcher().tracks:
        title = normalize(track.title)
        intent = REC.recognize(f"play {track.title}")
        assert intent.name in ("play_music", "play_story"), (track.title, intent)
        intent = REC.recognize(f"play {track.title} next")
        assert intent.arguments == {"user_request": title, "position": "next"}, (track.title, intent)
        intent = REC.recognize(f"add {track.title} to the queue")
        assert intent.arguments == {"user_request": title, "position": "end"}, (track.title, intent)


def _documented() -> list[Any]:
    import json
    from pathlib import Path
    doc = Path(__file__).resolve().parents[3] / "docs" / "player-phrases.md"
    out = []
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`") or cells[0] == "`function`":
            continue
        head = cells[0].strip("`")
        name, _, raw = head.partition(" ")
        args = json.loads(raw) if raw else {}
        for lang, cell in zip(vocab.LANGS, cells[1:], strict=True):
            out += [pytest.param(p, name, args, id=f"{name}-{lang}-{p}") for p in re.findall(r"`([^`]+)`", cell)]
    return out


DOCUMENTED = _documented()


def test_the_phrase_document_has_every_function() -> None:
    assert {p.values[1] for p in DOCUMENTED} == set(PLAYER_FUNCTIONS)


@pytest.mark.parametrize("text,name,args", DOCUMENTED)
def test_documented_phrases(text: str, name: str, args: dict[str, Any]) -> None:
    expect(text, name, args)
