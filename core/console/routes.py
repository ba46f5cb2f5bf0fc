"""The web console on the HTTP port: the pages in web/ and the JSON API behind them (docs/api.md).

Pages: / (a test device in the browser), /parents, /operator, and their files under /web/. They hold no data and
are served with a strict Content-Security-Policy (no inline script). The API needs a token in a header:
GET  /api/whoami                       which role the token has
GET  /api/catalog                      catalog stats (operator)
POST /api/match {"text"}               what a request would play (operator)
GET  /api/devices/{id}/policy          the parents' rules, today's listening, the audit trail
PUT  /api/devices/{id}/policy          replace the rules (400 names the bad field); audited; reaches a live session
GET  /api/devices/{id}/history         listening history and favourites
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from loguru import logger

from core.console.guard import Caller, Role, TokenGuard, token_from
from core.content.types import Kind
from core.devices import policy as rules
from core.devices.state import DeviceState, valid_device_id
from core.utils import safejson

__all__ = ["add_console", "WEB_ROOT", "CSP"]

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
_PAGES = {"/": "index.html", "/parents": "parents.html", "/operator": "operator.html"}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
          ".svg": "image/svg+xml", ".txt": "text/plain"}
_MAX_BODY = 16 * 1024


def _secure(resp: web.StreamResponse) -> web.StreamResponse:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return _secure(web.json_response(body, status=status))  # type: ignore[return-value]  # _secure returns its argument


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _ok(body: Any) -> web.Response:
    return _secure(web.json_response(body, dumps=_dumps))  # type: ignore[return-value]  # _secure returns its argument


def _rev(policy: Any) -> int:
    rev = policy.get("rev", 0) if isinstance(policy, dict) else 0
    return rev if isinstance(rev, int) and not isinstance(rev, bool) and rev >= 0 else 0


def _audit(policy: Any) -> list[dict[str, Any]]:
    trail = policy.get("audit", []) if isinstance(policy, dict) else []
    return [a for a in trail if isinstance(a, dict)][: rules.MAX_AUDIT] if isinstance(trail, list) else []


def _local_owner(directory: Any, device_id: str) -> Any:
    """The live connection of `device_id` on this node, if any (the local directory, or a fleet's local part)."""
    where = getattr(directory, "local", directory)
    owner = getattr(where, "owner", None)
    return owner(device_id) if owner is not None else None


async def _not_delivered(_msg: Any) -> bool:
    return False


def add_console(app: web.Application, rt: Any, *, operator_token: str, node_id: str = "local",
                command: Any = None) -> TokenGuard:
    """`command(msg) -> bool` delivers a fleet message to the node holding a device (NodeOps.command)."""
    command = command or _not_delivered
    cfg = rt.config.web
    guard = TokenGuard(operator_token=operator_token, parent_token=cfg.parent_token,
                       parent_devices=tuple(d.strip().lower() for d in cfg.parent_devices),
                       attempts_per_min=cfg.login_attempts_per_min)
    store, directory = rt.session.store, rt.session.directory
    files = {p.name: p for p in WEB_ROOT.glob("*") if p.is_file() and p.suffix in _TYPES} if WEB_ROOT.is_dir() else {}
    files.update({f"img/{p.name}": p for p in (WEB_ROOT / "img").glob("*") if p.suffix in _TYPES})

    def caller(request: web.Request) -> Caller | web.Response:
        client = request.remote or "?"
        if not guard.enabled:
            return _error(404, "the console API is off; set OPERATOR_TOKEN (fleet.operator_token) or PARENT_TOKEN "
                               "(web.parent_token)")
        wait = guard.blocked(client)
        if wait > 0:
            return _error(429, f"too many wrong tokens; try again in {wait:.0f} s", retry_after_s=round(wait))
        found = guard.check(token_from(request.headers), client)
        if found is None:
            logger.warning("console API: refused {} {} from {} (missing or wrong token)", request.method,
                           request.path, client)
            return _error(401, "token missing or wrong (header X-Operator-Token or X-Parent-Token)")
        return found

    def device_of(request: web.Request, who: Caller) -> str | web.Response:
        device_id = request.match_info["device_id"].strip().lower()
        if not valid_device_id(device_id):
            return _error(400, "not a usable device id", "device_id")
        if not who.may_manage(device_id):
            return _error(403, f"this token may not manage device {device_id!r}", "device_id")
        return device_id


    def caller_and_device(request: web.Request) -> tuple[Caller, str] | web.Response:
        """The caller and the device of the URL it may act on, or the refusal to send."""
        who = caller(request)
        if isinstance(who, web.Response):
            return who
        device_id = device_of(request, who)
        return device_id if isinstance(device_id, web.Response) else (who, device_id)

    async def state_of(device_id: str) -> tuple[DeviceState, Any]:
        owner = _local_owner(directory, device_id)
        live = getattr(owner, "device_state", None)
        if live is not None and getattr(getattr(owner, "core", None), "player", None) is not None:
            return live(), owner
        return await store.load(device_id), None

    def collections() -> list[str]:
        return sorted({t.collection for t in rt.content.tracks()})

    # ------------------------------------------------------------------ pages

    async def page(request: web.Request) -> web.StreamResponse:
        if not cfg.enabled:
            return _error(404, "the web console is off; set web.enabled: true in config.yaml")
        name = _PAGES.get(request.path) or request.match_info.get("name", "")
        path = files.get(name)
        if path is None:
            return _error(404, "no such page")
        return _secure(web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix],
                                    charset="utf-8" if path.suffix in (".html", ".js", ".css", ".txt") else None))

    # ------------------------------------------------------------------ API

    async def whoami(request: web.Request) -> web.Response:
        who = caller(request)
        if isinstance(who, web.Response):
            return who
        return _ok({"role": who.role.value, "devices": list(who.devices), "node": node_id})

    async def catalog(request: web.Request) -> web.Response:
        who = caller(request)
        if isinstance(who, web.Response):
            return who
        if who.role is not Role.OPERATOR:
            return _error(403, "the catalog view is for the operator")
        tracks = rt.content.tracks()
        by: Counter[tuple[str, str]] = Counter((t.kind.value, t.collection) for t in tracks)
        tags: Counter[str] = Counter(tag for t in tracks for tag in t.tags)
        return _ok({"tracks": len(tracks), "songs": len(rt.content.tracks(Kind.MUSIC)),
                    "stories": len(rt.content.tracks(Kind.STORY)),
                    "collections": [{"kind": k, "collection": c, "tracks": n} for (k, c), n in sorted(by.items())],
                    "tags": dict(tags.most_common(50))})

    async def match(request: web.Request) -> web.Response:
        who = caller(request)
        if isinstance(who, web.Response):
            return who
        if who.role is not Role.OPERATOR:
            return _error(403, "the match tester is for the operator")
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            return _error(400, "send {\"text\": \"...\"} with 1-500 characters", "text")
        from core.cli.match import describe
        from plugins_func.registry import PluginContext
        ctx = PluginContext(catalog=rt.content.matcher, device=DeviceState("match-web"), on_miss=rt.session.on_miss,
                            recent_size=rt.session.recent_history)
        u = await rt.session.understand(text.strip(), ctx)
        return _ok({**describe(text.strip(), u.intent.name, u.result), "speech": u.result.speech,
                    "language": u.result.language})

    async def policy_get(request: web.Request) -> web.Response:
        allowed = caller_and_device(request)
        if isinstance(allowed, web.Response):
            return allowed
        _, device_id = allowed
        st, owner = await state_of(device_id)
        p = rules.load(st.policy)
        now = time.time()
        tags = sorted({tag for t in rt.content.tracks() for tag in t.tags})
        return _ok({"device_id": device_id, "policy": rules.to_dict(p), "rev": _rev(st.policy),
                    "audit": _audit(st.policy), "live": owner is not None,
                    "listened_today_s": round(rules.listened_today(st.listened_day, st.listened_s, p, now)),
                    "bedtime_now": rules.in_bedtime(p, now), "volume": st.volume,
                    "collections": collections(), "tags": tags})

    async def policy_put(request: web.Request) -> web.Response:
        allowed = caller_and_device(request)
        if isinstance(allowed, web.Response):
            return allowed
        who, device_id = allowed
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            new = rules.parse(body, collections=collections())
        except rules.PolicyError as exc:
            return _error(400, str(exc), exc.field)
        st, owner = await state_of(device_id)
        old = rules.to_dict(rules.load(st.policy))
        now_rules = rules.to_dict(new)
        changes: dict[str, Any] = {k: [old[k], now_rules[k]] for k in rules.RULE_KEYS if old[k] != now_rules[k]}
        if len(json.dumps(changes, ensure_ascii=False)) > rules.MAX_AUDIT_CHARS:
            changes = {k: "changed" for k in changes}          # the log line below keeps the detail
        entry = {"at": time.time(), "who": who.role.value, "from": request.remote or "?", "changes": changes}
        audit = [entry, *_audit(st.policy)][: rules.MAX_AUDIT]
        record = {**now_rules, "rev": _rev(st.policy) + 1, "audit": audit}
        owner = owner or _local_owner(directory, device_id)       # connected meanwhile, state still loading
        applied = "live" if owner is not None and hasattr(owner, "set_policy") else "stored"
        if applied == "stored" or not owner.set_policy(record):
            fresh = await store.load(device_id)         # the newest record: only the policy changes
            if not await store.save(replace(fresh, policy=record, updated_at=time.time())):
                return _error(503, "the device store did not take the change; try again")
        if owner is None:                               # connected to another node: its session takes it over the bus
            from core.fleet.messages import SetPolicy
            try:
                if await command(SetPolicy(node_id, device_id, record)):
                    applied = "live"
            except Exception:   # noqa: BLE001 - saved already; the device reads it when it connects
                logger.exception("policy of {}: the fleet message failed", device_id)
        logger.info("policy of {} changed by {} from {} ({}): {}", device_id, who.role.value, request.remote or "?",
                    applied, json.dumps(changes, ensure_ascii=False)[:800])
        return _ok({"device_id": device_id, "policy": now_rules, "rev": record["rev"], "applied": applied,
                    "audit": audit})

    async def history(request: web.Request) -> web.Response:
        allowed = caller_and_device(request)
        if isinstance(allowed, web.Response):
            return allowed
        _, device_id = allowed
        st, owner = await state_of(device_id)
        titles = {t.uid: t.title for t in rt.content.tracks()}
        return _ok({"device_id": device_id, "live": owner is not None,
                    "history": [{"uid": h.uid, "kind": h.kind, "title": h.title, "started_at": h.started_at,
                                 "position_ms": h.position_ms, "finished": h.finished} for h in st.history],
                    "favourites": [{"uid": u, "title": titles.get(u, u.rsplit("/", 1)[-1])} for u in st.favourites],
                    "now": {"uid": st.item.uid, "title": st.item.title, "position_ms": st.item.position_ms}
                    if st.item else None})

    for path in _PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/web/{name:[A-Za-z0-9_.-]+}", page)
    app.router.add_get("/web/{name:img/[A-Za-z0-9_.-]+}", page)
    app.router.add_get("/api/whoami", whoami)
    app.router.add_get("/api/catalog", catalog)
    app.router.add_post("/api/match", match)
    app.router.add_get("/api/devices/{device_id}/policy", policy_get)
    app.router.add_put("/api/devices/{device_id}/policy", policy_put)
    app.router.add_get("/api/devices/{device_id}/history", history)
    return guard


async def _json_body(request: web.Request) -> Any:
    try:
        return await safejson.read_body(request, max_bytes=_MAX_BODY)
    except safejson.BodyError as exc:
        return _error(exc.status, exc.message, "body" if exc.status == 400 else None)
