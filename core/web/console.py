"""The console's own calls: GET /api/whoami (the pages' sign-in), GET /api/catalog (catalog stats, operator),
POST /api/match {"text"} (what a request would play, operator), GET /api/latency (this node's request stages: count,
p50 and p99, operator)."""
from __future__ import annotations

from collections import Counter

from aiohttp import web

from core.content.types import Kind
from core.metrics import STAGES
from core.understand import describe
from core.web.auth import CALLER
from core.web.errors import ApiError, json_body, ok
from core.web.view import ConsoleView

__all__ = ["Console"]

_MAX_BODY = 16 * 1024


class Console:
    def __init__(self, node: ConsoleView) -> None:
        self.node = node

    async def whoami(self, request: web.Request) -> web.Response:
        who = request[CALLER]
        return ok({"role": who.role.value, "devices": list(who.devices), "node": self.node.node_id})

    async def catalog(self, request: web.Request) -> web.Response:
        tracks = self.node.tracks()
        by: Counter[tuple[str, str]] = Counter((t.kind.value, t.collection) for t in tracks)
        tags: Counter[str] = Counter(tag for t in tracks for tag in t.tags)
        return ok({"tracks": len(tracks), "songs": sum(t.kind is Kind.MUSIC for t in tracks),
                   "stories": sum(t.kind is Kind.STORY for t in tracks),
                   "collections": [{"kind": k, "collection": c, "tracks": n} for (k, c), n in sorted(by.items())],
                   "tags": dict(tags.most_common(50))})

    async def latency(self, request: web.Request) -> web.Response:
        summary = self.node.stage_latency()
        return ok({"node": self.node.node_id,
                   "stages": [{"stage": stage, **summary.get(stage, {"count": 0, "p50": None, "p99": None})}
                              for stage in STAGES]})

    async def match(self, request: web.Request) -> web.Response:
        body = await json_body(request, max_bytes=_MAX_BODY)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            raise ApiError(400, 'send {"text": "..."} with 1-500 characters', "text")
        understood = await self.node.understand(text.strip())
        return ok({**describe(text.strip(), understood.intent.name, understood.result, understood.request),
                   "speech": understood.result.speech, "language": understood.result.language})
