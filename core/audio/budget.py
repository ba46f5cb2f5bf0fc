"""Honest admission: how many cold streams this node can decode and encode on time, and the refusal past that.

A cold stream (a first play, a resume from the source, a cache fill) costs `cost_s` CPU-seconds per second of audio
for its decode + Opus encode, steadily, for as long as it plays. Cold streams may use `share` of the node's cores;
the node admits a new one only while (running + 1) x cost_s fits in share x cores, and past that the device hears
the spoken "busy" answer at once (no queueing: waiting would not free CPU, and the streams already playing would
start to stall first). The share leaves the rest of the machine for what every stream needs anyway (pacing and
sending frames, spoken replies, speech recognition) and for the lead-up of newcomers.

Cached streams (frames read back from the transcode cache) and listeners joining a shared decode do no decoding
and take nothing from this budget: they cost the delivery only (1,500 cached listeners played on time on a 2-core
node, docs/benchmarks.md), bounded by `fleet.max_sessions`, so they are admitted far past the cold ones.

`cost_s` is `audio.transcode_cost` when set, else measured at start by `measure_transcode_cost()`: a few seconds of
a generated 128 kbps stereo MP3 (the usual catalog file) decoded, resampled and Opus-encoded in one thread, the best
of several runs in that thread's CPU time (a wall clock would make a node started on a busy machine think itself
slower than it is). The cost still varies by about 10 % with what shares the machine's cores at start (0.0037-0.0042
on a 2-core VM), and so does the number of cold streams admitted; set `audio.transcode_cost` for a fixed figure.
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass

from loguru import logger

from core.audio.encode import OpusEncoder, PcmFramer
from core.audio.types import AudioParams

__all__ = ["ColdBudget", "measure_transcode_cost", "near_full", "FALLBACK_COST_S"]

FALLBACK_COST_S = 0.006      # CPU-s per audio second when the start-up measurement cannot run (1.5x a 2-core VM)
_NEAR_FULL = 0.9             # past this share of the budget the node reports itself overloaded (routing goes elsewhere)


@dataclass(frozen=True, slots=True)
class ColdBudget:
    cost_s: float            # CPU-seconds per second of audio for one cold stream (decode + encode)
    cores: int
    share: float             # of the node's cores that cold streams may use

    @property
    def cpu_s(self) -> float:
        """CPU-seconds per second the node spends on cold streams at most."""
        return self.share * self.cores

    @property
    def streams(self) -> int:
        """Cold streams the budget holds (at least one: a node that can play nothing is misconfigured, not full)."""
        return max(1, math.floor(self.cpu_s / self.cost_s + 1e-9))

    def admits(self, running: int) -> bool:
        """Would one more cold stream, beside `running`, still fit?"""
        return running + 1 <= self.streams

    def load(self, running: int) -> float:
        """Share of the budget `running` cold streams use (1.0 = full)."""
        return running / self.streams

    @property
    def near_full_at(self) -> int:
        """From this many cold streams new devices should go to another node (before anyone here is refused)."""
        return near_full(self.streams)


def near_full(limit: int) -> int:
    """90 % of `limit` (at least 1): where a node starts to report itself overloaded."""
    return max(1, math.floor(_NEAR_FULL * limit))


def measure_transcode_cost(params: AudioParams, bitrate: int, complexity: int, seconds: float = 5.0,
                           runs: int = 6) -> float:
    """CPU-seconds per second of audio to decode a 128 kbps stereo MP3 and Opus-encode it at our format: the best of
    `runs` runs spread over about half a second, in this thread's CPU time (on a shared VM a run can be charged for
    time the host gave to others; the best run is the node's own cost). Blocking (about 1 s, 0.3 s of CPU): run it in
    a worker thread. Falls back to FALLBACK_COST_S when PyAV cannot make the test file."""
    try:
        mp3 = _test_mp3(seconds)
        times = []
        for i in range(runs):
            if i:
                time.sleep(0.05)
            times.append(_transcode_cpu(mp3, params, bitrate, complexity))
        best = min(times)
    except Exception as exc:   # noqa: BLE001 - a missing codec must not stop the node; the fallback is conservative
        logger.warning("audio budget: could not measure the transcode cost ({}); assuming {} CPU-s per audio second",
                       type(exc).__name__, FALLBACK_COST_S)
        return FALLBACK_COST_S
    return max(best / seconds, 1e-4)


def _test_mp3(seconds: float) -> bytes:
    import av
    import numpy as np
    rate = 44100
    t = np.arange(int(rate * seconds)) / rate
    # a melody with overtones, not a pure tone: the decoder and Opus work as hard as on music
    wave = (0.3 * np.sin(2 * np.pi * (440 + 110 * np.floor(t % 4)) * t) + 0.1 * np.sin(2 * np.pi * 880 * t)
            + 0.02 * np.random.default_rng(1).standard_normal(t.size)).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate)
        stream.bit_rate = 128000
        stream.layout = "stereo"
        for i in range(0, wave.size, 1152):
            chunk = wave[i:i + 1152]
            frame = av.AudioFrame.from_ndarray(np.vstack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _transcode_cpu(mp3: bytes, params: AudioParams, bitrate: int, complexity: int) -> float:
    import av
    start = time.thread_time()
    enc = OpusEncoder(params, bitrate, complexity)
    framer = PcmFramer(params.frame_bytes)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=params.sample_rate)
    with av.open(io.BytesIO(mp3), mode="r") as container:
        for frame in container.decode(audio=0):
            for r in resampler.resample(frame):
                for pcm in framer.push(bytes(memoryview(r.planes[0])[: r.samples * 2])):
                    enc.encode(pcm)
    return time.thread_time() - start
