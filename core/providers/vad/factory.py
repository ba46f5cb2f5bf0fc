"""Build the VAD provider named by `voice.vad.provider`."""
from __future__ import annotations

from loguru import logger

from core.config import VADConfig

from .base import VADError, VADProvider
from .energy import EnergyVAD
from .silero import SileroVAD

__all__ = ["build_vad"]


def build_vad(cfg: VADConfig) -> VADProvider | None:
    """None for provider "none" (auto mode then ends utterances only on `listen stop`).

    Silero is loaded here so a missing or broken model shows at start-up; it falls back to the energy
    detector with a warning rather than leaving the server deaf.
    """
    if cfg.provider == "none":
        return None
    if cfg.provider == "energy":
        return EnergyVAD(cfg.energy_margin_db)
    vad = SileroVAD(cfg.model_path or None)
    try:
        vad.load()
    except VADError as exc:
        logger.warning("Silero VAD unavailable ({}); using the energy detector", exc)
        return EnergyVAD(cfg.energy_margin_db)
    return vad
