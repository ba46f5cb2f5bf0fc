"""`app.py serve`: run the device server (WebSocket + OTA/health HTTP)."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
                                   "accepted) and HTTP on --http-port (POST /xiaozhi/ota/, GET /health, /ready, "
                                   "/metrics, /api/devices). SIGTERM/SIGINT drain the node: positions saved, devices "
                                   "sent elsewhere.")
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
    """Run one node until SIGTERM/SIGINT, then drain it: /ready false at once, out of the fleet registry, no new
    connections, every device's position saved and the device closed with 1012 (it reconnects through OTA to another
    node), all within fleet.drain_deadline_s; then everything is closed (no ffmpeg child or temp file left)."""
    from core.node import Node, NodeStartError
    try:
        node = await Node.start(cfg, reuse_port=reuse_port)
    except NodeStartError as exc:
        logger.error("cannot start: {}", exc)
        return 1
    except OSError as exc:
        logger.error("cannot listen on {}:{}/{}: {} (is another server running? change server.port)",
                     cfg.server.host, cfg.server.port, cfg.server.http_port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            logger.warning("{} again: still draining (at most {:.0f} s)", sig.name, cfg.fleet.drain_deadline_s)
        else:
            logger.info("{}: draining", sig.name)
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    await stop.wait()
    try:
        await node.drain()
    finally:
        await node.close()
    logger.info("stopped")
    return 0


def _worker(cfg: Config, index: int) -> None:
    setup_logging(cfg.log)
    if cfg.state.url.startswith(("redis://", "rediss://")):     # each worker is a fleet node of its own
        from core.node import node_id_for
        fleet = dataclasses.replace(cfg.fleet, node_id=f"{node_id_for(cfg)}-w{index}")
        cfg = dataclasses.replace(cfg, fleet=fleet)
    asyncio.run(serve(cfg, reuse_port=True))


def _run_workers(cfg: Config) -> int:
    """N processes bind the same ports with SO_REUSEPORT; the kernel spreads connections across them."""
    if cfg.server.port == 0 or cfg.server.http_port == 0:
        logger.error("server.workers > 1 needs fixed ports (server.port and server.http_port)")
        return 2
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(cfg, i), name=f"worker-{i}") for i in range(cfg.server.workers)]
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
