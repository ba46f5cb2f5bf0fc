"""Telugu: Telugu script, or romanized ("chitti chilakamma paata pettu").

The words themselves live in the shared tables (vocab.py, numbers.py, replies.py), one column per language;
this record is where the project looks them up.
"""
from __future__ import annotations

from core.lang import numbers, vocab
from core.lang.controls import CONTROL_WORDS
from core.lang.registry import Language, Script
from core.lang.replies import LANGUAGE_NAMES_IN, NOUNS, REPLIES, column

LANGUAGE = Language(
    code="te",
    label="Telugu",
    names=vocab.LANGUAGE_NAMES["te"],
    script=Script("telugu", 0x0C00, 0x0C7F, "telugu"),
    cues=vocab.LANGUAGE_CUES["te"],
    numbers=numbers.TELUGU,
    nouns=column(NOUNS, "te"),
    names_in=LANGUAGE_NAMES_IN["te"],
    replies=column(REPLIES, "te"),
    control_words=CONTROL_WORDS["te"],
    tts_voice="te",
    asr_request="{} paata pettu",
)
