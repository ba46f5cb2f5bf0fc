"""Wake words: the one list comes from config (`server.wake_words`); this decides what counts as one.

The device sends its wake word as `listen detect` text, and ASR often keeps it at the start of an utterance
("hey cheeko play baa baa black sheep"). Both are compared in the phonetic folded space of `core.lang.text`, so
"Hey, Cheeko!" and "hey chiko" meet the same entry.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.lang.text import PhraseSet, fold, tokens

__all__ = ["WakeWords"]


class WakeWords:
    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(w for w in words if w and w.strip())
        self._set = PhraseSet([(w, "w") for w in self.words])

    def leading(self, phon: Sequence[str]) -> int:
        """How many of the leading phonetic tokens are wake words (0 when the text does not start with one)."""
        start = 0
        while start < len(phon):
            spans = self._set.find(phon[start:])
            if not spans or spans[0][0] != 0:
                break
            start += spans[0][1]
        return start

    def is_only_wake_word(self, text: str) -> bool:
        """True when `text` is nothing but wake words ("hey cheeko", "你好小智")."""
        phon = [p for p in (fold(t) for t in tokens(text)) if p]
        return bool(phon) and self.leading(phon) == len(phon)
