"""Text folding for matching: normalisation, script detection, transliteration to a phonetic romanized space,
and the analysis of a request into carrier words, slots (language, mood, category) and the remaining title words.

Both sides (requests and catalog keys) go through the same functions. Indic vowel signs and viramas are letters
here: they are kept until transliteration (dropping them turns हनुमान into "hnmn").
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from indic_transliteration import sanscript

from core.lang import registry, vocab
from core.lang.script import native_language, script_of, scripts

__all__ = ["normalize", "tokens", "script_of", "native_language", "to_latin", "phonetic", "fold", "PhraseSet",
           "Lexicon", "Analysis", "analyze", "strip_carriers", "MAX_CHARS", "default_lexicon",
           "title_words"]

# The one length limit: a request (core/lang/request.py) and any text folded here is cut to this many characters.
# Titles are short, and 10 kB of text must stay cheap.
MAX_CHARS = 400
MAX_TOKENS = 48

# Keep word characters, Indic blocks (vowel signs are category M, not \w) and combining marks; drop dandas.
_DROP = re.compile(r"[^\w\s\u0900-\u0D7F\u0300-\u036F]|[_\u0964\u0965\u0970]")
_JOIN = str.maketrans({"'": "", "\u2019": "", "\u2018": "", "`": "", "\u200c": "", "\u200d": "", "\u00b4": ""})
_INDIC_RUN: list[re.Pattern[str]] = []       # a run of one registered script's letters (built from the registry)
_ITRANS_V = "aAiIuUeEoO"
# Hindi schwa syncope on ITRANS: a medial "a" between VC and CV is silent (machalI -> machlI, laka.DI -> lak.DI).
_CONS = r"(?:[kgcCjJTDtdpbsS]h|\.Dh?|~N|~n|[^" + _ITRANS_V + r"\s.~^])"
_SYNCOPE = re.compile(r"(?<=[" + _ITRANS_V + r"])(" + _CONS + r")a(?=" + _CONS + r"[" + _ITRANS_V + r"])")
_FINAL_SCHWA_ITRANS = re.compile(r"(?<=[^" + _ITRANS_V + r"])a$")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_ASPIRATE = re.compile(r"(?<=[kgcjtdpbs])h")
_DOUBLE = re.compile(r"([a-z])\1+")
_FINAL_A = re.compile(r"(?<=[^aeiou])a$")
_ANUSVARA_LABIAL = re.compile(r"M(?=[pbmv])")
_ANUSVARA = re.compile(r"M")


def normalize(text: str, max_chars: int = MAX_CHARS) -> str:
    """NFC, case fold, apostrophes joined, punctuation/symbols/emoji to spaces, whitespace collapsed and trimmed."""
    if not text:
        return ""
    s = unicodedata.normalize("NFC", text[: max_chars * 2])[:max_chars].translate(_JOIN).casefold()
    return " ".join(_DROP.sub(" ", s).split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()[:MAX_TOKENS]


def _syncope(s: str) -> str:
    """Delete medial schwas right to left, so each deletion sees the clusters made by the ones after it."""
    end = len(s)
    while True:
        last = None
        for m in _SYNCOPE.finditer(s, 0, end):
            last = m
        if last is None:
            return s
        s = s[:last.start(1)] + last.group(1) + s[last.end():]
        end = last.start(1)


def _itrans(run: str) -> str:
    o = ord(run[0])
    for script, _ in scripts():
        if script.first <= o <= script.last:
            out = sanscript.transliterate(run, script.scheme, sanscript.ITRANS)
            # Anusvara / chandrabindu: m before labials, n elsewhere (baMdar -> bandar, chaMdA -> chandA).
            out = _ANUSVARA.sub("n", _ANUSVARA_LABIAL.sub("m", out.replace(".N", "M")))
            return _syncope(_FINAL_SCHWA_ITRANS.sub("", out)) if script.schwa_syncope else out
    return run


def _indic_run() -> re.Pattern[str]:
    if not _INDIC_RUN:
        blocks = [f"[{chr(s.first)}-{chr(s.last)}]+" for s, _ in scripts()] or ["(?!x)x"]
        _INDIC_RUN.append(re.compile("|".join(blocks)))
    return _INDIC_RUN[0]


def to_latin(token: str) -> str:
    """One normalised token in any script -> lowercase ASCII (the registered scripts through ITRANS, anything
    else through anyascii)."""
    if token.isascii():
        return token
    run = _indic_run()
    if run.search(token):
        token = run.sub(lambda m: _itrans(m.group(0)), token)
    return anyascii(token).lower()


def phonetic(latin: str) -> str:
    """Fold a romanized token so spelling variants meet: vowel length, aspirates, ch/c, sh/s, w/v, doubled letters
    and a word-final schwa (chaleesa = chalisa = चालीसा -> "calis"). Anusvara is resolved in `to_latin`."""
    t = latin if latin.isalnum() and latin.islower() and latin.isascii() else _NON_ALNUM.sub("", latin.lower())
    if not t:
        return ""
    t = t.replace("ee", "i").replace("oo", "u")
    t = t.replace("ch", "c").replace("sh", "s").replace("ph", "f").replace("w", "v").replace("ck", "k")
    t = t.replace("q", "k").replace("z", "j").replace("x", "ks")
    t = _ASPIRATE.sub("", _DOUBLE.sub(r"\1", t))        # doubled letters (vowel length too), then aspirates
    return _FINAL_A.sub("", t) if len(t) > 2 else t


@lru_cache(maxsize=4096)
def fold(token: str) -> str:
    """Normalised token -> phonetic romanized token. Cached: transliteration dominates the cost of a request, and
    children ask with a small vocabulary (4,096 tokens of at most 400 characters: a few MiB at worst)."""
    return phonetic(to_latin(token))


class PhraseSet:
    """Phrases (in any script) matched as phonetic token sequences, longest first. Immutable once built."""
    __slots__ = ("_first", "_max")

    def __init__(self, phrases: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = phrases.items() if isinstance(phrases, Mapping) else phrases
        self._build((tuple(p for p in (fold(t) for t in tokens(phrase)) if p), value) for phrase, value in items)

    @classmethod
    def of_sequences(cls, items: Iterable[tuple[Sequence[str], str]]) -> PhraseSet:
        """From phrases already folded to phonetic token sequences (folding twice is not the identity)."""
        ps = cls.__new__(cls)
        ps._build((tuple(p for p in seq if p), value) for seq, value in items)
        return ps

    def _build(self, items: Iterable[tuple[tuple[str, ...], str]]) -> None:
        first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for seq, value in items:
            if seq:
                first.setdefault(seq[0], []).append((seq, value))
        for lst in first.values():
            lst.sort(key=lambda x: -len(x[0]))
        self._first = {k: tuple(v) for k, v in first.items()}
        self._max = max((len(s) for v in self._first.values() for s, _ in v), default=0)

    def find(self, phon: Sequence[str]) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, value) spans, scanning left to right, longest phrase first."""
        out: list[tuple[int, int, str]] = []
        i, n = 0, len(phon)
        while i < n:
            for seq, value in self._first.get(phon[i], ()):
                if tuple(phon[i:i + len(seq)]) == seq:
                    out.append((i, i + len(seq), value))
                    i += len(seq)
                    break
            else:
                i += 1
        return out

    def covers(self, phon: Sequence[str]) -> bool:
        """True when the phrases cover every token."""
        return bool(phon) and sum(e - s for s, e, _ in self.find(phon)) == len(phon)


def _table(d: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    return [(w, key) for key, words in d.items() for w in words]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The request vocabulary folded into phrase sets (built once per matcher / recognizer)."""
    carriers: PhraseSet
    languages: PhraseSet
    moods: PhraseSet
    story_categories: PhraseSet
    music_categories: PhraseSet
    music_nouns: PhraseSet
    story_nouns: PhraseSet
    music_verbs: PhraseSet
    story_verbs: PhraseSet
    cues: Mapping[str, str]          # lightly folded romanized token -> language code (see `cue_key`)

    @classmethod
    def build(cls) -> Lexicon:
        """The shared vocabulary (vocab.py) plus what each registered language adds."""
        def one(words: Iterable[str], v: str) -> PhraseSet:
            return PhraseSet([(w, v) for w in words])
        langs = list(registry.languages())
        cues: dict[str, str] = {}
        # English cue words only outvote others, so every other language's cues are keyed first.
        for lang in sorted(langs, key=lambda x: x.code == registry.DEFAULT):
            for w in lang.cues:
                cues.setdefault(cue_key(w), lang.code)

        def words(shared: tuple[str, ...], field: str) -> tuple[str, ...]:
            return shared + tuple(w for lang in langs for w in getattr(lang.words, field))
        return cls(carriers=one(words(vocab.CARRIERS, "carriers"), "c"),
                   languages=PhraseSet([(w, lang.code) for lang in langs for w in lang.names]),
                   moods=PhraseSet(_table(vocab.MOODS)), story_categories=PhraseSet(_table(vocab.STORY_CATEGORIES)),
                   music_categories=PhraseSet(_table(vocab.MUSIC_CATEGORIES)),
                   music_nouns=one(words(vocab.MUSIC_NOUNS, "music_nouns"), "music"),
                   story_nouns=one(words(vocab.STORY_NOUNS, "story_nouns"), "story"),
                   music_verbs=one(words(vocab.MUSIC_VERBS, "music_verbs"), "music"),
                   story_verbs=one(words(vocab.STORY_VERBS, "story_verbs"), "story"), cues=cues)


_LEXICON: list[Lexicon] = []


def _registry_changed() -> None:
    _LEXICON.clear()
    _INDIC_RUN.clear()
    fold.cache_clear()          # a token folds differently once its script is registered


registry.on_change(_registry_changed)


def default_lexicon() -> Lexicon:
    """The process's lexicon, built on first use (the matcher, the intent rules and requests share it)."""
    if not _LEXICON:
        _LEXICON.append(Lexicon.build())
    return _LEXICON[0]


@dataclass(frozen=True, slots=True)
class Analysis:
    """A request split into carrier words, slots and title words (indexes into `tokens`)."""
    text: str                          # normalised request
    tokens: tuple[str, ...]            # normalised surface tokens
    phon: tuple[str, ...]              # phonetic romanized token per surface token
    core: tuple[int, ...]              # tokens that are not carrier words
    residual: tuple[int, ...]          # core tokens that are not slot words either: the title, if any
    language: str | None               # a language named in the request (en/hi/te/kn)
    moods: tuple[str, ...]             # canonical mood tags named
    story_categories: tuple[str, ...]
    music_categories: tuple[str, ...]
    kind_cue: str | None               # "music" / "story" from nouns (first) or verbs
    has_carrier: bool
    utterance_language: str            # language of the request itself (for the reply)
    language_cued: bool = True         # False: no word said which language (a bare title, as whisper often leaves it)

    def words(self, idx: Sequence[int]) -> str:
        return " ".join(self.tokens[i] for i in idx)

    def phon_of(self, idx: Sequence[int]) -> str:
        return " ".join(self.phon[i] for i in idx if self.phon[i])

    @property
    def slot_only(self) -> bool:
        return bool(self.core) and not self.residual


def strip_carriers(toks: Sequence[str], phon: Sequence[str], lex: Lexicon) -> list[int]:
    """Indexes of the tokens that are not carrier words (empty when every token is one)."""
    drop = {i for s, e, _ in lex.carriers.find(phon) for i in range(s, e)}
    keep = [i for i in range(len(toks)) if i not in drop and phon[i]]
    return keep


def _kind_cue(phon: Sequence[str], lex: Lexicon) -> str | None:
    nouns = {v for _, _, v in lex.music_nouns.find(phon)} | {v for _, _, v in lex.story_nouns.find(phon)}
    if len(nouns) == 1:
        return nouns.pop()
    verbs = [v for _, _, v in sorted(lex.music_verbs.find(phon) + lex.story_verbs.find(phon))]
    return verbs[0] if verbs else None


# English words no romanized Hindi/Telugu/Kannada request uses: they outvote a stray cue ("play ... path").
ENGLISH_CUES = ("play", "tell", "please", "the", "song", "story", "about", "want", "some", "can", "you", "sing",
                 "listen", "what", "with", "and")
_LIGHT = re.compile(r"([a-z])\1+")


def cue_key(token: str) -> str:
    """A cue word's key: lower case, doubled letters and ee/oo merged, but aspirates and vowels kept, so the Telugu
    cue 'paata' is not the English 'path' (the phonetic fold makes both 'pat')."""
    t = _NON_ALNUM.sub("", token.lower()).replace("ee", "i").replace("oo", "u")
    return _LIGHT.sub(r"\1", t)


def utterance_language(text: str, lex: Lexicon) -> tuple[str, bool]:
    """The request's own language (for the reply), and whether its words said it (a native script or a cue word;
    not for a bare romanized title, as whisper often leaves a request)."""
    native = native_language(text)
    if native:
        return native, True
    votes = _language_votes(text, lex)
    cued = bool(votes)
    english = votes.pop("en", 0)
    if not votes:
        return "en", cued
    best = max(votes, key=votes.__getitem__)
    return (best if votes[best] >= english else "en"), cued


def _language_votes(text: str, lex: Lexicon) -> dict[str, int]:
    votes: dict[str, int] = {}
    for tok in text.split():
        if not tok.isascii() and script_of(tok) == "other":
            continue        # cue words are romanized: a script the registry lacks ("বাজাও") reveals no language
        lang = lex.cues.get(cue_key(to_latin(tok)))
        if lang:
            votes[lang] = votes.get(lang, 0) + 1
    return votes


def _slots(phon: Sequence[str], lex: Lexicon) -> list[tuple[int, int, str, str]]:
    spans: list[tuple[int, int, str, str]] = []
    for name, ps in (("language", lex.languages), ("mood", lex.moods), ("story_category", lex.story_categories),
                     ("music_category", lex.music_categories)):
        spans += [(s, e, name, v) for s, e, v in ps.find(phon)]
    return spans


def title_words(phon: Sequence[str], lex: Lexicon) -> list[int]:
    """Indexes of the folded tokens that are neither carrier words nor slot words: the title, if any."""
    slot_idx = {i for s, e, _, _ in _slots(phon, lex) for i in range(s, e)}
    return [i for i in strip_carriers(phon, phon, lex) if i not in slot_idx]


def analyze(text: str, lex: Lexicon) -> Analysis:
    norm = normalize(text)
    toks = tuple(norm.split()[:MAX_TOKENS])
    phon = tuple(fold(t) for t in toks)
    core = strip_carriers(toks, phon, lex)
    slot_spans = _slots(phon, lex)
    slot_idx = {i for s, e, _, _ in slot_spans for i in range(s, e)}
    residual = tuple(i for i in core if i not in slot_idx)

    def values(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for _, _, n, v in slot_spans if n == name))

    langs = values("language")
    said_in, cued = utterance_language(norm, lex)
    return Analysis(
        text=" ".join(toks), tokens=toks, phon=phon, core=tuple(core), residual=residual,
        language=langs[0] if langs else None, moods=values("mood"), story_categories=values("story_category"),
        music_categories=values("music_category"), kind_cue=_kind_cue(phon, lex),
        has_carrier=len(core) < sum(1 for p in phon if p), utterance_language=said_in, language_cued=cued)
