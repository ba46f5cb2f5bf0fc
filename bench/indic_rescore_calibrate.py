#!/usr/bin/env python3
"""Calibrate candidate judging (voice.asr.rescore_*) on the tuning set and held-out set 1 only (issue 19, part 6).

    flock /tmp/heavy.lock .venv/bin/python bench/indic_rescore_calibrate.py --dump /tmp/judge.jsonl [--set 1,tuning]
    .venv/bin/python bench/indic_rescore_calibrate.py --grid /tmp/judge.jsonl

--dump hears every clip once (one encoder pass, the free transcript) and records, per utterance, the transcript,
what snapping made of it and the gain of the closest titles by spelling (up to 8, no floor). --grid then replays
the decision for every combination of candidates / spelling floor / minimum gain / margin through the server's
request path (intent -> plugin -> matcher) and prints right / false plays / misses per language, so the thresholds
are chosen from numbers, not by feel. Sets 2 and 3 (bench/indic_eval_set2.py, indic_eval_set3.py) are refused here:
they are for reporting only.
The recorded gains subtract each title's non-speech score taken after the same words as on the audio; the shipped
judge scores non-speech without them (once per title) - the same for Indic requests, which start with the title.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from bench.indic_bench import LANGS, ROOT, SETS, build_clips, demo_catalog, segment, shipped_config
from core.config import Config

CALIBRATION_SETS = ("1", "tuning")


async def dump(path: Path, sets: list[str]) -> None:
    from core.providers.asr.whisper import WhisperASR
    from core.providers.vad.factory import build_vad

    model_dir = ROOT / "metadata" / "models" / "whisper-base"
    async with demo_catalog() as (_, svc, _):
        titles = sorted({t.display_title for t in svc.tracks()})
    asr = WhisperASR(shipped_config(model_dir).voice.asr)
    asr.set_vocabulary(titles)
    judge = asr.judge()
    vad = build_vad(Config().voice.vad)
    with path.open("w", encoding="utf-8") as out:
        for name in sets:
            clips = await build_clips(SETS[name])
            for clip in clips:
                for k, utterance in enumerate(segment(clip.pcm, vad)):
                    audio = np.frombuffer(utterance, np.int16).astype(np.float32) / 32768.0
                    heard = asr.listen(audio)
                    snapped = asr.snap(heard.text)
                    ranked = asr._snapper.rank(snapped, 8) if snapped else []
                    scored = judge.score(heard.encoder_output, heard.frames, snapped, ranked) if ranked else []
                    row = {"set": name, "language": clip.language, "label": clip.label, "expect": clip.expect,
                           "utterance": k, "heard": heard.text, "snapped": snapped,
                           "candidates": [{"title": s.candidate.title, "spell": s.candidate.score,
                                           "start": s.candidate.start, "end": s.candidate.end, "gain": s.gain}
                                          for s in scored]}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    print(f"{name} {clip.language} {clip.label[:50]!r:52} {heard.text!r:40} -> "
                          + ", ".join(f"{s.candidate.title}:{s.candidate.score:.0f}/{s.gain:+.1f}" for s in scored[:3]))


def decide(row: dict[str, Any], k: int, floor: float, min_gain: float, margin: float) -> str:
    """What the recogniser would hand on with these settings (mirrors WhisperASR.understand)."""
    from core.lang.text import fold
    from core.providers.asr.catalog import Candidate, TitleSnapper, known_words, words_of
    text = row["snapped"]
    by_spell = sorted(row["candidates"], key=lambda c: -c["spell"])
    spell = [c["spell"] for c in by_spell] + [0.0, 0.0]
    if spell[0] >= 84 and spell[0] - spell[1] >= 6:            # snapped by spelling (voice.asr.snap_min_score)
        return str(text)
    if not text or all(fold(w) in known_words() for w in words_of(text)):
        return str(text)
    by_spell = by_spell[:k]
    chosen = [c for c in by_spell if c["spell"] >= floor]
    chosen.sort(key=lambda c: -c["gain"])
    if not chosen:
        return str(text)
    best = chosen[0]
    runner = chosen[1]["gain"] if len(chosen) > 1 else float("-inf")
    if best["gain"] < min_gain or best["gain"] - runner < margin:
        return str(text)
    return TitleSnapper([]).write_in(text, Candidate(best["title"], best["spell"], best["start"], best["end"]))


async def grid(path: Path) -> None:
    from core.devices.state import DeviceState
    from core.providers.intent.factory import build_intent
    from core.understand import Understander, describe
    from plugins_func.loader import default_functions
    from plugins_func.registry import PluginContext, PluginRegistry

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(r["set"] not in CALIBRATION_SETS for r in rows):
        raise SystemExit("calibration uses only the tuning set and held-out set 1")
    async with demo_catalog() as (cfg, svc, _):
        registry = PluginRegistry(default_functions())
        understand = Understander(build_intent(cfg.voice.intent, registry.tool_schemas(),
                                               wake_words=cfg.server.wake_words), registry)
        memo: dict[str, str | None] = {}

        async def played(text: str) -> str | None:
            if text not in memo:
                memo[text] = None
                if text.strip():
                    ctx = PluginContext(catalog=svc.matcher, device=DeviceState("bench"),
                                        on_miss=cfg.matching.on_miss, recent_size=cfg.matching.recent_history)
                    u = await understand(text, ctx)
                    title = describe(text, u.intent.name, u.result)["title"]
                    memo[text] = title.strip() if isinstance(title, str) else None
            return memo[text]

        clips: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            clips.setdefault((r["set"], r["label"]), []).append(r)
        settings = [(0, 0.0, 0.0, 0.0)] + list(itertools.product((3, 4, 6, 8), (35.0, 40.0, 45.0, 50.0, 55.0),
                                                                    (4.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0),
                                                                    (0.0, 2.0, 4.0)))
        lines = []
        for k, floor, gain, margin in settings:
            tally = {lang: [0, 0, 0, 0, 0] for lang in (*LANGS, "none")}   # right, false, miss, wanted, n
            for utterances in clips.values():
                result = None
                for r in utterances:
                    text = r["snapped"] if k == 0 else decide(r, k, floor, gain, margin)
                    result = await played(text)
                    if result:
                        break
                first = utterances[0]
                t = tally[first["language"]]
                t[4] += 1
                t[3] += first["expect"] is not None
                if result is None:
                    t[2] += first["expect"] is not None
                elif first["expect"] is not None and result == first["expect"].strip():
                    t[0] += 1
                else:
                    t[1] += 1
            false = sum(t[1] for t in tally.values())
            total = sum(t[4] for t in tally.values())
            worst = min(100 * tally[lang][0] / max(1, tally[lang][3]) for lang in LANGS)
            cells = " ".join(f"{lang} {100 * t[0] / max(1, t[3]):5.1f}%/{t[1]}f/{t[2]}m" for lang, t in tally.items()
                             if lang != "none") + f" none {tally['none'][1]}f"
            label = "snapping only" if k == 0 else f"k={k} floor={floor:.0f} gain>={gain:.0f} margin={margin:.0f}"
            lines.append((worst, -false, f"{label:38s} false {false}/{total}  {cells}"))
    print(lines[0][2])
    for _, _, line in sorted(lines[1:], reverse=True)[:400]:
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", type=Path)
    ap.add_argument("--grid", type=Path)
    ap.add_argument("--set", default="1,tuning")
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if args.dump:
        sets = [s.strip() for s in args.set.split(",")]
        if any(s not in CALIBRATION_SETS for s in sets):
            raise SystemExit("calibration uses only the tuning set and held-out set 1 (sets 2 and 3 are for reporting)")
        asyncio.run(dump(args.dump, sets))
    if args.grid:
        asyncio.run(grid(args.grid))


if __name__ == "__main__":
    main()
