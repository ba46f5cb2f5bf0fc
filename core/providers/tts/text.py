"""Text helpers shared by the TTS providers: sentence splitting (first audio sooner), reply length bound."""
from __future__ import annotations

import re

__all__ = ["split_sentences", "clip_reply"]

_SENTENCE_END = re.compile(r"(?<=[.!?।॥])\s+|\n+")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")
_MAX_CHUNK = 220            # a long first sentence delays the first audio; cut at clauses beyond this


def split_sentences(text: str, max_chunk: int = _MAX_CHUNK) -> list[str]:
    """Sentences, with ones longer than `max_chunk` cut at commas (and ones with no punctuation past twice that at
    a space); each is one line for the engine (no newlines inside)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= max_chunk:
            out.append(sentence)
            continue
        part = ""
        for clause in _CLAUSE.split(sentence):
            if part and len(part) + len(clause) + 1 > max_chunk:
                out.append(part)
                part = clause
            else:
                part = f"{part} {clause}".strip()
        while len(part) > max_chunk * 2:        # no punctuation at all: cut at a space
            cut = part.rfind(" ", 0, max_chunk) if " " in part[:max_chunk] else max_chunk
            out.append(part[:cut])
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out


_SENTENCE_STOP = re.compile(r"[.!?।॥]")


def clip_reply(text: str, max_chars: int) -> str:
    """At most `max_chars`: cut after the last sentence end that fits, else at the last space (then a full stop)."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_STOP.finditer(head)]
    if ends and ends[-1] >= max_chars // 3:
        return head[:ends[-1]]
    cut = head.rfind(" ")
    head = head[:cut] if cut > 0 else head
    return head.rstrip(",;: ") + "."
