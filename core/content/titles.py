"""Titles as people name files and as people say them.

File names carry track numbers ("01 - "), parentheticals ("(Live)", "[Jungle Book]"), subtitles ("- Remastered",
"- From Frozen") and series prefixes ("Panchatantra - The Blue Jackal"). A child says the main words. These helpers
are shared by `catalog scan` (which writes the variants as alternatives) and the matcher (which indexes them for
hand-written catalogs too), so both sides agree on what a title's short forms are.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable

__all__ = ["strip_track_number", "title_variants", "series_heads", "dash_head", "match_text", "spoken_form",
           "NOISE_WORDS"]

# "01 - Title", "01. Title", "1) Title", "Track 01 - Title", "01 Title" (zero-padded only: "5 Little Ducks" is a title).
_TRACK = re.compile(r"^\s*(?:(?:track|trk|cd\s*\d+)\s*)?(?:\d{1,3}\s*[-._)\]:]+\s*|0\d{1,2}\s+)(?=\S)", re.I)
_BRACKETS = re.compile(r"\s*[\(\[\{][^\)\]\}]*[\)\]\}]\s*")
_BRACKET_TEXT = re.compile(r"[\(\[\{]([^\)\]\}]*)[\)\]\}]")
_DASH = re.compile(r"\s+[-\u2013\u2014|]\s+")
# Parenthetical / subtitle words that describe the recording, never the song.
NOISE_WORDS = frozenset("""live remastered remaster remix mix version official audio video lyric lyrics lyrical
hd hq 4k mono stereo explicit clean instrumental karaoke edit radio extended original cover full song read aloud
along from feat ft featuring part bonus track demo acoustic soundtrack ost theme""".split())
# Words that describe what kind of item a file is ("(Hindi)", "- Bedtime Story", "- Fairy Tales for Kids",
# "(Full Audiobook)"): a part made only of these and NOISE_WORDS names no one item.
_DESCRIPTOR_WORDS = frozenset("""english hindi telugu kannada tamil version kids kid children for child toddlers baby
story stories tale tales fable fables song songs rhyme rhymes poem poems lullaby lullabies moral bedtime fairy short
animated cartoon traditional classic abridged unabridged audiobook audio book narrated narration min mins minutes
kahani kahaniya kahaniyan kahaani katha kathalu kathe kathegalu kategalu geet paata haadu""".split())
# The last word of a series name ("Jataka Tales - ...", "Krishna Stories - ...", "Chandamama Kathalu - ...").
_SERIES_NOUNS = frozenset("""stories story tales tale fables songs song rhymes kahani kahaniya kahaniyan kathalu
katha kathe kathegalu kategalu""".split())
# A middle part that numbers an episode: "The Jungle Book - Chapter 01 - Mowgli's Brothers", "Pooh - 02 - ...".
_EPISODE = re.compile(r"^(?:(?:chapter|ch|part|pt|episode|ep|book|vol|volume)\.?\s*)?\d{1,3}$", re.I)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}
_DIGITS = re.compile(r"(?<![\w.])\d{1,4}(?![\w.])")
_POSSESSIVE = re.compile(r"(?<=[^\W\d_])['\u2019]s\b")
_AMP = re.compile(r"\s*&\s*")


def strip_track_number(stem: str) -> str:
    """'01 - Twinkle Twinkle' -> 'Twinkle Twinkle'; '5 Little Ducks' and '12 Days of Christmas' are kept."""
    out = _TRACK.sub("", stem, count=1).strip()
    return out or stem.strip()


def _is_noise(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    return not words or words[0] in ("from", "feat", "ft", "featuring") or all(w in NOISE_WORDS or w.isdigit()
                                                                               for w in words)


def _names_collection(prefix: str, collection: str) -> bool:
    """'Akbar and Birbal' names the collection 'Akbar Birbal'; 'Let It Go' does not name 'Kids Songs'."""
    c = {w.lower() for w in _WORD.findall(collection)} - _SERIES_NOUNS
    p = {w.lower() for w in _WORD.findall(prefix)}
    return bool(c) and c <= p


def _describes(part: str) -> bool:
    """'Bedtime Story', 'Hindi Kahani', 'Fairy Tales for Kids', 'Full Audiobook': says what the item is, not which."""
    words = [w.lower() for w in _WORD.findall(part)]
    return bool(words) and all(w in _DESCRIPTOR_WORDS or w in NOISE_WORDS or w.isdigit() for w in words)


def _is_series(head: str, collection: str, series: Collection[str]) -> bool:
    """The part before " - " names a series, so the item is the part after it: the folder's name ("Panchatantra -
    ..."), a head other files in the folder share ("Frozen - ...", "CoComelon - ..."), or a series noun
    ("Krishna Stories - ...", "Chandamama Kathalu - ...", "Hindi Varnamala Song - ...")."""
    words = [w.lower() for w in _WORD.findall(head)]
    named = " ".join(words) in series or (bool(collection) and _names_collection(head, collection))
    while words and (words[-1] in ("for", "kids", "children", "toddlers") or words[-1].isdigit()):
        words.pop()           # "Bedtime Stories for Kids - ...", "Story 01 - ..."
    return named or (bool(words) and words[-1] in _SERIES_NOUNS)


def dash_head(title: str) -> str:
    """The part before the first " - ", lower case ("jataka tales" of "Jataka Tales - The Monkey King"), or ""."""
    parts = _DASH.split(_BRACKETS.sub(" ", strip_track_number(title)).strip())
    return " ".join(w.lower() for w in _WORD.findall(parts[0])) if len(parts) >= 2 else ""


def series_heads(stems: Iterable[str]) -> frozenset[str]:
    """The parts before " - " that two or more files of one folder share ("jataka tales", "cocomelon")."""
    counts: dict[str, int] = {}
    for stem in stems:
        key = dash_head(stem)
        if key:
            counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n > 1)


def _without_collection(bare: str, collection: str) -> str | None:
    """'Tenali_Raman_The_Wrestler' in 'Tenali Raman' -> 'The Wrestler': the folder's name written into the file
    name without a dash."""
    words, cwords = _WORD.findall(bare), _WORD.findall(collection)
    n = len(cwords)
    if not n or len(words) <= n or not _names_collection(" ".join(words[:n]), collection):
        return None
    last = words[n - 1].lower()
    if last != cwords[-1].lower() and last not in _SERIES_NOUNS and n > 1:
        return None
    return " ".join(words[n:])


def title_variants(title: str, collection: str = "", series: Collection[str] = ()) -> list[str]:
    """Shorter forms of a title a person would say, best first, never the title itself:
    'Goldilocks (and the 3 Bears)' -> ['Goldilocks'], 'Let It Go - From Frozen' -> ['Let It Go'],
    'Panchatantra - The Blue Jackal' (in 'Panchatantra') -> ['The Blue Jackal'],
    'The Alphabet Song (ABC)' -> ['The Alphabet Song', 'ABC'],
    'The Jungle Book - Chapter 01 - Mowgli's Brothers' -> ['Mowgli's Brothers', 'The Jungle Book Chapter 01'].
    `series` holds the heads other files of the folder share (`series_heads`)."""
    base = strip_track_number(title)
    out: list[str] = [base]
    bare = _BRACKETS.sub(" ", base).strip() or base
    out.append(" ".join(bare.split()))
    parts = [p.strip() for p in _DASH.split(bare)]
    if len(parts) == 2:
        head, tail = parts
        if _is_series(head, collection, series) and not _describes(tail):
            out.append(tail)                            # a series prefix: the item is the tail
        elif not _describes(head):
            out.append(head)                            # a subtitle: "- Remastered", "- From Frozen", "- Read Along"
    elif len(parts) > 2 and any(_EPISODE.match(p) for p in parts[1:-1]):
        out.append(parts[-1])                           # an episode's own name ...
        out.append(" ".join(parts[:-1]))                # ... and the series with its number
    elif collection:
        rest = _without_collection(bare, collection)
        if rest and not _describes(rest):
            out.append(rest)
    for inner in _BRACKET_TEXT.findall(base):
        inner = inner.strip()
        # "(ABC)", "(Grandparents Song)" are names too; "(Live)", "(From Moana)", "(and the 3 Bears)" are not.
        if inner and not _is_noise(inner) and not _describes(inner) \
                and inner.split()[0].lower() not in ("and", "&", "with", "the"):
            out.append(inner)
    seen = {title.strip().casefold()}
    variants = []
    for v in out:
        v = " ".join(v.split()).strip(" -")
        if v and v.casefold() not in seen and any(c.isalnum() for c in v):
            seen.add(v.casefold())
            variants.append(v)
    return variants


# Words a title in title case keeps in lower case ("Wheels on the Bus"), unless first.
_SMALL_WORDS = frozenset("a an the and or but nor of on in at to by for with from as".split())


def _recase(text: str) -> str:
    """'WHEELS ON THE BUS' -> 'Wheels on the Bus': a title shouted in capitals is read (and shown) as a title."""
    letters = [c for c in text if c.isalpha() and c.isascii()]
    if len(letters) < 4 or not all(c.isupper() for c in letters):
        return text                                     # "ABC", "Old MacDonald", native script: as written
    words = text.split(" ")
    return " ".join(w.lower() if i and w.lower() in _SMALL_WORDS else w[:1] + w[1:].lower()
                    for i, w in enumerate(words))


def spoken_form(title: str) -> str:
    """The title as it is said aloud, by the rules `catalog scan` names files with: 'The 3 Little Pigs - Full
    Story' -> 'The 3 Little Pigs', 'Gruffalo (Full Audiobook)' -> 'Gruffalo', '01 - Baby Shark (Official Audio)'
    -> 'Baby Shark', 'WHEELS ON THE BUS' -> 'Wheels on the Bus'. Parts that name the item stay ('Panchatantra -
    The Blue Jackal', 'The Alphabet Song (ABC)'); a title made only of such words is kept whole."""
    base = strip_track_number(title)
    kept = _BRACKET_TEXT.sub(lambda m: " " if _is_noise(m.group(1)) or _describes(m.group(1)) else m.group(0), base)
    parts = [p.strip() for p in _DASH.split(" ".join(kept.split()))]
    named = [p for p in parts if p and not _is_noise(p) and not _describes(p)]
    out = " - ".join(named).strip(" -")
    if not out or not any(c.isalnum() for c in out):
        out = " ".join(base.split())
    return _recase(out)


def _spell(m: re.Match[str]) -> str:
    n = int(m.group(0))
    return _words(n) if n < 1000 else ("one thousand" if n == 1000 else m.group(0))   # years stay digits


def _words(n: int) -> str:
    """0-999 in words: 21 'twenty one', 101 'one hundred one' (whisper writes digits, people type either)."""
    if n <= 20:
        return _NUMBER_WORDS[n]
    if n < 100:
        tens, unit = _TENS[n - n % 10], n % 10
        return f"{tens} {_NUMBER_WORDS[unit]}" if unit else tens
    rest = n % 100
    return f"{_NUMBER_WORDS[n // 100]} hundred" + (f" {_words(rest)}" if rest else "")


def match_text(text: str) -> str:
    """The form both a request and a catalog key take before matching: '&' is 'and', a possessive 's is dropped
    ("Pussycat's" = "pussycat"), and small numbers are words ("3 Bears" = "three bears", "100" = "one hundred")."""
    if not text:
        return ""
    text = _AMP.sub(" and ", text)
    text = _POSSESSIVE.sub("", text)
    return _DIGITS.sub(_spell, text)
