"""Per-connection voice input: uplink Opus -> PCM -> VAD -> utterance -> ASR -> `on_utterance(text)`.

`feed()` only queues the packet. A worker task per connection decodes and runs the VAD off the event loop
(one `to_thread` per batch of queued packets) and starts ASR in its own task when an utterance ends.

Modes (`listen start`): auto ends an utterance after `min_silence_ms` of silence; manual keeps everything
until `listen stop`; realtime is auto plus barge-in (speech while the device is playing calls `on_barge_in`).
Audio arriving while the device plays in auto mode is its own output leaking in and is ignored.
Outcomes: silence -> nothing; a too-short burst -> nothing; speech -> on_utterance(text), where "" means
"heard something, understood nothing" (noise, ASR error or timeout, longer than `max_utterance_s`).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import opuslib_next
from loguru import logger

from core.config import VADConfig, VoiceConfig
from core.listener_base import VoiceCallbacks
from core.protocol.messages import ListenMode, ListenState
from core.providers.asr.base import ASRError, ASRProvider
from core.providers.vad.base import SAMPLE_RATE, WINDOW_SAMPLES, VADProvider, VADStream

__all__ = ["ListenerFactory", "VoiceListener", "Segmenter", "Utterance"]

FRAME_SAMPLES = 960                 # 60 ms at 16 kHz
_MAX_DECODE = 1920                  # Opus packets may hold up to 120 ms
_DTX_MAX_BYTES = 3                  # TOC-only packets the device sends in silence
_INBOX_MAX = 200                    # 12 s of packets; older ones are dropped if the worker falls behind
_HISTORY = 5                        # "have voice" = at least _VOTES of the last _HISTORY windows are voice
_VOTES = 3
_SILENCE_FRAME = bytes(FRAME_SAMPLES * 2)


class _State(Enum):
    IDLE = "idle"                   # waiting for speech (pre-roll kept)
    SPEECH = "speech"               # collecting an utterance
    DRAIN = "drain"                 # after an over-long utterance: wait for silence before listening again


@dataclass(slots=True)
class Utterance:
    kind: str                       # "speech", "too_long" or "barge_in"
    pcm: bytes = b""
    voiced_ms: int = 0
    ended_at: float = field(default_factory=time.monotonic)   # the end point: the VAD's silence wait, or listen stop


class Segmenter:
    """Synchronous end-of-utterance logic over 16 kHz PCM frames; one per connection, used by one thread."""

    def __init__(self, cfg: VADConfig, vad: VADStream | None) -> None:
        self._cfg = cfg
        self._vad = vad
        self.mode = ListenMode.AUTO
        self.active = False
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._reset()

    def _reset(self) -> None:
        self._state = _State.IDLE
        self._pending = np.zeros(0, np.float32)
        self._pos = 0                           # samples run through the VAD since the reset
        self._voice = False                     # hysteresis state of the last window
        self._history: deque[bool] = deque(maxlen=_HISTORY)
        self._last_voice_end = 0
        self._voiced = 0                        # voiced samples in the current utterance
        self._utt: list[bytes] = []
        self._utt_bytes = 0
        self._overflow = False
        self._preroll.clear()
        self._preroll_bytes = 0
        if self._vad is not None:
            self._vad.reset()

    # -- control -------------------------------------------------------------------------------------
    def listen(self, state: ListenState, mode: ListenMode | None) -> list[Utterance]:
        if state is ListenState.START:
            self.mode = mode or ListenMode.AUTO
            self.active = True
            self._reset()
            return []
        if state is ListenState.STOP:
            out = self._finish(forced=True) if self.active else []
            self.active = False
            self._reset()
            return out
        if state is ListenState.DETECT:               # wake-word audio precedes this; it is not a request
            self._reset()
        return []

    def recover(self) -> None:
        """After an unexpected error: drop the partial utterance, keep mode and listening state."""
        mode, active = self.mode, self.active
        self._reset()
        self.mode, self.active = mode, active

    @property
    def in_speech(self) -> bool:
        return self._state is _State.SPEECH or (self.mode is ListenMode.MANUAL and self._utt_bytes > 0)

    # -- audio ---------------------------------------------------------------------------------------
    def process(self, pcm: bytes, *, speaking: bool, busy: bool) -> list[Utterance]:
        """One decoded frame. `speaking`: the device is playing; `busy`: the previous utterance is in ASR."""
        if not self.active:
            return []
        if busy or (speaking and self.mode is ListenMode.AUTO):
            if self._state is not _State.IDLE or self._utt_bytes:
                self._reset()
            return []
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        voiced_windows = self._run_vad(samples)
        if self.mode is ListenMode.MANUAL:
            self._voiced += voiced_windows * WINDOW_SAMPLES
            self._append(pcm)
            return []
        if self._state is _State.IDLE:
            self._preroll.append(pcm)
            self._preroll_bytes += len(pcm)
            limit = self._cfg.preroll_ms * SAMPLE_RATE // 1000 * 2
            while self._preroll_bytes - len(self._preroll[0]) >= limit and len(self._preroll) > 1:
                self._preroll_bytes -= len(self._preroll.popleft())
            if sum(self._history) >= _VOTES:
                self._state = _State.SPEECH
                self._utt = list(self._preroll)
                self._utt_bytes = self._preroll_bytes
                self._voiced = sum(self._history) * WINDOW_SAMPLES
                self._preroll.clear()
                self._preroll_bytes = 0
                return [Utterance("barge_in")] if speaking else []
            return []
        silence_ms = (self._pos - self._last_voice_end) * 1000 // SAMPLE_RATE
        if self._state is _State.DRAIN:
            if silence_ms >= self._cfg.min_silence_ms:
                self._reset()
            return []
        self._voiced += voiced_windows * WINDOW_SAMPLES
        self._append(pcm)
        if self._overflow:
            self._state = _State.DRAIN
            self._utt, self._utt_bytes, self._overflow = [], 0, False
            return [Utterance("too_long", voiced_ms=self._voiced_ms())]
        if silence_ms >= self._cfg.min_silence_ms:
            return self._finish(forced=False)
        return []

    def _append(self, pcm: bytes) -> None:
        if self._utt_bytes + len(pcm) > self._cfg.max_utterance_s * SAMPLE_RATE * 2:
            self._overflow = True
            return
        self._utt.append(pcm)
        self._utt_bytes += len(pcm)

    def _voiced_ms(self) -> int:
        return self._voiced * 1000 // SAMPLE_RATE

    def _finish(self, *, forced: bool) -> list[Utterance]:
        """End the current utterance: speech long enough -> ASR; a click or nothing -> dropped."""
        collecting = self._state is _State.SPEECH or (self.mode is ListenMode.MANUAL and forced)
        out: list[Utterance] = []
        if collecting and self._overflow:
            out = [Utterance("too_long", voiced_ms=self._voiced_ms())]
        elif collecting and self._voiced_ms() >= self._cfg.min_speech_ms:
            out = [Utterance("speech", b"".join(self._utt), self._voiced_ms())]
        self.recover()
        return out

    def _run_vad(self, samples: np.ndarray) -> int:
        """Feed samples through the VAD in 512-sample windows (leftovers carried); returns voiced windows."""
        if self._vad is None:
            # No VAD: everything counts as voice, so only `listen stop` ends an utterance.
            self._pos += len(samples)
            self._last_voice_end = self._pos
            self._history.extend([True] * _HISTORY)
            return len(samples) // WINDOW_SAMPLES
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(buf) // WINDOW_SAMPLES
        voiced = 0
        for i in range(n):
            p = self._vad.probability(buf[i * WINDOW_SAMPLES:(i + 1) * WINDOW_SAMPLES])
            if p >= self._cfg.threshold:
                self._voice = True
            elif p <= self._cfg.threshold_low:
                self._voice = False
            self._pos += WINDOW_SAMPLES
            self._history.append(self._voice)
            if self._voice:
                voiced += 1
                self._last_voice_end = self._pos
        self._pending = buf[n * WINDOW_SAMPLES:].copy()
        return voiced


class VoiceListener:
    """The VoiceInput for one connection."""

    def __init__(self, cfg: VADConfig, asr: ASRProvider, vad: VADStream | None, callbacks: VoiceCallbacks,
                 device_id: str, *, clock: Callable[[], float] = time.monotonic,
                 on_latency: Callable[[float], None] | None = None,
                 on_transcript: Callable[[float], None] | None = None) -> None:
        self._asr = asr
        self._on_latency = on_latency
        self._on_transcript = on_transcript
        self._cb = callbacks
        self._device = device_id
        self._clock = clock
        self._seg = Segmenter(cfg, vad)
        self._decoder = opuslib_next.Decoder(SAMPLE_RATE, 1)
        self._inbox: deque[Any] = deque()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._transcribing = False
        self._in_batch = False
        self.processed = 0                  # packets that went through decode and VAD (tests: nothing left unseen)
        self._closed = False
        self._bad_packets = 0
        self._dropped = 0
        self._frame_len = 0                 # decoded bytes per packet once the device's frame size is known
        self._frame_votes = 0
        self._gap_s = (cfg.min_silence_ms + 300) / 1000   # a device that stops sending mid-utterance
        self.last_speech_end: float | None = None         # when the VAD ended the last utterance (for timing)

    # -- VoiceInput ----------------------------------------------------------------------------------
    def listen(self, state: ListenState, mode: ListenMode | None) -> None:
        self._put(("listen", state, mode))

    def feed(self, opus_packet: bytes) -> None:
        try:
            self._put(bytes(opus_packet))
        except Exception as exc:  # noqa: BLE001 - never let a bad packet reach the session
            logger.debug("voice {}: packet ignored ({})", self._device, type(exc).__name__)

    async def drained(self) -> None:
        """Returns once everything fed so far has been processed, including any transcription it started."""
        while self._inbox or self._in_batch or self._tasks:
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        self._closed = True
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- worker --------------------------------------------------------------------------------------
    def _put(self, item: Any) -> None:
        if self._closed:
            return
        self._inbox.append(item)
        if len(self._inbox) > _INBOX_MAX:
            # Keep listen events; drop the oldest audio.
            for i, old in enumerate(self._inbox):
                if isinstance(old, bytes):
                    del self._inbox[i]
                    break
            self._dropped += 1
            if self._dropped in (1, 100, 1000):
                logger.warning("voice {}: falling behind, dropped {} packets", self._device, self._dropped)
        if self._worker is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return                      # picked up on the first call from inside the loop
            self._wake = asyncio.Event()
            self._worker = asyncio.create_task(self._run(), name=f"voice-{self._device}")
        assert self._wake is not None
        self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._inbox:
                timeout = self._gap_s if self._seg.in_speech and self._seg.mode is not ListenMode.MANUAL else None
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    self._inbox.append(("gap",))    # nothing arrived: end the utterance on wall-clock silence
                self._wake.clear()
            items = list(self._inbox)
            self._inbox.clear()
            self._in_batch = True
            try:
                speaking = bool(self._cb.is_speaking())
            except Exception:   # noqa: BLE001 - a failing session callback counts as not speaking
                speaking = False
            try:
                events = await asyncio.to_thread(self._process, items, speaking)
            except Exception:   # noqa: BLE001 - contained to this utterance; the listener goes on
                logger.exception("voice {}: audio processing failed; utterance dropped", self._device)
                self._seg.recover()
                self._in_batch = False
                continue
            for ev in events:
                await self._dispatch(ev)
            self._in_batch = False

    def _process(self, items: list[Any], speaking: bool) -> list[Utterance]:
        """Runs in a worker thread: decode, VAD, segment."""
        out: list[Utterance] = []
        for item in items:
            # Audio after an utterance ended in this same batch waits like audio during its ASR.
            busy = self._transcribing or any(e.kind == "speech" for e in out)
            if isinstance(item, bytes):
                out += self._seg.process(self._decode(item), speaking=speaking, busy=busy)
                self.processed += 1
            elif item[0] == "listen":
                out += self._seg.listen(item[1], item[2])
            elif item[0] == "gap":
                for _ in range(int(self._gap_s * 1000) // 60 + 1):
                    out += self._seg.process(_SILENCE_FRAME, speaking=speaking, busy=busy)
        return out

    def _decode(self, packet: bytes) -> bytes:
        silent = bytes(self._frame_len) if self._frame_len else _SILENCE_FRAME
        if len(packet) <= _DTX_MAX_BYTES:
            return silent
        try:
            pcm = bytes(self._decoder.decode(packet, _MAX_DECODE))
        except Exception:  # noqa: BLE001 - opuslib raises OpusError; anything else must not escape either
            return self._garbage(silent)
        # A device sends one frame size (60 ms by default). Once that is established, a packet decoding
        # to another duration is junk that happened to parse; its noise would only confuse the ASR.
        if len(pcm) == self._frame_len:
            self._frame_votes = min(self._frame_votes + 1, 16)
        elif self._frame_votes >= 8:
            self._frame_votes -= 1
            return self._garbage(silent)
        else:
            self._frame_len, self._frame_votes = len(pcm), 1
        return pcm or silent

    def _garbage(self, silent: bytes) -> bytes:
        self._bad_packets += 1
        if self._bad_packets in (1, 10, 100, 1000):
            logger.info("voice {}: {} undecodable Opus packets (treated as silence)", self._device, self._bad_packets)
        return silent

    async def _dispatch(self, ev: Utterance) -> None:
        if ev.kind == "barge_in":
            logger.info("voice {}: barge-in", self._device)
            await self._call(self._cb.on_barge_in())
            return
        self.last_speech_end = ev.ended_at
        if ev.kind == "too_long":
            logger.info("voice {}: utterance longer than the limit ({} ms voiced)", self._device, ev.voiced_ms)
            self._spawn(self._deliver(""))
            return
        self._transcribing = True
        self._spawn(self._recognise(ev))

    async def _recognise(self, ev: Utterance) -> None:
        t0 = self._clock()
        try:
            text = await self._asr.transcribe(ev.pcm, SAMPLE_RATE, device=self._device)
            if self._on_latency is not None:
                self._on_latency(self._clock() - t0)
            if self._on_transcript is not None:      # the thread hop and the wait for a recogniser slot included
                self._on_transcript(time.monotonic() - ev.ended_at)
        except ASRError as exc:
            logger.warning("voice {}: ASR failed: {}", self._device, exc)
            if exc.busy and self._cb.on_busy is not None:
                await self._call(self._cb.on_busy())
                return
            text = ""
        except Exception:   # noqa: BLE001 - an ASR bug drops this utterance, not the listener
            logger.exception("voice {}: ASR crashed", self._device)
            text = ""
        finally:
            self._transcribing = False
        logger.info("voice {}: {:.1f} s utterance -> {!r} in {:.2f} s", self._device, len(ev.pcm) / 32000,
                    text, self._clock() - t0)
        await self._deliver(text.strip())

    async def _deliver(self, text: str) -> None:
        await self._call(self._cb.on_utterance(text))

    async def _call(self, awaitable: Any) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - a failing session callback must not stop the listener
            logger.exception("voice {}: session callback failed", self._device)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ListenerFactory:
    """`VoiceInputFactory`: shares the ASR provider and the VAD model across connections."""

    def __init__(self, cfg: VoiceConfig, asr: ASRProvider, vad: VADProvider | None, *,
                 on_latency: Callable[[float], None] | None = None,
                 on_transcript: Callable[[float], None] | None = None) -> None:
        self._cfg = cfg
        self._asr = asr
        self._vad = vad
        self._on_latency = on_latency      # metrics: seconds per transcribed utterance
        self._on_transcript = on_transcript    # metrics: seconds from the utterance's end point to its transcript

    def open(self, callbacks: VoiceCallbacks, *, device_id: str) -> VoiceListener:
        stream = self._vad.new_stream() if self._vad is not None else None
        return VoiceListener(self._cfg.vad, self._asr, stream, callbacks, device_id, on_latency=self._on_latency,
                             on_transcript=self._on_transcript)
