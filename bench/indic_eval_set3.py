"""The third held-out spoken-request set (issue 19): new wording, new voices, new speeds, new noise.

Written and committed before the next round of recogniser changes, and never used for tuning: tuning uses only the
tuning set and bench/indic_eval_set.py (bench/indic_rescore_calibrate.py refuses any other set). Nothing in core/
may import this file. Same synthesis path as the other sets (espeak-ng variants, piper for English, room noise, the
device's Opus codec, the server's VAD), but no request text, espeak-ng variant, speaking rate or noise seed is
shared with bench/indic_eval_set.py (set 1 and the tuning set) or bench/indic_eval_set2.py (set 2).

What it adds: the ways children ask that the other sets lack ("I want ...", "can you ...", "will you tell ...",
title first or last, "ನನಗೆ ... ಬೇಕು", "నాకు ... కావాలి", "मुझे ... सुननी है"), English, Hindi and Kannada titles asked for
in another language's request words, titles the demo catalog lacks that share words with titles it has ("little",
"ಮತ್ತು", "ಬಾಳೆಲೆ"), a slower and a faster speaking rate than before, and non-speech clips the other sets lack: a child
humming a tune without words, a vacuum cleaner, and babble in other voices.
`expect` is the catalog title that must play (None: nothing may play).

36 requests (24 for catalog items, 12 for titles the catalog lacks) x 2 voices x 2 speeds + 7 non-speech = 151 clips.
Before (the recogniser as of commit f623c66, `flock /tmp/heavy.lock nice .venv/bin/python bench/indic_bench.py
--set 3 --skip-latency`, shared 2-core machine); right item played of 24 catalog requests, false plays of the
language's 36 clips, misses of 24:
    shipped (judging on): en 95.8 %, 0 false, 1 miss; hi 70.8 %, 1 false, 7 misses; te 58.3 %, 3 false, 7 misses;
                          kn 83.3 %, 2 false, 4 misses; non-speech 0 of 7 played; all 6/151 = 4.0 % false plays
    norescore:            en 83.3 %, 0 false, 4 misses; hi 50.0 %, 1 false, 12 misses; te 54.2 %, 2 false, 9 misses;
                          kn 54.2 %, 1 false, 11 misses; non-speech 0 of 7 played; all 4/151 = 2.6 % false plays
"""
from __future__ import annotations

from bench.indic_eval_set import Request

__all__ = ["REQUESTS", "EVAL_VOICES", "SPEEDS", "SNR_DB", "NON_SPEECH", "NOISE_SEED", "BABBLE"]

REQUESTS: tuple[Request, ...] = (
    # English
    Request("en", "can you put on baa baa black sheep", "Baa Baa Black Sheep"),
    Request("en", "twinkle twinkle little star please", "Twinkle Twinkle Little Star"),
    Request("en", "i want the sleepy moon story", "The Sleepy Moon"),
    Request("en", "tell me jack and the beanstalk", "Jack & the Beanstalk+1"),
    Request("en", "i want to listen to the little dragon", "The Little Dragon"),
    Request("en", "play chandamama rave", "చందమామ రావే"),
    Request("en", "can you play baby shark", None),
    Request("en", "i want the itsy bitsy spider", None),
    Request("en", "play mary had a little lamb", None),
    # Hindi
    Request("hi", "चलाओ ना हनुमान चालीसा", "हनुमान चालीसा"),
    Request("hi", "बंदर मामा लगा दो", "बंदर मामा"),
    Request("hi", "मछली जल की रानी वाला गाना लगाओ", "मछली जल की रानी है"),
    Request("hi", "मुझे जादुई पेड़ की कहानी सुननी है", "जादुई पेड़"),
    Request("hi", "बा बा ब्लैक शीप लगाओ ना", "Baa Baa Black Sheep"),
    Request("hi", "व्हील्स ऑन द बस वाला गाना चलाओ", "The Wheels on the Bus"),
    Request("hi", "नानी तेरी मोरनी को मोर ले गए सुनाओ", None),
    Request("hi", "एक मोटा हाथी गाना लगाओ", None),
    Request("hi", "तितली उड़ी बजाओ", None),
    # Telugu
    Request("te", "నాకు చిట్టి చిలకమ్మ పాట కావాలి", "చిట్టి చిలకమ్మ"),
    Request("te", "చందమామ రావే పాట వేయి", "చందమామ రావే"),
    Request("te", "అడవిలో సాహసం కథ చెప్పవా", "అడవిలో సాహసం"),
    Request("te", "ట్వింకిల్ ట్వింకిల్ లిటిల్ స్టార్ పెట్టు", "Twinkle Twinkle Little Star"),
    Request("te", "జాక్ అండ్ జిల్ పాట వేయండి", "Jack and Jill"),
    Request("te", "స్లీపీ మూన్ కథ చెప్పు", "The Sleepy Moon"),
    Request("te", "ఉడతా ఉడతా ఊచ్ పాట పెట్టు", None),
    Request("te", "బావా బావా పన్నీరు పాట వేయి", None),
    Request("te", "తెనాలి రామకృష్ణ కథ చెప్పు", None),
    # Kannada
    Request("kn", "ನನಗೆ ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಬೇಕು", "ಆನೆ ಬಂತೊಂದು ಆನೆ"),
    Request("kn", "ಕೋತಿ ಮತ್ತು ಬಾಳೆ ಹಣ್ಣು ಹಾಡು ಹಾಕ್ತೀರಾ", "Kothi Mattu Bale Hannu Haadu"),
    Request("kn", "ಇಂದು ಮಂಗಳವಾರ ಹಾಡು ಹಚ್ಚು", "Indu maṅgaḷavāra"),
    Request("kn", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ ಕಥೆ ಹೇಳ್ತೀಯಾ", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"),
    Request("kn", "ಬಂದರ್ ಮಾಮಾ ಹಾಡು ಹಾಕು", "बंदर मामा"),
    Request("kn", "ಲಿಟಲ್ ಡ್ರ್ಯಾಗನ್ ಕಥೆ ಹೇಳು", "The Little Dragon"),
    Request("kn", "ಒಂದು ಎರಡು ಬಾಳೆಲೆ ಹರಡು ಹಾಡು ಹಾಕು", None),
    Request("kn", "ಪುಣ್ಯಕೋಟಿ ಕಥೆ ಹೇಳು", None),
    Request("kn", "ಕಾಗೆ ಮತ್ತು ನರಿ ಕಥೆ ಹೇಳು", None),
)

# Named espeak-ng variants: the numbered ones (f1-f5, m1-m4, m6, m7) all speak in the other sets or their babble.
# piper is the only packaged neural voice, so English keeps it at new speaking rates.
EVAL_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("piper", "en-gb+Annie"),
    "hi": ("hi+Alicia", "hi+m5"),
    "te": ("te+belinda", "te+Andy"),
    "kn": ("kn+steph", "kn+max"),
}
# Slower and faster than any rate before (135, 150, 165, 180): a child finding words, a child in a hurry.
SPEEDS: tuple[int, ...] = (125, 192)
SNR_DB = 18.0
NOISE_SEED = 3939

# Clips with no request in them; nothing may play. (kind, seconds)
NON_SPEECH: tuple[tuple[str, float], ...] = (
    ("child_hum", 3.0),
    ("child_hum", 2.0),
    ("vacuum", 3.0),
    ("babble", 2.5),
    ("claps", 3.0),
    ("melody", 2.0),
    ("breath_noise", 2.5),
)

# What the babble voices say (several at once, at staggered starts): everyday talk, no request, no title.
BABBLE: tuple[tuple[str, str], ...] = (
    ("en-us+linda", "the plumber said he would come on thursday after lunch"),
    ("hi+david", "दूध ख़त्म हो गया है कल सुबह ले आना"),
    ("te+aunty", "ఈ రోజు వంట ఏమి చేద్దాం అని ఆలోచిస్తున్నాను"),
    ("kn+Mike", "ಅಂಗಡಿ ಇವತ್ತು ಬೇಗ ಮುಚ್ಚುತ್ತಾರಂತೆ"),
)
