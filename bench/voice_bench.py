#!/usr/bin/env python3
"""Voice latency and cost with the embedded stack (Silero VAD, whisper-base, piper/espeak-ng) on this machine.

    .venv/bin/python bench/voice_bench.py [--rounds 2] [--skip-server]

Prints:
- VAD CPU per 60 ms frame (Silero ONNX, 1 thread; energy detector for comparison); target <= 1 ms;
- ASR real-time factor and latency per utterance (whisper-base int8, greedy, titles prompt);
- TTS time to the first PCM chunk (piper English, espeak-ng Hindi);
- through the real server on loopback, with a device streaming speech in real time (auto mode):
  end of speech -> `stt` received, and end of speech -> first reply audio frame received
  (spoken "Now playing ..." from piper, Opus-encoded and paced); target <= 1.5 s;
  and the node's own request stages over the same requests (xiaozhi_stage_seconds: asr, understand, tts, song).
"End of speech" is the moment the last voiced 60 ms frame was sent; it includes the VAD's silence timer
(voice.vad.min_silence_ms, 500 ms by default).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from core.config import config_from_dict
from core.listener import Segmenter
from core.providers.asr.whisper import WhisperASR
from core.providers.tts.espeak import EspeakTTS
from core.providers.tts.piper import PiperTTS
from core.providers.vad.energy import EnergyVAD
from core.providers.vad.silero import SileroVAD

ROOT = Path(__file__).resolve().parents[1]
FRAME_BYTES = 960 * 2
PHRASES = ("play twinkle twinkle little star", "tell me a bedtime story", "Stop!", "play baa baa black sheep")
TONES = {"Twinkle Twinkle Little Star": 660.0, "Baa Baa Black Sheep": 440.0}


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 16000) * 2)


async def synth(phrases: tuple[str, ...]) -> dict[str, bytes]:
    tts = PiperTTS()
    try:
        return {p: b"".join([c async for c in tts.synthesize(p, "en", 16000)]) for p in phrases}
    finally:
        await tts.aclose()


def bench_vad(speech: dict[str, bytes]) -> None:
    cfg = config_from_dict({}).voice.vad
    stream = b"".join(silence(1.0) + pcm for pcm in speech.values()) * 5 + silence(1.0)
    frames = [stream[i:i + FRAME_BYTES] for i in range(0, len(stream) - FRAME_BYTES + 1, FRAME_BYTES)]
    for name, vad in (("silero", SileroVAD()), ("energy", EnergyVAD())):
        seg = Segmenter(cfg, vad.new_stream())
        seg.listen("start", "auto")
        for f in frames[:20]:
            seg.process(f, speaking=False, busy=False)          # warm-up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        utterances = 0
        for f in frames:
            utterances += sum(e.kind == "speech" for e in seg.process(f, speaking=False, busy=False))
        cpu = (time.process_time() - cpu0) / len(frames) * 1000
        wall = (time.perf_counter() - wall0) / len(frames) * 1000
        print(f"VAD {name:6s}: {cpu:.3f} ms CPU / {wall:.3f} ms wall per 60 ms frame "
              f"({len(frames)} frames, {utterances} utterances found of {len(speech) * 5})")


async def bench_asr(speech: dict[str, bytes], cfg) -> None:
    asr = WhisperASR(cfg)
    t0 = time.perf_counter()
    await asyncio.to_thread(asr.load)
    print(f"ASR whisper-base: model ready in {time.perf_counter() - t0:.2f} s")
    asr.set_vocabulary(list(TONES) + ["Hanuman Chalisa", "Bandar Mama", "Johny Johny Yes Papa"])
    await asr.warm_up()
    rtfs, lats = [], []
    for phrase, pcm in speech.items():
        utt = silence(0.5) + pcm + silence(0.5)
        t0 = time.perf_counter()
        text = await asr.transcribe(utt)
        dt = time.perf_counter() - t0
        audio_s = len(utt) / 32000
        rtfs.append(dt / audio_s)
        lats.append(dt)
        print(f"  {phrase!r:38s} {audio_s:4.1f} s audio -> {dt:.2f} s  {text!r}")
    print(f"ASR real-time factor: median {statistics.median(rtfs):.2f} (max {max(rtfs):.2f}); "
          f"latency median {statistics.median(lats):.2f} s, max {max(lats):.2f} s")


async def bench_tts() -> None:
    for name, tts, text, lang in (("piper en", PiperTTS(), "Now playing Twinkle Twinkle Little Star.", "en"),
                                  ("espeak hi", EspeakTTS(), "अब बज रहा है हनुमान चालीसा।", "hi")):
        firsts = []
        for _ in range(4):
            t0 = time.perf_counter()
            async for _chunk in tts.synthesize(text, lang, 24000):
                firsts.append(time.perf_counter() - t0)
                break
        await tts.aclose()
        print(f"TTS {name}: first chunk cold {firsts[0] * 1000:.0f} ms, warm median "
              f"{statistics.median(firsts[1:]) * 1000:.0f} ms")


def tone_catalog(root: Path) -> None:
    english = root / "music" / "English"
    english.mkdir(parents=True)
    meta = {}
    for title, hz in TONES.items():
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"sine=frequency={hz}:duration=3", "-c:a", "libmp3lame", str(english / f"{title}.mp3")],
                       check=True, timeout=60)
        meta[title] = {"romanized": title, "filename": f"{title}.mp3", "alternatives": []}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    bedtime = root / "stories" / "Bedtime"
    bedtime.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=550:duration=3", "-c:a", "libmp3lame", str(bedtime / "The Sleepy Moon.mp3")],
                   check=True, timeout=60)
    (bedtime / "metadata.json").write_text(json.dumps({"The Sleepy Moon": {
        "romanized": "The Sleepy Moon", "filename": "The Sleepy Moon.mp3", "alternatives": []}}), encoding="utf-8")


def stage_buckets(exposition: bytes) -> dict[str, dict[float, float]]:
    """stage -> {upper bound: cumulative count} of xiaozhi_stage_seconds in a /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families
    out: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        if family.name == "xiaozhi_stage_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    out.setdefault(s.labels["stage"], {})[float(s.labels["le"])] = s.value
    return out


def print_stages(before: bytes, after: bytes) -> None:
    """The node's stage histograms over what happened between two scrapes (the warm-up left out)."""
    from core.metrics import STAGES, bucket_quantile
    a, b = stage_buckets(before), stage_buckets(after)
    for stage in STAGES:
        diff = [(le, n - a.get(stage, {}).get(le, 0.0)) for le, n in b.get(stage, {}).items()]
        count = max((n for _, n in diff), default=0.0)
        p50, p99 = bucket_quantile(0.5, diff), bucket_quantile(0.99, diff)
        shown = f"p50 {p50:.3f} s, p99 {p99:.3f} s" if p50 is not None and p99 is not None else "-"
        print(f"  node stage {stage:10s} n={count:3.0f}  {shown}")


async def bench_server(speech: dict[str, bytes], rounds: int) -> None:
    from core.device_client import DeviceClient
    from core.node import Node
    from tests.voice_fixtures import opus_packets, send_in_real_time

    with tempfile.TemporaryDirectory() as tmp:
        tone_catalog(Path(tmp) / "catalog")
        cfg = config_from_dict({
            "server": {"host": "127.0.0.1", "port": 0, "http_port": 0},
            "content": {"content_dir": str(Path(tmp) / "catalog"), "generate_demo": False,
                        "cache_dir": str(Path(tmp) / "cc")},
            "audio": {"cache_dir": str(Path(tmp) / "ac")},
            "voice": {"asr": {"model_dir": str(ROOT / "metadata" / "models" / "whisper-base")}},
            "log": {"level": "WARNING"}})
        node = await Node.start(cfg)
        try:
            to_stt, to_audio = [], []
            async with DeviceClient(f"ws://127.0.0.1:{node.ws_port}/xiaozhi/v1/") as client:
                assert client.ws is not None
                warm = b""
                for rnd in range(rounds + 1):               # round 0 warms whisper and piper up
                    if rnd == 1:
                        warm = await asyncio.to_thread(node.metrics.exposition)
                    for phrase, pcm in speech.items():
                        await client.send_json({"type": "listen", "state": "start", "mode": "auto"})
                        packets = opus_packets(silence(0.3) + pcm + silence(2.5))
                        last_voiced = int((0.3 + len(pcm) / 32000) / 0.06)
                        n_log = len(client.log)
                        end_of_speech = await send_in_real_time(client, packets, last_voiced)
                        stt = await client.wait_for(lambda r: r.kind == "json" and r.message.get("type") == "stt",
                                                    timeout=30)
                        try:   # "stop" has no spoken reply: only its stt is timed
                            audio = await client.wait_for(lambda r: r.kind == "audio", timeout=5)
                            await client.wait_json("tts", "stop", timeout=30)
                        except TimeoutError:
                            audio = None
                        assert stt.message is not None
                        audio_dt = audio.t - end_of_speech if audio is not None else None
                        if rnd:
                            to_stt.append(stt.t - end_of_speech)
                            if audio_dt is not None:
                                to_audio.append(audio_dt)
                        tag = "warm-up" if rnd == 0 else f"round {rnd}"
                        shown = f"{audio_dt:5.2f} s" if audio_dt is not None else "  (none)"
                        print(f"  {tag:8s} {phrase!r:36s} stt {stt.t - end_of_speech:5.2f} s, first audio "
                              f"{shown}  {stt.message.get('text')!r}")
                        assert len(client.log) > n_log
            print(f"end of speech -> stt: median {statistics.median(to_stt):.2f} s, max {max(to_stt):.2f} s")
            print(f"end of speech -> first reply audio frame: median {statistics.median(to_audio):.2f} s, "
                  f"max {max(to_audio):.2f} s (target <= 1.5 s)")
            print("the node's own request stages (bucket estimates; asr starts at the VAD's end point, after "
                  "min_silence_ms):")
            print_stages(warm, await asyncio.to_thread(node.metrics.exposition))
        finally:
            await node.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    speech = await synth(PHRASES)
    cfg = config_from_dict({"voice": {"asr": {"model_dir": str(ROOT / "metadata" / "models" / "whisper-base")}}})
    print(f"CPU cores: {__import__('os').cpu_count()}, whisper threads: {cfg.voice.asr.threads}, "
          f"min_silence_ms: {cfg.voice.vad.min_silence_ms}")
    bench_vad(speech)
    await bench_asr(speech, cfg.voice.asr)
    await bench_tts()
    if not args.skip_server:
        await bench_server(speech, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
