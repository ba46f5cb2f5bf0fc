"""English: Latin letters; the default language (requests in a language the registry lacks are
answered in English).

The words themselves live in the shared tables (vocab.py, numbers.py, replies.py), one column per language;
this record is where the project looks them up.
"""
from __future__ import annotations

from core.lang import numbers, vocab
from core.lang.controls import CONTROL_WORDS
from core.lang.registry import Language
from core.lang.replies import LANGUAGE_NAMES_IN, NOUNS, REPLIES, column
from core.lang.text import ENGLISH_CUES

LANGUAGE = Language(
    code="en",
    label="English",
    names=vocab.LANGUAGE_NAMES["en"],
    cues=ENGLISH_CUES,
    numbers=numbers.ENGLISH,
    nouns=column(NOUNS, "en"),
    names_in=LANGUAGE_NAMES_IN["en"],
    replies=column(REPLIES, "en"),
    control_words=CONTROL_WORDS["en"],
    tts_voice="en-us",
    asr_request="Play {}",
)
