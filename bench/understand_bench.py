#!/usr/bin/env python3
"""The understanding path's cost per request: utterance -> rule intent (with the catalog title probe) -> plugin
function -> matcher -> reply, as a device request takes it, on the fixture catalog (tests/data/match_catalog).

Counts, per request, how often the request text is analysed (`core.lang.text.analyze`) and matched
(`find_content_match`), and times the whole path (p50 / p99). A mix of title requests, group requests, controls,
misses and chatter in English, Hindi, Telugu and Kannada.

    .venv/bin/python bench/understand_bench.py [--rounds 20] [--root DIR]

--root runs the same requests through another checkout (e.g. the commit a branch started from), for a
side-by-side. Timings on a shared, noisy machine: compare runs made one after the other, not across days.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import sys
import time
from pathlib import Path

REQUESTS = (
    "play baa baa black sheep", "baa baa black sheep", "twinkel twinkel litel star", "play goldilocks",
    "हनुमान चालीसा सुनाओ", "चिट्टी चिलकम्मा", "చిట్టి చిలకమ్మ పాట పెట్టు", "bandar mama bajao", "ಬಂದರ್ ಮಾಮಾ ಹಾಡು",
    "tell me a bedtime story", "play a telugu song", "kannada haadu haaku", "play something calm",
    "play a nursery rhyme", "tell me the thirsty crow", "the lion and the mouse",
    "play despacito", "play the wheels on the bus go round and round for my little brother please",
    "pause", "next song", "stop in 10 minutes", "play baa baa black sheep next", "hello", "what is your name",
    "hey cheeko play humpty dumpty",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    import core.lang.text as text_mod
    from core.config import Config
    from core.content.matcher import MultilingualMatcher
    from core.providers.intent.rules import RuleIntentRecognizer, RulesIntentProvider
    from core.understand import Understander
    from plugins_func.loader import default_functions
    from plugins_func.registry import PluginRegistry
    from tests.match_fixtures import make_ctx, make_matcher

    counts = {"analyze": 0, "match": 0}
    real_analyze = text_mod.analyze

    def counting_analyze(*a, **k):                      # count analyses wherever they are called from
        counts["analyze"] += 1
        return real_analyze(*a, **k)

    modules = [m for name, m in sys.modules.items() if name.startswith(("core.", "plugins_func."))]
    for m in modules:
        if getattr(m, "analyze", None) is real_analyze:
            m.analyze = counting_analyze
    real_match = MultilingualMatcher.find_content_match

    def counting_match(self, *a, **k):
        counts["match"] += 1
        return real_match(self, *a, **k)

    MultilingualMatcher.find_content_match = counting_match
    und = Understander(RulesIntentProvider(RuleIntentRecognizer(wake_words=Config().server.wake_words)),
                       PluginRegistry(default_functions()))
    matcher = make_matcher()
    ctx = make_ctx(matcher)
    loop = asyncio.new_event_loop()
    per_request: dict[str, tuple[int, int]] = {}
    for r in REQUESTS:                                     # warm-up, and the per-request analysis / match counts
        counts.update(analyze=0, match=0)
        loop.run_until_complete(und(r, ctx))
        per_request[r] = (counts["analyze"], counts["match"])
    gc.collect()
    # A checkout whose matcher memoises analyses (a shared dict, `_analyses`) would answer every repeated text from
    # the memo; a device's requests are new words each time, so the memo is emptied before each request.
    memo = getattr(matcher, "_analyses", None)
    lat: list[float] = []
    for _ in range(args.rounds):
        for r in REQUESTS:
            if memo is not None:
                memo.clear()
            t = time.perf_counter()
            loop.run_until_complete(und(r, ctx))
            lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    analyses = [a for a, _ in per_request.values()]
    matches = [m for _, m in per_request.values()]
    print(f"{platform.machine()} Python {platform.python_version()} | understanding path from {root}")
    print(f"requests {len(lat):5} | p50 {statistics.median(lat):6.3f} ms | p99 {p99:6.3f} ms | max {lat[-1]:6.2f} ms")
    print(f"analyses per request: mean {statistics.mean(analyses):.2f} max {max(analyses)} | "
          f"matches per request: mean {statistics.mean(matches):.2f} max {max(matches)}")
    worst = sorted(per_request.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))[:5]
    for r, (a, m) in worst:
        print(f"  {a} analyses, {m} matches: {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
