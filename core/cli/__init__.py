"""Command-line commands of app.py, one module each. Shared here: how a command finds its config."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import Config, load_config

__all__ = ["DEFAULT_CONFIG", "load_cli_config", "config_source"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def load_cli_config(path: str | None, overrides: dict[str, Any] | None = None) -> Config:
    """--config PATH if given, else config.yaml next to app.py when present, else the built-in defaults;
    the environment and `overrides` (dotted keys) apply on top. Every command resolves it the same way."""
    chosen = path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(chosen, overrides=overrides)


def config_source(cfg_path: str | None) -> str:
    """Which file a command's config came from, for the ready line and --help."""
    if cfg_path:
        return str(Path(cfg_path).resolve())
    if DEFAULT_CONFIG.exists():
        return str(DEFAULT_CONFIG)
    return "built-in defaults (no config.yaml found)"
