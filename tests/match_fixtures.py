"""Fixtures for the matching tests: the fixture catalog parsed with the real metadata.json parser."""
from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import MatchingConfig
from core.content.catalog import parse_metadata
from core.content.matcher import MultilingualMatcher
from core.content.types import Kind, Track

DATA = Path(__file__).parent / "data"
CATALOG_DIR = DATA / "match_catalog"
EVAL_SET = DATA / "match_eval_set.jsonl"
_KIND_DIRS = {"music": Kind.MUSIC, "stories": Kind.STORY}


def load_tracks(root: Path = CATALOG_DIR) -> list[Track]:
    tracks: list[Track] = []
    for sub, kind in _KIND_DIRS.items():
        for meta in sorted((root / sub).glob("*/metadata.json")):
            parsed, issues = parse_metadata(meta.read_bytes(), kind=kind, collection=meta.parent.name,
                                            source=str(meta))
            assert not [i for i in issues if i.level == "error"], issues
            tracks.extend(parsed)
    return tracks


def load_eval_set(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            row = json.loads(line)
            row["_line"] = n
            rows.append(row)
    return rows


def make_matcher(cfg: MatchingConfig | None = None, seed: int = 7) -> MultilingualMatcher:
    return MultilingualMatcher(load_tracks(), cfg or MatchingConfig(), rng=random.Random(seed))


class FixtureContent:
    """What plugins see as `conn.content`: the catalog tracks and a matcher over them."""

    def __init__(self, matcher: MultilingualMatcher) -> None:
        self.matcher = matcher

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        return [t for t in self.matcher.tracks if kind is None or t.kind == kind]

    def collections(self, kind: Kind) -> list[str]:
        return sorted({t.collection for t in self.tracks(kind)})


@dataclass
class FixtureConn:
    content: FixtureContent
    device_id: str = "test-device"
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    now_playing: Track | None = None
    mcp_tools: Mapping[str, Any] = field(default_factory=dict)
