"""Kannada: Kannada script, or romanized ("kannada haadu haaku").

The words themselves live in the shared tables (vocab.py, numbers.py, replies.py), one column per language;
this record is where the project looks them up.
"""
from __future__ import annotations

from core.lang import numbers, vocab
from core.lang.controls import CONTROL_WORDS
from core.lang.registry import Language, Script
from core.lang.replies import LANGUAGE_NAMES_IN, NOUNS, REPLIES, column

LANGUAGE = Language(
    code="kn",
    label="Kannada",
    names=vocab.LANGUAGE_NAMES["kn"],
    script=Script("kannada", 0x0C80, 0x0CFF, "kannada"),
    cues=vocab.LANGUAGE_CUES["kn"],
    numbers=numbers.KANNADA,
    nouns=column(NOUNS, "kn"),
    names_in=LANGUAGE_NAMES_IN["kn"],
    replies=column(REPLIES, "kn"),
    control_words=CONTROL_WORDS["kn"],
    tts_voice="kn",
    asr_request="{} haadu haaku",
)
