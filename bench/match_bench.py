#!/usr/bin/env python3
"""Matcher speed on synthetic catalogs of 100 / 10,000 / 100,000 entries.

Prints the index build time (what a catalog refresh costs) and per-request latency p50/p99 for a mix of
requests: exact titles, misspelt titles, native-script titles, groups (language, mood, shared alias), and
titles that are not in the catalog. Target: p99 <= 5 ms at 10,000 entries. The wall-clock figures include time
the process waited for a core; "cpu p99" is the request's own CPU time, steadier on a shared machine.

    .venv/bin/python bench/match_bench.py [--sizes 100 10000 100000] [--requests 400]
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import MatchingConfig
from core.content.matcher import MultilingualMatcher
from core.content.types import Kind, Track

_SYL = ("ka", "ma", "ra", "ta", "na", "la", "pa", "ba", "cha", "sha", "ti", "ri", "lu", "du", "mo", "go", "ve", "ya",
        "ha", "ja", "ki", "nu", "so", "de", "vi", "gu", "pe", "ro", "zi", "fo")
_DEV = {"ka": "क", "ma": "म", "ra": "र", "ta": "त", "na": "न", "la": "ल", "pa": "प", "ba": "ब", "cha": "च",
        "sha": "श", "ti": "ति", "ri": "रि", "lu": "लु", "du": "दु", "mo": "मो", "go": "गो", "ve": "वे", "ya": "य",
        "ha": "ह", "ja": "ज", "ki": "कि", "nu": "नु", "so": "सो", "de": "दे", "vi": "वि", "gu": "गु", "pe": "पे",
        "ro": "रो", "zi": "ज़ि", "fo": "फ़ो"}
_LANGS = ("English", "Hindi", "Telugu", "Kannada", "Phonics")
_TAGS = ("calm", "lullaby", "dance", "energetic", "funny", "devotional", "nursery rhyme")


def _word(rng: random.Random) -> list[str]:
    return [rng.choice(_SYL) for _ in range(rng.randint(2, 4))]


def catalog(n: int, seed: int = 1) -> list[Track]:
    rng = random.Random(seed)
    tracks = []
    for i in range(n):
        words = [_word(rng) for _ in range(rng.randint(2, 4))]
        roman = " ".join("".join(w) for w in words).title()
        native = rng.random() < 0.3
        title = " ".join("".join(_DEV[s] for s in w) for w in words) if native else roman
        kind = Kind.STORY if i % 5 == 0 else Kind.MUSIC
        coll = rng.choice(("Bedtime", "Fantasy", "Adventure", "Educational")) if kind is Kind.STORY else \
            rng.choice(_LANGS)
        alts = ["".join(words[0]) + " " + "".join(words[-1]), rng.choice(("dance song", "lullaby", "classic rhyme"))]
        tracks.append(Track(kind, coll, title + (" " if i % 37 == 0 else ""), f"{roman} {i}.mp3", romanized=roman,
                            alternatives=tuple(alts), tags=tuple(rng.sample(_TAGS, 2))))
    return tracks


def _typo(rng: random.Random, s: str) -> str:
    chars = list(s)
    for _ in range(max(1, len(chars) // 12)):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4 and chars[i] != " ":
            chars[i] = rng.choice("aeioukmnrt")
        elif op < 0.7:
            chars.insert(i, chars[i])
        elif chars[i] != " ":
            del chars[i]
    return "".join(chars)


def requests(tracks: list[Track], count: int, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    out = []
    forms = ("exact", "typo", "native", "group", "miss")
    for i in range(count):
        t = rng.choice(tracks)
        form = forms[i % len(forms)]
        if form == "exact":
            out.append(f"play {t.romanized}")
        elif form == "typo":
            out.append(f"play {_typo(rng, t.romanized.lower())} song")
        elif form == "native":
            out.append(f"{t.title.strip()} सुनाओ")
        elif form == "group":
            out.append(rng.choice(("play a telugu song", "हिंदी गाना बजाओ", "play something calm", "a lullaby",
                                   "play a classic rhyme", "tell me a bedtime story", "play music")))
        else:
            out.append(rng.choice(("play despacito", "play shape of you", "play the lion king",
                                   "play happy birthday to you", "कोई मिल गया गाना बजाओ")))
    return out


def bench(n: int, count: int) -> None:
    tracks = catalog(n)
    t0 = time.perf_counter()
    m = MultilingualMatcher(tracks, MatchingConfig())
    build = time.perf_counter() - t0
    reqs = requests(tracks, count)
    gc.collect()                 # a long-running server has long promoted the index; do not time that pass
    for r in reqs[:20]:          # warm-up (imports, lazy tables)
        m.find_content_match(r)
    lat = []
    cpu = []                     # this thread's CPU time: what other processes on a shared machine cannot inflate
    hits = 0
    for r in reqs:
        t, c = time.perf_counter(), time.thread_time()
        res = m.find_content_match(r, kind=Kind.STORY if "story" in r else Kind.MUSIC)
        cpu.append((time.thread_time() - c) * 1000)
        lat.append((time.perf_counter() - t) * 1000)
        hits += res.track is not None
    lat.sort()
    cpu.sort()
    p = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731 - a one-line local helper
    print(f"{n:>8,} entries | index build {build * 1000:8.1f} ms | requests {len(lat):4} | "
          f"p50 {statistics.median(lat):6.3f} ms | p99 {p(lat, 0.99):6.3f} ms | max {lat[-1]:6.2f} ms | "
          f"cpu p99 {p(cpu, 0.99):6.3f} ms | answered {hits}/{len(lat)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    for n in args.sizes:
        bench(n, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
