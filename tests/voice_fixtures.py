"""Helpers for the voice tests: local speech synthesis, device-like Opus uplink streams, recording callbacks."""
from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import opuslib_next

from core.audio.resample import parse_wav, resample
from core.config import VoiceConfig, config_from_dict
from core.listener_base import VoiceCallbacks
from core.providers.asr.whisper import WhisperASR

FRAME = 960                      # 60 ms at 16 kHz
FRAME_BYTES = FRAME * 2


def espeak_16k(text: str, voice: str = "en-us", wpm: int = 175) -> bytes:
    """espeak-ng speech as 16 kHz s16le PCM (synthesised here, independent of the TTS providers)."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text], check=True,
                         capture_output=True, timeout=30).stdout
    pcm, rate = parse_wav(wav)
    return resample(pcm, rate, 16000)


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 16000) * 2)


def noise(seconds: float, rms: float = 3000.0, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, rms, int(seconds * 16000)), -32768, 32767).astype(np.int16).tobytes()


async def send_in_real_time(client: Any, packets: list[bytes], last_voiced: int) -> float:
    """Send uplink packets at the device's pace (one per 60 ms); returns the client-clock time at which packet
    `last_voiced`, the end of the speech, went out (what end-of-speech latencies are measured from)."""
    from core.protocol import framing
    start = time.monotonic()
    end_of_speech = 0.0
    for i, p in enumerate(packets):
        await client.ws.send(framing.pack(1, p, i * 60))
        if i == last_voiced:
            end_of_speech = time.monotonic() - client._t0
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.06 - time.monotonic()))
    return end_of_speech


def opus_packets(pcm: bytes, *, app: str = "voip", dtx: bool = True, complexity: int = 0) -> list[bytes]:
    """Encode 16 kHz mono PCM into 60 ms Opus packets the way the device does (DTX gives 1-3 byte packets)."""
    application = opuslib_next.APPLICATION_VOIP if app == "voip" else opuslib_next.APPLICATION_AUDIO
    enc = opuslib_next.Encoder(16000, 1, application)
    enc.dtx = dtx
    enc.complexity = complexity
    pad = (-len(pcm)) % FRAME_BYTES
    pcm = pcm + bytes(pad)
    return [enc.encode(pcm[i:i + FRAME_BYTES], FRAME) for i in range(0, len(pcm), FRAME_BYTES)]


def device_stream(pcm: bytes, *, garbage_every: int = 0, app: str = "voip") -> list[bytes]:
    """Opus packets of `pcm`, with every `garbage_every`-th silent (DTX) packet replaced by junk bytes."""
    packets = opus_packets(pcm, app=app)
    if garbage_every:
        junk = [b"\xff" * 40, bytes(range(7, 97)), b"not opus at all"]
        n = 0
        for i, p in enumerate(packets):
            if len(p) <= 3:
                n += 1
                if n % garbage_every == 0:
                    packets[i] = junk[n % len(junk)]
    return packets


def decode_all(packets: list[bytes]) -> bytes:
    dec = opuslib_next.Decoder(16000, 1)
    return b"".join(dec.decode(p, 1920) for p in packets if len(p) > 3)


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(spec.argmax())])


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def voice_cfg(**vad: object) -> VoiceConfig:
    return config_from_dict({"voice": {"vad": dict(vad)}}).voice


@dataclass
class Recorder:
    """VoiceCallbacks that record what the listener reports."""
    speaking: bool = False
    utterances: list[str] = field(default_factory=list)
    barge_ins: int = 0
    busy: int = 0
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def callbacks(self) -> VoiceCallbacks:
        async def on_utterance(text: str) -> None:
            self.utterances.append(text)
            self.got.set()

        async def on_barge_in() -> None:
            self.barge_ins += 1

        async def on_busy() -> None:
            self.busy += 1
            self.got.set()

        return VoiceCallbacks(on_utterance=on_utterance, on_barge_in=on_barge_in, is_speaking=lambda: self.speaking,
                              on_busy=on_busy)


async def stream_packets(listener: object, packets: list[bytes], *, realtime: float = 0.0) -> None:
    """Feed packets as the device would; `realtime` = fraction of 60 ms to wait between packets (0 = burst)."""
    for i, p in enumerate(packets):
        listener.feed(p)  # type: ignore[attr-defined]  # a Listener or a test double
        if realtime:
            await asyncio.sleep(0.06 * realtime)
        elif i % 20 == 0:
            await asyncio.sleep(0)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


class GatedWhisperModel:
    """Stands in for whisper's decoding: each decode blocks its thread until released; the audio's level names it
    ("u3" for a level of 0.03), so a test sees the order the recogniser's fair slots let utterances through."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.started = threading.Semaphore(0)
        self.gates: list[threading.Event] = []
        self.lock = threading.Lock()
        self.auto = False

    def decode(self, audio: np.ndarray) -> str:
        name = f"u{int(round(float(audio[0]) * 100))}"
        gate = threading.Event()
        with self.lock:
            if self.auto:
                gate.set()
            self.order.append(name)
            self.gates.append(gate)
        self.started.release()
        gate.wait(30)
        return name

    async def wait_started(self, timeout: float = 10.0) -> bool:
        """True once a decode has started (bounded, so a test that goes wrong fails instead of hanging)."""
        return await asyncio.to_thread(self.started.acquire, True, timeout)


class GatedWhisperASR(WhisperASR):
    """The real recogniser (fair slots, deadlines, worker threads) with the gated stand-in as its decoding."""

    def __init__(self, cfg: Any, model: GatedWhisperModel) -> None:
        super().__init__(cfg, model=object())
        self.gated = model

    def _decode(self, audio: np.ndarray, deadline: float | None = None) -> str:
        return self.gated.decode(audio)


class ScriptedWhisperASR(WhisperASR):
    """The real recogniser's queueing (fair slots, deadlines, a worker thread per decode) hearing a scripted text:
    each decode takes `decode_s` in its thread and answers the next line of `script` (a node's ASR stand-in)."""

    def __init__(self, cfg: Any, script: list[str], *, decode_s: float = 0.05) -> None:
        super().__init__(cfg, model=object())
        self.script = list(script)
        self.decode_s = decode_s
        self.heard_seconds: list[float] = []       # length of each utterance it was given

    async def warm_up(self) -> None:
        return None

    def _decode(self, audio: np.ndarray, deadline: float | None = None) -> str:
        self.heard_seconds.append(len(audio) / 16000)
        time.sleep(self.decode_s)
        return self.script.pop(0) if self.script else ""
