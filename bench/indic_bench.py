#!/usr/bin/env python3
"""Spoken requests in English, Hindi, Telugu and Kannada: is the right item played? (issue 14)

    flock /tmp/heavy.lock .venv/bin/python bench/indic_bench.py [--set 1|2|3|tuning] [--candidates shipped,baseline]
                                                                [--latency-rounds 1] [--skip-latency] [-v]

The requests, voices, speeds and noise come from bench/indic_eval_set.py (`--set 1`), the second held-out set,
bench/indic_eval_set2.py (`--set 2`: other wording, voices, speeds, 15 dB, babble) or the third,
bench/indic_eval_set3.py (`--set 3`: other wording again, named espeak-ng variants, 125 and 192 wpm, 18 dB, a child
humming, a vacuum cleaner); none was used for tuning.
Each clip is synthesised (espeak-ng variants, piper for English), slowed/sped, mixed with seeded room noise at
the set's SNR, sent through the device's Opus encoder and decoder, transcribed by a candidate recogniser and put
through the server's own request path (intent recogniser -> plugin -> matcher, as `app.py match` does) against
the demo catalog. Per language it prints: right item played, false plays (a different item, or anything for a
title the catalog lacks or a non-speech clip) and honest misses (nothing played).

Candidates (all whisper-base int8 from the packaged weights; whisper-small's packages hold only 180 MB of its
~480 MB weights and do not load):
- shipped:  config.yaml as shipped: English decode, catalog titles romanized in the prompt, title snapping, and
            candidate judging (voice.asr.rescore: the recogniser scores the closest titles against the audio);
- norescore: the same with voice.asr.rescore off (snapping only, as before issue 19);
- baseline: the recogniser before issue 14: English decode, only ASCII titles in the prompt, no snapping;
- detect:   language detected among en/hi/te/kn, then decoded in that language with no prompt.

Latency (shipped config, spoken replies on; `--latency-candidates shipped,norescore` to compare): the real server on
loopback, a device streaming requests in real time in auto mode; end of speech -> first reply audio frame per
language, median and p90. Target: median <= 2.0 s in every language (issue 19).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from bench import indic_eval_set2 as set2
from bench import indic_eval_set3 as set3
from bench.indic_eval_set import (
    EVAL_VOICES,
    NOISE_SEED,
    NON_SPEECH,
    REQUESTS,
    SNR_DB,
    SPEEDS,
    TUNING_REQUESTS,
    TUNING_VOICES,
    Request,
)
from bench.indic_eval_set2 import BABBLE
from core.audio.resample import parse_wav, resample
from core.config import Config, load_config
from core.providers.asr.base import ASRError

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
LANGS = ("en", "hi", "te", "kn")
TARGET = {"en": 90.0, "hi": 75.0, "te": 75.0, "kn": 75.0}
PIPER_WPM = 160                      # piper's own rate, for the atempo ratio that gives SPEEDS


@dataclass(frozen=True, slots=True)
class Clip:
    language: str                    # en/hi/te/kn, or "none" for non-speech
    label: str
    expect: str | None
    pcm: bytes


# ----------------------------------------------------------------------------- audio


def espeak(text: str, voice: str, wpm: int) -> bytes:
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text], check=True,
                         capture_output=True, timeout=60).stdout
    pcm, rate = parse_wav(wav)
    return resample(pcm, rate, RATE)


def atempo(pcm: bytes, ratio: float) -> bytes:
    return subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", "16000",
                           "-ac", "1", "-i", "pipe:0", "-filter:a", f"atempo={ratio:.3f}", "-f", "s16le", "pipe:1"],
                          input=pcm, capture_output=True, check=True, timeout=60).stdout


def room_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (1/f power), a mains hum and a faint fan tone: a quiet room with things switched on."""
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    pink = np.fft.irfft(spec, n)
    pink /= np.sqrt(np.mean(pink ** 2)) + 1e-12
    t = np.arange(n) / RATE
    hum = 0.3 * np.sin(2 * np.pi * 50 * t) + 0.15 * np.sin(2 * np.pi * 100 * t) + 0.1 * np.sin(2 * np.pi * 387 * t)
    return pink + hum


def active_power(x: np.ndarray) -> float:
    """Mean power of the 20 ms frames within 30 dB of the loudest (speech level without the pauses)."""
    frames = x[: len(x) // 320 * 320].reshape(-1, 320)
    p = np.mean(frames ** 2, axis=1)
    return float(np.mean(p[p >= p.max() / 1000])) if len(p) else 0.0


def with_noise(speech: bytes, rng: np.random.Generator, snr_db: float, lead: float = 0.4) -> bytes:
    s = np.frombuffer(speech, np.int16).astype(np.float64)
    pad = int(lead * RATE)
    s = np.concatenate([np.zeros(pad), s, np.zeros(pad)])
    noise = room_noise(len(s), rng)
    noise *= np.sqrt(active_power(s) / 10 ** (snr_db / 10) / np.mean(noise ** 2))
    return np.clip(s + noise, -32768, 32767).astype(np.int16).tobytes()


def device_roundtrip(pcm: bytes) -> bytes:
    """What the server hears: the device's 60 ms Opus frames (complexity 0, DTX), decoded."""
    from tests.voice_fixtures import decode_all, opus_packets
    return decode_all(opus_packets(pcm))


def non_speech(kind: str, seconds: float, rng: np.random.Generator,
               babble: tuple[tuple[str, str], ...] = BABBLE) -> bytes:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    if kind == "silence":
        x = np.zeros(n)
    elif kind == "room_noise":
        x = room_noise(n, rng) * 600
    elif kind == "claps":
        x = room_noise(n, rng) * 100
        for start in np.arange(0.2, seconds - 0.1, 0.45):
            i = int(start * RATE)
            burst = rng.normal(0, 9000, 600) * np.exp(-np.arange(600) / 90)
            x[i:i + 600] += burst[: len(x[i:i + 600])]
    elif kind == "melody":
        notes = (262, 294, 330, 349, 392, 440, 494, 523)
        x = np.zeros(n)
        step = int(0.25 * RATE)
        for k, i in enumerate(range(0, n, step)):
            seg = t[: min(step, n - i)]
            x[i:i + len(seg)] = 6000 * np.sin(2 * np.pi * notes[(k * 3) % 8] * seg) * np.exp(-3 * seg)
    elif kind == "hum":
        x = 5000 * np.sin(2 * np.pi * 120 * t) + 1500 * np.sin(2 * np.pi * 240 * t)
    elif kind == "breath_noise":
        env = np.sin(np.pi * t / seconds) ** 2
        x = rng.normal(0, 2500, n) * env
    elif kind == "babble":                     # several people talking at once, none of it a request
        x = room_noise(n, rng) * 100
        for voice, text in babble:
            talk = np.frombuffer(espeak(text, voice, int(rng.integers(140, 190))), np.int16).astype(np.float64)
            start = int(rng.uniform(0, 0.5) * RATE)
            talk = talk[: max(0, n - start)]
            x[start:start + len(talk)] += 0.5 * talk
    elif kind == "tv_hiss":
        x = rng.normal(0, 1800, n) + room_noise(n, rng) * 300
    elif kind == "whistle":
        f = 1800 + 300 * np.sin(2 * np.pi * 1.5 * t)
        x = 7000 * np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.sin(np.pi * t / seconds)
    elif kind == "knocks":
        x = room_noise(n, rng) * 80
        for start in (0.3, 0.55, 0.8, 1.4):
            i = int(start * RATE)
            k = np.arange(min(1200, n - i))
            x[i:i + len(k)] += 12000 * np.sin(2 * np.pi * 180 * k / RATE) * np.exp(-k / 200)
    elif kind == "chord":
        x = np.zeros(n)
        for j, hz in enumerate((196.0, 247.0, 294.0, 392.0)):      # G major, strummed
            i = int(j * 0.03 * RATE)
            seg = t[: n - i]
            x[i:] += 2500 * np.sin(2 * np.pi * hz * seg) * np.exp(-1.2 * seg)
    elif kind == "child_hum":                  # a child humming a tune with the mouth closed: no words
        tune = (392.0, 392.0, 440.0, 392.0, 523.0, 494.0, 392.0, 440.0)   # sung high, as children do
        x = room_noise(n, rng) * 80
        step = int(0.35 * RATE)
        for k, i in enumerate(range(0, n, step)):
            m = min(step, n - i)
            seg = t[:m]
            f0 = tune[k % len(tune)] * (1 + 0.015 * np.sin(2 * np.pi * 5.5 * seg)) * rng.uniform(0.98, 1.02)
            phase = 2 * np.pi * np.cumsum(f0) / RATE
            # a nasal murmur: the fundamental strong, harmonics falling fast, soft onsets between notes
            voiced = sum(np.sin(h * phase) / h ** 2.5 for h in range(1, 7))
            x[i:i + m] += 5000 * voiced * np.minimum(1, np.minimum(seg, seg[::-1]) / 0.04)
    elif kind == "vacuum":                     # a vacuum cleaner switched on: motor whine over a fan's roar
        rise = np.minimum(1, t / 0.6)
        f = 310 * (0.7 + 0.3 * rise) + rng.normal(0, 0.5, n)
        phase = 2 * np.pi * np.cumsum(f) / RATE
        whine = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 9))
        roar = np.diff(rng.normal(0, 1, n + 1))                # white noise tilted up: air through the hose
        x = rise * (1500 * whine + 2500 * roar)
    else:
        raise ValueError(kind)
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    requests: tuple[Request, ...]
    voices: dict[str, tuple[str, ...]]
    speeds: tuple[int, ...]
    snr_db: float
    seed: int
    non_speech: tuple[tuple[str, float], ...]
    babble: tuple[tuple[str, str], ...] = BABBLE       # what the "babble" clips say


SETS = {
    "1": EvalSet("held-out set 1 (bench/indic_eval_set.py)", REQUESTS, EVAL_VOICES, SPEEDS, SNR_DB, NOISE_SEED,
                 NON_SPEECH),
    "2": EvalSet("held-out set 2 (bench/indic_eval_set2.py)", set2.REQUESTS, set2.EVAL_VOICES, set2.SPEEDS,
                 set2.SNR_DB, set2.NOISE_SEED, set2.NON_SPEECH),
    "3": EvalSet("held-out set 3 (bench/indic_eval_set3.py)", set3.REQUESTS, set3.EVAL_VOICES, set3.SPEEDS,
                 set3.SNR_DB, set3.NOISE_SEED, set3.NON_SPEECH, set3.BABBLE),
    # the tuning phrases and voices: for development, not the score
    "tuning": EvalSet("tuning set", TUNING_REQUESTS, {k: (v,) for k, v in TUNING_VOICES.items()}, SPEEDS, SNR_DB,
                      NOISE_SEED, NON_SPEECH),
}


def clip_rng(seed: int, label: str) -> np.random.Generator:
    """Each clip's own noise, from the set's seed and the clip's label: the same clip every run, whatever the other
    clips' lengths (piper's speech varies a little from run to run, and one shared generator carried that into the
    noise of every later clip, so two runs of the same code heard different clips)."""
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


async def build_clips(eval_set: EvalSet, smoke: bool = False) -> list[Clip]:
    from core.providers.tts.piper import PiperTTS
    rng = np.random.default_rng(eval_set.seed)
    clips: list[Clip] = []
    piper = PiperTTS()
    requests: list[Request] = list(eval_set.requests)
    if smoke:                                  # a quick check of the harness itself, not a measurement
        requests = [next(r for r in requests if r.language == lang) for lang in LANGS]
    voices = eval_set.voices
    try:
        for req in requests:
            for voice in voices[req.language][: 1 if smoke else None]:
                for wpm in eval_set.speeds[-1:] if smoke else eval_set.speeds:
                    if voice == "piper":
                        base = b"".join([c async for c in piper.synthesize(req.text, "en", RATE)])
                        speech = atempo(base, wpm / PIPER_WPM)
                    else:
                        speech = espeak(req.text, voice, wpm)
                    label = f"{voice}@{wpm} {req.text}"
                    pcm = device_roundtrip(with_noise(speech, clip_rng(eval_set.seed, label), eval_set.snr_db))
                    clips.append(Clip(req.language, label, req.expect, pcm))
    finally:
        await piper.aclose()
    for kind, seconds in eval_set.non_speech[: 1 if smoke else None]:
        clips.append(Clip("none", kind, None, device_roundtrip(
            non_speech(kind, seconds, clip_rng(eval_set.seed, f"{kind} {seconds:g} {rng.integers(1 << 30)}"),
                       eval_set.babble))))
    return clips


# ----------------------------------------------------------------------------- candidates


def shipped_config(model_dir: Path) -> Config:
    return load_config(ROOT / "config.yaml", overrides={"voice.asr.model_dir": str(model_dir)})


class DetectThenDecode:
    """Candidate: language detected among the catalog's languages, then a native decode (no prompt)."""
    name = "detect"

    def __init__(self, model: Any, cfg: Config) -> None:
        self._model = model
        self._cfg = cfg.voice.asr

    def set_vocabulary(self, phrases: list[str]) -> None:
        return None

    async def transcribe(self, pcm: bytes, sample_rate: int = RATE, *, device: str = "") -> str:
        return await asyncio.to_thread(self._run, pcm)

    def _run(self, pcm: bytes) -> str:
        audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        _, _, probs = self._model.detect_language(audio)
        allowed = [(lang, p) for lang, p in probs if lang in LANGS]
        lang = max(allowed, key=lambda x: x[1])[0] if allowed else "en"
        segments, _ = self._model.transcribe(audio, language=lang, beam_size=1, without_timestamps=True,
                                             condition_on_previous_text=False, vad_filter=False,
                                             max_new_tokens=self._cfg.max_new_tokens)
        return " ".join(s.text for s in segments).strip()


def build_candidate(name: str, model: Any, model_dir: Path, titles: list[str]) -> Any:
    """A recogniser for the accuracy runs. Its wall-clock cap is lifted to the most the config allows: what it hears
    must not depend on what else the machine runs (time is measured by the latency run, through the server, with
    the cap as shipped)."""
    from core.providers.asr.whisper import WhisperASR
    shipped = shipped_config(model_dir)
    cfg = replace(shipped, voice=replace(shipped.voice, asr=replace(shipped.voice.asr, max_seconds=120.0)))
    if name == "shipped":
        asr = WhisperASR(cfg.voice.asr, model=model)
        asr.set_vocabulary(titles)                 # what core/runtime.py passes: the display titles
        return asr
    if name == "noverify":                     # judging on, the transcript-in-the-audio check off
        asr = WhisperASR(replace(cfg.voice.asr, verify_min_gain=0.0), model=model)
        asr.set_vocabulary(titles)
        return asr
    if name == "norescore":
        asr = WhisperASR(replace(cfg.voice.asr, rescore=False), model=model)
        asr.set_vocabulary(titles)
        return asr
    if name == "baseline":
        asr = WhisperASR(replace(cfg.voice.asr, snap_min_score=0.0, rescore=False), model=model)
        asr.set_vocabulary([t for t in titles if t.isascii()])   # the old prompt kept ASCII titles only
        return asr
    if name == "detect":
        return DetectThenDecode(model, cfg)
    raise SystemExit(f"unknown candidate {name!r}: use shipped, noverify, norescore, baseline or detect")


# ----------------------------------------------------------------------------- scoring


def segment(pcm: bytes, vad: Any) -> list[bytes]:
    """The utterances the server's Segmenter (shipped VAD settings, auto mode) finds in a clip."""
    from core.listener import FRAME_SAMPLES, Segmenter
    from core.protocol.messages import ListenMode, ListenState
    seg = Segmenter(Config().voice.vad, vad.new_stream())
    seg.listen(ListenState.START, ListenMode.AUTO)
    stream = pcm + bytes(int(1.5 * RATE) * 2)
    step = FRAME_SAMPLES * 2
    out: list[bytes] = []
    for i in range(0, len(stream) - step + 1, step):
        out += [u.pcm for u in seg.process(stream[i:i + step], speaking=False, busy=False) if u.kind == "speech"]
    return out


async def evaluate(name: str, asr: Any, clips: list[Clip], understand: Any, matcher: Any, verbose: bool,
                   vad: Any) -> dict:
    from core.devices.state import DeviceState
    from core.understand import describe
    from plugins_func.registry import PluginContext

    cfg = Config()
    rows: dict[str, dict[str, int]] = {k: {"n": 0, "right": 0, "false": 0, "miss": 0, "wanted": 0, "quiet": 0}
                                       for k in (*LANGS, "none")}
    times: dict[str, list[float]] = {k: [] for k in rows}
    errors = 0
    for clip in clips:
        played = None
        heard: list[str] = []
        for utterance in segment(clip.pcm, vad):      # what the server's VAD hands to the recogniser
            t0 = time.perf_counter()
            try:
                text = await asr.transcribe(utterance, RATE, device="bench")
            except ASRError:               # the server treats it as "heard, not understood"
                text = ""
                errors += 1
            heard.append(text)
            times[clip.language].append(time.perf_counter() - t0)
            if text.strip():
                ctx = PluginContext(catalog=matcher, device=DeviceState("bench"), on_miss=cfg.matching.on_miss,
                                    recent_size=cfg.matching.recent_history)
                u = await understand(text, ctx)
                played = describe(text, u.intent.name, u.result)["title"]
            if played:
                break
        played = played.strip() if isinstance(played, str) else None
        r = rows[clip.language]
        r["n"] += 1
        r["wanted"] += clip.expect is not None
        if played is None:
            r["miss" if clip.expect else "quiet"] += 1
            verdict = "miss" if clip.expect else "ok (nothing)"
        elif clip.expect is not None and played == clip.expect.strip():
            r["right"] += 1
            verdict = "RIGHT"
        else:
            r["false"] += 1
            verdict = "FALSE PLAY"
        if verbose:
            print(f"  [{name}] {clip.language} {clip.label!r:60} -> {' | '.join(map(repr, heard)) or '(no speech)':50} "
                  f"-> {played!r} {verdict}")
    if errors:
        print(f"  [{name}] {errors} utterances hit the recogniser's 120 s cap (counted as not understood)")
    return {"rows": rows, "times": times}


def print_table(results: dict[str, dict]) -> None:
    print("\nright item played (of requests for catalog items) | false plays (of all clips) | honest misses "
          "(of catalog requests) | ASR median s")
    head = f"{'language':9s}" + "".join(f" | {name:^34s}" for name in results)
    print(head)
    for lang in (*LANGS, "none"):
        line = f"{lang:9s}"
        for res in results.values():
            r = res["rows"][lang]
            t = res["times"][lang]
            med = statistics.median(t) if t else 0.0
            if lang == "none":
                cell = f"false {r['false']}/{r['n']}  nothing {r['quiet']}/{r['n']}  {med:4.2f}s"
            else:
                wanted = max(1, r["wanted"])
                cell = (f"right {100 * r['right'] / wanted:5.1f}% false {100 * r['false'] / max(1, r['n']):4.1f}% "
                        f"miss {r['miss']}/{r['wanted']} {med:4.2f}s")
            line += f" | {cell:34s}"
        print(line)
    for name, res in results.items():
        rows = res["rows"]
        total = sum(r["n"] for r in rows.values())
        false = sum(r["false"] for r in rows.values())
        verdicts = []
        for lang in LANGS:
            r = rows[lang]
            pct = 100 * r["right"] / max(1, r["wanted"])
            verdicts.append(f"{lang} {pct:.0f}% {'ok' if pct >= TARGET[lang] else 'BELOW'} (>= {TARGET[lang]:.0f}%)")
        print(f"{name}: false plays {false}/{total} = {100 * false / total:.1f}% (target <= 2 %); "
              + ", ".join(verdicts))


# ----------------------------------------------------------------------------- latency through the server


async def bench_latency(model_dir: Path, content_dir: Path, clips: list[Clip], rounds: int, eval_set: EvalSet,
                        overrides: dict[str, Any]) -> None:
    from core.device_client import DeviceClient
    from core.node import Node
    from tests.voice_fixtures import opus_packets, send_in_real_time

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(ROOT / "config.yaml", overrides={
            "server.host": "127.0.0.1", "server.port": 0, "server.http_port": 0,
            "content.content_dir": str(content_dir), "content.generate_demo": False, "content.s3.bucket": "",
            "content.cache_dir": f"{tmp}/cc", "audio.cache_dir": f"{tmp}/ac",
            "voice.tts.phrase_cache_dir": f"{tmp}/pc", "voice.asr.model_dir": str(model_dir), "log.level": "WARNING",
            **overrides})
        node = await Node.start(cfg)
        per_lang: dict[str, list[float]] = {k: [] for k in LANGS}
        try:
            # One voice, the faster speed, noisy: the first two catalog requests of each language.
            chosen: list[Clip] = []
            for lang in LANGS:
                mine = [c for c in clips if c.language == lang and c.expect and str(eval_set.speeds[-1]) in c.label
                        and c.label.startswith(eval_set.voices[lang][0])]
                chosen += mine[: 1 if len(clips) < 20 else 2]
            async with DeviceClient(f"ws://127.0.0.1:{node.ws_port}/xiaozhi/v1/") as client:
                assert client.ws is not None
                for rnd in range(rounds + 1):                 # round 0 warms up
                    for clip in chosen:
                        await client.send_json({"type": "listen", "state": "start", "mode": "auto"})
                        pcm = clip.pcm
                        packets = opus_packets(pcm + bytes(int(2.5 * RATE) * 2))
                        # The clip ends with 0.4 s of room noise after the speech.
                        last_voiced = int((len(pcm) / 2 / RATE - 0.4) / 0.06)
                        end_of_speech = await send_in_real_time(client, packets, last_voiced)
                        stt = await client.wait_for(lambda r: r.kind == "json" and r.message.get("type") == "stt",
                                                    timeout=30)
                        try:
                            audio = await client.wait_for(lambda r, stt=stt: r.kind == "audio" and r.t > stt.t - 0.01,
                                                          timeout=10)
                            await client.wait_json("tts", "stop", timeout=60)
                        except TimeoutError:
                            audio = None
                        dt = audio.t - end_of_speech if audio is not None else None
                        if rnd and dt is not None:
                            per_lang[clip.language].append(dt)
                        tag = "warm-up" if rnd == 0 else f"round {rnd}"
                        shown = f"{dt:5.2f} s" if dt is not None else "(none)"
                        assert stt.message is not None
                        print(f"  {tag:8s} {clip.language} {clip.label!r:58} first audio {shown} "
                              f"stt {stt.message.get('text')!r}")
        finally:
            await node.close()
    for lang in LANGS:
        v = per_lang[lang]
        if v:
            print(f"end of speech -> first reply audio, {lang}: median {statistics.median(v):.2f} s, "
                  f"p90 {float(np.percentile(v, 90)):.2f} s, max {max(v):.2f} s over {len(v)} (target median <= 2.0 s)")


# ----------------------------------------------------------------------------- main



@contextlib.asynccontextmanager
async def demo_catalog() -> AsyncIterator[tuple[Any, Any, Path]]:
    """The shipped config over a freshly generated demo library: (config, started ContentService, the library's
    folder), closed after."""
    from core.config import load_config
    from core.content.demo import generate_demo
    from core.content.service import ContentService

    with tempfile.TemporaryDirectory() as tmp:
        content_dir = Path(tmp) / "demo"
        generate_demo(content_dir)
        cfg = load_config(ROOT / "config.yaml", overrides={
            "content.content_dir": str(content_dir), "content.s3.bucket": "", "content.generate_demo": False,
            "content.refresh_time_s": 0, "content.cache_dir": f"{tmp}/cc"})
        svc = ContentService.from_config(cfg)
        await svc.start()
        try:
            yield cfg, svc, content_dir
        finally:
            await svc.close()

async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default="shipped,norescore")
    ap.add_argument("--latency-candidates", default="shipped",
                    help="shipped and/or norescore: configurations timed through the server")
    ap.add_argument("--latency-rounds", type=int, default=2)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true", help="only the latency through the server")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one clip per language: checks the harness, measures nothing")
    ap.add_argument("--set", default="1", choices=sorted(SETS),
                    help="1 / 2 / 3: the held-out sets; tuning: the tuning phrases and voices (for development)")
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    from core.providers.asr.whisper import WhisperASR
    from core.providers.intent.factory import build_intent
    from core.providers.vad.factory import build_vad
    from core.understand import Understander
    from plugins_func.loader import default_functions
    from plugins_func.registry import PluginRegistry

    model_dir = ROOT / "metadata" / "models" / "whisper-base"
    print(f"CPU cores: {os.cpu_count()} (shared machine: figures vary with other load)")
    t0 = time.perf_counter()
    eval_set = SETS[args.set]
    print(eval_set.name)
    clips = await build_clips(eval_set, args.smoke)
    print(f"{len(clips)} clips synthesised in {time.perf_counter() - t0:.1f} s "
          f"({sum(c.language != 'none' for c in clips)} requests, "
          f"{sum(c.language == 'none' for c in clips)} non-speech)")
    async with demo_catalog() as (cfg, svc, content_dir):
        titles = sorted({t.display_title for t in svc.tracks()})
        registry = PluginRegistry(default_functions())
        understand = Understander(build_intent(cfg.voice.intent, registry.tool_schemas(),
                                               wake_words=cfg.server.wake_words), registry,
                                  wake_words=cfg.server.wake_words)
        model = await asyncio.to_thread(WhisperASR(shipped_config(model_dir).voice.asr).load)
        vad = build_vad(cfg.voice.vad)
        results = {}
        for name in [] if args.skip_accuracy else args.candidates.split(","):
            asr = build_candidate(name.strip(), model, model_dir, titles)
            t0 = time.perf_counter()
            results[name.strip()] = await evaluate(name.strip(), asr, clips, understand, svc.matcher,
                                                   args.verbose, vad)
            print(f"candidate {name.strip()}: {time.perf_counter() - t0:.1f} s for {len(clips)} clips")
            print_table({name.strip(): results[name.strip()]})
        if results:
            print_table(results)
        if not args.skip_latency:
            for name in args.latency_candidates.split(","):
                print(f"latency, {name.strip()}:")
                overrides = {"voice.asr.rescore": name.strip() != "norescore"}
                await bench_latency(model_dir, content_dir, clips, args.latency_rounds, eval_set, overrides)


if __name__ == "__main__":
    asyncio.run(main())
