"""The second held-out spoken-request set (issue 19, part 6): new wording, new voices, new speeds, new noise.

Written and committed before the recogniser's candidate judging (`voice.asr.rescore`) was tuned, and never used
for tuning: tuning used only bench/indic_eval_set.py. Nothing in core/ may import this file. Same synthesis path as
the first set (espeak-ng variants, piper for English, room noise, the device's Opus codec, the server's VAD), but
no request text, espeak variant, speaking rate or noise seed is shared with bench/indic_eval_set.py.

What it adds: other ways children phrase a request (polite forms, "I want to hear", other verbs), a Hindi title
asked for in Kannada, more titles the demo catalog lacks in every language, a lower SNR, and non-speech clips that
are harder than the first set's: several voices talking over each other (babble, its words no request), a TV
hiss, a whistle, knocks, a chord strummed.
`expect` is the catalog title that must play (None: nothing may play).
"""
from __future__ import annotations

from bench.indic_eval_set import Request

__all__ = ["REQUESTS", "EVAL_VOICES", "SPEEDS", "SNR_DB", "NON_SPEECH", "NOISE_SEED", "BABBLE"]

REQUESTS: tuple[Request, ...] = (
    # English
    Request("en", "please play baa baa black sheep", "Baa Baa Black Sheep"),
    Request("en", "i want to hear twinkle twinkle little star", "Twinkle Twinkle Little Star"),
    Request("en", "put on the wheels on the bus song", "The Wheels on the Bus"),
    Request("en", "play letter sounds a to e", "Letter Sounds A to E"),
    Request("en", "can you tell me the water cycle story", "The Water Cycle"),
    Request("en", "play jack and jill please", "Jack and Jill"),
    Request("en", "play old macdonald had a farm", None),
    Request("en", "play row row row your boat", None),
    # Hindi
    Request("hi", "मुझे हनुमान चालीसा सुनना है", "हनुमान चालीसा"),
    Request("hi", "बंदर मामा गाना सुनाओ", "बंदर मामा"),
    Request("hi", "मछली जल की रानी है गाना बजाओ", "मछली जल की रानी है"),
    Request("hi", "जादुई पेड़ वाली कहानी सुनाओ ना", "जादुई पेड़"),
    Request("hi", "चंदा मामा दूर के सुनाओ", None),
    Request("hi", "आलू कचालू बेटा कहाँ गए थे बजाओ", None),
    # Telugu
    Request("te", "చందమామ రావే పాట వినిపించు", "చందమామ రావే"),
    Request("te", "చిట్టి చిలకమ్మ పాట పెట్టండి", "చిట్టి చిలకమ్మ"),
    Request("te", "అడవిలో సాహసం కథ వినిపించు", "అడవిలో సాహసం"),
    Request("te", "ఏనుగమ్మ ఏనుగు పాట పెట్టు", None),
    # Kannada
    Request("kn", "ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಕೇಳಿಸು", "ಆನೆ ಬಂತೊಂದು ಆನೆ"),
    Request("kn", "ಕೋತಿ ಮತ್ತು ಬಾಳೆ ಹಣ್ಣು ಹಾಡು ಹಾಕಿ", "Kothi Mattu Bale Hannu Haadu"),
    Request("kn", "ಇಂದು ಮಂಗಳವಾರ ಹಾಡು ಕೇಳಿಸು", "Indu maṅgaḷavāra"),
    Request("kn", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ ಕಥೆ ಹೇಳಿ", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"),
    Request("kn", "ಹನುಮಾನ್ ಚಾಲೀಸಾ ಹಾಕು", "हनुमान चालीसा"),
    Request("kn", "ಬಣ್ಣದ ಚಿಟ್ಟೆ ಹಾಡು ಹಾಕು", None),
)

# None of these voices speaks in bench/indic_eval_set.py (EVAL_VOICES or TUNING_VOICES); piper is the only
# packaged neural voice, so English keeps it at new speaking rates.
EVAL_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("piper", "en-us+f5"),
    "hi": ("hi+f1", "hi+m7"),
    "te": ("te+f5", "te+m3"),
    "kn": ("kn+f3", "kn+m7"),
}
SPEEDS: tuple[int, ...] = (150, 165)
SNR_DB = 15.0
NOISE_SEED = 2727

# Clips with no request in them; nothing may play. (kind, seconds)
NON_SPEECH: tuple[tuple[str, float], ...] = (
    ("babble", 3.0),
    ("babble", 2.0),
    ("tv_hiss", 2.0),
    ("whistle", 1.5),
    ("knocks", 2.0),
    ("chord", 2.5),
)

# What the babble voices say (several at once, at staggered starts): everyday talk, no request, no title.
BABBLE: tuple[tuple[str, str], ...] = (
    ("en-us+m1", "did you see where I left the car keys this morning"),
    ("hi+f4", "आज शाम को बाज़ार चलेंगे और सब्ज़ी लाएँगे"),
    ("te+m2", "రేపు ఉదయం ఆఫీసుకు తొందరగా వెళ్ళాలి"),
    ("kn+f5", "ನಾಳೆ ಮಳೆ ಬರಬಹುದು ಅಂತ ಹೇಳಿದ್ದಾರೆ"),
)
