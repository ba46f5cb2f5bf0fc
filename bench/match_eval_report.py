#!/usr/bin/env python3
"""Matching accuracy per category on the three evaluation sets, side by side.

Set 1: tests/data/match_eval_set.jsonl on the hand-written fixture catalog (tests/data/match_catalog).
Set 2: tests/data/scan_eval_set.jsonl on a library catalogued only by `catalog scan` from realistic file names
(tests/data/scan_library.txt).
Set 3: tests/data/scan3_eval_set.jsonl on a bigger, messier scanned library (tests/data/scan3_library.txt).
All run the server's path (rule intents -> plugin -> matcher). `--misses` lists every wrong answer.

    .venv/bin/python bench/match_eval_report.py [--seed 7] [--misses]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import MatchingConfig
from core.content.matcher import MultilingualMatcher
from tests.content.test_match_scan_eval import SCAN3_EVAL_SET, SCAN3_LIBRARY, SCAN_EVAL_SET, build_scanned_library
from tests.match_fixtures import evaluate, load_eval_set, load_tracks, make_matcher


def per_category(outcomes: list) -> dict[str, tuple[int, int, int]]:
    cats: dict[str, list] = defaultdict(list)
    for o in outcomes:
        cats[o.row["category"]].append(o)
    out = {c: (len(v), sum(o.ok for o in v), sum(o.false_claim for o in v)) for c, v in cats.items()}
    out["TOTAL"] = (len(outcomes), sum(o.ok for o in outcomes), sum(o.false_claim for o in outcomes))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--misses", action="store_true", help="list every request answered wrongly")
    args = ap.parse_args()
    runs = [("set 1", evaluate(load_eval_set(), make_matcher(seed=args.seed)))]
    for name, listing, rows in (("set 2", None, SCAN_EVAL_SET), ("set 3", SCAN3_LIBRARY, SCAN3_EVAL_SET)):
        with tempfile.TemporaryDirectory() as tmp:
            root = build_scanned_library(Path(tmp) / "library", *([listing] if listing else []))
            matcher = MultilingualMatcher(load_tracks(root), MatchingConfig(), rng=random.Random(args.seed))
            runs.append((name, evaluate(load_eval_set(rows), matcher)))
    tables = [per_category(outcomes) for _, outcomes in runs]
    print(f"{'category':18} | {'set 1 (hand-written catalog)':>30} | {'set 2 (scanned library)':>30} | "
          f"{'set 3 (scanned, third set)':>30}")

    def cell(v: tuple[int, int, int] | None) -> str:
        return f"{v[1]:4}/{v[0]:<4} {100 * v[1] / v[0]:6.1f}%  false {v[2]}" if v else ""
    for cat in sorted(set().union(*tables), key=lambda c: (c == "TOTAL", c)):
        print(f"{cat:18} | " + " | ".join(f"{cell(t.get(cat)):>30}" for t in tables))
    if args.misses:
        for name, outcomes in runs:
            for o in outcomes:
                if not o.ok:
                    print(f"{name} {o.row['category']}: {o.row['utterance']!r} -> {o.why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
