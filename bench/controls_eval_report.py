#!/usr/bin/env python3
"""Player controls as children say them: the held-out phrase set (tests/data/controls_eval.jsonl) through the rule
intent recogniser, with the title probe on the fixture catalog (as a device has it), per category and language.

A row is right when the recogniser calls the expected function with the expected arguments (a volume step count
defaults to one); a negative row (a title request that contains control words) is right when it is a play request.
"title search" counts controls taken as a play request: during a song that drops the song for another.

    .venv/bin/python bench/controls_eval_report.py                  # this checkout
    .venv/bin/python bench/controls_eval_report.py --before ../main # side by side: another checkout, then this one
    .venv/bin/python bench/controls_eval_report.py --set tests/data/controls_eval_fresh.jsonl   # the second set
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
EVAL_SET = HERE / "tests" / "data" / "controls_eval.jsonl"
_DEFAULTS: dict[str, dict[str, Any]] = {"volume_up": {"steps": 1}, "volume_down": {"steps": 1}}
_PLAYS = ("play_music", "play_story")


def load(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def judge(row: dict[str, Any], name: str, args: dict[str, Any]) -> tuple[bool, bool]:
    """(right, title_search) for one row and what the recogniser called."""
    if row["function"] == "play":
        return name in _PLAYS, False
    got = {**_DEFAULTS.get(name, {}), **args}
    right = name == row["function"] and all(got.get(k) == v for k, v in row["arguments"].items())
    return right, name in _PLAYS


def run(root: Path, eval_set: Path = EVAL_SET) -> list[dict[str, Any]]:
    """Each row with what `root`'s recogniser made of it."""
    sys.path.insert(0, str(root.resolve()))
    from core.config import Config
    from core.providers.intent.rules import RuleIntentRecognizer
    from core.understand import title_probe
    from tests.match_fixtures import make_matcher

    rec = RuleIntentRecognizer(wake_words=Config().server.wake_words)
    probe = title_probe(make_matcher())
    out = []
    for row in load(eval_set):
        intent = rec.recognize(row["text"], titles=probe)
        right, search = judge(row, intent.name, dict(intent.arguments))
        out.append({**row, "got": intent.name, "got_args": dict(intent.arguments), "right": right,
                    "search": search})
    return out


def table(results: list[list[dict[str, Any]]], labels: list[str]) -> str:
    def cell(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return ""
        ok = sum(r["right"] for r in rows)
        return f"{ok:3}/{len(rows):<3} {100 * ok / len(rows):5.1f}%  search {sum(r['search'] for r in rows):2}"

    lines = []
    for axis in ("category", "language", "script"):
        keys = sorted({r[axis] for r in results[0]})
        lines.append(f"{axis:14} | " + " | ".join(f"{lab:>28}" for lab in labels))
        for key in [*keys, "TOTAL"]:
            cells = [cell([r for r in res if key == "TOTAL" or r[axis] == key]) for res in results]
            lines.append(f"{key:14} | " + " | ".join(f"{c:>28}" for c in cells))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=HERE, help="the checkout whose recogniser is measured")
    ap.add_argument("--before", type=Path, help="another checkout to show first, side by side")
    ap.add_argument("--set", type=Path, default=EVAL_SET, help="the phrase set (JSON lines)")
    ap.add_argument("--json", action="store_true", help="print the per-row results as JSON lines")
    ap.add_argument("--misses", action="store_true", help="list the rows that are wrong")
    args = ap.parse_args()
    if args.json:
        for r in run(args.root, args.set.resolve()):
            print(json.dumps(r, ensure_ascii=False))
        return 0
    results, labels = [], []
    for root in ([args.before] if args.before else []) + [args.root]:
        # one process per checkout: both have the same package names
        proc = subprocess.run([sys.executable, __file__, "--root", str(root), "--set", str(args.set.resolve()),
                               "--json"], capture_output=True, text=True, check=True, cwd=root)
        results.append([json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")])
        labels.append(root.resolve().name)
    print(f"{len(results[0])} phrasings from {args.set}\n")
    print(table(results, labels))
    if args.misses:
        for r in results[-1]:
            if not r["right"]:
                print(f"  {r['language']} {r['category']:12} {r['text']!r}: want {r['function']} {r['arguments']}, "
                      f"got {r['got'] or '(help)'} {r['got_args'] if r['got'] not in _PLAYS else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
