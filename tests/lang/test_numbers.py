"""Spoken numbers and durations: a number is read whole or not at all (no "twenty five" -> 5 or 20)."""
from __future__ import annotations

import pytest

from core.lang import numbers
from core.lang.numbers import Duration, find_duration, number_key, parse_number
from core.lang.text import normalize

EN_UNITS = "one two three four five six seven eight nine".split()
EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
TE_UNITS = "ఒకటి రెండు మూడు నాలుగు ఐదు ఆరు ఏడు ఎనిమిది తొమ్మిది".split()
TE_TENS = "ఇరవై ముప్పై నలభై యాభై అరవై డెబ్బై ఎనభై తొంభై".split()
KN_UNITS = "ಒಂದು ಎರಡು ಮೂರು ನಾಲ್ಕು ಐದು ಆರು ಏಳು ಎಂಟು ಒಂಬತ್ತು".split()
KN_TENS = "ಇಪ್ಪತ್ತು ಮೂವತ್ತು ನಲವತ್ತು ಐವತ್ತು ಅರವತ್ತು ಎಪ್ಪತ್ತು ಎಂಬತ್ತು ತೊಂಬತ್ತು".split()


def num(text: str) -> float | None:
    return parse_number(normalize(text).split())


@pytest.mark.parametrize("units,tens", [(EN_UNITS, EN_TENS), (TE_UNITS, TE_TENS), (KN_UNITS, KN_TENS)],
                         ids=["en", "te", "kn"])
def test_every_compound_from_21_to_99(units: list[str], tens: list[str]) -> None:
    for t, ten in enumerate(tens, 2):
        assert num(ten) == t * 10
        for u, unit in enumerate(units, 1):
            assert num(f"{ten} {unit}") == t * 10 + u, (ten, unit)
            assert num(f"{unit} {ten}") is None, (unit, ten)       # "five twenty" is not 25 (nor 520)


def test_every_hindi_number_word_from_1_to_100() -> None:
    for value, word in enumerate(numbers._HI, 1):
        assert num(word) == value, word


@pytest.mark.parametrize("text,value", [
    ("10", 10), ("१०", 10), ("౧౦", 10), ("೧೦", 10), ("twenty-five", 25), ("fifteen", 15), ("a hundred", 100),
    ("one hundred and twenty", 120), ("two hundred", 200), ("hundred twenty five", 125),
    ("सात", 7), ("साठ", 60), ("saat", 7), ("saath", 60), ("aath", 8), ("pachchees", 25), ("pachis", 25),
    ("chaalees", 40), ("das", 10), ("dus", 10), ("bees", 20), ("pandrah", 15), ("पंद्रह", 15),
    ("iravai aidu", 25), ("padihenu", 15), ("padi", 10), ("muppai", 30), ("oka", 1),
    ("ippattu aidu", 25), ("hattu", 10), ("hadinaidu", 15), ("moovattu", 30), ("ondu", 1),
    ("half", 0.5), ("half an", 0.5), ("aadha", 0.5), ("आधा", 0.5), ("అర", 0.5), ("ಅರ್ಧ", 0.5),
    ("dedh", 1.5), ("डेढ़", 1.5), ("dhai", 2.5), ("saadhe teen", 3.5), ("साढ़े चार", 4.5),
    ("a", 1), ("an", 1), ("1 point 5", 1.5), ("2 point 25", 2.25),
])
def test_numbers(text: str, value: float) -> None:
    assert num(text) == value


@pytest.mark.parametrize("text", ["", "twenty twenty", "twenty hundred", "fifteen five", "ek do teen char",
                                  "one two", "five twenty", "hundred hundred", "bees ek", "minutes", "and",
                                  "one and", "saadhe", "baby shark", "12345678"])
def test_not_numbers(text: str) -> None:
    assert num(text) is None


def test_spoken_decimals() -> None:
    assert numbers.spoken_decimals("stop in 1.5 hours, ok 2.0") == "stop in 1 point 5 hours, ok 2 point 0"
    assert numbers.spoken_decimals("version 1.2.3 and 12345.5") == "version 1.2.3 and 12345.5"


def test_number_words_have_one_meaning_and_keep_aspiration() -> None:
    assert numbers._words() == numbers.words()        # building the table raises on a word with two values
    assert number_key("सात") != number_key("साठ") and number_key("saat") == number_key("सात")


@pytest.mark.parametrize("text,start,end,minutes", [
    ("stop in 10 minutes", 2, 4, 10), ("sleep timer twenty five minutes", 2, 5, 25),
    ("half an hour", 0, 3, 30), ("an hour and a half", 0, 5, 90), ("stop in an hour", 2, 4, 60),
    ("10 मिनट बाद बंद करो", 0, 2, 10), ("पच्चीस मिनट", 0, 2, 25), ("dedh ghante baad", 0, 2, 90),
    ("10 నిమిషాల తర్వాత ఆపు", 0, 2, 10), ("ఇరవై ఐదు నిమిషాల్లో", 0, 3, 25), ("ara ganta", 0, 2, 30),
    ("10 ನಿಮಿಷದ ನಂತರ ನಿಲ್ಲಿಸು", 0, 2, 10), ("ಅರ್ಧ ಗಂಟೆ", 0, 2, 30), ("ಮೂವತ್ತು ನಿಮಿಷ", 0, 2, 30),
    ("stop in 10min", 2, 3, 10), ("in 2hrs", 1, 2, 120), ("saadhe teen ghante", 0, 3, 210),
    (numbers.spoken_decimals("stop in 1.5 hours"), 2, 6, 90),
])
def test_find_duration(text: str, start: int, end: int, minutes: float) -> None:
    assert find_duration(normalize(text).split()) == Duration(start, end, minutes)


@pytest.mark.parametrize("text", ["stop in five", "play ek do teen char", "minutes", "wait a moment",
                                  "one two buckle my shoe"])
def test_no_duration(text: str) -> None:
    assert find_duration(normalize(text).split()) is None
