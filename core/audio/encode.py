"""Opus encoding of 60 ms PCM frames, plus the small PCM helpers around it (framer, streaming resampler).

One `OpusEncoder` per stream (Opus is stateful). At complexity 5 a 60 ms frame costs 0.1-0.4 ms here, so the
pipeline encodes on the event loop in small batches (see pipeline.py for the measured choice).
"""
from __future__ import annotations

import opuslib_next

from core.audio.types import AudioParams

__all__ = ["OpusEncoder", "PcmFramer"]


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
        return bytes(self._enc.encode(pcm_frame, self._samples))

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
