"""Command-line commands of app.py, one module each. Shared here: how a command finds its config."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import Config, load_config
from core.content.layout import APP

__all__ = ["DEFAULT_CONFIG", "load_cli_config", "config_source", "folder_problem", "setup_command_logging",
           "USAGE_ERROR"]

USAGE_ERROR = 2            # the exit status of a command given a folder or config it cannot use (as argparse's)

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


def folder_problem(root: Path, where: str, *, scan_hint: bool = True) -> str | None:
    """Why the library folder `root` (named by `where`: a flag or config key) cannot be used, or None. Every command
    that reads a local library says it in these words, with exit status USAGE_ERROR: a typo is never an empty
    catalog."""
    if root.is_dir():
        return None
    if root.exists():
        return f"{where}: {root} is not a folder"
    scan = f", then `{APP} catalog scan {root}`" if scan_hint else ""
    return (f"{where}: folder {root} not found. Point it at your library (music/<Collection>/..., "
            f"stories/<Collection>/...{scan}), or create the demo library with `{APP} demo {root}`")


def setup_command_logging(cfg: Config, *, quiet: bool = False) -> None:
    """Every command logs in the server's format (log.json, log.level); `quiet` keeps info lines off a command
    whose output is read by programs (warnings and errors still show)."""
    import dataclasses

    from core.logs import setup_logging
    log = cfg.log
    if quiet and log.level in ("TRACE", "DEBUG", "INFO"):
        log = dataclasses.replace(log, level="WARNING")
    setup_logging(log)
