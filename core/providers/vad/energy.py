"""Energy VAD: RMS level against a tracked noise floor. No model, ~5 µs per window; fine on clean input,
fooled by steady noise. Used by config (`voice.vad.provider: energy`) or when the Silero model can't load."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["EnergyVAD", "EnergyStream"]

_FLOOR_DB_MIN = -70.0     # digital silence would otherwise pull the floor to -inf
_FLOOR_RISE_DB = 0.05     # per window: the floor creeps up slowly so speech doesn't become "noise"
_FLOOR_FALL = 0.3         # ...and follows quieter levels quickly
_SLOPE_DB = 3.0           # width of the logistic step around the margin


class EnergyStream:
    def __init__(self, margin_db: float) -> None:
        self._margin = margin_db
        self._floor = -60.0

    def reset(self) -> None:
        self._floor = -60.0

    def probability(self, window: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
        level = 20.0 * math.log10(max(rms, 1e-6))
        if level < self._floor:
            self._floor = max(_FLOOR_DB_MIN, self._floor + (level - self._floor) * _FLOOR_FALL)
        else:
            self._floor = min(self._floor + _FLOOR_RISE_DB, level)
        # Absolute gate: below -50 dBFS is silence whatever the floor says.
        if level < -50.0:
            return 0.0
        x = (level - self._floor - self._margin) / _SLOPE_DB
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


class EnergyVAD:
    name = "energy"

    def __init__(self, margin_db: float = 12.0) -> None:
        self._margin = margin_db

    def new_stream(self) -> EnergyStream:
        return EnergyStream(self._margin)
