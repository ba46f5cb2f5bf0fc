"""`app.py serve`: run the device server (WebSocket + OTA/health HTTP)."""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal

from loguru import logger

from core.cli import DEFAULT_CONFIG, load_cli_config
from core.config import Config, ConfigError, redacted
from core.logs import setup_logging


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", default=None,
                   help=f"config file (default: {DEFAULT_CONFIG.name} next to app.py if present, else built-in defaults)")


def config_from_args(args: argparse.Namespace, **overrides: object) -> Config:
    return load_cli_config(args.config, {k: v for k, v in overrides.items() if v is not None})


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the server (the default command)",
                       description="Run the Xiaozhi device server: WebSocket on --port (path /xiaozhi/v1/, any path "
                                   "accepted) and HTTP on --http-port (POST /xiaozhi/ota/, GET /health).")
    add_config_arg(p)
    p.add_argument("--host", help="bind address (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="WebSocket port (default 8000)")
    p.add_argument("--http-port", type=int, help="OTA/health HTTP port (default 8003)")
    p.add_argument("--content-dir", metavar="DIR",
                   help="serve a local catalog laid out like the bucket (music/<Language>/..., stories/<Category>/...)")
    p.add_argument("--workers", type=int, help="worker processes sharing the ports (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args, **{"server.host": args.host, "server.port": args.port,
                                        "server.http_port": args.http_port, "content.content_dir": args.content_dir,
                                        "server.workers": args.workers})
    except ConfigError as exc:
        print(f"config error: {exc}")
        return 2
    setup_logging(cfg.log)
    logger.debug("config: {}", redacted(cfg))
    if cfg.server.workers > 1:
        return _run_workers(cfg)
    return asyncio.run(serve(cfg))


async def serve(cfg: Config, *, reuse_port: bool = False) -> int:
    from core.node import Node
    try:
        node = await Node.start(cfg, reuse_port=reuse_port)
    except OSError as exc:
        logger.error("cannot listen on {}:{}/{}: {} (is another server running? change server.port)",
                     cfg.server.host, cfg.server.port, cfg.server.http_port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    await node.close()
    return 0


def _worker(cfg: Config) -> None:
    setup_logging(cfg.log)
    asyncio.run(serve(cfg, reuse_port=True))


def _run_workers(cfg: Config) -> int:
    """N processes bind the same ports with SO_REUSEPORT; the kernel spreads connections across them."""
    if cfg.server.port == 0 or cfg.server.http_port == 0:
        logger.error("server.workers > 1 needs fixed ports (server.port and server.http_port)")
        return 2
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(cfg,), name=f"worker-{i}") for i in range(cfg.server.workers)]
    for p in procs:
        p.start()
    logger.info("{} workers started (pids {})", len(procs), [p.pid for p in procs])

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.pid:
                os.kill(p.pid, signum)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)
