#!/usr/bin/env python3
"""Rule intent recogniser speed: build time and per-utterance latency p50/p99 over a mix of requests in English,
Hindi, Telugu and Kannada (player controls, sleep timers, "play X next", play requests, chatter), with the
wake words of config.yaml as shipped and no title probe (the matcher has its own benchmark).

    .venv/bin/python bench/intent_bench.py [--rounds 20] [--root DIR]

--root runs the same utterances through another checkout's recogniser (e.g. the main branch), for a side-by-side.
"""
from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from pathlib import Path

UTTERANCES = (
    # player controls
    "pause", "ruko", "ఆగు", "ನಿಲ್ಲು", "continue the story", "कहानी आगे सुनाओ", "play it again", "malli pettu",
    "repeat this song", "shuffle off", "what's next", "अगला कौन सा है", "cancel the timer", "who sings this",
    "what was that song", "what did I listen to", "I like this", "నాకు ఇది నచ్చింది", "play my favourites", "volume up",
    "stop", "बंद करो", "next song", "ಮುಂದಿನ ಹಾಡು",
    # requests with slots
    "stop after this story", "stop in 10 minutes", "sleep timer twenty five minutes", "10 मिनट बाद बंद करो",
    "das minute baad band karo", "10 నిమిషాల తర్వాత ఆపు", "10 ನಿಮಿಷದ ನಂತರ ನಿಲ್ಲಿಸು", "play baa baa black sheep next",
    "add the lion and the mouse to the queue", "इसके बाद बंदर मामा बजाओ", "ಇದರ ನಂತರ ಬಾ ಬಾ ಗಿಳಿಯೆ ಹಾಕು",
    # play requests and chatter
    "play baa baa black sheep", "हनुमान चालीसा सुनाओ", "చిట్టి చిలకమ్మ పాట పెట్టు", "kannada haadu haaku",
    "tell me a bedtime story", "play something calm", "play don't stop me now", "hello", "what is your name",
    "play la la la la la la la la la la la la la la la la la la la la la la la la la la la la la la la",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from core.config import Config
    from core.providers.intent.rules import RuleIntentRecognizer

    t0 = time.perf_counter()
    try:
        rec = RuleIntentRecognizer(wake_words=Config().server.wake_words)
    except TypeError:                      # an older checkout: no wake-word handling in the recogniser
        rec = RuleIntentRecognizer()
    build = (time.perf_counter() - t0) * 1000
    for u in UTTERANCES:                   # warm-up: lazy tables, transliteration caches
        rec.recognize(u)
    gc.collect()
    lat: list[float] = []
    for _ in range(args.rounds):
        for u in UTTERANCES:
            t = time.perf_counter()
            rec.recognize(u)
            lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(f"{platform.machine()} Python {platform.python_version()} | recogniser from {args.root}")
    print(f"build {build:7.1f} ms | utterances {len(lat):5} | p50 {statistics.median(lat):6.3f} ms | "
          f"p99 {p99:6.3f} ms | max {lat[-1]:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
