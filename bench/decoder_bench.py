#!/usr/bin/env python3
"""The decoder choice: an ffmpeg child per stream (cold spawn, or taken from the warm pool) vs PyAV in-process.

    .venv/bin/python bench/decoder_bench.py [--minutes 4] [--streams 20]

Each figure is taken in a fresh process. Input: a music-like 128 kbps stereo 44.1 kHz MP3 on local disk; output in
every case: s16le mono 16 kHz PCM, what the Opus encoder takes (the encoder is the same for both and not measured).
- first PCM: request -> first 60 ms of PCM (median of 7);
- CPU: seconds of CPU (process + children) to decode one minute of audio;
- memory: extra memory for `--streams` decoders open at once, each holding its stream after its first second
  (ffmpeg: the children's PSS, i.e. their private pages plus a share of the libraries; PyAV: growth of our RSS);
- GIL: PyAV decodes in our process; the column shows how long the event loop is blocked per 60 ms frame.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stream_bench import make_mp3

RATE = 16000
FRAME_BYTES = RATE * 60 // 1000 * 2


def _cpu() -> float:
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _ffmpeg_args(src: str) -> list[str]:
    from core.audio.decode import ffmpeg_args
    return ffmpeg_args(src, RATE)


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kib(pid: int | None = None) -> int:
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- ffmpeg


def ffmpeg_first(path: str, warm: bool) -> float:
    """Cold: spawn + decode to the first frame. Warm: the child was started earlier and waits on stdin."""
    data = Path(path).read_bytes()[:65536]
    if warm:
        proc = subprocess.Popen(_ffmpeg_args("pipe:0"), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        time.sleep(0.3)                 # started ahead of the request, like the pool's idle children
        t0 = time.perf_counter()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(data)
        proc.stdin.flush()
    else:
        t0 = time.perf_counter()
        proc = subprocess.Popen(_ffmpeg_args("file:" + path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    got = 0
    while got < FRAME_BYTES:
        chunk = os.read(proc.stdout.fileno(), FRAME_BYTES - got)
        if not chunk:
            break
        got += len(chunk)
    dt = time.perf_counter() - t0
    proc.kill()
    proc.wait()
    return dt


def ffmpeg_full(path: str) -> dict:
    cpu0, t0 = _cpu(), time.perf_counter()
    out = subprocess.run(_ffmpeg_args("file:" + path), stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return {"cpu_s": _cpu() - cpu0, "wall_s": time.perf_counter() - t0, "pcm": len(out.stdout)}


def ffmpeg_memory(path: str, streams: int) -> dict:
    procs = []
    for _ in range(streams):
        p = subprocess.Popen(_ffmpeg_args("file:" + path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert p.stdout is not None
        got = 0
        while got < RATE * 2:           # one second of PCM, then the child blocks on its full pipe
            got += len(os.read(p.stdout.fileno(), RATE * 2 - got))
        procs.append(p)
    time.sleep(0.3)
    pss = sum(_pss_kib(p.pid) for p in procs)
    rss = sum(_rss_kib(p.pid) for p in procs)
    for p in procs:
        p.kill()
        p.wait()
    return {"pss_mib": pss / 1024, "rss_mib": rss / 1024}


# --------------------------------------------------------------------------- PyAV


class AvDecoder:
    def __init__(self, path: str) -> None:
        import av
        self.container = av.open(path)
        self.stream = self.container.streams.audio[0]
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self.packets = self.container.demux(self.stream)

    def next_pcm(self) -> bytes | None:
        for packet in self.packets:
            out = b""
            for frame in packet.decode():
                for r in self.resampler.resample(frame):
                    out += bytes(r.planes[0])[: r.samples * 2]
            if out:
                return out
        return None

    def close(self) -> None:
        self.container.close()


def av_first(path: str) -> float:
    import av  # noqa: F401 - imported once per process, as a server would
    t0 = time.perf_counter()
    dec = AvDecoder(path)
    got = 0
    while got < FRAME_BYTES:
        pcm = dec.next_pcm()
        if pcm is None:
            break
        got += len(pcm)
    dt = time.perf_counter() - t0
    dec.close()
    return dt


def av_full(path: str) -> dict:
    import av  # noqa: F401 - loaded before the measurement, as in a server
    cpu0, t0 = _cpu(), time.perf_counter()
    dec = AvDecoder(path)
    n, longest = 0, 0.0
    while True:
        s = time.perf_counter()
        pcm = dec.next_pcm()
        longest = max(longest, time.perf_counter() - s)
        if pcm is None:
            break
        n += len(pcm)
    dec.close()
    return {"cpu_s": _cpu() - cpu0, "wall_s": time.perf_counter() - t0, "pcm": n, "longest_step_ms": longest * 1000}


def av_memory(path: str, streams: int) -> dict:
    import av  # noqa: F401 - loaded before the measurement, as in a server
    base = _rss_kib()
    decs = []
    for _ in range(streams):
        d = AvDecoder(path)
        got = 0
        while got < RATE * 2:
            pcm = d.next_pcm()
            if pcm is None:
                break
            got += len(pcm)
        decs.append(d)
    grown = _rss_kib() - base
    for d in decs:
        d.close()
    return {"rss_mib": grown / 1024}


def in_child(fn, *args):
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--workdir", default="/tmp/stream-bench")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    song = str(make_mp3(work / f"music-{args.minutes:g}min.mp3", args.minutes))
    rows = {}
    for name, first, full, mem in (("ffmpeg spawn", lambda: in_child(ffmpeg_first, song, False),
                                    lambda: in_child(ffmpeg_full, song), lambda: in_child(ffmpeg_memory, song,
                                                                                          args.streams)),
                                   ("ffmpeg warm pool", lambda: in_child(ffmpeg_first, song, True), None, None),
                                   ("PyAV in-process", lambda: in_child(av_first, song),
                                    lambda: in_child(av_full, song), lambda: in_child(av_memory, song,
                                                                                      args.streams))):
        firsts = [first() * 1000 for _ in range(7)]
        rows[name] = {"first_ms": statistics.median(firsts), "full": full() if full else None,
                      "mem": mem() if mem else None}
        print(f"  {name}: first PCM {rows[name]['first_ms']:.1f} ms", flush=True)
    import av
    print(f"\nDecoder choice, {args.minutes:g} min 128 kbps MP3 -> 16 kHz mono PCM; PyAV {av.__version__}; "
          f"{os.cpu_count()} cores (shared machine: other jobs may run)")
    print(f"{'decoder':<18}{'first PCM':>11}{'CPU s/min':>11}{'x realtime':>12}{f'mem, {args.streams} open':>16}"
          f"{'loop blocked':>14}")
    for name, r in rows.items():
        full, mem = r["full"], r["mem"]
        cpu = f"{full['cpu_s'] / args.minutes:.3f}" if full else "(same)"
        speed = f"{args.minutes * 60 / full['wall_s']:.0f}x" if full else "-"
        if mem:
            mm = f"{mem['pss_mib']:.0f} MiB PSS" if "pss_mib" in mem else f"{mem['rss_mib']:.0f} MiB RSS"
        else:
            mm = "(same)"
        block = f"{full['longest_step_ms']:.2f} ms" if full and "longest_step_ms" in full else "0 (child)"
        print(f"{name:<18}{r['first_ms']:>9.1f}ms{cpu:>11}{speed:>12}{mm:>16}{block:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
