#!/usr/bin/env python3
"""Resuming at a position: request -> first Opus frame, from the transcode cache and from the source by format.

    .venv/bin/python bench/resume_bench.py [--minutes 8] [--resumes 40]

- cache: the item is in the transcode cache; the pipeline skips records by their headers (no decoding);
- source: the item is not cached (a fresh ETag per request); ffmpeg seeks with `-ss` on its input, reading the
  local file, or the S3 URL itself (moto on loopback) with Range requests. As shipped, each such resume also starts
  a background transcode into the cache (at most one at a time), which runs during the later measurements.
Positions are spread over the whole item. Targets (issue 9): from the cache <= 150 ms at p99.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import load_note
from bench.stream_bench import BUCKET, _moto_main, free_port, make_mp3, s3_client

FORMATS = {"mp3": None, "wav": ["-c:a", "pcm_s16le"], "ogg": ["-c:a", "libopus", "-b:a", "96k"],
           "m4a": ["-c:a", "aac", "-b:a", "128k"]}


def convert(mp3: Path, fmt: str) -> Path:
    if FORMATS[fmt] is None:
        return mp3
    out = mp3.with_suffix(f".{fmt}")
    if not out.exists():
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-i", str(mp3), *FORMATS[fmt],
                        str(out)], check=True)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


async def first_frame_ms(pipe, source) -> tuple[float, int]:
    t0 = time.perf_counter()
    async with contextlib.aclosing(pipe.frames(source)) as gen:
        async for _ in gen:
            return (time.perf_counter() - t0) * 1000, 1
    return (time.perf_counter() - t0) * 1000, 0


async def run(files: dict[str, Path], urls: dict[str, str], duration_s: float, resumes: int, cache_dir: Path) -> dict:
    from core.audio.pipeline import AudioPipeline
    from core.audio.types import AudioParams, AudioSource
    from core.config import AudioConfig

    rng = random.Random(7)
    pipe = AudioPipeline(AudioConfig(cache_dir=str(cache_dir)), AudioParams())
    await pipe.start()
    out: dict = {}
    try:
        await asyncio.to_thread(lambda: None)
        base = AudioSource(uri=str(files["mp3"]), name="story.mp3", cache_key="stories/story.mp3", etag='"1"')
        async for _ in pipe.frames(base):      # fills the cache
            pass
        times = []
        for _ in range(resumes):
            pos = int(rng.uniform(0, duration_s - 5) * 1000)
            ms, n = await first_frame_ms(pipe, AudioSource(**{**_fields(base), "start_ms": pos}))
            assert n == 1
            times.append(ms)
        out["cache"] = times
        for where, table in (("file", {f: str(p) for f, p in files.items()}), ("s3", urls)):
            for fmt, uri in table.items():
                times = []
                for i in range(max(5, resumes // 4)):
                    pos = int(rng.uniform(0, duration_s - 5) * 1000)
                    src = AudioSource(uri=uri, name=f"story.{fmt}", cache_key=f"stories/story.{fmt}",
                                      etag=f'"{where}-{i}"', start_ms=pos)
                    ms, n = await first_frame_ms(pipe, src)
                    assert n == 1
                    times.append(ms)
                out[f"{where} {fmt}"] = times
        await pipe.wait_background()
    finally:
        await pipe.close()
    return out


def _fields(src) -> dict:
    return {f: getattr(src, f) for f in ("uri", "name", "cache_key", "etag", "size", "refresh_url", "start_ms")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--resumes", type=int, default=40)
    ap.add_argument("--workdir", default="/tmp/stream-bench")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    mp3 = make_mp3(work / f"music-{args.minutes:g}min.mp3", args.minutes)
    files = {fmt: convert(mp3, fmt) for fmt in FORMATS}
    port = free_port()
    moto = mp.get_context("spawn").Process(target=_moto_main, args=(port,), daemon=True)
    moto.start()
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        s3 = s3_client(f"http://127.0.0.1:{port}")
        s3.create_bucket(Bucket=BUCKET)
        urls = {}
        for fmt, path in files.items():
            key = f"stories/Bench/story.{fmt}"
            s3.upload_file(str(path), BUCKET, key)
            urls[fmt] = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key},
                                                  ExpiresIn=3600)
        cache = work / "resume-cache"
        import shutil
        shutil.rmtree(cache, ignore_errors=True)
        res = asyncio.run(run(files, urls, args.minutes * 60, args.resumes, cache))
        shutil.rmtree(cache, ignore_errors=True)
    finally:
        moto.terminate()
        moto.join(5)
    print(f"\nResume at a random position of a {args.minutes:g}-minute item: request -> first Opus frame "
          f"({os.cpu_count()} cores, {load_note(load_before)}; config as shipped)")
    print(f"{'from':<12}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, times in res.items():
        print(f"{name:<12}{len(times):>4}{statistics.median(times):>9.1f}{pct(times, 0.99):>9.1f}{max(times):>9.1f}")
    ok = pct(res["cache"], 0.99) <= 150
    print(f"\nTarget: resume from the cache <= 150 ms (p99) -> {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
