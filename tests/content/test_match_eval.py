"""The whole evaluation set through the server's path (rules -> registry -> plugin -> matcher)."""
from __future__ import annotations

from collections import defaultdict

import pytest

from tests.match_fixtures import evaluate, load_eval_set, make_matcher, table


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [7, 2024])
def test_evaluation_set_accuracy_and_no_false_title_claims(seed: int) -> None:
    rows = load_eval_set()
    assert len(rows) >= 200
    langs = {r["category"] for r in rows}
    for needed in ("title_en", "title_hi_native", "title_hi_latin", "title_te_native", "title_te_latin",
                   "title_kn_native", "title_kn_latin", "misspelled", "language", "category", "mood", "random",
                   "shared_alias", "not_in_catalog", "control", "bad_input"):
        assert needed in langs
    outcomes = evaluate(rows, make_matcher(seed=seed))
    print("\n" + table(outcomes))
    failures = [f"{o.row['category']}: {o.row['utterance'][:60]!r} -> {o.why}" for o in outcomes if not o.ok]
    print("\n".join(failures))
    assert not [o for o in outcomes if o.false_claim], "a request was answered with a title it did not name"
    per_cat: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        per_cat[o.row["category"]].append(o.ok)
    low = {c: sum(v) / len(v) for c, v in per_cat.items() if sum(v) / len(v) < 0.95}
    assert not low, f"categories under 95%: {low}"
    assert sum(o.ok for o in outcomes) / len(outcomes) >= 0.99
