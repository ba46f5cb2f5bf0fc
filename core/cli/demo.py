"""`python app.py demo [DIR]`: generate the demo library (songs, phonics, narrated stories) in the bucket layout."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="generate the demo content library",
                       description="Generate a small library of synthesised songs and narrated stories with "
                                   "metadata.json catalogs (needs ffmpeg and espeak-ng). Idempotent.")
    p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                   help="target folder (default: content.content_dir, i.e. demo-content)")
    p.add_argument("--config", default=None, help="config file (default: config.yaml next to app.py if present)")
    p.add_argument("--force", action="store_true", help="regenerate every file even if the library is complete")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.cli import load_cli_config
    from core.config import ConfigError
    from core.content.demo import generate_demo

    try:
        cfg = load_cli_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    target = Path(args.dir or cfg.content.content_dir)
    try:
        generate_demo(target, force=args.force)
    except (FileExistsError, RuntimeError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"demo library ready in {target}")
    return 0
