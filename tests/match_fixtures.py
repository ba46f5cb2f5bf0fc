"""Fixtures for the matching tests: the fixture catalog parsed with the real metadata.json parser."""
from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import MatchingConfig
from core.content.catalog import parse_metadata
from core.content.matcher import MultilingualMatcher
from core.content.types import Kind, Track
from core.devices.state import DeviceState
from plugins_func.registry import PluginContext

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
            assert not [i for i in issues if i.severity == "error"], issues
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


def make_ctx(matcher: MultilingualMatcher | None = None, *, device: DeviceState | None = None,
             on_miss: str | None = None, tools: Mapping[str, Any] | None = None) -> PluginContext:
    """The context a plugin gets on a device with `device` state (default: nothing played yet)."""
    m = matcher or make_matcher()
    return PluginContext(catalog=m, device=device or DeviceState("test-device"), tools=dict(tools or {}),
                         on_miss=on_miss or m.cfg.on_miss)


# --------------------------------------------------------------------------- evaluation

TITLE_TYPES = frozenset({"exact", "romanized", "alternative", "fuzzy", "transliterated"})
GROUP_TYPES = frozenset({"tag", "collection", "random"})


@dataclass(frozen=True)
class Outcome:
    row: dict[str, Any]
    got: dict[str, Any]           # the `app.py match` contract line
    ok: bool
    false_claim: bool
    why: str


def run_request(text: str, ctx: PluginContext) -> tuple[Any, Any]:
    """The server's path: rule intents (with the catalog title probe) -> registry -> plugin."""
    import asyncio

    from core.config import Config
    from core.providers.intent.rules import RuleIntentRecognizer, RulesIntentProvider
    from core.understand import Understander
    from plugins_func.loader import default_functions
    from plugins_func.registry import PluginRegistry

    wake = Config().server.wake_words
    understander = Understander(RulesIntentProvider(RuleIntentRecognizer(wake_words=wake)),
                                PluginRegistry(default_functions()), wake_words=wake)
    u = asyncio.run(understander(text, ctx))
    return u.intent, u.result


def judge(row: dict[str, Any], got: dict[str, Any], track: Track | None, matcher: MultilingualMatcher) -> Outcome:
    mt, title, want = got["match_type"], got["title"], row["match"]
    claimed = mt in TITLE_TYPES
    if "file" in row:      # scanned sets name the file ("collection/filename"), or a list when either is right
        files = [row["file"]] if isinstance(row["file"], str) else row["file"]
        right = f"{got['collection']}/{got['filename']}" in files
        expected = " | ".join(files)
    else:
        right, expected = title == row["title"], row["title"]
    false_claim = claimed and (want != "title" or not right) and want != "any"
    problems: list[str] = []
    if want != "safe" and (got["intent"] or "") != (row["intent"] or ""):
        problems.append(f"intent {got['intent']!r} != {row['intent']!r}")
    if want == "title" and (not claimed or not right):
        problems.append(f"title {title!r} ({mt}) != {expected!r}")
    if want == "group":
        if mt not in GROUP_TYPES or track is None:
            problems.append(f"expected a group pick, got {mt}")
        else:
            colls = row.get("collection")
            if colls and got["collection"] not in ([colls] if isinstance(colls, str) else colls):
                problems.append(f"collection {got['collection']!r} != {colls!r}")
            if row.get("one_of") and title not in row["one_of"]:
                problems.append(f"{title!r} not in {row['one_of']}")
            if row.get("language") and matcher.language_of(track) != row["language"]:
                problems.append(f"language {matcher.language_of(track)} != {row['language']}")
            if row.get("tag"):
                from core.lang import vocab
                allowed = {row["tag"], *vocab.MOOD_RELATED.get(row["tag"], ())}
                if not allowed & set(track.tags):
                    problems.append(f"tags {track.tags} lack {row['tag']}")
    if want in ("title", "group") and row.get("kind") and got["kind"] != row["kind"]:
        problems.append(f"kind {got['kind']} != {row['kind']}")
    if want == "any" and row.get("collection") and got["collection"] != row["collection"]:
        problems.append(f"collection {got['collection']!r} != {row['collection']!r}")
    if want == "none" and (mt != "none" or title is not None):
        problems.append(f"expected an honest miss, got {mt} {title!r}")
    if false_claim:
        problems.append("FALSE TITLE CLAIM")
    return Outcome(row, got, not problems, false_claim, "; ".join(problems))


def evaluate(rows: list[dict[str, Any]], matcher: MultilingualMatcher) -> list[Outcome]:
    from core.understand import describe

    out = []
    for row in rows:
        ctx = make_ctx(matcher)
        intent, result = run_request(row["utterance"], ctx)
        got = describe(row["utterance"], intent.name, result)
        match = getattr(result, "match", None)
        track = None if match is None or match.fallback else match.track
        out.append(judge(row, got, track, matcher))
    return out


def table(outcomes: list[Outcome]) -> str:
    cats: dict[str, list[Outcome]] = {}
    for o in outcomes:
        cats.setdefault(o.row["category"], []).append(o)
    lines = [f"{'category':18} {'n':>4} {'ok':>4} {'accuracy':>9} {'false claims':>13}"]
    for cat, os_ in sorted(cats.items()):
        ok = sum(o.ok for o in os_)
        lines.append(f"{cat:18} {len(os_):4} {ok:4} {100 * ok / len(os_):8.1f}% {sum(o.false_claim for o in os_):13}")
    ok = sum(o.ok for o in outcomes)
    lines.append(f"{'TOTAL':18} {len(outcomes):4} {ok:4} {100 * ok / len(outcomes):8.1f}% "
                 f"{sum(o.false_claim for o in outcomes):13}")
    return "\n".join(lines)
