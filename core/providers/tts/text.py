"""Text helpers shared by the TTS providers: sentence splitting (first audio sooner)."""
from __future__ import annotations

import re

__all__ = ["split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?।॥])\s+|\n+")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")
_MAX_CHUNK = 220            # a long first sentence delays the first audio; cut at clauses beyond this


def split_sentences(text: str) -> list[str]:
    """Sentences, with long ones cut at commas; each is one line for the engine (no newlines inside)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= _MAX_CHUNK:
            out.append(sentence)
            continue
        part = ""
        for clause in _CLAUSE.split(sentence):
            if part and len(part) + len(clause) + 1 > _MAX_CHUNK:
                out.append(part)
                part = clause
            else:
                part = f"{part} {clause}".strip()
        while len(part) > _MAX_CHUNK * 2:       # no punctuation at all: cut at a space
            cut = part.rfind(" ", 0, _MAX_CHUNK) if " " in part[:_MAX_CHUNK] else _MAX_CHUNK
            out.append(part[:cut])
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out
