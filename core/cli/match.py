"""`python app.py match --content-dir DIR [UTTERANCE ...]`: what the server would play, without playing it.

Runs the server's path exactly (rule intent recogniser -> plugin registry -> matcher) over the catalog and prints
one JSON object per utterance (one per stdin line when none are given):
{"utterance", "intent", "kind", "collection", "title", "filename", "match_type", "score"}.
`title` is the catalog key chosen by title or group, or null on a miss (a labelled alternative is not a match).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from core.content.layout import APP

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser("match", help="show what each utterance would play (intent, title, match type) as JSON lines",
                       description="Run intent recognition and catalog matching exactly as the server does, "
                                   "without playing anything. One JSON object per utterance on stdout.")
    p.add_argument("--content-dir", metavar="DIR", default=None,
                   help="local catalog folder (music/<Language>/metadata.json, stories/<Category>/...); "
                        "default: the configured source")
    p.add_argument("--config", default=None, help="config file (default: config.yaml next to app.py if present, "
                                                  "else built-in defaults; env overrides apply)")
    p.add_argument("utterances", nargs="*", metavar="UTTERANCE", help="requests to try; none: read stdin lines")
    p.set_defaults(func=run)


def _lines(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    if args.utterances:
        yield from args.utterances
        return
    for line in stdin:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def _config(args: argparse.Namespace) -> Any:
    from core.cli import load_cli_config
    overrides: dict[str, Any] = {}
    if args.content_dir:
        # An explicit folder means that folder: no bucket, no demo files written into it.
        overrides = {"content.content_dir": args.content_dir, "content.s3.bucket": "",
                     "content.generate_demo": False, "content.refresh_time_s": 0}
    return load_cli_config(args.config, overrides=overrides)


async def _run(args: argparse.Namespace, utterances: Iterable[str], out: TextIO, cfg: Any = None) -> int:
    from loguru import logger

    from core.content.service import ContentService
    from core.devices.state import DeviceState
    from core.providers.intent.factory import build_intent
    from core.understand import Understander, describe
    from plugins_func.loader import default_functions
    from plugins_func.registry import PluginContext, PluginRegistry

    cfg = cfg or _config(args)
    svc = ContentService.from_config(cfg)
    svc.catalog.skip_missing = False      # matching judges the metadata; the audio files may live elsewhere
    await svc.start()
    try:
        if not svc.tracks():
            logger.warning("the catalog in {} is empty: every request is a miss (`" + APP + " catalog validate` "
                           "says why)", svc.storage.description)
        registry = PluginRegistry(default_functions())
        understand = Understander(build_intent(cfg.voice.intent, registry.tool_schemas(),
                                               wake_words=cfg.server.wake_words), registry,
                                  wake_words=cfg.server.wake_words)
        for utterance in utterances:
            # A device with nothing played: the same context a new device gets.
            ctx = PluginContext(catalog=svc.matcher, device=DeviceState("match-cli"), on_miss=cfg.matching.on_miss,
                                recent_size=cfg.matching.recent_history)
            u = await understand(utterance, ctx)
            out.write(json.dumps(describe(utterance, u.intent.name, u.result, u.request), ensure_ascii=False) + "\n")
            out.flush()
    finally:
        await svc.close()
    return 0


def run(args: argparse.Namespace) -> int:
    from core.cli import USAGE_ERROR, setup_command_logging
    from core.cli.serve import content_dir_problem
    from core.config import ConfigError
    try:
        cfg = _config(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    problem = content_dir_problem(cfg, flag=args.content_dir is not None)
    if problem:
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    setup_command_logging(cfg, quiet=True)      # stdout carries only the JSON lines
    try:
        return asyncio.run(_run(args, _lines(args, sys.stdin), sys.stdout, cfg))
    except KeyboardInterrupt:
        return 130
