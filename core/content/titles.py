"""Titles as people name files and as people say them.

File names carry track numbers ("01 - "), parentheticals ("(Live)", "[Jungle Book]"), subtitles ("- Remastered",
"- From Frozen") and series prefixes ("Panchatantra - The Blue Jackal"). A child says the main words. These helpers
are shared by `catalog scan` (which writes the variants as alternatives) and the matcher (which indexes them for
hand-written catalogs too), so both sides agree on what a title's short forms are.
"""
from __future__ import annotations

import re

__all__ = ["strip_track_number", "title_variants", "match_text", "NOISE_WORDS"]

# "01 - Title", "01. Title", "1) Title", "Track 01 - Title", "01 Title" (zero-padded only: "5 Little Ducks" is a title).
_TRACK = re.compile(r"^\s*(?:(?:track|trk|cd\s*\d+)\s*)?(?:\d{1,3}\s*[-._)\]:]+\s*|0\d{1,2}\s+)(?=\S)", re.I)
_BRACKETS = re.compile(r"\s*[\(\[\{][^\)\]\}]*[\)\]\}]\s*")
_BRACKET_TEXT = re.compile(r"[\(\[\{]([^\)\]\}]*)[\)\]\}]")
_DASH = re.compile(r"\s+[-\u2013\u2014|]\s+")
# Parenthetical / subtitle words that describe the recording, never the song.
NOISE_WORDS = frozenset("""live remastered remaster remix mix version official audio video lyric lyrics lyrical
hd hq 4k mono stereo explicit clean instrumental karaoke edit radio extended original cover full song read aloud
along from feat ft featuring part bonus track demo acoustic soundtrack ost theme""".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}
_DIGITS = re.compile(r"(?<![\w.])\d{1,4}(?![\w.])")
_POSSESSIVE = re.compile(r"(?<=[^\W\d_])['\u2019]s\b")
_AMP = re.compile(r"\s*&\s*")


def strip_track_number(stem: str) -> str:
    """'01 - Twinkle Twinkle' -> 'Twinkle Twinkle'; '5 Little Ducks' and '12 Days of Christmas' are kept."""
    out = _TRACK.sub("", stem, count=1).strip()
    return out or stem.strip()


def _is_noise(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    return not words or words[0] in ("from", "feat", "ft", "featuring") or all(w in NOISE_WORDS or w.isdigit()
                                                                               for w in words)


def _names_collection(prefix: str, collection: str) -> bool:
    """'Akbar and Birbal' names the collection 'Akbar Birbal'; 'Let It Go' does not name 'Kids Songs'."""
    c = {w.lower() for w in _WORD.findall(collection)} - {"stories", "story", "songs", "song", "rhymes", "tales"}
    p = {w.lower() for w in _WORD.findall(prefix)}
    return bool(c) and c <= p


def title_variants(title: str, collection: str = "") -> list[str]:
    """Shorter forms of a title a person would say, best first, never the title itself:
    'Goldilocks (and the 3 Bears)' -> ['Goldilocks'], 'Let It Go - From Frozen' -> ['Let It Go'],
    'Panchatantra - The Blue Jackal' (in 'Panchatantra') -> ['The Blue Jackal'],
    'The Alphabet Song (ABC)' -> ['The Alphabet Song', 'ABC']."""
    base = strip_track_number(title)
    out: list[str] = [base]
    bare = _BRACKETS.sub(" ", base).strip() or base
    out.append(" ".join(bare.split()))
    parts = _DASH.split(bare)
    if len(parts) == 2:
        head, tail = (p.strip() for p in parts)
        if collection and _names_collection(head, collection):
            out.append(tail)                            # a series prefix: the story is the tail
        else:
            out.append(head)                            # a subtitle: "- Remastered", "- From Frozen", "- Read Along"
    for inner in _BRACKET_TEXT.findall(base):
        inner = inner.strip()
        # "(ABC)", "(Grandparents Song)" are names too; "(Live)", "(From Moana)", "(and the 3 Bears)" are not.
        if inner and not _is_noise(inner) and inner.split()[0].lower() not in ("and", "&", "with", "the"):
            out.append(inner)
    seen = {title.strip().casefold()}
    variants = []
    for v in out:
        v = " ".join(v.split()).strip(" -")
        if v and v.casefold() not in seen and any(c.isalnum() for c in v):
            seen.add(v.casefold())
            variants.append(v)
    return variants


def _spell(m: re.Match[str]) -> str:
    n = int(m.group(0))
    return _words(n) if n < 1000 else ("one thousand" if n == 1000 else m.group(0))   # years stay digits


def _words(n: int) -> str:
    """0-999 in words: 21 'twenty one', 101 'one hundred one' (whisper writes digits, people type either)."""
    if n <= 20:
        return _NUMBER_WORDS[n]
    if n < 100:
        tens, unit = _TENS[n - n % 10], n % 10
        return f"{tens} {_NUMBER_WORDS[unit]}" if unit else tens
    rest = n % 100
    return f"{_NUMBER_WORDS[n // 100]} hundred" + (f" {_words(rest)}" if rest else "")


def match_text(text: str) -> str:
    """The form both a request and a catalog key take before matching: '&' is 'and', a possessive 's is dropped
    ("Pussycat's" = "pussycat"), and small numbers are words ("3 Bears" = "three bears", "100" = "one hundred")."""
    if not text:
        return ""
    text = _AMP.sub(" and ", text)
    text = _POSSESSIVE.sub("", text)
    return _DIGITS.sub(_spell, text)
