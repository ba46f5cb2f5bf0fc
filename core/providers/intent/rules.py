"""Offline rule-based intent recognition for English, Hindi, Telugu and Kannada (native script or romanized).

Order (as in the best voice assistants): transport controls first, matched as whole phrases so a title such as
"Don't Stop Me Now" is never a stop; then small talk; then play requests, split into music or story by nouns
("song", "kahani", "పాట", "ಕಥೆ") before verbs ("play", "tell", "cheppu", "helu"). The arguments follow the plugin
functions' JSON schemas, so an LLM provider and this recogniser call the very same functions.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loguru import logger

from core.lang import vocab
from core.lang.replies import say
from core.lang.script import language_or
from core.lang.text import Analysis, Lexicon, PhraseSet, analyze, fold, normalize
from core.lang.wake import WakeWords

from .base import Intent, IntentContext, TitleProbe

__all__ = ["RuleIntentRecognizer", "RulesIntentProvider", "CONTROL_FUNCTIONS"]

CONTROL_FUNCTIONS = tuple(vocab.CONTROLS)        # plugin function names of the transport controls
_UNSUPPORTED = ("joke", "jokes", "weather", "time", "date", "news", "capital", "calculate", "math", "homework")


class RuleIntentRecognizer:
    def __init__(self, lexicon: Lexicon | None = None, *, wake_words: Iterable[str] = ()) -> None:
        self._lex = lexicon or Lexicon.build()
        self._fillers = PhraseSet([(f, "f") for f in vocab.CONTROL_FILLERS])
        self._wake = WakeWords(wake_words)
        self._controls: dict[tuple[str, ...], str] = {}
        for name, phrases in vocab.CONTROLS.items():
            for p in phrases:
                key = self._control_key([fold(t) for t in normalize(p).split()])
                if key:
                    self._controls.setdefault(key, name)
        self._chitchat = {tuple(fold(t) for t in normalize(c).split()) for c in vocab.CHITCHAT}
        self._questions = {fold(q) for q in vocab.QUESTION_WORDS}
        self._unsupported = {fold(u) for u in _UNSUPPORTED}

    def _control_key(self, phon: list[str]) -> tuple[str, ...]:
        drop = {i for s, e, _ in self._fillers.find(phon) for i in range(s, e)}
        out: list[str] = []
        for i, p in enumerate(phon):
            if i not in drop and p and (not out or out[-1] != p):   # "stop stop stop" -> "stop"
                out.append(p)
        return tuple(out)

    def recognize(self, text: str, *, titles: TitleProbe | None = None) -> Intent:
        """Decide what `text` asks for. `titles` lets a bare title ("baa baa black sheep") be told from chatter."""
        try:
            return self._recognize(text if isinstance(text, str) else "", titles)
        except Exception:    # never let one odd utterance end a session
            logger.exception("intent rules failed on a {}-char utterance", len(text or ""))
            return _help("en")

    def _recognize(self, text: str, titles: TitleProbe | None) -> Intent:
        toks = normalize(text).split()[:48]
        phon = [fold(t) for t in toks]
        start = self._wake.leading(phon)
        toks, phon = toks[start:], phon[start:]
        body = " ".join(toks)
        if not [p for p in phon if p]:
            return _help(language_or(text))
        a = analyze(body, self._lex)
        lang = a.utterance_language
        control = self._controls.get(self._control_key(phon))
        if control:
            return Intent(control, {}, language=lang)
        if tuple(phon) in self._chitchat or _unsupported_only(a, self._unsupported):
            return _help(lang)
        signal = bool(a.kind_cue or a.language or a.moods or a.story_categories or a.music_categories)
        if not signal:
            if phon[0] in self._questions or not a.residual:
                return _help(lang)
            if titles is not None:
                try:
                    name = titles(body)
                except Exception:
                    logger.exception("title probe failed")
                    name = None
                if name:
                    return self._play(name, a, text)
        story = a.kind_cue == "story" or (a.kind_cue is None and bool(a.story_categories)
                                           and not (a.moods and not _story_only_category(a)))
        return self._play("play_story" if story else "play_music", a, text)

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
