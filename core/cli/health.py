"""`app.py health`: ask the local node's HTTP port (from the same config as `serve`) whether it is alive or ready.

Used by the container healthcheck, so it always probes the configured port. Exit 0 = healthy, 1 = not.
"""
from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from core.cli import load_cli_config
from core.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # generic only in typeshed
    p = sub.add_parser("health", help="probe the local node (exit 0 when healthy)",
                       description="GET /health (or /ready with --ready) on 127.0.0.1 at the configured "
                                   "server.http_port (env HTTP_PORT); exit 0 when it answers 200.")
    p.add_argument("--config", metavar="PATH", default=None, help="config file (as for serve)")
    p.add_argument("--ready", action="store_true", help="probe /ready (catalog, models, store, not draining)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_cli_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}")
        return 2
    url = f"http://127.0.0.1:{cfg.server.http_port}/{'ready' if args.ready else 'health'}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as r:
            body = r.read(4096).decode("utf-8", "replace")
            status = r.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(4096).decode("utf-8", "replace"), exc.code
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: no answer ({getattr(exc, 'reason', exc)}); is the server running on HTTP port "
              f"{cfg.server.http_port}? (health probes server.http_port, env HTTP_PORT)")
        return 1
    try:
        shown = json.dumps(json.loads(body))
    except ValueError:
        shown = body.strip()[:200]
    print(f"{url}: {status} {shown}")
    return 0 if status == 200 else 1
