"""Opus encoding of 60 ms PCM frames, plus the small PCM helpers around it (framer, streaming resampler).

One `OpusEncoder` per stream (Opus is stateful). At complexity 5 a 60 ms frame costs 0.1-0.4 ms here, so the
pipeline encodes on the event loop in small batches (see pipeline.py for the measured choice).
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import opuslib_next

from core.audio.types import AudioParams

__all__ = ["OpusEncoder", "PcmFramer", "StreamResampler", "resample_chunks"]


class OpusEncoder:
    """libopus (via opuslib_next) in APPLICATION_AUDIO mode, one packet per `params.frame_ms` of mono s16le."""

    __slots__ = ("_enc", "_samples", "_bytes")

    def __init__(self, params: AudioParams, bitrate: int = 32000, complexity: int = 5) -> None:
        if params.channels != 1:
            raise ValueError("the downlink is mono; AudioParams.channels must be 1")
        self._enc = opuslib_next.Encoder(params.sample_rate, 1, opuslib_next.APPLICATION_AUDIO)
        self._enc.bitrate = bitrate
        self._enc.complexity = complexity
        self._samples = params.frame_samples
        self._bytes = params.frame_bytes

    def encode(self, pcm_frame: bytes) -> bytes:
        if len(pcm_frame) != self._bytes:
            raise ValueError(f"Opus frame must be exactly {self._bytes} bytes of PCM, got {len(pcm_frame)}")
        return self._enc.encode(pcm_frame, self._samples)

    def encode_many(self, pcm_frames: list[bytes]) -> list[bytes]:
        return [self.encode(f) for f in pcm_frames]


class PcmFramer:
    """Accumulates arbitrary PCM chunks into exact `frame_bytes` pieces; `flush()` zero-pads the remainder."""

    __slots__ = ("_buf", "_size")

    def __init__(self, frame_bytes: int) -> None:
        self._buf = bytearray()
        self._size = frame_bytes

    def push(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        size = self._size
        whole = len(buf) - len(buf) % size
        if not whole:
            return []
        out = [bytes(buf[i:i + size]) for i in range(0, whole, size)]
        del buf[:whole]
        return out

    def flush(self) -> bytes | None:
        if not self._buf:
            return None
        # An odd trailing byte is half a sample: drop it rather than shift every later sample.
        tail = bytes(self._buf[: len(self._buf) - len(self._buf) % 2])
        self._buf.clear()
        return tail + bytes(self._size - len(tail)) if tail else None

    @property
    def pending(self) -> int:
        return len(self._buf)


class StreamResampler:
    """Chunk-by-chunk s16le mono resampler in numpy: windowed-sinc low-pass (when downsampling) + linear interpolation.

    Good enough for speech (TTS at 22050 Hz -> 16/24 kHz) and costs ~20 µs per 60 ms; music is resampled by ffmpeg.
    """

    def __init__(self, in_rate: int, out_rate: int, taps: int = 48) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate, self.out_rate = in_rate, out_rate
        self._step = in_rate / out_rate
        self._fir: np.ndarray | None = None
        if out_rate < in_rate:
            fc = 0.5 * out_rate / in_rate * 0.92          # normalised cutoff just under the new Nyquist
            n = np.arange(taps) - (taps - 1) / 2
            self._fir = (2 * fc * np.sinc(2 * fc * n) * np.hamming(taps)).astype(np.float64)
            self._fir /= self._fir.sum()
            self._hist = np.zeros(taps - 1)
        self._buf = np.zeros(0)
        self._pos = 0.0
        self._odd = b""

    def process(self, chunk: bytes) -> bytes:
        data = self._odd + chunk
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        x = np.frombuffer(data[:cut], dtype="<i2").astype(np.float64)
        if self.in_rate == self.out_rate:
            return data[:cut]
        if self._fir is not None:
            full = np.concatenate([self._hist, x])
            self._hist = full[len(full) - (len(self._fir) - 1):]
            x = np.convolve(full, self._fir, mode="valid")
        buf = np.concatenate([self._buf, x])
        last = len(buf) - 1
        if last < self._pos:
            self._buf = buf
            return b""
        n = int((last - self._pos) // self._step) + 1
        idx = self._pos + np.arange(n) * self._step
        i0 = np.floor(idx).astype(np.int64)
        frac = idx - i0
        i1 = np.minimum(i0 + 1, last)
        out = buf[i0] * (1.0 - frac) + buf[i1] * frac
        nxt = self._pos + n * self._step
        drop = int(nxt)
        drop = min(drop, last)  # keep the last sample for the next interpolation
        self._buf = buf[drop:]
        self._pos = nxt - drop
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """Push out the filter's tail (half the taps of silence)."""
        if self.in_rate == self.out_rate or self._fir is None:
            return b""
        return self.process(bytes(2 * (len(self._fir) // 2)))


async def resample_chunks(chunks: AsyncIterator[bytes], in_rate: int, out_rate: int) -> AsyncIterator[bytes]:
    rs = StreamResampler(in_rate, out_rate)
    async for chunk in chunks:
        out = rs.process(chunk)
        if out:
            yield out
    tail = rs.flush()
    if tail:
        yield tail
