"""VAD provider interface: speech probability for fixed 512-sample windows of 16 kHz audio.

A provider holds the shared model (loaded once per process); each connection gets its own `VADStream`
with the recurrent state, so streams never interfere.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["VADProvider", "VADStream", "VADError", "WINDOW_SAMPLES", "SAMPLE_RATE"]

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 512        # 32 ms at 16 kHz: the window Silero is trained on


class VADError(Exception):
    """The VAD model could not be loaded or run. Message is log-safe."""


class VADStream(Protocol):
    def probability(self, window: np.ndarray) -> float:
        """Speech probability (0-1) of one float32 window of WINDOW_SAMPLES samples in [-1, 1]."""
        ...

    def reset(self) -> None:
        """Forget the recurrent state (new utterance, wake word, listen start)."""
        ...


class VADProvider(Protocol):
    name: str

    def new_stream(self) -> VADStream:
        """A per-connection detector sharing this provider's model."""
        ...
