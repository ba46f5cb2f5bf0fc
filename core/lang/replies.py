"""Spoken replies in English, Hindi, Telugu and Kannada, and the words they are built from.

Pure data plus one lookup. `{title}`, `{requested}`, `{what}` ... are filled in by the plugins; a key missing in a
language falls back to English, so a new reply can land in English first.
"""
from __future__ import annotations

__all__ = ["REPLIES", "NOUNS", "LANGUAGE_NAMES_IN", "say", "clip_words", "ECHO_WORDS", "ECHO_CHARS"]

# Spoken replies. {title}, {requested}, {what} are filled in by the plugins.
REPLIES: dict[str, dict[str, str]] = {
    "now_playing": {"en": "Now playing {title}.", "hi": "अब सुनिए {title}.", "te": "ఇప్పుడు {title} వినండి.",
                    "kn": "ಈಗ {title} ಕೇಳಿ."},
    "now_telling": {"en": "Here is the story {title}.", "hi": "सुनिए कहानी {title}.", "te": "ఇదిగో కథ {title}.",
                    "kn": "ಇಲ್ಲಿದೆ ಕಥೆ {title}."},
    "group_pick": {"en": "Here's {what}: {title}.", "hi": "यह रहा {what}: {title}.", "te": "ఇదిగో {what}: {title}.",
                   "kn": "ಇಲ್ಲಿದೆ {what}: {title}."},
    "not_found": {"en": "I couldn't find {requested}.", "hi": "मुझे {requested} नहीं मिला.",
                  "te": "నాకు {requested} దొరకలేదు.", "kn": "ನನಗೆ {requested} ಸಿಗಲಿಲ್ಲ."},
    "instead": {"en": "Here's {what} instead: {title}.", "hi": "इसकी जगह यह {what} सुनिए: {title}.",
                "te": "దానికి బదులు ఈ {what}: {title}.", "kn": "ಅದರ ಬದಲು ಈ {what}: {title}."},
    "offer": {"en": "You can ask me for {what} like {title}.", "hi": "आप {title} जैसा {what} माँग सकते हैं.",
              "te": "మీరు {title} లాంటి {what} అడగవచ్చు.", "kn": "ನೀವು {title} ತರಹದ {what} ಕೇಳಬಹುದು."},
    "empty_catalog": {"en": "Sorry, I don't have any {what} yet.", "hi": "माफ़ कीजिए, अभी कोई {what} नहीं है.",
                      "te": "క్షమించండి, ఇంకా {what} లేవు.", "kn": "ಕ್ಷಮಿಸಿ, ಇನ್ನೂ {what} ಇಲ್ಲ."},
    "help": {"en": "I can play songs and tell stories. Try: play Baa Baa Black Sheep, or tell me a bedtime story.",
             "hi": "मैं गाने बजा सकता हूँ और कहानियाँ सुना सकता हूँ. बोलिए: हिंदी गाना बजाओ.",
             "te": "నేను పాటలు వినిపిస్తాను, కథలు చెబుతాను. అనండి: తెలుగు పాట పెట్టు.",
             "kn": "ನಾನು ಹಾಡು ಹಾಕುತ್ತೇನೆ, ಕಥೆ ಹೇಳುತ್ತೇನೆ. ಹೇಳಿ: ಕನ್ನಡ ಹಾಡು ಹಾಕು."},
}

# "song" / "story" in each reply language.
NOUNS: dict[str, dict[str, str]] = {
    "music": {"en": "song", "hi": "गाना", "te": "పాట", "kn": "ಹಾಡು"},
    "story": {"en": "story", "hi": "कहानी", "te": "కథ", "kn": "ಕಥೆ"},
}
# A language's name as said in another language: LANGUAGE_NAMES_IN[reply language][language code].
LANGUAGE_NAMES_IN: dict[str, dict[str, str]] = {
    "en": {"en": "English", "hi": "Hindi", "te": "Telugu", "kn": "Kannada"},
    "hi": {"en": "अंग्रेज़ी", "hi": "हिंदी", "te": "तेलुगु", "kn": "कन्नड़"},
    "te": {"en": "ఇంగ్లీష్", "hi": "హిందీ", "te": "తెలుగు", "kn": "కన్నడ"},
    "kn": {"en": "ಇಂಗ್ಲಿಷ್", "hi": "ಹಿಂದಿ", "te": "ತೆಲುಗು", "kn": "ಕನ್ನಡ"},
}


# What the user asked for is echoed back only this far ("I couldn't find <first words>."): a whole sentence
# read back costs synthesis time that other devices wait for, and tells the child nothing more.
ECHO_WORDS = 6
ECHO_CHARS = 60


def clip_words(text: str, max_words: int = ECHO_WORDS, max_chars: int = ECHO_CHARS) -> str:
    """The first `max_words` words of `text`, and no more than `max_chars` characters (cut at a word if possible)."""
    words = str(text).split()
    out = " ".join(words[:max_words])
    if len(out) > max_chars:
        cut = out.rfind(" ", 0, max_chars + 1)
        out = out[:cut] if cut > 0 else out[:max_chars]
    return out.rstrip(",;:.!?")


def say(key: str, lang: str, **slots: str) -> str:
    """The reply `key` in `lang` (English when that language has no line for it), with its slots filled.
    `requested` (the user's own words) is clipped to a few words."""
    table = REPLIES[key]
    if "requested" in slots:
        slots["requested"] = clip_words(slots["requested"])
    return table.get(lang, table["en"]).format(**slots)
