"""Operations: GET /health (liveness: the process answers), GET /ready (200 only when the catalog is loaded, the
models are warm, the device-state store answers, and the node is neither draining nor overloaded; 503 with the
failing checks), GET /metrics (Prometheus text exposition)."""
from __future__ import annotations

import time

from aiohttp import web

from core.metrics import CONTENT_TYPE
from core.web.errors import ok
from core.web.view import OpsView

__all__ = ["Ops"]


class Ops:
    def __init__(self, node: OpsView) -> None:
        self.node = node
        self.started = time.time()

    async def health(self, request: web.Request) -> web.Response:
        return ok({"status": "ok", "node": self.node.node_id, "sessions": self.node.session_count(),
                   "tracks": len(self.node.tracks()), "uptime_s": round(time.time() - self.started, 1),
                   "audio": dict(self.node.audio_stats())})

    async def ready(self, request: web.Request) -> web.Response:
        checks = await self.node.readiness()
        ready = all(checks.values())
        return ok({"ready": ready, "node": self.node.node_id, "checks": checks}, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=await self.node.metrics_text(), headers={"Content-Type": CONTENT_TYPE})
