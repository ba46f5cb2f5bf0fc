"""Hindi: Devanagari, or romanized the way people type and ASR writes it ("bandar mama bajao").

The words themselves live in the shared tables (vocab.py, numbers.py, replies.py), one column per language;
this record is where the project looks them up.
"""
from __future__ import annotations

from core.lang import numbers, vocab
from core.lang.controls import CONTROL_WORDS
from core.lang.registry import Language, Script
from core.lang.replies import LANGUAGE_NAMES_IN, NOUNS, REPLIES, column

LANGUAGE = Language(
    code="hi",
    label="Hindi",
    names=vocab.LANGUAGE_NAMES["hi"],
    script=Script("devanagari", 0x0900, 0x097F, "devanagari", schwa_syncope=True),
    cues=vocab.LANGUAGE_CUES["hi"],
    numbers=numbers.HINDI,
    nouns=column(NOUNS, "hi"),
    names_in=LANGUAGE_NAMES_IN["hi"],
    replies=column(REPLIES, "hi"),
    control_words=CONTROL_WORDS["hi"],
    tts_voice="hi",
    asr_request="{} sunao",
)
