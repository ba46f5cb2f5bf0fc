"""`app.py serve`: run the device server (WebSocket + OTA/health HTTP)."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import gc
import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path

from loguru import logger

from core.cli import DEFAULT_CONFIG, USAGE_ERROR, load_cli_config, setup_command_logging
from core.config import Config, ConfigError, redacted
from core.logs import setup_logging
from core.utils.net import lan_address


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", default=None,
                   help=f"config file (default: {DEFAULT_CONFIG.name} next to app.py if present, "
                        "else built-in defaults)")


def config_from_args(args: argparse.Namespace, **overrides: object) -> Config:
    return load_cli_config(args.config, {k: v for k, v in overrides.items() if v is not None})


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # generic only in typeshed
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
                   help="serve a local catalog laid out like the bucket (music/<Collection>/..., "
                        "stories/<Collection>/...); it must exist (default: content.content_dir, demo-content, "
                        "which gets the demo library on first run)")
    p.add_argument("--workers", type=int, help="worker processes sharing the ports (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args, **{"server.host": args.host, "server.port": args.port,
                                        "server.http_port": args.http_port, "content.content_dir": args.content_dir,
                                        "server.workers": args.workers})
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    problem = content_dir_problem(cfg, flag=args.content_dir is not None)
    if problem:
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    setup_command_logging(cfg)
    logger.debug("config: {}", redacted(cfg))
    busy = ports_problem(cfg)      # before the models load (seconds): a taken port is said at once
    if busy:
        logger.error("{}", busy)
        return 1
    if cfg.server.workers > 1:
        return _run_workers(cfg, args.config)
    try:
        return asyncio.run(serve(cfg, config_file=args.config))
    except KeyboardInterrupt:        # before the node was up: nothing to drain; what had started is closed
        logger.info("interrupted while starting: stopped")
        return 130


async def serve(cfg: Config, *, reuse_port: bool = False, config_file: str | None = None) -> int:
    """Run one node until SIGTERM/SIGINT, then drain it: /ready false at once, out of the fleet registry, no new
    connections, every device's position saved and the device closed with 1012 (it reconnects through OTA to another
    node), all within fleet.drain_deadline_s; then everything is closed (no ffmpeg child or temp file left)."""
    from core.node import Node, NodeStartError
    try:
        node = await Node.start(cfg, reuse_port=reuse_port)
    except NodeStartError as exc:
        logger.error("cannot start: {}", exc)
        return 1
    except OSError as exc:           # taken between the check and the bind
        logger.error("{}", ports_problem(cfg) or f"cannot listen on {cfg.server.host}: {exc.strerror or exc}")
        return 1
    tune_gc()
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
    # Only now: a Ctrl-C the moment the ready line shows must drain, not interrupt.
    # An empty catalog still serves (a library may be uploaded later) but /ready says no: the line says why.
    empty = node.rt.content.empty_hint()
    logger.log("WARNING" if empty else "INFO", "{}", ready_line(cfg, node.ws_port, node.http_port, config_file)
               + (f" ({empty})" if empty else ""))
    await stop.wait()
    try:
        await node.drain()
    finally:
        await node.close()
    logger.info("stopped")
    return 0


GC_THRESHOLDS = (50_000, 10, 10)   # CPython's default is (700, 10, 10)


def tune_gc() -> None:
    """Collect the young generation less often. A node holds long-lived objects for every connected speaker (about
    140 per idle MQTT speaker) and sessions wake often (every 0.25-5 s); with the default threshold of 700 the
    objects of one wake-up live through several young collections, are promoted to the oldest generation, fill it by
    a quarter within seconds and so trigger full collections that scan every session: with 10,000 idle MQTT speakers
    each full collection stopped the event loop for 0.4-3 s (PINGREQ p99 near 1 s in bench/mqtt_bench.py). At 50,000
    those objects die before their first collection and full collections become rare (PINGREQ p99 under 50 ms).

    What the node built to start (catalog indexes, modules, the models' Python side: about 90,000 objects with the
    demo library) lives as long as the process: frozen, no full collection scans it again (20 ms -> under 1 ms
    per full collection right after start on this machine; more with a large catalog)."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def content_dir_problem(cfg: Config, *, flag: bool) -> str | None:
    """A local catalog folder that does not exist is a mistake (a typo), not a place to put demo content; only the
    default folder is filled with the demo library on first run."""
    from core.cli import folder_problem
    c = cfg.content
    if c.s3.bucket:
        return None
    root = Path(c.content_dir)
    if not root.exists() and not flag and _is_default_dir(c.content_dir) and c.generate_demo:
        return None
    return folder_problem(root, "--content-dir" if flag else "content.content_dir (or CONTENT_DIR)")


def _is_default_dir(path: str) -> bool:
    from core.config import ContentConfig
    return Path(path).resolve() == Path(ContentConfig().content_dir).resolve()


def bind_error(host: str, port: int, kind: int = socket.SOCK_STREAM) -> OSError | None:
    """Why `port` cannot be bound now, or None (port 0: the kernel picks one, always free)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)       # as the servers bind: TIME_WAIT is no conflict
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError as exc:
            return exc
    return None


def port_free(host: str, port: int) -> bool:
    return bind_error(host, port) is None


# Each port the node binds: what it is, its flag and config key, and the make variable of `make run`/`run-s3`.
_PORTS = (("WebSocket", "--port", "server.port", "PORT"), ("HTTP", "--http-port", "server.http_port", "HTTP_PORT"))


def ports_problem(cfg: Config) -> str | None:
    """Every port the node would bind that it cannot, and how to pick another: the make variable when
    XIAOZHI_MAKE_TARGET says which make target started us, else the flag and config key. None when all are free."""
    make = os.environ.get("XIAOZHI_MAKE_TARGET", "")
    host = cfg.server.host
    wanted: list[tuple[str, str, int, int, str]] = [
        (what, host, port, socket.SOCK_STREAM, f"{flag} ({key})" if not make else f"{var}=")
        for (what, flag, key, var), port in zip(_PORTS, (cfg.server.port, cfg.server.http_port), strict=True)]
    if cfg.mqtt.enabled:
        wanted += [("MQTT", cfg.mqtt.host, cfg.mqtt.port, socket.SOCK_STREAM, "mqtt.port"),
                   ("UDP audio", cfg.mqtt.udp_host, cfg.mqtt.udp_port, socket.SOCK_DGRAM, "mqtt.udp_port")]
    in_use: list[tuple[str, int, str]] = []
    for what, where, port, kind, how in wanted:
        exc = bind_error(where, port, kind)
        if exc is None:
            continue
        if exc.errno != errno.EADDRINUSE:
            return f"cannot listen on {where} port {port} ({what}): {exc.strerror or exc}"
        in_use.append((what, port, how))
    if not in_use:
        return None
    names = " and ".join(f"{what} port {port}" for what, port, _ in in_use)
    verb = "is" if len(in_use) == 1 else "are"
    if make:
        picks = " ".join(f"{how}{_next_free(host, port)}" for _, port, how in in_use if how.endswith("="))
        others = [how for _, _, how in in_use if not how.endswith("=")]
        fix = " and ".join(([f"port: make {make} {picks}"] if picks else []) + others)
    else:
        fix = "with " + " and ".join(how for _, _, how in in_use)
    return f"cannot listen on {host}: {names} {verb} already in use (another server running?); pick another {fix}"


def _next_free(host: str, port: int) -> int:
    """A free port to suggest: the first of port+100, port+200, ... that can be bound."""
    for candidate in range(port + 100, min(port + 1000, 65536), 100):
        if port_free(host, candidate):
            return candidate
    return port + 100


def ready_line(cfg: Config, ws_port: int, http_port: int, config_file: str | None = None) -> str:
    """The address devices should use: the same URL a fleet node advertises (core/web/ota.websocket_url)."""
    from core.cli import config_source
    from core.web.ota import websocket_url
    ota = f"http://{lan_address(cfg.server.host)}:{http_port}/xiaozhi/ota/"
    return (f"ready: devices connect to {websocket_url(cfg.server, ws_port)} (OTA {ota}); "
            f"config: {config_source(config_file)}")


def _worker(cfg: Config, index: int, config_file: str | None = None) -> None:
    setup_logging(cfg.log)
    if cfg.state.url.startswith(("redis://", "rediss://")):     # each worker is a fleet node of its own
        from core.node import node_id_for
        fleet = dataclasses.replace(cfg.fleet, node_id=f"{node_id_for(cfg)}-w{index}")
        cfg = dataclasses.replace(cfg, fleet=fleet)
    asyncio.run(serve(cfg, reuse_port=True, config_file=config_file))


def _run_workers(cfg: Config, config_file: str | None = None) -> int:
    """N processes bind the same ports with SO_REUSEPORT; the kernel spreads connections across them."""
    if cfg.server.port == 0 or cfg.server.http_port == 0:
        logger.error("server.workers > 1 needs fixed ports (server.port and server.http_port)")
        return 2
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(cfg, i, config_file), name=f"worker-{i}")
             for i in range(cfg.server.workers)]
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
