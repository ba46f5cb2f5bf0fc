#!/usr/bin/env python3
"""Xiaozhi voice content server: entry point and command line.

    python app.py [serve] [--config PATH] [--host H] [--port N] [--http-port N] [--content-dir DIR]
    python app.py client --url ws://HOST:PORT/xiaozhi/v1/ --text "play baa baa black sheep" [--out reply.wav]
    python app.py match --content-dir DIR [UTTERANCE ...]
    python app.py catalog {validate,scan,upload,list,transcode} ...
    python app.py demo [DIR]

Each command lives in core/cli/<command>.py and registers its own sub-parser.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("serve", "client", "match", "catalog", "demo", "health")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Voice content server for ESP32 Xiaozhi devices: plays songs and stories from an S3 or local "
                    "catalog as 60 ms Opus frames over the Xiaozhi WebSocket protocol.",
        epilog="With no command, 'serve' runs with its defaults. "
               "'python app.py COMMAND --help' documents each command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"core.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    from core.config import LogConfig
    from core.logs import setup_logging
    setup_logging(LogConfig())      # secrets scrubbed from every command's logs; `serve` re-applies its config
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
