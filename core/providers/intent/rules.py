"""Offline rule-based intent recognition for English, Hindi, Telugu and Kannada (native script or romanized).

Order (as in the best voice assistants):
1. player controls, matched as whole phrases so a title such as "Don't Stop Me Now" asked with "play" is never a
   stop: first with only politeness, articles and kind nouns removed ("repeat this song" -> "repeat this"), then
   with every filler removed ("stop the music please" -> "stop"); then the control grammar (core/lang/controls.py)
   for controls said with softeners, quantities and politeness ("make it a little louder please", "thoda tez karo
   na"), which also gives volume steps; words that are all control words but name no one control are never a title
   search;
2. requests with slots, where every other word must be one the pattern allows: the sleep timer ("stop in 10
   minutes", "10 मिनट बाद बंद करो", "stop after this story"), "play X next" / "add X" (the title is the slot), and
   "play it again from where it stopped";
3. small talk; then play requests, split into music or story by nouns ("song", "kahani", "పాట", "ಕಥೆ") before verbs.
The names and arguments are the player functions' (`contract.PLAYER_FUNCTIONS`), so an LLM provider and this
recogniser call the very same functions.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from loguru import logger

from core.lang import vocab
from core.lang.controls import Control, ControlGrammar
from core.lang.numbers import find_duration, parse_number, spoken_decimals
from core.lang.replies import say
from core.lang.script import language_or
from core.lang.text import Analysis, Lexicon, PhraseSet, analyze, fold, normalize, strip_carriers
from core.lang.wake import WakeWords

from .base import Intent, IntentContext, TitleProbe
from .contract import PLAYER_FUNCTIONS, SLEEP_MINUTES

__all__ = ["RuleIntentRecognizer", "RulesIntentProvider", "CONTROL_FUNCTIONS", "expand_pattern"]

CONTROL_FUNCTIONS = tuple(PLAYER_FUNCTIONS)      # every function this recogniser calls besides play_music/story
_UNSUPPORTED = ("joke", "jokes", "weather", "time", "date", "news", "capital", "calculate", "math", "homework")
_GROUP = re.compile(r"\(([^()]*)\)")
Key = tuple[str, ...]


def expand_pattern(pattern: str) -> list[str]:
    """"after this (one|song|) play {title}" -> every spelling; an empty choice makes the group optional."""
    m = _GROUP.search(pattern)
    if m is None:
        return [" ".join(pattern.split())]
    out: list[str] = []
    for choice in m.group(1).split("|"):
        out += expand_pattern(pattern[:m.start()] + f" {choice} " + pattern[m.end():])
    return list(dict.fromkeys(out))


class RuleIntentRecognizer:
    def __init__(self, lexicon: Lexicon | None = None, *, wake_words: Iterable[str] = ()) -> None:
        self._lex = lexicon or Lexicon.build()
        self._wake = WakeWords(wake_words)
        self._syn = {fold(w): fold(canon) for canon, words in vocab.CONTROL_SYNONYMS.items() for w in (canon, *words)}
        self._fillers = self._phrases(vocab.CONTROL_FILLERS)
        self._light = self._phrases(vocab.CONTROL_LIGHT_FILLERS)
        self._polite = self._phrases(vocab.POLITE)
        self._exact: dict[Key, str] = {}
        self._loose: dict[Key, str] = {}
        keyed = [(name, self._phon(p)) for name, phrases in vocab.CONTROLS.items() for p in phrases]
        for name, phon in keyed:
            self._exact.setdefault(self._light_key(phon), name)
        # A phrase that IS its loose key ("repeat") owns that key before one that only reduces to it ("repeat this").
        for bare in (True, False):
            for name, phon in keyed:
                loose = self._loose_key(phon)
                if loose and (self._light_key(phon) == loose) == bare:
                    self._loose.setdefault(loose, name)
        self._exact.pop((), None)
        self._grammar = ControlGrammar(self._phon)
        self._chitchat = {tuple(fold(t) for t in normalize(c).split()) for c in vocab.CHITCHAT}
        self._questions = {fold(q) for q in vocab.QUESTION_WORDS}
        self._unsupported = {fold(u) for u in _UNSUPPORTED}
        self._resume_cues = self._phrases(vocab.RESUME_CUES)
        self._resume_ok = self._phrases(vocab.RESUME_WORDS + vocab.CONTROL_FILLERS + vocab.CONTROL_LIGHT_FILLERS)
        self._resume_leads = self._phrases(vocab.RESUME_LEADS)
        self._pause_words = self._phrases(vocab.CONTROLS["pause"])
        self._sleep_stop = self._phrases(vocab.SLEEP_STOP_WORDS)
        self._sleep_timer = self._phrases(vocab.SLEEP_TIMER_WORDS)
        self._sleep_after = self._phrases(vocab.SLEEP_AFTER_ITEM)
        self._sleep_ok = self._phrases(vocab.SLEEP_CONNECTORS + vocab.CONTROL_FILLERS + vocab.POLITE)
        self._kind_nouns = self._phrases(vocab.MUSIC_NOUNS + vocab.STORY_NOUNS)
        patterns: list[tuple[int, str, Key, Key]] = []
        for position, templates in vocab.ENQUEUE_PATTERNS.items():
            for template in templates:
                for spelling in expand_pattern(template):
                    pre, _, post = spelling.partition("{title}")
                    a, b = self._phon(pre), self._phon(post)
                    patterns.append((len(a) + len(b), position, a, b))
        patterns.sort(key=lambda p: -p[0])        # the most specific pattern first ("add X to the queue")
        self._enqueue = [(position, a, b) for _, position, a, b in dict.fromkeys(patterns)]

    # ------------------------------------------------------------------ folding

    def _canon(self, phon: Iterable[str]) -> list[str]:
        return [self._syn.get(p, p) for p in phon]

    def _phon(self, text: str) -> Key:
        return tuple(p for p in self._canon(fold(t) for t in normalize(text).split()) if p)

    def _phrases(self, words: Iterable[str]) -> PhraseSet:
        return PhraseSet.of_sequences((self._phon(w), "x") for w in words)

    @staticmethod
    def _without(phon: Sequence[str], ps: PhraseSet) -> list[int]:
        drop = {i for s, e, _ in ps.find(phon) for i in range(s, e)}
        return [i for i, p in enumerate(phon) if i not in drop and p]

    def _light_key(self, phon: Sequence[str]) -> Key:
        return tuple(phon[i] for i in self._without(phon, self._light))

    def _loose_key(self, phon: Sequence[str]) -> Key:
        out: list[str] = []
        for i in self._without(phon, self._fillers):
            if not out or out[-1] != phon[i]:        # "stop stop stop" -> "stop"
                out.append(phon[i])
        return tuple(out)

    # ------------------------------------------------------------------ recognition

    def recognize(self, text: str, *, titles: TitleProbe | None = None) -> Intent:
        """Decide what `text` asks for. `titles` lets a bare title ("baa baa black sheep") be told from chatter."""
        try:
            return self._recognize(text if isinstance(text, str) else "", titles)
        except Exception:    # noqa: BLE001 - never let one odd utterance end a session
            logger.exception("intent rules failed on a {}-char utterance", len(text or ""))
            return _help("en")

    def _recognize(self, text: str, titles: TitleProbe | None) -> Intent:
        toks = normalize(spoken_decimals(text)).split()[:48]
        phon = self._canon(fold(t) for t in toks)
        start = self._wake.leading(phon)
        toks, phon = toks[start:], phon[start:]
        body = " ".join(toks)
        if not [p for p in phon if p]:
            return _help(language_or(text))
        a = analyze(body, self._lex)
        lang = a.utterance_language
        control = self._exact.get(self._light_key(phon)) or self._loose.get(self._loose_key(phon))
        said = self._grammar.parse(phon)
        key = control or (said.control.function if said.control else None)
        if key:
            return self._control(key, phon, lang, said.control)
        slotted = self._sleep(toks, phon) or self._enqueue_request(toks, phon)
        if slotted is not None:
            return Intent(slotted[0], slotted[1], language=lang)
        if self._resumes(toks, phon):
            return Intent("resume", {"target": self._target(phon)}, language=lang)
        if said.not_a_title and a.residual:
            return _help(lang)                    # "a little more": control words, but which control?
        if tuple(phon) in self._chitchat or _unsupported_only(a, self._unsupported):
            return _help(lang)
        slots = bool(a.language or a.moods or a.story_categories or a.music_categories)
        signal = bool(a.kind_cue) or slots
        verb_only = bool(a.kind_cue) and not slots and not self._kind_nouns.find(phon)
        if titles is not None and verb_only and a.residual:
            # Only a verb names the kind ("play goldilocks", "tell me twinkle twinkle"): people play stories and
            # tell songs, so a title of the other kind decides which plugin answers.
            name = self._probe(titles, body)
            if name:
                return self._play(name, a, text)
        if not signal:
            if phon[0] in self._questions or not a.residual:
                return _help(lang)
            if titles is not None:
                name = self._probe(titles, body)
                if name:
                    return self._play(name, a, text)
        story = a.kind_cue == "story" or (a.kind_cue is None and bool(a.story_categories)
                                           and not (a.moods and not _story_only_category(a)))
        return self._play("play_story" if story else "play_music", a, text)

    @staticmethod
    def _probe(titles: TitleProbe, body: str) -> str | None:
        try:
            return titles(body)
        except Exception:   # noqa: BLE001 - a failing title probe only means no title was found
            logger.exception("title probe failed")
            return None

    def _control(self, key: str, phon: Sequence[str], lang: str, said: Control | None) -> Intent:
        name, args = vocab.CONTROL_VARIANTS.get(key, (key, {}))
        args = dict(args)
        if name == "resume":
            args["target"] = self._target(phon)
        if said is not None and said.function == name and said.steps > 1:   # "a lot louder": volume steps
            args["steps"] = said.steps
        return Intent(name, args, language=lang)

    def _target(self, phon: Sequence[str]) -> str:
        """'story' for "continue my story", 'song' for "continue the song", else 'any'."""
        story, music = bool(self._lex.story_nouns.find(phon)), bool(self._lex.music_nouns.find(phon))
        return "story" if story and not music else "song" if music and not story else "any"

    def _resumes(self, toks: Sequence[str], phon: Sequence[str]) -> bool:
        """"play it again from where it stopped" (a cue and request words only), or "continue the bedtime story"
        (a resume word and no title)."""
        cue = self._spans(self._resume_cues, phon)
        rest = [p for i, p in enumerate(phon) if i not in cue and p]
        if cue and (not rest or self._resume_ok.covers(rest)):
            return True
        lead = self._spans(self._resume_leads, phon)
        outside = [p for i, p in enumerate(phon) if i not in lead]
        if not lead or self._lex.music_verbs.find(outside) or self._lex.story_verbs.find(outside):
            return False                                  # "play continue" asks for a title
        remainder = " ".join(t for i, t in enumerate(toks) if i not in lead)
        return not remainder or not analyze(remainder, self._lex).residual

    @staticmethod
    def _spans(ps: PhraseSet, phon: Sequence[str]) -> set[int]:
        return {i for s, e, _ in ps.find(phon) for i in range(s, e)}

    def _sleep(self, toks: Sequence[str], phon: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
        """A sleep timer when the words are a stop/timer word, a duration or "after this", and nothing else.
        A wait with a duration ("wait 5 minutes", "stop for a minute") is a pause."""
        keep = [i for i in range(len(phon)) if i not in self._spans(self._kind_nouns, phon)]
        toks, phon = [toks[i] for i in keep], [phon[i] for i in keep]
        stop, timer = self._spans(self._sleep_stop, phon), self._spans(self._sleep_timer, phon)
        pause = self._spans(self._pause_words, phon)
        if not stop and not timer and not pause:
            return None
        after = self._spans(self._sleep_after, phon)
        duration = find_duration(toks)
        used = stop | timer | pause | after | self._spans(self._sleep_ok, phon)
        if duration is not None:
            used |= set(range(duration.start, duration.end))
            minutes: float | None = duration.minutes
        else:
            rest = [i for i in range(len(phon)) if i not in used]
            value = parse_number([toks[i] for i in rest]) if timer and rest else None
            if value is not None:                     # "sleep timer 20": a bare number is minutes
                used |= set(rest)
            minutes = value
        if any(i not in used for i in range(len(phon))):
            return None
        waits = pause and not stop and not timer
        if duration is not None and not timer and (waits or phon[duration.start - 1:duration.start] == ["for"]):
            return "pause", {}
        if waits:
            return None
        if minutes is not None:
            lo, hi = SLEEP_MINUTES
            return "sleep_timer", {"minutes": max(lo, min(hi, round(minutes)))}
        if after and stop:
            return "sleep_timer", {"after": "item"}
        return None

    def _enqueue_request(self, toks: Sequence[str], phon: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
        """"play X next", "add X to the queue", "इसके बाद X बजाओ": the words between the pattern's are the title."""
        keep = self._without(phon, self._polite)
        if not keep:
            return None
        lo, hi = keep[0], keep[-1] + 1               # politeness only at the edges
        toks, phon = list(toks[lo:hi]), list(phon[lo:hi])
        n = len(phon)
        for position, pre, post in self._enqueue:
            k, m = len(pre), len(post)
            if n <= k + m or tuple(phon[:k]) != pre or tuple(phon[n - m:]) != post:
                continue
            t_toks, t_phon = toks[k:n - m], phon[k:n - m]
            if self._is_title(t_toks, t_phon, bare=not pre):
                return "enqueue", {"user_request": " ".join(t_toks), "position": position}
        return None

    def _is_title(self, toks: Sequence[str], phon: Sequence[str], *, bare: bool) -> bool:
        if not phon or (bare and phon[0] in self._questions):   # "who is next" asks; "play why do leaves..." not
            return False
        if not strip_carriers(toks, phon, self._lex):          # "play something next" names no title
            return False
        key = self._loose_key(phon)
        return not key or (key not in self._loose and self._exact.get(self._light_key(phon)) is None)

    def _play(self, name: str, a: Analysis, text: str) -> Intent:
        request = " ".join(text.split())[:400] or a.text
        label = vocab.LANGUAGE_LABELS.get(a.language or "")
        if name == "play_story":
            story_type = ("specific" if a.residual else "category" if a.story_categories else
                          "mood" if a.moods else "language_specific" if a.language else "random")
            args: dict[str, Any] = {"user_request": request, "story_type": story_type}
            if a.story_categories:
                args["category_preference"] = a.story_categories[0]
        else:
            song_type = ("specific" if a.residual else "mood" if a.moods else
                         "category" if a.music_categories else "language_specific" if a.language else "random")
            args = {"user_request": request, "song_type": song_type}
        if label:
            args["language_preference"] = label
        return Intent(name, args, language=a.utterance_language)


class RulesIntentProvider:
    """The async IntentProvider wrapper; the context's title probe (built on the catalog) recognises bare titles."""
    name = "rules"

    def __init__(self, recognizer: RuleIntentRecognizer | None = None) -> None:
        self.recognizer = recognizer or RuleIntentRecognizer()

    async def recognize(self, text: str, context: IntentContext) -> Intent:
        return self.recognizer.recognize(text, titles=context.titles)


def _story_only_category(a: Analysis) -> bool:
    """Categories that only stories have (fantasy, adventure, ...) as opposed to bedtime, which is also a mood."""
    return any(c not in vocab.MOODS and c != "bedtime" for c in a.story_categories)


def _unsupported_only(a: Analysis, unsupported: set[str]) -> bool:
    words = [a.phon[i] for i in a.residual]
    return bool(words) and all(w in unsupported for w in words)


def _help(lang: str) -> Intent:
    return Intent("", {}, language=lang, reply=say("help", lang))
