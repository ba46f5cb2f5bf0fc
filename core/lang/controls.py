"""Player controls as children say them: a small grammar over per-language word tables.

    utterance := (politeness | filler | quantity | "more" | negation | control word)+

with at least one control word and nothing else: "make it a little louder please", "thoda tez karo na",
"sound konchem penchu", "ಇನ್ನೊಂದು ಸಲ ಹಾಕು". One unknown word ("louder than a lion", "twinkle twinkle little star")
and the utterance is not a control. An utterance made only of these words but naming no one control ("a little
bit please", "louder softer") is never a title search either: the recogniser asks again.

Volume: "a little" is one step, "a lot" / "much" three, a repeated word ("louder louder") one step each (at most
three); a negated or excessive loudness word turns down ("not so loud", "it's too loud", "itna zor se mat bajao").
The step size and the parents' cap are the session's (plugins_func/functions/controls.py, core/session/tools.py).

The tables are plain data keyed by language code (ROLES below), Latin and native script side by side; the rule
recogniser (core/providers/intent/rules.py) folds them with its own spelling folder and merges the languages, since
children mix them ("volume thoda badha do please").
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.lang.text import fold, normalize

__all__ = ["CONTROL_WORDS", "ROLES", "MAX_STEPS", "Control", "Parse", "ControlGrammar"]

MAX_STEPS = 3                 # "a lot louder": three steps; the cap still has the last word

# What each role does in the grammar:
#   up / down       a volume verb or comparative: louder, badhao, penchu, jaasti maadu
#   loud / soft     a loudness adjective or adverb, turned over by a negation or "too": zor se, gattiga, mellage
#   weak_up / weak_down   "up", "down": a volume only next to a volume noun ("turn it up", "volume down")
#   noun            volume, sound, awaaz, turn
#   small / large   quantities: a little, thoda, konchem, swalpa / a lot, bahut, chala, tumba
#   more            more, aur, inka, innu (no quantity of its own)
#   neg / too       not, mat, vaddu, beda / too
#   next, previous, play_again, stop, pause, resume   the transport, as the player functions are named
#   polite, filler  please, can you, na / make, it, the song, karo, pettu, haaku
#   verb            play, put: right before a transport word it names a title ("play hold on", "play next to
#                   you"); with a word between it is the control ("play it one more time", "play the next song")
ROLES = ("up", "down", "loud", "soft", "weak_up", "weak_down", "noun", "small", "large", "more", "neg", "too",
         "next", "previous", "play_again", "stop", "pause", "resume", "polite", "verb", "filler")

CONTROL_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "up": ("louder", "increase", "raise", "turn up", "pump up", "volume up", "more volume", "make louder"),
        "down": ("softer", "quieter", "lower", "decrease", "reduce", "less loud", "turn down", "volume down",
                 "less volume"),
        "loud": ("loud", "loudly"),
        "soft": ("soft", "softly", "quiet", "quietly", "low"),
        "weak_up": ("up", "higher"),
        "weak_down": ("down",),
        "noun": ("volume", "sound", "turn", "the volume", "the sound"),
        "small": ("a little", "little", "a bit", "bit", "a little bit", "little bit", "a tiny bit", "tiny bit",
                  "slightly", "a touch", "a little more", "a bit more"),
        "large": ("a lot", "lot", "lots", "much", "way", "a lot more", "so much", "really", "much more"),
        "more": ("more", "even", "some more"),
        "neg": ("not", "dont", "do not", "not that", "not so"),
        "too": ("too", "too much", "way too"),
        "next": ("next", "skip", "another", "another one", "something else", "a different one", "different"),
        "previous": ("previous", "go back", "back", "last", "the one before", "before", "one before"),
        "play_again": ("again", "one more time", "once more", "once again", "over again", "same again",
                       "one more time again"),
        "stop": ("stop", "stop playing", "turn off", "switch off", "enough"),
        "pause": ("pause", "wait", "hold on", "hang on", "one minute", "one second", "a minute", "a second",
                  "a moment", "just a minute", "just a second"),
        "resume": ("continue", "resume", "keep playing", "keep going", "carry on", "go on", "unpause"),
        "polite": ("please", "pls", "plz", "kindly", "can you", "could you", "would you", "will you", "can u",
                   "just", "now", "ok", "okay", "hey", "thank you", "thanks", "right now", "cheeko", "chiko",
                   "cheeku"),
        "verb": ("play", "put", "put on"),
        "filler": ("make", "it", "its", "it is", "is", "the", "this", "that", "a", "song", "music", "story",
                   "go", "to", "one", "you", "me", "for", "so", "for me", "the song", "the music",
                   "the story", "this song", "this one", "the next", "track"),
    },
    "hi": {
        "up": ("badhao", "badha do", "badha", "badhaiye", "badha dijiye", "बढ़ाओ", "बढ़ा दो", "बढ़ा", "बढ़ाइए",
               "बढ़ा दीजिए", "volume badhao", "वॉल्यूम बढ़ाओ"),
        "down": ("kam karo", "kam kar do", "kam", "ghatao", "कम करो", "कम कर दो", "कम", "घटाओ"),
        "loud": ("zor se", "jor se", "tez", "zor zor se", "ज़ोर से", "जोर से", "तेज़", "तेज", "ज़ोर ज़ोर से",
                 "unchi", "ऊँची", "ऊंची"),
        "soft": ("dheere", "dhire", "dheere se", "halke", "halka", "dheeme", "dheemi", "dheema", "धीरे", "धीरे से",
                 "हल्के", "हल्का", "धीमे", "धीमी", "धीमा"),
        "noun": ("awaaz", "aawaz", "awaz", "avaaz", "volume", "sound", "आवाज़", "आवाज", "वॉल्यूम", "साउंड"),
        "small": ("thoda", "thodi", "thoda sa", "thodi si", "zara", "jara", "thoda aur", "थोड़ा", "थोड़ी",
                  "थोड़ा सा", "थोड़ी सी", "ज़रा", "जरा", "थोड़ा और"),
        "large": ("bahut", "bohot", "bahut zyada", "kaafi", "बहुत", "बहुत ज़्यादा", "काफ़ी", "काफी"),
        "more": ("aur", "और", "zyada", "ज़्यादा", "jyada"),
        "neg": ("mat", "nahi", "na karo", "मत", "नहीं"),
        "too": (),
        "next": ("agla", "agli", "agle", "dusra", "doosra", "dusri", "अगला", "अगली", "अगले", "दूसरा", "दूसरी"),
        "previous": ("pichla", "pichhla", "pichli", "pehle wala", "wapas", "पिछला", "पिछली", "पहले वाला",
                     "वापस"),
        "play_again": ("phir se", "fir se", "dobara", "ek baar aur", "ek baar phir", "ek aur baar", "phir",
                       "फिर से", "दोबारा", "एक बार और", "एक बार फिर", "एक और बार"),
        "stop": ("band karo", "band kar do", "band", "bas", "bas karo", "बंद करो", "बंद कर दो", "बंद", "बस",
                 "बस करो"),
        "pause": ("ruko", "ruk jao", "rukiye", "thehro", "ek minute", "ek second", "रुको", "रुक जाओ", "रुकिए",
                  "ठहरो", "एक मिनट", "एक सेकंड"),
        "resume": ("chalu karo", "chalu", "aage", "jaari rakho", "चालू करो", "चालू", "आगे", "जारी रखो"),
        "polite": ("please", "plij", "प्लीज़", "प्लीज", "na", "ना", "ji", "जी", "zara", "ज़रा"),
        "filler": ("karo", "kar do", "kar", "do", "de", "dena", "kijiye", "bajao", "baja do", "lagao", "chalao",
                   "sunao", "gaana", "gana", "gaane", "kahani", "wala", "wali", "isko", "ise", "ye", "yeh", "itna",
                   "itni", "se", "करो", "कर दो", "कर", "दो", "दे", "देना", "कीजिए", "बजाओ", "बजा दो", "लगाओ",
                   "चलाओ", "सुनाओ", "गाना", "गाने", "कहानी", "वाला", "वाली", "इसको", "इसे", "ये", "यह", "इतना",
                   "इतनी", "से"),
    },
    "te": {
        "up": ("penchu", "penchandi", "pencu", "ekkuva cheyi", "ekkuva cheyyi", "పెంచు", "పెంచండి", "ఎక్కువ చెయ్యి",
               "ఎక్కువ చేయి"),
        "down": ("tagginchu", "thagginchu", "tagginchandi", "takkuva cheyi", "takkuva cheyyi", "తగ్గించు",
                 "తగ్గించండి", "తక్కువ చెయ్యి", "తక్కువ చేయి"),
        "weak_up": ("ekkuva", "ఎక్కువ"),
        "weak_down": ("takkuva", "తక్కువ"),
        "loud": ("gattiga", "gattiga ga", "గట్టిగా"),
        "soft": ("mellaga", "nemmadiga", "meduvuga", "మెల్లగా", "నెమ్మదిగా", "మెదువుగా"),
        "noun": ("sound", "volume", "saundu", "సౌండ్", "వాల్యూమ్"),
        "small": ("konchem", "koncham", "kontha", "కొంచెం", "కొంచం"),
        "large": ("chala", "chaala", "చాలా"),
        "more": ("inka", "inkaa", "ఇంకా", "inkonchem", "ఇంకొంచెం"),
        "neg": ("vaddu", "వద్దు", "cheyakandi", "cheyaku", "చెయ్యకు"),
        "too": (),
        "next": ("taruvati", "tarvati", "taruvata", "tarvata", "vere", "inkoka", "inko", "next", "తర్వాతి",
                 "తరువాతి", "తర్వాత", "తరువాత", "వేరే", "ఇంకొక", "ఇంకో"),
        "previous": ("munupati", "venakati", "venukati", "mundati", "మునుపటి", "వెనకటి", "వెనుకటి", "ముందటి"),
        "play_again": ("malli", "malla", "inkosari", "inko sari", "marosari", "maro sari", "malli okasari",
                       "మళ్ళీ", "మళ్లీ", "ఇంకోసారి", "ఇంకో సారి", "మరోసారి", "మళ్ళీ ఒకసారి"),
        "stop": ("aapu", "aapandi", "aapeyi", "aapesey", "ఆపు", "ఆపండి", "ఆపేయి", "ఆపెయ్", "ఆపేసెయ్"),
        "pause": ("aagu", "aagandi", "okka nimisham", "ఆగు", "ఆగండి", "ఒక్క నిమిషం"),
        "resume": ("konasaginchu", "konasaginchandi", "continue", "కొనసాగించు", "కొనసాగించండి", "కంటిన్యూ"),
        "polite": ("please", "ప్లీజ్", "dayachesi", "దయచేసి", "andi", "అండి"),
        "filler": ("pettu", "pettandi", "cheyi", "cheyyi", "cheyandi", "vinipinchu", "cheppu", "paata", "katha",
                   "idi", "dinni", "ee", "antha", "పెట్టు", "పెట్టండి", "చెయ్యి", "చేయి", "చేయండి", "వినిపించు",
                   "చెప్పు", "పాట", "కథ", "ఇది", "దీన్ని", "ఈ", "అంత"),
    },
    "kn": {
        "up": ("jaasti maadu", "jaasti maadi", "hechchisu", "hechchisi", "hechisu", "ಜಾಸ್ತಿ ಮಾಡು", "ಜಾಸ್ತಿ ಮಾಡಿ",
               "ಹೆಚ್ಚಿಸು", "ಹೆಚ್ಚಿಸಿ"),
        "down": ("kadime maadu", "kadime maadi", "kadimemaadu", "kammi maadu", "kammi maadi", "ಕಡಿಮೆ ಮಾಡು", "ಕಡಿಮೆ ಮಾಡಿ",
                 "ಕಮ್ಮಿ ಮಾಡು", "ಕಮ್ಮಿ ಮಾಡಿ"),
        "loud": ("jorage", "joragi", "joraagi", "jore", "ಜೋರಾಗಿ", "ಜೋರಾಗೆ"),
        "soft": ("mellage", "mellagi", "nidhanavagi", "ಮೆಲ್ಲಗೆ", "ಮೆಲ್ಲಗಿ", "ನಿಧಾನವಾಗಿ"),
        "weak_up": ("jaasti", "hechchu", "ಜಾಸ್ತಿ", "ಹೆಚ್ಚು"),
        "weak_down": ("kadime", "kammi", "ಕಡಿಮೆ", "ಕಮ್ಮಿ"),
        "noun": ("sound", "volume", "ಸೌಂಡ್", "ವಾಲ್ಯೂಮ್"),
        "small": ("swalpa", "svalpa", "ಸ್ವಲ್ಪ"),
        "large": ("tumba", "thumba", "ತುಂಬಾ"),
        "more": ("innu", "innoo", "ಇನ್ನೂ", "ಇನ್ನು"),
        "neg": ("beda", "ಬೇಡ", "maadbeda", "ಮಾಡಬೇಡ"),
        "too": (),
        "next": ("mundina", "bere", "innondu", "ಮುಂದಿನ", "ಬೇರೆ", "ಇನ್ನೊಂದು"),
        "previous": ("hindina", "ಹಿಂದಿನ"),
        "play_again": ("matte", "matthe", "innomme", "innondu sala", "innond sala", "matte ondu sala", "ಮತ್ತೆ",
                       "ಇನ್ನೊಮ್ಮೆ", "ಇನ್ನೊಂದು ಸಲ", "ಮತ್ತೆ ಒಂದು ಸಲ"),
        "stop": ("nillisu", "nillisi", "nillisibidu", "saaku", "ನಿಲ್ಲಿಸು", "ನಿಲ್ಲಿಸಿ", "ನಿಲ್ಲಿಸಿಬಿಡು", "ಸಾಕು"),
        "pause": ("nillu", "ondu nimisha", "swalpa iru", "ನಿಲ್ಲು", "ಒಂದು ನಿಮಿಷ", "ಸ್ವಲ್ಪ ಇರು"),
        "resume": ("munduvarisu", "munduvarisi", "mundhuvarisu", "ಮುಂದುವರಿಸು", "ಮುಂದುವರಿಸಿ"),
        "polite": ("please", "ಪ್ಲೀಸ್", "dayavittu", "ದಯವಿಟ್ಟು"),
        "filler": ("haaku", "haaki", "maadu", "maadi", "helu", "heli", "kelisu", "haadu", "kathe", "idu", "idannu",
                   "ee", "ashtu", "ಹಾಕು", "ಹಾಕಿ", "ಮಾಡು", "ಮಾಡಿ", "ಹೇಳು", "ಹೇಳಿ", "ಕೇಳಿಸು", "ಹಾಡು", "ಕಥೆ", "ಇದು",
                   "ಇದನ್ನು", "ಈ", "ಅಷ್ಟು"),
    },
}

_TRANSPORT = ("next", "previous", "play_again", "stop", "pause", "resume")
_QUIET = ("small", "large", "polite", "verb", "filler")      # words that say nothing of a control on their own


@dataclass(frozen=True, slots=True)
class Control:
    function: str                 # a player function: volume_up, volume_down, next, previous, play_again, ...
    steps: int = 1                # volume steps (1..MAX_STEPS); 1 for the rest


@dataclass(frozen=True, slots=True)
class Parse:
    control: Control | None       # the one control the words name, if they name one
    only_control_words: bool      # every word is a control, quantity, politeness or filler word
    # Control words only but no one control ("a little more", "louder softer"): words a title search must never
    # get. "play" with only a quantity does not count: "play little" may be the start of a title.
    not_a_title: bool = False


_NONE = Parse(None, False)
Key = tuple[str, ...]


def _default_key(phrase: str) -> Key:
    return tuple(t for t in (fold(w) for w in normalize(phrase).split()) if t)


class ControlGrammar:
    """Built once from the tables with the caller's spelling folder (the recogniser passes its own, so a phrase
    and an utterance are folded alike)."""

    def __init__(self, key: Callable[[str], Key] = _default_key,
                 tables: Mapping[str, Mapping[str, Iterable[str]]] = CONTROL_WORDS) -> None:
        self._roles: dict[Key, str] = {}
        order = {r: i for i, r in enumerate(ROLES)}
        for roles in tables.values():
            for role, phrases in roles.items():
                if role not in order:
                    raise ValueError(f"controls table: unknown role {role!r} (one of {', '.join(ROLES)})")
                for phrase in phrases:
                    k = key(phrase)
                    # a spelling two roles share keeps the one listed first in ROLES (a control over a filler)
                    if k and (k not in self._roles or order[role] < order[self._roles[k]]):
                        self._roles[k] = role
        self._longest = max((len(k) for k in self._roles), default=1)

    def segment(self, phon: Sequence[str]) -> list[str] | None:
        """The roles of the fewest phrases that cover `phon` exactly, or None when a word is none of them."""
        n = len(phon)
        best: list[tuple[int, list[str]] | None] = [None] * (n + 1)
        best[0] = (0, [])
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            for j in range(i + 1, min(n, i + self._longest) + 1):
                role, there = self._roles.get(tuple(phon[i:j])), best[j]
                if role is not None and (there is None or here[0] + 1 < there[0]):
                    best[j] = (here[0] + 1, [*here[1], role])
        end = best[n]
        return end[1] if end is not None and n else None

    def parse(self, phon: Sequence[str]) -> Parse:
        roles = self.segment([p for p in phon if p])
        if roles is None or "neg" in roles and set(roles).intersection(_TRANSPORT) or any(
                a == "verb" and b in _TRANSPORT for a, b in zip(roles, roles[1:], strict=False)):
            return _NONE      # a negated control, or one right after "play", may be a title: "play don't stop me now"
        control = _decide(roles)
        # "play little" may be the start of a title; "a little more" and "louder softer" are not
        said = bool(set(roles).difference(_QUIET)) or "verb" not in roles
        return Parse(control, True, control is None and said)


def _decide(roles: list[str]) -> Control | None:
    present = set(roles)
    transport = present.intersection(_TRANSPORT)
    directions = _directions(roles, present)
    if transport:
        if len(transport) > 1 or directions:
            return None                                   # "louder next": not one control
        return Control(transport.pop())
    if len(set(directions)) != 1:
        return None                                       # no control word, or up and down at once
    function = directions[0]
    if "large" in present:
        steps = MAX_STEPS
    elif "small" in present:
        steps = 1
    else:
        steps = min(MAX_STEPS, _longest_run([r for r in roles if r in ("up", "down", "loud", "soft")]))
    return Control(function, max(1, steps))


def _directions(roles: list[str], present: set[str]) -> list[str]:
    """volume_up / volume_down for each volume word, a negation or "too" turning a loudness word over."""
    turned = bool(present & {"neg", "too"})
    weak = "noun" in present                              # "up" is a volume only beside volume, sound, turn
    out: list[str] = []
    for r in roles:
        if r in ("loud", "soft"):
            up = (r == "loud") != turned
            out.append("volume_up" if up else "volume_down")
        elif r in ("up", "down") or weak and r in ("weak_up", "weak_down"):
            if "neg" in present:
                return ["volume_up", "volume_down"]       # "don't turn it up": unclear, ask again
            out.append("volume_up" if r in ("up", "weak_up") else "volume_down")
    return out


def _longest_run(words: list[str]) -> int:
    """"louder louder" says it twice: the longest run of one volume word."""
    run = best = 0
    prev = None
    for w in words:
        run = run + 1 if w == prev else 1
        best, prev = max(best, run), w
    return best
