"""Spoken replies in English, Hindi, Telugu and Kannada, and the words they are built from.

Pure data plus one lookup. `{title}`, `{requested}`, `{what}` ... are filled in by the plugins; a key missing in a
language falls back to English, so a new reply can land in English first.
"""
from __future__ import annotations

__all__ = ["REPLIES", "NOUNS", "LANGUAGE_NAMES_IN", "say"]

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
    # The player (English first; a language without a line falls back to English).
    "paused": {"en": ""},
    "resumed": {"en": "Continuing {title}."},
    "nothing_to_resume": {"en": "There's nothing to continue. Ask me for a song or a story!"},
    "nothing_playing": {"en": "Nothing is playing right now. Ask me for a song or a story!"},
    "now_is": {"en": "This is {what} {title}."},
    "was_that": {"en": "That was {what} {title}."},
    "nothing_played": {"en": "Nothing has played yet. Ask me for a song or a story!"},
    "next_item": {"en": "Next {what}: {title}."},
    "previous_item": {"en": "Going back to {title}."},
    "nothing_before": {"en": "There's nothing before this one."},
    "only_one": {"en": "That's the only one I have."},
    "once_more": {"en": "Once more: {title}."},
    "timer_set_minutes": {"en": "Okay, I'll stop in {minutes} minutes."},
    "timer_set_after_item": {"en": "Okay, I'll stop after this {what}."},
    "timer_cancelled": {"en": "Okay, no sleep timer."},
    "no_timer": {"en": "There's no sleep timer."},
    "queued_next": {"en": "Okay, {title} is next."},
    "queued_end": {"en": "Okay, I added {title}."},
    "up_next": {"en": "Next is {title}."},
    "nothing_next": {"en": "Nothing else is queued after this one."},
    "repeat_one": {"en": "Okay, I'll repeat this one."},
    "repeat_all": {"en": "Okay, I'll repeat them all."},
    "repeat_off": {"en": "Okay, no more repeating."},
    "shuffle_on": {"en": "Okay, shuffling."},
    "shuffle_off": {"en": "Okay, in order."},
    "favourite_added": {"en": "I'll remember you like {title}."},
    "favourite_removed": {"en": "Okay, {title} is no longer a favourite."},
    "no_favourites": {"en": "You don't have favourites yet. Say 'I like this' while something plays."},
    "history_intro": {"en": "You listened to {titles}."},
    "history_empty": {"en": "You haven't listened to anything yet."},
    "changed_restart": {"en": "{title} has changed, so I'll start it from the beginning."},
    "cannot_find_any_more": {"en": "I can't find {title} any more."},
    "busy": {"en": "I'm busy right now, please try again in a moment."},
    "louder": {"en": "Louder!"},
    "quieter": {"en": "Quieter."},
    "no_volume": {"en": "I can't change the volume on this speaker. Please use its buttons."},
    "volume_failed": {"en": "Sorry, I couldn't change the volume."},
    "cannot_play": {"en": "Sorry, I couldn't play that one."},
    "cannot_open": {"en": "Sorry, I couldn't open that one right now."},
    "sorry_error": {"en": "Sorry, something went wrong. Please try again."},
    "didnt_catch": {"en": "Sorry, I didn't catch that."},
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


def say(key: str, lang: str, **slots: str) -> str:
    """The reply `key` in `lang` (English when that language has no line for it), with its slots filled."""
    table = REPLIES[key]
    return table.get(lang, table["en"]).format(**slots)
