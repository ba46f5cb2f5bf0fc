"""The one script and language detector: which writing system a text uses, and which language that implies.

Used by the matcher (catalog keys and requests), the intent recognisers (reply language) and TTS routing (which
engine speaks a line). A fifth Indic language is one row in `SCRIPTS`.
"""
from __future__ import annotations

__all__ = ["SCRIPTS", "script_of", "native_language", "language_or"]

# (script name, first code point, last code point, language code)
SCRIPTS: tuple[tuple[str, int, int, str], ...] = (
    ("devanagari", 0x0900, 0x097F, "hi"),
    ("telugu", 0x0C00, 0x0C7F, "te"),
    ("kannada", 0x0C80, 0x0CFF, "kn"),
)


def _indic(ch: str) -> tuple[str, str] | None:
    o = ord(ch)
    for name, lo, hi, lang in SCRIPTS:
        if lo <= o <= hi:
            return name, lang
    return None


def script_of(text: str) -> str:
    """The dominant script: "latin", "devanagari", "telugu", "kannada", "other" or "none" (no letters)."""
    counts = {"latin": 0, "other": 0, **{name: 0 for name, *_ in SCRIPTS}}
    for ch in text:
        hit = _indic(ch)
        if hit is not None:
            counts[hit[0]] += 1
        elif ch.isalpha():
            o = ord(ch)
            counts["latin" if o < 0x0250 or 0x1E00 <= o <= 0x1EFF else "other"] += 1
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else "none"


def native_language(text: str) -> str | None:
    """hi/te/kn when the text has Devanagari/Telugu/Kannada characters (the script with most of them wins)."""
    if not text or text.isascii():
        return None
    counts: dict[str, int] = {}
    for ch in text:
        hit = _indic(ch)
        if hit is not None:
            counts[hit[1]] = counts.get(hit[1], 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def language_or(text: str, default: str = "en") -> str:
    """The language a text's script implies, else `default`."""
    return native_language(text) or default
