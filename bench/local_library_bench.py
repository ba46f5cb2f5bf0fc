#!/usr/bin/env python3
"""What a local library's file checks and folder watch cost: a library of N real mp3 entries in C collections.

    .venv/bin/python bench/local_library_bench.py [--entries 1000] [--collections 10] [--seconds 180]

Prints the first load without file checks, the first load that opens every file (as the server does for a local
folder, so a file `catalog validate` rejects is never announced), an unchanged refresh, and one look of the folder
watch (content.watch_s). The files are hard links of one mp3 (the page cache holds it: this is the CPU cost, not a
cold disk's).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from core.config import ContentConfig
from core.content.service import ContentService
from core.content.storage import LocalStorage


def build(root: Path, entries: int, collections: int, seconds: float) -> None:
    song = root / "song.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:a", "libmp3lame", "-b:a", "128k", str(song)], check=True)
    for c in range(collections):
        folder = root / "music" / f"Collection {c}"
        folder.mkdir(parents=True)
        meta = {}
        for i in range(c, entries, collections):
            os.link(song, folder / f"Song {i}.mp3")
            meta[f"Song {i}"] = {"filename": f"Song {i}.mp3"}
        (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    song.unlink()


async def timed_start(svc: ContentService) -> float:
    started = time.perf_counter()
    await svc.catalog.load()
    return time.perf_counter() - started


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--collections", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=180.0, help="length of each mp3")
    args = ap.parse_args()
    logger.remove()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.entries, args.collections, args.seconds)
        cfg = ContentConfig(content_dir=str(root), refresh_time_s=0, watch_s=0, cache_dir="", generate_demo=False)

        plain = ContentService(LocalStorage(root), cfg)
        t_plain = await timed_start(plain)
        checked = ContentService(LocalStorage(root), cfg)
        checked.check_local_files()
        t_checked = await timed_start(checked)
        assert len(checked.tracks()) == args.entries, len(checked.tracks())
        refreshes = []
        for _ in range(5):
            started = time.perf_counter()
            await checked.catalog.refresh()
            refreshes.append(time.perf_counter() - started)
        looks = []
        for _ in range(20):
            started = time.perf_counter()
            checked._fingerprint()
            looks.append(time.perf_counter() - started)
        print(f"local library: {args.entries} entries of {args.seconds:.0f} s mp3 in {args.collections} collections "
              f"(shared 2-core machine)")
        print(f"  first load, no file checks:      {t_plain * 1000:8.0f} ms")
        print(f"  first load, every file opened:   {t_checked * 1000:8.0f} ms "
              f"({(t_checked - t_plain) / args.entries * 1000:.2f} ms per file)")
        print(f"  unchanged refresh (p50 of 5):    {statistics.median(refreshes) * 1000:8.1f} ms")
        print(f"  one look of the watch (p50/20):  {statistics.median(looks) * 1000:8.1f} ms "
              f"(every content.watch_s = {ContentConfig().watch_s} s by default)")
        await plain.close()
        await checked.close()


if __name__ == "__main__":
    asyncio.run(main())
