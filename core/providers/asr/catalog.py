"""Catalog bias for the embedded recogniser: what can be asked for steers what is heard.

Measured with whisper-base on synthetic Hindi, Telugu and Kannada requests (bench/indic_bench.py): decoding in the
children's language gives wrong scripts (Urdu, Thai) and repetition loops, and language detection on the first
second names Thai or Japanese as often as the right language. Decoding as English with the catalog's titles
*romanized* in the prompt gives a Latin transcript close to the title ("Chandamama Rave Petu"), so:

1. `prompt_phrases` turns every title into a romanized request in its own language's words ("Hanuman Chalisa
   sunao", "Chandamama Rave paata pettu", "Aane Bantondu Aane haadu haaku"), English titles stay "Play X";
2. `TitleSnapper` compares the transcript with every title in a phonetic space (the matcher's `fold`, then a
   coarser key that drops h and vowel length) and, when one title is clearly closest, writes that title into the
   transcript in place of the words that sounded like it ("Anuman Chalisa Madhau" -> "हनुमान चालीसा Madhau").
   Words around a snapped title that are no request vocabulary at all are dropped: in Hindi, Telugu and Kannada the
   request verb follows the title and "I want" (मुझे) comes before it, and whisper mishears them ("Sohao",
   "Madhau", "Mugetta"), which would otherwise cost the match. Known words (verbs, "song", "not", controls, ...)
   stay. A request for something the catalog lacks stays
   as heard, so the matcher can still say it has no such title.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from core.lang import registry, vocab
from core.lang.script import native_language
from core.lang.text import fold, to_latin, tokens

__all__ = ["readable", "prompt_phrases", "TitleSnapper", "Snap", "Candidate", "known_words", "words_of"]

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_VOWELS = re.compile(r"[aeiou]+")
_WORD_SPLIT = re.compile(r"[\s\-\u2010-\u2015]+")
_LONG_A = frozenset("\u0906\u0C06\u0C86")   # आ ఆ ಆ: a word-initial long a


def readable(title: str) -> str:
    """A title in any script as capitalised ASCII words: "हनुमान चालीसा" -> "Hanuman Chalisa"."""
    words = []
    for tok in tokens(title):
        latin = _NON_ALNUM.sub("", to_latin(tok))
        if tok[:1] in _LONG_A and latin.startswith("a"):
            latin = "a" + latin       # ಆನೆ -> "Aane", as the catalog and whisper spell it, not "Ane"
        if latin:
            words.append(latin[:1].upper() + latin[1:])
    return " ".join(words)


def prompt_phrases(titles: Iterable[str]) -> list[str]:
    """Romanized requests for the whisper prompt, one per distinct title, in the title's language."""
    out: list[str] = []
    seen: set[str] = set()
    for title in titles:
        text = readable(title)
        if not text or text.lower() in seen:
            continue
        seen.add(text.lower())
        # A request in the title's language as children say it, romanized as whisper writes it in English mode.
        out.append(registry.get(native_language(title)).asr_request.format(text))
    return out


def _vocabulary_words() -> frozenset[str]:
    """Every word of the request vocabulary (core/lang/vocab.py), folded: what a misheard verb is not."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            words.update(p for p in (fold(t) for t in tokens(value)) if p)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, (tuple, list, set, frozenset)):
            for v in value:
                walk(v)
    for name in dir(vocab):
        if name.isupper():
            walk(getattr(vocab, name))
    for lang in registry.languages():          # what each language's record adds
        walk((lang.names, lang.cues, lang.words.carriers, lang.words.music_verbs, lang.words.story_verbs,
              dict(lang.controls)))
    return frozenset(words)


_KNOWN: list[frozenset[str]] = []
_LEADS: list[frozenset[tuple[str, ...]]] = []


def known_words() -> frozenset[str]:
    if not _KNOWN:
        _KNOWN.append(_vocabulary_words())
    return _KNOWN[0]


def _lead_phrases() -> frozenset[tuple[str, ...]]:
    """Phrases that give the words before a title a meaning (a verb, "story", "continue", a language), folded."""
    if not _LEADS:
        phrases: list[str] = [*vocab.MUSIC_VERBS, *vocab.STORY_VERBS, *vocab.RESUME_LEADS, *vocab.MUSIC_NOUNS,
                              *vocab.STORY_NOUNS]
        for names in vocab.LANGUAGE_NAMES.values():
            phrases.extend(names)
        for lang in registry.languages():
            phrases.extend((*lang.names, *lang.words.music_verbs, *lang.words.story_verbs))
        _LEADS.append(frozenset(t for t in (tuple(p for p in (fold(w) for w in tokens(x)) if p) for x in phrases)
                                if t))
    return _LEADS[0]


def _has_lead(words: list[str]) -> bool:
    folded = [fold(w) for w in words]
    return any(tuple(folded[i:i + len(p)]) == p for p in _lead_phrases() for i in range(len(folded) - len(p) + 1))


registry.on_change(_KNOWN.clear)           # a language registered later brings its words
registry.on_change(_LEADS.clear)


def words_of(transcript: str) -> list[str]:
    """Words of a transcript; whisper writes a run of syllables it cannot place with hyphens ("Bum-dut-mama-mama")."""
    return [w for w in _WORD_SPLIT.split(transcript) if w]


def _key(phon: str) -> str:
    """Coarser than `fold`: h dropped (whisper writes "Anuman" for हनुमान), y/i and vowel runs merged."""
    k = phon.replace("h", "").replace("y", "i")
    return _VOWELS.sub(lambda m: m.group(0)[0], k)


@dataclass(frozen=True, slots=True)
class Snap:
    text: str           # transcript with the matched words replaced by the title ("" parts untouched)
    title: str | None   # the title written in, or None when nothing was close enough
    score: float        # best phonetic similarity 0-100
    runner_up: float    # the next-best different title's score
    candidate: Candidate | None = None   # the words the title was written over (None: nothing snapped)


@dataclass(frozen=True, slots=True)
class Candidate:
    title: str          # the catalog title as given
    score: float        # phonetic similarity 0-100 of its closest run of transcript words
    start: int          # that run: transcript words [start, end)
    end: int


@dataclass(frozen=True, slots=True)
class _Title:
    text: str
    phon: str           # folded tokens joined without spaces
    key: str


class TitleSnapper:
    """Immutable once built; `snap` is pure and cheap (one rapidfuzz matrix per title length: ~1 ms for the demo
    catalog, a few ms for 2,000 titles)."""

    def __init__(self, titles: Iterable[str], *, min_score: float = 84.0, margin: float = 6.0,
                 min_chars: int = 6) -> None:
        self.min_score = min_score
        self.margin = margin
        entries: dict[str, _Title] = {}
        for title in titles:
            t = title.strip()
            phon = "".join(p for p in (fold(tok) for tok in tokens(t)) if p)
            if len(phon) >= min_chars and phon not in entries:   # short titles snap far too easily
                entries[phon] = _Title(t, phon, _key(phon))
        self._titles = tuple(entries.values())
        # Titles grouped by word count: a title of n words is compared with transcript windows of n-1..n+1 words.
        groups: dict[int, list[_Title]] = {}
        for e in self._titles:
            groups.setdefault(max(1, len(tokens(e.text))), []).append(e)
        self._groups = {n: (tuple(g), [e.phon for e in g], [e.key for e in g]) for n, g in groups.items()}
        self._known = known_words()          # built here, not on a child's first request

    def __len__(self) -> int:
        return len(self._titles)

    def rank(self, transcript: str, limit: int = 0) -> list[Candidate]:
        """Every title (or the best `limit`) with its closest-sounding run of transcript words, best first."""
        words = words_of(transcript)
        phon = [fold(w) for w in words]
        if not self._titles or not any(phon):
            return []
        best: dict[str, tuple[float, int, int]] = {}          # title -> (score, start, end)
        for n, (group, phons, keys) in self._groups.items():
            spans = [(i, i + w) for w in range(max(1, n - 1), n + 2)
                     for i in range(0, max(1, len(words) - w + 1))]
            windows = ["".join(phon[a:b]) for a, b in spans]
            spans = [sp for sp, w in zip(spans, windows, strict=True) if w]
            windows = [w for w in windows if w]
            if not windows:
                continue
            scores = np.maximum(cdist(windows, phons, scorer=fuzz.ratio),
                                cdist([_key(w) for w in windows], keys, scorer=fuzz.ratio))
            rows = scores.argmax(axis=0)
            for j, title in enumerate(group):
                score = float(scores[rows[j], j])
                if score > best.get(title.text, (-1.0, 0, 0))[0]:
                    best[title.text] = (score, *spans[rows[j]])
        ranked = sorted((Candidate(t, s, a, b) for t, (s, a, b) in best.items()), key=lambda c: -c.score)
        return ranked[:limit] if limit else ranked

    def write_in(self, transcript: str, candidate: Candidate) -> str:
        """The transcript with `candidate`'s words replaced by its title; words around it that are no request
        vocabulary dropped (whisper's mishearing of the request words: "Mugetta" for मुझे, "Sohao" for सुनाओ), and
        the words before it altogether when they hold no verb, "story" or language ("Okay, then, I'll go" for मुझे:
        known words, no request)."""
        words = words_of(transcript)
        head = [w for w in words[:candidate.start] if fold(w) in self._known]
        if not _has_lead(head):
            head = []
        tail = [w for w in words[candidate.end:] if fold(w) in self._known]
        return " ".join([*head, candidate.title, *tail])

    def snap(self, transcript: str) -> Snap:
        ranked = self.rank(transcript)
        if not ranked:
            return Snap(transcript, None, 0.0, 0.0)
        top = ranked[0]
        runner = ranked[1].score if len(ranked) > 1 else 0.0
        if top.score < self.min_score or top.score - runner < self.margin:
            return Snap(transcript, None, top.score, runner)
        return Snap(self.write_in(transcript, top), top.title, top.score, runner, top)
