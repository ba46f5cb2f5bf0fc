"""`python app.py catalog transcode`: pre-warm the transcode-once cache for a whole catalog.

Every track is streamed through the same pipeline the server uses (so the entries are byte-identical to what a
first play would write), without pacing, two at a time. Tracks already cached (locally or in the shared S3 prefix)
are skipped, so the command can be re-run after adding songs.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["add_parser", "run", "transcode_catalog"]


def add_parser(catalog_subparsers: Any) -> None:
    t = catalog_subparsers.add_parser(
        "transcode", help="pre-encode every track into the audio cache (first plays then cost no decoding)",
        description="Decode and Opus-encode every catalog track once into audio.cache_dir "
                    "(and the shared S3 cache prefix when audio.cache_s3_prefix is set).")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--content-dir", metavar="DIR", help="a local catalog folder (default: the configured source)")
    src.add_argument("--s3", action="store_true", help="the configured bucket (S3_BUCKET / content.s3.bucket)")
    t.add_argument("--config", default=argparse.SUPPRESS, help="config.yaml to read")
    t.add_argument("--concurrency", type=int, default=2, help="tracks transcoded at once (default 2: one per core)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=run)


@dataclass
class Summary:
    transcoded: int = 0
    already: int = 0
    uncacheable: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run(args: argparse.Namespace) -> int:
    from core.cli import load_cli_config
    from core.config import ConfigError

    overrides: dict[str, Any] = {}
    if getattr(args, "content_dir", None):
        overrides = {"content.content_dir": args.content_dir, "content.s3.bucket": ""}
    try:
        cfg = load_cli_config(getattr(args, "config", None), overrides=overrides)
        if getattr(args, "s3", False) and not cfg.content.s3.bucket:
            raise ConfigError("content.s3.bucket: --s3 needs a bucket; set S3_BUCKET or content.s3.bucket")
        if not cfg.audio.cache_dir:
            raise ConfigError("audio.cache_dir: transcoding needs the cache; set audio.cache_dir to a folder")
        if args.concurrency < 1:
            raise ConfigError("--concurrency: use 1 or more")
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    summary = asyncio.run(transcode_catalog(cfg, concurrency=args.concurrency, progress=not args.no_progress))
    print(f"transcoded {summary.transcoded}, already cached {summary.already}, not cacheable "
          f"{summary.uncacheable}, failed {len(summary.failed)} ({summary.seconds:.0f} s of audio encoded)")
    for line in summary.failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if summary.failed else 0


async def transcode_catalog(cfg: Any, *, concurrency: int = 2, progress: bool = True) -> Summary:
    from tqdm import tqdm

    from core.audio.pipeline import AudioPipeline
    from core.audio.types import AudioError
    from core.content.service import ContentService

    svc = await asyncio.to_thread(ContentService.from_config, cfg)
    await svc.start()
    pipeline = AudioPipeline.from_config(cfg, s3_client=svc.s3_client)
    await pipeline.start()
    summary = Summary()
    sem = asyncio.Semaphore(concurrency)
    tracks = svc.tracks()
    bar = tqdm(total=len(tracks), unit="track", disable=not progress)

    async def one(track: Any) -> None:
        async with sem:
            try:
                source = await svc.audio_source(track)
                key = pipeline.cache_key(source)
                if key is None:
                    summary.uncacheable += 1
                elif pipeline.cache is not None and await pipeline.cache.lookup(key):
                    summary.already += 1
                else:
                    frames = 0
                    async for _ in pipeline.frames(source):
                        frames += 1
                    summary.transcoded += 1
                    summary.seconds += frames * pipeline.params.frame_s
            except AudioError as exc:
                summary.failed.append(str(exc))
            except Exception as exc:   # noqa: BLE001 - one bad track must not stop the whole pre-warm
                summary.failed.append(f"{track.uid}: {type(exc).__name__}")
            finally:
                bar.update(1)

    try:
        await asyncio.gather(*(one(t) for t in tracks))
    finally:
        bar.close()
        await pipeline.close()
        await svc.close()
    return summary
