"""Content value types: catalog entries and match results."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Kind", "Track", "MatchType", "MatchResult"]


class Kind(StrEnum):
    MUSIC = "music"
    STORY = "story"


@dataclass(frozen=True, slots=True)
class Track:
    """One entry of a collection's metadata.json.

    `title` and `filename` are kept exactly as in the catalog (trailing spaces, diacritics, native script),
    because they build object keys. `collection` is the folder: a language for music, a category for stories.
    """
    kind: Kind
    collection: str
    title: str
    filename: str
    romanized: str = ""
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None
    duration: float | None = None

    @property
    def uid(self) -> str:
        return f"{self.kind.value}/{self.collection}/{self.filename}"

    @property
    def display_title(self) -> str:
        """What we say aloud: the romanized form for native-script titles, trimmed."""
        t = self.title.strip()
        if self.romanized.strip() and not t.isascii():
            return self.romanized.strip()
        return t


class MatchType(StrEnum):
    EXACT = "exact"
    ROMANIZED = "romanized"
    ALTERNATIVE = "alternative"
    FUZZY = "fuzzy"
    TRANSLITERATED = "transliterated"
    TAG = "tag"
    COLLECTION = "collection"
    RANDOM = "random"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What the matcher decided. `track` is None for a miss; `requested` is the title the user asked for."""
    track: Track | None
    match_type: MatchType
    score: float = 0.0
    requested: str = ""
    runner_up: Track | None = None
    fallback: bool = False        # True: `track` is a labelled alternative after a miss, not a title match
    notes: tuple[str, ...] = field(default_factory=tuple)
    group: tuple[str, ...] = ()   # a group pick: uids of the group it was drawn from (what plays on after it)
