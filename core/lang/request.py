"""One `Request` per utterance: the words a child said, analysed once at the edge and carried through intent ->
plugin -> matcher -> reply.

Reading a request cleans it (control characters out, whitespace collapsed), cuts it at ONE length (`MAX_CHARS`,
with one log line when it had to), drops leading wake words ("hey cheeko play ..."), and analyses it once: the
tokens the intent rules read (decimals kept spoken: "1.5 hours" -> "1 point 5 hours"), and the `Analysis` the
matcher and the plugins read (numbers spelled: "3 bears" -> "three bears"; carrier words, slots, title words,
the language of the request). Nothing downstream normalises or analyses the same words again.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from core.lang.numbers import spoken_decimals
from core.lang.script import script_of
from core.lang.text import MAX_CHARS, MAX_TOKENS, Analysis, Lexicon, analyze, default_lexicon, fold, normalize
from core.lang.wake import WakeWords

__all__ = ["Request", "RequestReader", "MAX_CHARS"]

# C0/C1 control characters, zero-width and line/paragraph separators, the BOM: never words, sometimes in ASR output.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")
# A run of one short syllable is babble, not a request ("la la la la", "ma ma ma ma"): ASR makes it of noise.
_BABBLE_MIN = 4


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


@dataclass(frozen=True, slots=True)
class Request:
    """An utterance as understood words. Frozen: one request is shared by the intent, the plugin and the matcher."""
    text: str                          # what was said: cleaned, cut at MAX_CHARS, leading wake words removed
    tokens: tuple[str, ...]            # normalised tokens of `text` (decimals spoken), for the intent rules
    phon: tuple[str, ...]              # phonetic fold of each token
    analysis: Analysis                 # the one analysis of `text` (numbers spelled), for the matcher and plugins
    heard_chars: int = 0               # length of the utterance as it arrived
    wake_words: int = 0                # leading wake-word tokens dropped

    @property
    def clipped(self) -> bool:
        return self.heard_chars > MAX_CHARS

    @property
    def language(self) -> str:
        """The language of the request itself (the reply language)."""
        return self.analysis.utterance_language

    @property
    def script(self) -> str:
        return script_of(self.text)

    @property
    def empty(self) -> bool:
        """No words at all: silence, punctuation, control characters, or only wake words."""
        return not any(self.phon)

    @property
    def babble(self) -> bool:
        """One short syllable said over and over ("la la la la", "ma ma ma ma"): a transcript of noise or play."""
        words = [p for p in self.phon if p]
        return len(words) >= _BABBLE_MIN and len(set(words)) == 1 and len(words[0]) <= 3

    def same_words(self, text: str) -> bool:
        """True when `text` (e.g. a plugin's `user_request` argument) says what this request says."""
        return normalize(text) in (normalize(self.text), self.analysis.text)

    def summary(self) -> dict[str, Any]:
        """What the request was understood as (for `app.py match`, the console's match tester and logs)."""
        a = self.analysis
        return {"text": self.text, "language": self.language, "script": self.script,
                "title_words": a.words(a.residual) or None, "named_language": a.language,
                "moods": list(a.moods), "categories": list(a.story_categories + a.music_categories),
                "kind_cue": a.kind_cue, "wake_words": self.wake_words, "clipped": self.clipped}


class RequestReader:
    """Reads utterances into Requests with one wake-word list and one lexicon (built once per process).

    `spell` is the form the catalog keys take before matching (`core.content.titles.match_text`: "&" is "and",
    "3" is "three"); it is passed in because the language layer does not import the content layer."""

    def __init__(self, wake_words: Sequence[str] = (), *, spell: Callable[[str], str] | None = None,
                 lexicon: Lexicon | None = None) -> None:
        self.wake = WakeWords(wake_words)
        self._spell = spell or _same
        self._lex = lexicon

    def read(self, heard: str) -> Request:
        raw = heard if isinstance(heard, str) else ""
        text = _clean(raw[:MAX_CHARS * 2])[:MAX_CHARS]
        if len(raw) > MAX_CHARS:
            logger.info("request cut to its first {} of {} characters (MAX_CHARS in core/lang/text.py)",
                        MAX_CHARS, len(raw))
        spoken = spoken_decimals(text)
        toks = normalize(spoken, len(spoken)).split()[:MAX_TOKENS]
        phon = [fold(t) for t in toks]
        start = self.wake.leading(phon)
        if start:
            text = _after_tokens(text, start) or " ".join(toks[start:])
            toks, phon = toks[start:], phon[start:]
        lex = self._lex or default_lexicon()
        return Request(text=text, tokens=tuple(toks), phon=tuple(phon), analysis=analyze(self._spell(text), lex),
                       heard_chars=len(raw), wake_words=start)


def _same(text: str) -> str:
    return text


def _after_tokens(text: str, n: int) -> str | None:
    """`text` without the words that normalise to its first `n` tokens, when the cut falls between words."""
    words = text.split()
    seen = 0
    for i, w in enumerate(words):
        if seen == n:
            return " ".join(words[i:])
        seen += len(normalize(spoken_decimals(w)).split())
        if seen > n:
            return None
    return "" if seen == n else None


