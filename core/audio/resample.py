"""Streaming polyphase resampler for s16le mono PCM (no scipy), and WAV helpers.

Used for speech (TTS engines write 22050 Hz WAV; the downlink is 16 or 24 kHz); music is resampled by ffmpeg.

A Blackman-windowed sinc, 2*K+1 input taps per output sample, evaluated only at the output instants
(rational factor L/M), so 22050 -> 16000 costs ~33 multiply-adds per output sample. Output is centred on
the input (no delay): `flush()` emits the tail.
"""
from __future__ import annotations

import io
import math
import wave

import numpy as np

__all__ = ["Resampler", "WavResampler", "resample", "parse_wav", "wav_bytes"]


class Resampler:
    def __init__(self, src_rate: int, dst_rate: int, half_taps: int = 16) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(src_rate, dst_rate)
        self._L, self._M = dst_rate // g, src_rate // g
        self._K = half_taps
        self._n_in = 0                  # input samples received
        self._m = 0                     # next output index
        self._pending = b""             # odd trailing byte
        if self.passthrough:
            return
        L, K = self._L, self._K
        n = np.arange((2 * K + 1) * L, dtype=np.float64)
        centre = K * L
        fc = 0.5 * min(1.0, L / self._M) / L * 0.92       # cut a little below Nyquist of the lower rate
        h = 2 * fc * np.sinc(2 * fc * (n - centre))
        span = 2 * K * L
        window = np.where(n <= span,
                          0.42 - 0.5 * np.cos(2 * np.pi * n / span) + 0.08 * np.cos(4 * np.pi * n / span), 0.0)
        h = h * window * L
        # table[phase, k] = h[phase + k*L]
        self._table = h.reshape(2 * K + 1, L).T.astype(np.float32)
        self._buf = np.zeros(2 * K, np.float32)        # x[-2K .. -1] = 0
        self._buf_start = -2 * K                        # absolute input index of _buf[0]
        self._ks = np.arange(2 * K + 1)

    @property
    def passthrough(self) -> bool:
        return self._L == self._M

    def process(self, pcm: bytes) -> bytes:
        data = self._pending + pcm
        cut = len(data) // 2 * 2
        self._pending = data[cut:]
        if self.passthrough:
            return data[:cut]
        x = np.frombuffer(data[:cut], np.int16).astype(np.float32)
        self._buf = np.concatenate([self._buf, x])
        self._n_in += len(x)
        # output m needs input up to i_hi = (m*M + K*L) // L  <  n_in
        m_end = (self._n_in * self._L - 1 - self._K * self._L) // self._M + 1
        return self._emit(max(m_end, self._m))

    def flush(self) -> bytes:
        if self.passthrough:
            return b""
        total = -(-self._n_in * self._L // self._M)     # ceil(n_in * L / M)
        self._buf = np.concatenate([self._buf, np.zeros(self._K + 1, np.float32)])
        return self._emit(total)

    def _emit(self, m_end: int) -> bytes:
        if m_end <= self._m:
            return b""
        L, M, K = self._L, self._M, self._K
        ms = np.arange(self._m, m_end, dtype=np.int64)
        j = ms * M + K * L
        i_hi = j // L
        phase = j % L
        idx = i_hi[:, None] - self._ks[None, :] - self._buf_start
        y = np.einsum("ij,ij->i", self._table[phase], self._buf[idx])
        self._m = m_end
        # Keep only what the next output can still reach.
        keep_from = (self._m * M + K * L) // L - 2 * K
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start = keep_from
        return bytes(np.clip(np.rint(y), -32768, 32767).astype(np.int16).tobytes())


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    r = Resampler(src_rate, dst_rate)
    return r.process(pcm) + r.flush()


def parse_wav(data: bytes) -> tuple[bytes, int]:
    """(s16le mono PCM, sample rate) from a WAV file; tolerates the bogus sizes of streamed WAV headers."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            fmt = int.from_bytes(data[body:body + 2], "little")
            channels = int.from_bytes(data[body + 2:body + 4], "little")
            rate = int.from_bytes(data[body + 4:body + 8], "little")
            bits = int.from_bytes(data[body + 14:body + 16], "little")
            if fmt not in (1, 0xFFFE) or bits != 16:
                raise ValueError(f"WAV format {fmt}/{bits}-bit is not 16-bit PCM")
        elif cid == b"data":
            if not rate:
                raise ValueError("WAV data before fmt chunk")
            end = len(data) if size in (0, 0xFFFFFFFF) or body + size > len(data) else body + size
            pcm = data[body:end]
            pcm = pcm[: len(pcm) // 2 * 2]
            if channels > 1:
                frames = np.frombuffer(pcm[: len(pcm) // (2 * channels) * 2 * channels], np.int16)
                pcm = frames.reshape(-1, channels).mean(axis=1).astype(np.int16).tobytes()
            return pcm, rate
        pos = body + size + (size & 1)
    raise ValueError("WAV has no data chunk")


def wav_bytes(pcm: bytes, rate: int) -> bytes:  # used by tests and the hosted stand-ins
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


class WavResampler:
    """WAV files in (one per sentence, as TTS engines write them), PCM at `rate` out, one resampler throughout."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._resampler: Resampler | None = None

    def push(self, wav: bytes) -> bytes:
        """Raises ValueError for data that is not 16-bit PCM WAV."""
        pcm, src = parse_wav(wav)
        if self._resampler is None:
            self._resampler = Resampler(src, self._rate)
        return self._resampler.process(pcm)

    def flush(self) -> bytes:
        return self._resampler.flush() if self._resampler is not None else b""
