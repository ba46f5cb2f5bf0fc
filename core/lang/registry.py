"""The languages the speaker understands and answers in: one `Language` record per language.

A record says everything the project needs to know about a language: its code and names, its script (code-point
range and romanisation scheme), the romanized words that reveal it in Latin text, its number words, its request
words, its replies, the TTS voice that speaks it and the words the ASR prompt uses for it. Script detection,
folding, the request lexicon, number parsing, replies, the plugin schemas, the LLM prompt, the ASR prompt and the
TTS voice all read this registry, so a fifth language is one record (`core/lang/languages/<code>.py`, listed in
`BUILT_IN`) or one `register()` call.

The four built-in records point at the tables the data lives in today (vocab.py, numbers.py, replies.py): those
tables hold all four languages side by side, which is how translators and reviewers read them.
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Script", "Words", "Language", "register", "unregister", "languages", "get", "find", "codes", "labels",
           "control_phrases", "on_change", "DEFAULT", "BUILT_IN"]

DEFAULT = "en"                            # the language a request is answered in when its own is unknown
BUILT_IN = ("en", "hi", "te", "kn")       # modules in core/lang/languages/, each defining LANGUAGE


@dataclass(frozen=True, slots=True)
class Script:
    """A writing system: its Unicode block and how it is romanized for the phonetic fold (core/lang/text.py)."""
    name: str                       # "devanagari"
    first: int                      # first code point of the block
    last: int                       # last code point of the block
    scheme: str                     # indic_transliteration.sanscript scheme name ("devanagari", "telugu", ...)
    schwa_syncope: bool = False     # Hindi drops medial and final schwas ("machalI" -> "machlI")

    def has(self, ch: str) -> bool:
        return self.first <= ord(ch) <= self.last


@dataclass(frozen=True, slots=True)
class Words:
    """Request words a language adds to the shared vocabulary (core/lang/vocab.py holds the built-in four's)."""
    carriers: tuple[str, ...] = ()          # carry a request, never a title ("podu", "please")
    music_nouns: tuple[str, ...] = ()       # "song" words: decide music
    story_nouns: tuple[str, ...] = ()       # "story" words: decide story
    music_verbs: tuple[str, ...] = ()       # "play" words
    story_verbs: tuple[str, ...] = ()       # "tell" words


@dataclass(frozen=True)
class Language:
    code: str                                   # ISO 639-1: "hi"
    label: str                                  # English name: the plugin schemas' `language_preference` value
    names: tuple[str, ...]                      # how a request names the language, any script, ASR spellings too
    script: Script | None = None                # None: written in Latin letters
    romanization: str = "itrans"                # how `script` is romanized (ITRANS through sanscript)
    cues: tuple[str, ...] = ()                  # romanized words that reveal this language in a Latin request
    numbers: Mapping[int, tuple[str, ...]] = field(default_factory=dict)    # 1..100 -> number words
    words: Words = Words()
    nouns: Mapping[str, str] = field(default_factory=dict)      # "music" / "story" -> the noun in replies
    names_in: Mapping[str, str] = field(default_factory=dict)   # language code -> its name said in this language
    replies: Mapping[str, str] = field(default_factory=dict)    # reply key (replies.REPLIES) -> line
    # Control phrases this language adds as whole utterances (function name -> phrases); the built-in four's are in
    # vocab.CONTROLS.
    controls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The control grammar's words (core/lang/controls.py: role -> words, e.g. "up": ("louder",), "small":
    # ("a little",)): what lets "a little louder please" be a control in this language.
    control_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tts_voice: str | None = None                # espeak-ng voice; None: the English voice
    asr_request: str = "Play {}"                # a request for title {} as whisper writes it in English mode


_LANGS: dict[str, Language] = {}
_LISTENERS: list[Callable[[], None]] = []
_LOADED: list[bool] = []
# The catalog index is built in a worker thread: the first reader of the registry may not be the event loop's.
_LOCK = threading.RLock()


_LOADING: list[bool] = []


def _load() -> None:
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        if _LOADING:        # only the loading thread gets here (the lock is re-entrant): a record module asked
            raise RuntimeError("a language module used the language registry while it was being loaded; "
                               "build tables from the registry on first use, not at import")
        _LOADING.append(True)
        try:
            for code in BUILT_IN:
                module = importlib.import_module(f"core.lang.languages.{code}")
                _LANGS.setdefault(code, module.LANGUAGE)
        finally:
            _LOADING.clear()
        _LOADED.append(True)


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever a language is registered or removed (caches built from the registry reset)."""
    _LISTENERS.append(listener)


def _changed() -> None:
    for listener in _LISTENERS:
        listener()


def register(language: Language) -> None:
    """Add (or replace) a language. Everything built from the registry is rebuilt on next use; a matcher or
    recogniser built before keeps the vocabulary it was built with."""
    _load()
    if not language.code or not language.label or not language.names:
        raise ValueError(f"a language needs a code, a label and names: {language.code!r}")
    with _LOCK:
        _LANGS[language.code] = language
    _changed()


def unregister(code: str) -> None:
    _load()
    if code == DEFAULT:
        raise ValueError(f"the default language {DEFAULT!r} cannot be removed")
    with _LOCK:
        removed = _LANGS.pop(code, None)
    if removed is not None:
        _changed()


def languages() -> Iterator[Language]:
    _load()
    return iter(tuple(_LANGS.values()))


def find(code: str | None) -> Language | None:
    _load()
    return _LANGS.get(code or "")


def get(code: str | None) -> Language:
    """The language `code`, or the default language when the registry does not have it."""
    _load()
    return _LANGS.get(code or "") or _LANGS[DEFAULT]


def codes() -> tuple[str, ...]:
    _load()
    return tuple(_LANGS)


def labels() -> list[str]:
    """English names of every language, in registry order (the plugin schemas' enum)."""
    return [lang.label for lang in languages()]


def control_words() -> dict[str, Mapping[str, tuple[str, ...]]]:
    """The control grammar's word tables, one per language that has them (language code -> role -> words)."""
    return {lang.code: lang.control_words for lang in languages() if lang.control_words}


def control_phrases(shared: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The control phrase table: `shared` (vocab.CONTROLS, the built-in four) plus each record's own."""
    out = dict(shared)
    for lang in languages():
        for name, phrases in lang.controls.items():
            out[name] = out.get(name, ()) + tuple(phrases)
    return out
