"""The second evaluation set: a library named the way people name files, catalogued only by `catalog scan`."""
from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

from core.cli.catalog import scan_dir
from core.config import Config, MatchingConfig
from core.content.matcher import MultilingualMatcher
from core.content.types import Kind
from tests.match_fixtures import DATA, evaluate, load_eval_set, load_tracks, make_ctx, make_matcher, run_request, table

SCAN_LIBRARY = DATA / "scan_library.txt"
SCAN_EVAL_SET = DATA / "scan_eval_set.jsonl"
SCAN3_LIBRARY = DATA / "scan3_library.txt"       # the third set: bigger and messier
SCAN3_EVAL_SET = DATA / "scan3_eval_set.jsonl"
FLOOR = 0.90           # per category; honest misses and false claims are held to 100 %
GOAL3 = 0.97           # the third set, over all requests


def build_scanned_library(root: Path, listing: Path = SCAN_LIBRARY) -> Path:
    """Empty audio files named as in `listing` (scan_library.txt), then `catalog scan` writes every metadata.json."""
    for line in listing.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            path = root / line.strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    lines = scan_dir(root, Config().content.extensions, durations=False)
    assert not [x for x in lines if x.startswith("SKIPPED")], lines
    return root


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scanned_library(tmp_path_factory.mktemp("scan") / "library")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [7, 2024])
def test_scanned_library_per_category_floor_and_no_false_claims(scanned: Path, seed: int) -> None:
    rows = load_eval_set(SCAN_EVAL_SET)
    assert len(rows) >= 100
    matcher = MultilingualMatcher(load_tracks(scanned), MatchingConfig(), rng=random.Random(seed))
    outcomes = evaluate(rows, matcher)
    print("\n" + table(outcomes))
    print("\n".join(f"{o.row['category']}: {o.row['utterance'][:60]!r} -> {o.why}" for o in outcomes if not o.ok))
    assert not [o for o in outcomes if o.false_claim], "a request was answered with a title it did not name"
    per_cat: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        per_cat[o.row["category"]].append(o.ok)
    for strict in ("not_in_catalog", "ambiguous"):
        assert all(per_cat[strict]), f"{strict}: every request must be an honest miss"
    low = {c: round(sum(v) / len(v), 3) for c, v in per_cat.items() if sum(v) / len(v) < FLOOR}
    assert not low, f"categories under {FLOOR:.0%}: {low}"


@pytest.fixture(scope="module")
def scanned3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scanned_library(tmp_path_factory.mktemp("scan3") / "library", SCAN3_LIBRARY)


@pytest.mark.timeout(180)
def test_third_scanned_library_reaches_the_goal_with_no_false_claims(scanned3: Path) -> None:
    """>= 97 % right over all requests (first words of long titles, collections with quantifiers, stories by their
    subtitle, short forms, near-neighbour misses), and never a title the request did not name."""
    rows = load_eval_set(SCAN3_EVAL_SET)
    assert len(rows) >= 150
    matcher = MultilingualMatcher(load_tracks(scanned3), MatchingConfig(), rng=random.Random(7))
    outcomes = evaluate(rows, matcher)
    print("\n" + table(outcomes))
    print("\n".join(f"{o.row['category']}: {o.row['utterance'][:60]!r} -> {o.why}" for o in outcomes if not o.ok))
    assert not [o for o in outcomes if o.false_claim], "a request was answered with a title it did not name"
    assert all(o.ok for o in outcomes if o.row["category"] in ("not_in_catalog", "ambiguous"))
    assert sum(o.ok for o in outcomes) / len(outcomes) >= GOAL3


@pytest.mark.parametrize("utterance", ["play goldilocks", "tell me goldilocks", "play the goldilocks"])
def test_a_short_form_of_a_story_title_plays_the_story_whatever_the_verb(scanned: Path, utterance: str) -> None:
    matcher = MultilingualMatcher(load_tracks(scanned), MatchingConfig(), rng=random.Random(7))
    intent, result = run_request(utterance, make_ctx(matcher))
    assert intent.name == "play_story"
    assert result.match is not None and result.match.track is not None
    assert result.match.track.title == "Goldilocks (and the 3 Bears)"
    assert result.speech.startswith("Here is the story")


def test_an_alias_that_needs_its_kind_noun_is_no_title_for_the_other_kind() -> None:
    """'star story' names "The Star Who Couldn't Sleep" as a story; "play star" asks for a song that is not there."""
    matcher = make_matcher()
    story = matcher.find_content_match("tell me the star story", None, kind=Kind.STORY)
    assert story.track is not None and story.track.title == "The Star Who Couldn't Sleep"
    intent, result = run_request("play star", make_ctx(matcher))
    assert intent.name == "play_music"
    assert result.match is None or result.match.track is None or result.match.track.kind is Kind.MUSIC
    assert result.match is None or result.match.match_type.value not in ("exact", "alternative", "romanized")
