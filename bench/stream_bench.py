#!/usr/bin/env python3
"""Streaming pipeline vs the whole-file path, on 128 kbps MP3s served by moto S3 on loopback.

    .venv/bin/python bench/stream_bench.py                       # 1, 4 and 30 min tracks + concurrency ladder
    .venv/bin/python bench/stream_bench.py --sizes 1,4 --cold 100,150 --cached 1000 --seconds 15

Every single-stream figure is measured in a fresh process (so peak RSS is that run's own), with moto in another
process. "first frame" = request -> first Opus packet ready to send. Memory: tracemalloc peak (a separate run, since
tracing slows Python) and the growth of the process's peak RSS. CPU = our process + its children (ffmpeg).
Concurrency: worker processes (one per core) each run a share of the streams, every stream paced on an absolute
60 ms clock with a 3-frame lead like the device pacer; a frame is late when it is ready more than one period after
its send time. Streams start spread over a ramp at a fixed rate of new plays per second (--cold-rate,
--cached-rate): a cold start costs a spawn plus a 2 s decode-ahead burst, so on 2 cores the start rate, more than
the stream count, is what causes late frames (measured: 150 cold streams started at 15/s -> 22 % late; at 5/s -> 0).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUCKET = "stream-bench"
LEAD = 3


# --------------------------------------------------------------------------- fixtures


def make_mp3(path: Path, minutes: float) -> Path:
    """Music-like: a chord progression with tremolo and a melody over pink noise, stereo 44.1 kHz, 128 kbps."""
    if path.exists():
        return path
    expr = ("0.25*sin(2*PI*(220+55*floor(mod(t,8)/2))*t)*(0.6+0.4*sin(2*PI*3*t))"
            "+0.15*sin(2*PI*(440+110*floor(mod(t*2,5)))*t)"
            "|0.25*sin(2*PI*(330+55*floor(mod(t,8)/2))*t)*(0.6+0.4*sin(2*PI*2*t))"
            "+0.12*sin(2*PI*(660+55*floor(mod(t*3,4)))*t)")
    tmp = path.with_suffix(".part.mp3")
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", f"aevalsrc={expr.replace(',', chr(92) + ',')}:s=44100:d={minutes * 60}",
                    "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:r=44100:d={minutes * 60}",
                    "-filter_complex", "[1]aformat=channel_layouts=stereo[n];[0][n]amix=inputs=2:normalize=0",
                    "-c:a", "libmp3lame", "-b:a", "128k", str(tmp)], check=True)
    tmp.rename(path)
    return path


def _moto_main(port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      max_pool_connections=32))


# --------------------------------------------------------------------------- measurements (child processes)


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu() -> float:
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _source(url: str, key: str, etag: str):
    from core.audio.types import AudioSource
    return AudioSource(uri=url, name=key, cache_key=key, etag=etag)


def measure_stream(url: str, key: str, etag: str, cache_dir: str, task: str) -> dict:
    """task: 'first' (median of 5 first-frame times), 'full' (whole track unpaced), 'trace' (full + tracemalloc)."""
    from core.audio.pipeline import AudioPipeline
    from core.audio.types import AudioParams
    from core.config import AudioConfig

    async def run() -> dict:
        pipe = AudioPipeline(AudioConfig(cache_dir=cache_dir), AudioParams())
        await pipe.start()
        src = _source(url, key, etag)
        out: dict = {}
        try:
            # warm the connection pool and the thread pool like a running server would have
            await asyncio.to_thread(lambda: None)
            if task == "first":
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    async with contextlib.aclosing(pipe.frames(src)) as gen:
                        await gen.__anext__()
                        times.append(time.perf_counter() - t0)
                out["first_ms"] = statistics.median(times) * 1000
                out["first_all_ms"] = [round(t * 1000, 1) for t in times]
                return out
            base_rss, cpu0 = _rss_kib(), _cpu()
            if task == "trace":
                tracemalloc.start()
            t0 = time.perf_counter()
            n, first = 0, None
            async for _ in pipe.frames(src):
                if first is None:
                    first = time.perf_counter() - t0
                n += 1
            out.update(frames=n, first_ms=first * 1000, wall_s=time.perf_counter() - t0,
                       cpu_s=_cpu() - cpu0, rss_delta_mib=(_rss_kib() - base_rss) / 1024,
                       decoders=pipe.decoders_started, hits=pipe.cache_hits)
            if task == "trace":
                out["trace_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            return out
        finally:
            await pipe.close()

    return asyncio.run(run())


def measure_whole(url: str, task: str) -> dict:
    import pydub  # noqa: F401 - import cost is not part of the per-request time
    from core.utils.util import audio_to_data

    base_rss, cpu0 = _rss_kib(), _cpu()
    if task == "trace":
        tracemalloc.start()
    t0 = time.perf_counter()
    frames, duration = audio_to_data(url)
    out = dict(first_ms=(time.perf_counter() - t0) * 1000, frames=len(frames), cpu_s=_cpu() - cpu0,
               rss_delta_mib=(_rss_kib() - base_rss) / 1024)
    if task == "trace":
        out["trace_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    return out


def in_child(fn, *args):
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


# --------------------------------------------------------------------------- concurrency


def concurrency_worker(sources: list[tuple[str, str, str, float]], cache_dir: str, seconds: float,
                       start_at: float) -> dict:
    from core.audio.pipeline import AudioPipeline
    from core.audio.types import AudioError, AudioParams
    from core.config import AudioConfig

    frames_target = int(seconds / 0.06)

    async def run() -> dict:
        pipe = AudioPipeline(AudioConfig(cache_dir=cache_dir, decode_ahead_s=2.0), AudioParams())
        await pipe.start()
        stats = {"frames": 0, "late": 0, "errors": 0, "first_ms": [], "max_late_ms": 0.0}
        loop = asyncio.get_running_loop()
        offset = time.time() - loop.time()

        async def stream(url: str, key: str, etag: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - offset - loop.time()))
            t_req = loop.time()
            try:
                async with contextlib.aclosing(pipe.frames(_source(url, key, etag))) as gen:
                    await gen.__anext__()
                    t0 = loop.time()
                    stats["first_ms"].append((t0 - t_req) * 1000)
                    for n in range(1, frames_target):
                        due = t0 + max(0, n - LEAD) * 0.06
                        delay = due - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        await gen.__anext__()
                        lateness = loop.time() - due
                        stats["frames"] += 1
                        if lateness > 0.06:
                            stats["late"] += 1
                            stats["max_late_ms"] = max(stats["max_late_ms"], lateness * 1000)
            except (AudioError, StopAsyncIteration):
                stats["errors"] += 1

        cpu0 = _cpu()
        await asyncio.gather(*(stream(u, k, e, at) for u, k, e, at in sources))
        stats["cpu_s"] = _cpu() - cpu0
        stats["rss_mib"] = _rss_kib() / 1024
        stats["decoders"] = pipe.decoders_started
        await pipe.close()
        return stats

    return asyncio.run(run())


def run_concurrency(n: int, workers: int, sources: list[tuple[str, str, str]], cache_dir: str, seconds: float,
                    ramp: float) -> dict:
    start_at = time.time() + 3.0  # let every worker import and start first
    plan = [(u, k, e, start_at + ramp * i / n) for i, (u, k, e) in enumerate(sources[:n])]
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        parts = [pool.apply_async(concurrency_worker, (plan[w::workers], cache_dir, seconds, start_at))
                 for w in range(workers)]
        results = [p.get(timeout=seconds + ramp + 120) for p in parts]
    firsts = sorted(f for r in results for f in r["first_ms"])
    frames = sum(r["frames"] for r in results)
    late = sum(r["late"] for r in results)
    return dict(n=n, frames=frames, late=late, late_pct=100 * late / max(1, frames),
                errors=sum(r["errors"] for r in results),
                first_p50=firsts[len(firsts) // 2] if firsts else float("nan"),
                first_p95=firsts[int(len(firsts) * 0.95)] if firsts else float("nan"),
                max_late_ms=max(r["max_late_ms"] for r in results),
                cpu_per_min=sum(r["cpu_s"] for r in results) / max(1e-9, frames * 0.06 / 60),
                rss_mib=sum(r["rss_mib"] for r in results), decoders=sum(r["decoders"] for r in results))


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,30", help="track lengths in minutes (default 1,4,30)")
    ap.add_argument("--cold", default="150", help="concurrent cold stream counts to try ('' = skip)")
    ap.add_argument("--cached", default="1000,2000", help="concurrent cached stream counts to try ('' = skip)")
    ap.add_argument("--seconds", type=float, default=0.0,
                    help="paced seconds per stream (default: ramp + 15 s, so every stream overlaps; max 55)")
    ap.add_argument("--cold-rate", type=float, default=5.0, help="new cold plays per second during the ramp")
    ap.add_argument("--cached-rate", type=float, default=100.0, help="new cached plays per second during the ramp")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--workdir", default="/tmp/stream-bench", help="generated MP3s are kept here between runs")
    ap.add_argument("--skip-whole", action="store_true", help="skip the whole-file path (slow on 30 min)")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    print(f"generating MP3s in {work} (kept for later runs) ...", flush=True)
    files = {m: make_mp3(work / f"music-{m:g}min.mp3", m) for m in sorted(set(sizes) | {1.0})}

    port = free_port()
    moto = mp.get_context("spawn").Process(target=_moto_main, args=(port,), daemon=True)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.1)
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    try:
        rows = []
        for m in sizes:
            key = f"music/Bench/{m:g} min song.mp3"
            s3.upload_file(str(files[m]), BUCKET, key)
            etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
            url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)
            cache = work / f"cache-{m:g}"
            shutil.rmtree(cache, ignore_errors=True)
            print(f"[{m:g} min] streaming ...", flush=True)
            row = {"min": m, "cold_first": in_child(measure_stream, url, key, etag, str(cache), "first")}
            row["cold_full"] = in_child(measure_stream, url, key, etag, str(cache), "full")  # fills the cache
            row["cached_first"] = in_child(measure_stream, url, key, etag, str(cache), "first")
            row["cached_full"] = in_child(measure_stream, url, key, etag, str(cache), "full")
            row["cold_trace"] = in_child(measure_stream, url, key, etag, str(work / "cache-trash"), "trace")
            shutil.rmtree(work / "cache-trash", ignore_errors=True)
            if not args.skip_whole:
                print(f"[{m:g} min] whole-file audio_to_data ...", flush=True)
                row["whole"] = in_child(measure_whole, url, "time")
                row["whole_trace"] = in_child(measure_whole, url, "trace")
            rows.append(row)
        print_single(rows)
        conc = concurrency(args, s3, files[1.0], work)
    finally:
        moto.terminate()
        moto.join(5)
    print_notes(rows, conc)
    return 0


def concurrency(args, s3, song: Path, work: Path) -> list[tuple[str, dict]]:
    from core.audio.cache import FrameCache
    from core.audio.types import AudioParams

    cold_ns = [int(x) for x in args.cold.split(",") if x]
    cached_ns = [int(x) for x in args.cached.split(",") if x]
    need = max(cold_ns + cached_ns + [0])
    if not need:
        return []
    print(f"concurrency: uploading {max(cold_ns + [0])} copies, preparing {max(cached_ns + [0])} cache entries ...",
          flush=True)
    data = song.read_bytes()
    sources = []
    for i in range(need):
        key = f"music/Load/song {i:04d}.mp3"
        if i < max(cold_ns + [0]):
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)
        sources.append((url, key, f'"load-{i}"'))
    cache = work / "cache-load"
    results = []
    if cached_ns:
        cache.mkdir(exist_ok=True)
        seed = work / "cache-1"
        entries = sorted(seed.glob("*.p3")) if seed.exists() else []
        if not entries:
            s = sources[0]
            in_child(measure_stream, s[0], s[1], s[2], str(cache), "full")
            entries = sorted(cache.glob("*.p3"))
        for url, key, etag in sources[:max(cached_ns)]:
            from core.audio.types import AudioSource
            k = FrameCache.key_for(AudioSource(uri=url, name=key, cache_key=key, etag=etag), AudioParams(),
                                   32000, 5, False)
            dest = cache / f"{k}.p3"
            if not dest.exists():
                shutil.copyfile(entries[0], dest)
    for mode, ns, rate, cache_dir in (("cold", cold_ns, args.cold_rate, ""), ("cached", cached_ns, args.cached_rate,
                                                                             str(cache))):
        for n in ns:
            ramp = n / rate
            seconds = args.seconds or min(55.0, ramp + 15.0)
            print(f"  {mode} x{n}: starts over {ramp:.0f} s, {seconds:.0f} s each ...", flush=True)
            r = run_concurrency(n, args.workers, sources, cache_dir, seconds, ramp)
            r["ramp"] = ramp
            results.append((mode, r))
    print("\nConcurrency (paced 60 ms, 3-frame lead; late = ready > 60 ms after its send time)")
    print(f"{'mode':<7}{'ramp s':>7}{'streams':>8}{'frames':>9}{'late':>7}{'late %':>8}{'errors':>7}{'1st p50':>9}"
          f"{'1st p95':>9}{'max late':>10}{'CPU s/min':>10}{'RSS MiB':>9}")
    for mode, r in results:
        print(f"{mode:<7}{r['ramp']:>7.0f}{r['n']:>8}{r['frames']:>9}{r['late']:>7}{r['late_pct']:>8.3f}{r['errors']:>7}"
              f"{r['first_p50']:>8.0f}ms{r['first_p95']:>7.0f}ms{r['max_late_ms']:>8.0f}ms"
              f"{r['cpu_per_min']:>10.3f}{r['rss_mib']:>9.0f}")
    return results


def print_single(rows: list[dict]) -> None:
    print("\nSingle stream: request -> first Opus frame ready; memory; CPU (incl. ffmpeg) per minute of audio")
    print(f"{'track':>6} | {'cold':>7} {'cached':>7} {'whole':>8} {'ratio':>6} | "
          f"{'peak Δ MiB: stream cold / cached / whole (tracemalloc)':<62} | {'CPU s/min: cold cached whole':<28}")
    for r in rows:
        m = r["min"]
        w = r.get("whole")
        wt = r.get("whole_trace")
        ratio = f"{w['first_ms'] / r['cold_first']['first_ms']:.0f}x" if w else "-"
        mem = (f"RSS {r['cold_full']['rss_delta_mib']:.1f} / {r['cached_full']['rss_delta_mib']:.1f} / "
               f"{w['rss_delta_mib']:.0f}" if w else f"RSS {r['cold_full']['rss_delta_mib']:.1f} / "
               f"{r['cached_full']['rss_delta_mib']:.1f} / -")
        mem += f"  (trace {r['cold_trace']['trace_peak_mib']:.1f} / {wt['trace_peak_mib']:.0f})" if wt else \
            f"  (trace {r['cold_trace']['trace_peak_mib']:.1f})"
        cpu = (f"{r['cold_full']['cpu_s'] / m:.2f}  {r['cached_full']['cpu_s'] / m:.3f}  "
               f"{w['cpu_s'] / m:.2f}" if w else f"{r['cold_full']['cpu_s'] / m:.2f}  "
               f"{r['cached_full']['cpu_s'] / m:.3f}  -")
        print(f"{m:>4g}m | {r['cold_first']['first_ms']:>5.0f}ms {r['cached_first']['first_ms']:>5.1f}ms "
              f"{(w['first_ms'] if w else float('nan')):>6.0f}ms {ratio:>6} | {mem:<62} | {cpu:<28}")
        assert r["cached_full"]["decoders"] == 0 and r["cached_full"]["frames"] == r["cold_full"]["frames"]


def print_notes(rows: list[dict], conc: list[tuple[str, dict]]) -> None:
    print("\nTargets: first frame <= 150 ms cold, <= 30 ms cached, >= 20x faster than whole-file on 4 min, flat "
          "memory, >= 150 cold / >= 1000 cached real-time streams with < 0.5 % late frames.")
    for r in rows:
        ok = r["cold_first"]["first_ms"] <= 150 and r["cached_first"]["first_ms"] <= 30
        print(f"  {r['min']:g} min: cold {r['cold_first']['first_ms']:.0f} ms, cached "
              f"{r['cached_first']['first_ms']:.1f} ms -> {'met' if ok else 'NOT met'}"
              + (f"; whole-file {r['whole']['first_ms'] / r['cold_first']['first_ms']:.0f}x slower" if "whole" in r
                 else ""))
    for mode, want in (("cold", 150), ("cached", 1000)):
        good = [r["n"] for m, r in conc if m == mode and r["late_pct"] < 0.5 and r["errors"] == 0]
        tried = [r["n"] for m, r in conc if m == mode]
        if tried:
            best = max(good) if good else 0
            print(f"  {mode}: sustained {best} of tried {tried} (target {want}) -> "
                  f"{'met' if best >= want else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
