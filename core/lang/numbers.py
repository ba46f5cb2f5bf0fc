"""Spoken numbers and durations in English, Hindi, Telugu and Kannada: digits (any script), number words in native
script and romanized, halves ("half an hour", "डेढ़ घंटा", "అర గంట", "ಅರ್ಧ ಗಂಟೆ").

A number is read as a whole or not at all: "twenty five" is 25, never 5 or 20, and "five twenty" is not a number.
Words are compared in a romanized key that keeps aspiration, because Hindi सात (7) and साठ (60) differ only there.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.lang import registry
from core.lang.text import fold, normalize, to_latin

__all__ = ["number_key", "parse_number", "find_duration", "spoken_decimals", "Duration", "words", "HINDI", "TELUGU",
           "KANNADA", "ENGLISH"]

# Hindi 1..100: every number has its own word.
_HI = ("एक दो तीन चार पाँच छह सात आठ नौ दस ग्यारह बारह तेरह चौदह पंद्रह सोलह सत्रह अठारह उन्नीस बीस "
       "इक्कीस बाईस तेईस चौबीस पच्चीस छब्बीस सत्ताईस अट्ठाईस उनतीस तीस इकतीस बत्तीस तैंतीस चौंतीस पैंतीस छत्तीस "
       "सैंतीस अड़तीस उनतालीस चालीस इकतालीस बयालीस तैंतालीस चवालीस पैंतालीस छियालीस सैंतालीस अड़तालीस उनचास "
       "पचास इक्यावन बावन तिरेपन चौवन पचपन छप्पन सत्तावन अट्ठावन उनसठ साठ इकसठ बासठ तिरसठ चौंसठ पैंसठ छियासठ "
       "सड़सठ अड़सठ उनहत्तर सत्तर इकहत्तर बहत्तर तिहत्तर चौहत्तर पचहत्तर छिहत्तर सतहत्तर अठहत्तर उन्यासी अस्सी "
       "इक्यासी बयासी तिरासी चौरासी पचासी छियासी सत्तासी अट्ठासी नवासी नब्बे इक्यानवे बानवे तिरानवे चौरानवे "
       "पचानवे छियानवे सत्तानवे अट्ठानवे निन्यानवे सौ").split()
# Romanized Hindi spellings the key does not merge with the native word (ASR and chat spellings).
_HI_LATIN: dict[int, tuple[str, ...]] = {
    1: ("ek",), 2: ("do",), 3: ("teen", "tin"), 4: ("char", "chaar"), 5: ("paanch", "panch", "panj"),
    6: ("chhah", "chhe", "chah", "chhai", "che"), 7: ("saat", "sat"), 8: ("aath", "aat"), 9: ("nau",),
    10: ("das", "dus"), 11: ("gyarah", "gyara", "igyara"), 12: ("barah", "bara"), 13: ("terah", "tera"),
    14: ("chaudah", "chauda", "chodah"), 15: ("pandrah", "pandra", "pandhra"), 16: ("solah", "sola"),
    17: ("satrah", "satra"), 18: ("atharah", "athara", "atharaa"), 19: ("unnis", "unnees"), 20: ("bees", "bis"),
    25: ("pachchis", "pachis", "pachees"), 30: ("tees", "tis"), 35: ("paintis", "pentis"), 40: ("chalis", "chaalees"),
    45: ("paintalis", "pentalis"), 50: ("pachas", "pachaas"), 60: ("saath", "sath"), 70: ("sattar",),
    75: ("pachhattar", "pachattar"), 80: ("assi",), 90: ("nabbe", "nabbey"), 100: ("sau",),
}
# Telugu and Kannada: atomic words up to 19 and for the tens; 21..99 is tens + units ("ఇరవై ఐదు" = 25).
_TE = {1: ("ఒకటి", "ఒక", "okati", "oka"), 2: ("రెండు", "rendu"), 3: ("మూడు", "moodu", "mudu"),
       4: ("నాలుగు", "naalugu", "nalugu"), 5: ("ఐదు", "అయిదు", "aidu", "ayidu"), 6: ("ఆరు", "aaru"),
       7: ("ఏడు", "edu", "yedu"), 8: ("ఎనిమిది", "enimidi"), 9: ("తొమ్మిది", "tommidi", "thommidi"),
       10: ("పది", "padi"), 11: ("పదకొండు", "padakondu"), 12: ("పన్నెండు", "pannendu"), 13: ("పదమూడు", "padamudu"),
       14: ("పద్నాలుగు", "padnalugu"), 15: ("పదిహేను", "padihenu", "padhihenu"), 16: ("పదహారు", "padaharu"),
       17: ("పదిహేడు", "padihedu"), 18: ("పద్దెనిమిది", "paddenimidi"), 19: ("పంతొమ్మిది", "pantommidi"),
       20: ("ఇరవై", "iravai", "iruvai"), 30: ("ముప్పై", "muppai", "muppay"), 40: ("నలభై", "nalabhai", "nalabai"),
       50: ("యాభై", "yabhai", "yaabhai", "yabai"), 60: ("అరవై", "aravai"), 70: ("డెబ్బై", "debbai"),
       80: ("ఎనభై", "enabhai"), 90: ("తొంభై", "tombhai", "thombhai"), 100: ("వంద", "vanda", "వంద")}
_KN = {1: ("ಒಂದು", "ondu"), 2: ("ಎರಡು", "eradu"), 3: ("ಮೂರು", "mooru", "muru"), 4: ("ನಾಲ್ಕು", "naalku", "nalku"),
       5: ("ಐದು", "aidu"), 6: ("ಆರು", "aaru"), 7: ("ಏಳು", "elu", "yelu"), 8: ("ಎಂಟು", "entu"),
       9: ("ಒಂಬತ್ತು", "ombattu"), 10: ("ಹತ್ತು", "hattu"), 11: ("ಹನ್ನೊಂದು", "hannondu"), 12: ("ಹನ್ನೆರಡು", "hanneradu"),
       13: ("ಹದಿಮೂರು", "hadimooru"), 14: ("ಹದಿನಾಲ್ಕು", "hadinaalku"), 15: ("ಹದಿನೈದು", "hadinaidu"),
       16: ("ಹದಿನಾರು", "hadinaaru"), 17: ("ಹದಿನೇಳು", "hadinelu"), 18: ("ಹದಿನೆಂಟು", "hadinentu"),
       19: ("ಹತ್ತೊಂಬತ್ತು", "hattombattu"), 20: ("ಇಪ್ಪತ್ತು", "ippattu"), 30: ("ಮೂವತ್ತು", "moovattu", "muvattu"),
       40: ("ನಲವತ್ತು", "nalavattu"), 50: ("ಐವತ್ತು", "aivattu", "aivathu"), 60: ("ಅರವತ್ತು", "aravattu"),
       70: ("ಎಪ್ಪತ್ತು", "eppattu"), 80: ("ಎಂಬತ್ತು", "embattu"), 90: ("ತೊಂಬತ್ತು", "tombattu"), 100: ("ನೂರು", "nooru")}
_EN = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
       "eighteen nineteen").split()
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty",
            90: "ninety"}

HUNDRED = 100


def _merge(*tables: dict[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for t in tables:
        for value, ws in t.items():
            out[value] = out.get(value, ()) + ws
    return out


# Each language's number words (value -> words), read through its record in the language registry.
HINDI = _merge({i: (w,) for i, w in enumerate(_HI, 1)}, _HI_LATIN)
TELUGU = _TE
KANNADA = _KN
ENGLISH = _merge({i: (w,) for i, w in enumerate(_EN, 1)}, {v: (w,) for v, w in _EN_TENS.items()},
                 {HUNDRED: ("hundred",)})
# Halves: alone they are 0.5 ("half an hour"); "dedh"/"dhai" are 1.5 / 2.5; "saadhe N" = N + 0.5.
_HALF = ("half", "आधा", "आधे", "aadha", "aadhe", "adha", "అర", "ara", "అర్ధ", "ardha", "ಅರ್ಧ", "ardha")
_FIXED = {1.5: ("डेढ़", "डेढ", "dedh", "dedhh", "one and a half"), 2.5: ("ढाई", "dhai", "dhaai", "two and a half")}
_PLUS_HALF = ("साढ़े", "साढे", "saadhe", "sadhe", "saade")
_ARTICLE_ONE = ("a", "an")          # "a minute", "an hour"
_AND = ("and",)                     # "one hundred and twenty"
_POINT = ("point",)
_DECIMAL = re.compile(r"(?<![\d.])(\d{1,4})\.(\d{1,2})(?![\d.])")


def spoken_decimals(text: str) -> str:
    """Keep a decimal through normalisation, which drops the dot: "1.5 hours" -> "1 point 5 hours"."""
    return _DECIMAL.sub(r"\1 point \2", text)


def number_key(token: str) -> str:
    """A romanized key for number words: like `fold`, but aspiration is kept (सात 7 / साठ 60, aath / at)."""
    t = re.sub(r"[^a-z0-9]", "", to_latin(normalize(token)).lower())
    t = t.replace("ee", "i").replace("oo", "u").replace("w", "v").replace("ph", "f").replace("z", "j")
    t = re.sub(r"([a-z])\1+", r"\1", t)
    return re.sub(r"(?<=[^aeiou])a$", "", t) if len(t) > 2 else t


def _words() -> dict[str, int]:
    """Number key -> value over every registered language; a key with two values is an error in the data."""
    table: dict[str, int] = {}
    for lang in registry.languages():
        for value, ws in lang.numbers.items():
            for w in ws:
                k = number_key(w)
                if k and table.setdefault(k, value) != value:
                    raise ValueError(f"number word {w!r} ({lang.code}) means both {table[k]} and {value}")
    return table


_WORDS: dict[str, int] = {}


def words() -> dict[str, int]:
    """The number words of every registered language (number key -> value), built on first use."""
    if not _WORDS:
        _WORDS.update(_words())
    return _WORDS


def _reset() -> None:
    _WORDS.clear()
    _KEYS.clear()
@dataclass(frozen=True, slots=True)
class _Keys:
    """Number keys of the grammar's special words. Built on first use, not at import: keying a native word
    transliterates it, and transliteration reads the language registry, whose records import this module."""
    compound_tens: frozenset[str]
    hundreds: frozenset[str]
    half: frozenset[str]
    fixed: dict[str, float]
    plus_half: frozenset[str]


_KEYS: list[_Keys] = []


def _keys() -> _Keys:
    if not _KEYS:
        _KEYS.append(_Keys(
            compound_tens=frozenset({number_key(w) for w in _EN_TENS.values()} | {
                number_key(w) for t in (_TE, _KN) for v, ws in t.items() if v % 10 == 0 and 20 <= v <= 90
                for w in ws}),
            hundreds=frozenset(number_key(w) for w in ("hundred", "सौ", "sau", "వంద", "vanda", "ನೂರು", "nooru")),
            half=frozenset(number_key(w) for w in _HALF),
            fixed={number_key(w): v for v, ws in _FIXED.items() for w in ws if " " not in w},
            plus_half=frozenset(number_key(w) for w in _PLUS_HALF)))
    return _KEYS[0]


def _digits(token: str) -> int | None:
    return int(token) if token.isdecimal() and len(token) <= 6 else None    # any script's digits: १०, ౧౦, ೧೦


def parse_number(words: Sequence[str]) -> float | None:
    """The value of a whole spoken number ("25", "twenty five", "पच्चीस", "ఇరవై ఐదు", "dedh", "half an"), or None
    when the words are not exactly one number."""
    toks = [t for t in (normalize(w) for w in words) for t in t.split()]
    if not toks:
        return None
    keys = [number_key(t) for t in toks]
    if len(toks) == 1 and (d := _digits(toks[0])) is not None:
        return float(d)
    if len(toks) == 3 and toks[1] in _POINT and (whole := _digits(toks[0])) is not None and toks[2].isdecimal():
        return whole + int(toks[2]) / 10.0 ** len(toks[2])         # "1.5" reaches us as "1 point 5"
    text = " ".join(toks)
    special = _keys()
    for value, ws in _FIXED.items():
        if text in ws or (len(keys) == 1 and special.fixed.get(keys[0]) == value):
            return value
    if keys[0] in special.half and (len(keys) == 1 or (len(keys) == 2 and toks[1] in _ARTICLE_ONE)):
        return 0.5                                         # "half", "half an" (hour), "aadha", "ara"
    if keys[0] in special.plus_half and len(keys) > 1:
        rest = parse_number(toks[1:])
        return rest + 0.5 if rest is not None and rest >= 1 else None
    if toks == ["a"] or toks == ["an"]:
        return 1.0
    if toks[0] in _ARTICLE_ONE and len(toks) == 2 and keys[1] in special.hundreds:
        return float(HUNDRED)                              # "a hundred"
    return _whole(toks, keys)


def _whole(toks: list[str], keys: list[str]) -> float | None:
    """Additive grammar: [N hundred [and]] [tens] [units] | [N hundred [and]] atomic (teens, Hindi 21..99)."""
    total = 0          # hundreds part
    part = 0           # below a hundred
    stage = 0          # 0 nothing yet, 1 tens seen, 2 units/atomic seen (nothing may follow but "hundred")
    special = _keys()
    for tok, key in zip(toks, keys, strict=True):
        if tok in _AND:
            if total == 0 or stage:
                return None
            continue
        d = _digits(tok)
        v = d if d is not None else words().get(key)
        if v is None:
            return None
        if key in special.hundreds and d is None:
            if total or stage == 1 or part >= 10:      # "two hundred", never "twenty hundred" or twice
                return None
            total, part, stage = (part or 1) * HUNDRED, 0, 0
        elif key in special.compound_tens and d is None:
            if stage:
                return None
            part, stage = v, 1
        elif v < 10 and stage == 1:
            part, stage = part + v, 2
        elif stage == 0:
            part, stage = v, 2
        else:
            return None
    return float(total + part) if total + part else None


# Duration units, matched on the phonetic fold; Telugu/Kannada/Hindi stems take case endings (నిమిషాల, ನಿಮಿಷದ).
_MINUTE_WORDS = {"minute", "minutes", "min", "mins", "minit", "mint", "minat", "minut"}
_MINUTE_STEMS = ("nimis", "minat", "minit", "minut")
_HOUR_WORDS = {"hour", "hours", "hr", "hrs", "our", "ours"}
_HOUR_STEMS = ("gant", "ganta", "gante")
_FUSED = re.compile(r"^(\d{1,4})(min|mins|minute|minutes|m|hr|hrs|hour|hours|h)$")
_AND_A_HALF = ("and a half", "and half")


@dataclass(frozen=True, slots=True)
class Duration:
    start: int           # token span [start, end) that spoke the duration
    end: int
    minutes: float


def _unit(token: str) -> int | None:
    """60 for an hour word, 1 for a minute word, else None."""
    p = fold(token)
    if token in _HOUR_WORDS or p in _HOUR_WORDS or (len(p) >= 4 and p.startswith(_HOUR_STEMS)):
        return 60
    if token in _MINUTE_WORDS or p in _MINUTE_WORDS or p.startswith(_MINUTE_STEMS):
        return 1
    return None


def find_duration(tokens: Sequence[str]) -> Duration | None:
    """The first spoken duration in normalised tokens: a number (up to four words) before a minute/hour unit,
    e.g. "10 minutes", "twenty five minutes", "half an hour", "an hour and a half", "पच्चीस मिनट", "10 నిమిషాల"."""
    toks = list(tokens)
    for u, tok in enumerate(toks):
        fused = _FUSED.match(tok)
        if fused:
            return Duration(u, u + 1, float(fused.group(1)) * (60 if fused.group(2).startswith("h") else 1))
        per = _unit(tok)
        if per is None:
            continue
        for k in range(min(4, u), 0, -1):
            value = parse_number(toks[u - k:u])
            if value is not None:
                start, end = u - k, u + 1
                tail = " ".join(toks[end:end + 3])
                for phrase in _AND_A_HALF:
                    if tail.startswith(phrase) and value >= 1:
                        value += 0.5
                        end += len(phrase.split())
                        break
                return Duration(start, end, value * per)
    return None


registry.on_change(_reset)
