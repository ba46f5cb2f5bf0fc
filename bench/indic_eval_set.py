"""The held-out spoken-request set for offline voice in English, Hindi, Telugu and Kannada (issue 14).

Written before any tuning of the recogniser and kept apart from it: nothing in core/ may import this file, and the
phrases and voices used while tuning (TUNING_* below) share neither wording nor voice with the evaluation set.

Every request targets the demo catalog (core/content/demo.py) or, for the honest-miss rows, a well-known title
that the demo catalog does not have. `expect` is the catalog title that must play (None: nothing may play).
Each request is rendered by every voice of its language at both speeds, with room noise mixed in at 20 dB SNR;
the non-speech clips (silence, room noise, claps, a melody, a hum) must never play anything.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Request", "REQUESTS", "EVAL_VOICES", "SPEEDS", "SNR_DB", "NON_SPEECH", "TUNING_VOICES",
           "TUNING_REQUESTS", "NOISE_SEED"]


@dataclass(frozen=True, slots=True)
class Request:
    language: str            # en / hi / te / kn: the language the child speaks
    text: str                # what the voice says (native script for hi/te/kn)
    expect: str | None       # catalog title (as in the demo catalog, stripped) or None for "not in the catalog"


REQUESTS: tuple[Request, ...] = (
    # English
    Request("en", "play baa baa black sheep", "Baa Baa Black Sheep"),
    Request("en", "can you play twinkle twinkle little star", "Twinkle Twinkle Little Star"),
    Request("en", "play jack and jill", "Jack and Jill"),
    Request("en", "play the wheels on the bus", "The Wheels on the Bus"),
    Request("en", "tell me the sleepy moon story", "The Sleepy Moon"),
    Request("en", "tell me the story of the little dragon", "The Little Dragon"),
    Request("en", "play the water cycle", "The Water Cycle"),
    Request("en", "play the phonics song", "Phonics Song"),
    Request("en", "play hanuman chalisa", "हनुमान चालीसा"),
    Request("en", "play jingle bells", None),
    Request("en", "play humpty dumpty", None),
    # Hindi
    Request("hi", "हनुमान चालीसा सुनाओ", "हनुमान चालीसा"),
    Request("hi", "बंदर मामा वाला गाना बजाओ", "बंदर मामा"),
    Request("hi", "मछली जल की रानी है सुनाओ", "मछली जल की रानी है"),
    Request("hi", "जादुई पेड़ की कहानी सुनाओ", "जादुई पेड़"),
    Request("hi", "ट्विंकल ट्विंकल लिटिल स्टार बजाओ", "Twinkle Twinkle Little Star"),
    Request("hi", "लकड़ी की काठी सुनाओ", None),
    # Telugu
    Request("te", "చందమామ రావే పాట పెట్టు", "చందమామ రావే"),
    Request("te", "చిట్టి చిలకమ్మ పాట పెట్టు", "చిట్టి చిలకమ్మ"),
    Request("te", "అడవిలో సాహసం కథ చెప్పు", "అడవిలో సాహసం"),
    Request("te", "హనుమాన్ చాలీసా పెట్టు", "हनुमान चालीसा"),
    Request("te", "బుజ్జి మేక పాట పెట్టు", None),
    # Kannada
    Request("kn", "ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಹಾಕು", "ಆನೆ ಬಂತೊಂದು ಆನೆ"),
    Request("kn", "ಕೋತಿ ಮತ್ತು ಬಾಳೆ ಹಣ್ಣು ಹಾಡು ಹಾಕು", "Kothi Mattu Bale Hannu Haadu"),
    Request("kn", "ಇಂದು ಮಂಗಳವಾರ ಹಾಡು ಹಾಕು", "Indu maṅgaḷavāra"),
    Request("kn", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ ಕಥೆ ಹೇಳು", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"),
    Request("kn", "ನಾಯಿ ಮರಿ ಹಾಡು ಹಾಕು", None),
)

# Voices that speak the evaluation set: "piper" = the packaged piper voice; anything else is an espeak-ng voice.
# Tuning used only the plain espeak-ng voices (TUNING_VOICES); these variants never were.
EVAL_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("piper", "en-gb+m3"),
    "hi": ("hi+f2", "hi+m4"),
    "te": ("te+f3", "te+m6"),
    "kn": ("kn+f4", "kn+m2"),
}
# Two speaking rates: espeak-ng words per minute; piper gets the same ratio through ffmpeg's atempo.
SPEEDS: tuple[int, ...] = (135, 180)
SNR_DB = 20.0
NOISE_SEED = 1414

# Clips with no request in them; nothing may play. (kind, seconds)
NON_SPEECH: tuple[tuple[str, float], ...] = (
    ("silence", 2.0),
    ("room_noise", 2.5),
    ("claps", 2.0),
    ("melody", 3.0),
    ("hum", 2.0),
    ("breath_noise", 1.5),
)

# What tuning may use: other voices and other wording (never the evaluation rows above).
TUNING_VOICES: dict[str, str] = {"en": "en-us", "hi": "hi", "te": "te", "kn": "kn"}
TUNING_REQUESTS: tuple[Request, ...] = (
    Request("en", "I want baa baa black sheep", "Baa Baa Black Sheep"),
    Request("en", "put on the wheels on the bus", "The Wheels on the Bus"),
    Request("hi", "बंदर मामा सुनाओ", "बंदर मामा"),
    Request("hi", "हनुमान चालीसा बजाओ", "हनुमान चालीसा"),
    Request("hi", "मछली वाला गाना सुनाओ", "मछली जल की रानी है"),
    Request("te", "చందమామ రావే పెట్టు", "చందమామ రావే"),
    Request("te", "చిట్టి చిలకమ్మ వినిపించు", "చిట్టి చిలకమ్మ"),
    Request("kn", "ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಕು", "ಆನೆ ಬಂತೊಂದು ಆನೆ"),
    Request("kn", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ ಹೇಳು", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"),
    Request("kn", "ಇಂದು ಮಂಗಳವಾರ ಹಾಕು", "Indu maṅgaḷavāra"),
)
