"""The one script and language detector: which writing system a text uses, and which language that implies.

Used by the matcher (catalog keys and requests), the intent recognisers (reply language) and TTS routing (which
engine speaks a line). The scripts are the language registry's (`core/lang/registry.py`): a language with its own
script brings it in its record.
"""
from __future__ import annotations

from core.lang import registry
from core.lang.registry import Script

__all__ = ["scripts", "script_of", "native_language", "language_or"]

_SCRIPTS: list[tuple[tuple[Script, str], ...]] = []       # built from the registry on first use


def scripts() -> tuple[tuple[Script, str], ...]:
    """(script, language code) for every registered language written in its own script."""
    if not _SCRIPTS:
        _SCRIPTS.append(tuple((lang.script, lang.code) for lang in registry.languages() if lang.script is not None))
    return _SCRIPTS[0]


registry.on_change(_SCRIPTS.clear)


def _indic(ch: str) -> tuple[str, str] | None:
    o = ord(ch)
    if o < 0x0250:
        return None               # Latin: the common case, answered without a scan
    for script, lang in scripts():
        if script.first <= o <= script.last:
            return script.name, lang
    return None


def script_of(text: str) -> str:
    """The dominant script: "latin", a registered script ("devanagari", "telugu", ...), "other" or "none"."""
    counts = {"latin": 0, "other": 0, **{s.name: 0 for s, _ in scripts()}}
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
    """The registered language whose script has most of the text's letters (hi/te/kn ...), else None."""
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
