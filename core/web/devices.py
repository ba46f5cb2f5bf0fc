"""Everything under /api/devices: the fleet's connected devices, commands for one device, the household's rules
and the listening history.

GET  /api/household                     the devices a token may manage, by name, with how each one is (parents,
                                        operator)
PUT  /api/devices/{id}/name {name}      what the household calls the device; audited (parents, operator)
GET  /api/devices                       connected devices across the fleet (operator)
GET  /api/devices/{id}                  one of them (operator)
POST /api/devices/{id}/stop             stop what plays; remembered for "continue" (operator)
POST /api/devices/{id}/volume {volume}  set the volume, within the parents' cap (operator)
POST /api/devices/{id}/pause            pause what plays (parents, operator)
POST /api/devices/{id}/reboot           restart the speaker (operator)
POST /api/devices/{id}/upgrade {url?}   point the speaker at a firmware image: the url given, else the image
                                        web.firmware_urls names for its board (operator)
GET  /api/audit                         the device commands this node delivered: who, which, when, how (operator)
GET  /api/devices/{id}/policy           the rules, today's listening, the audit trail (parents, operator)
PUT  /api/devices/{id}/policy           replace the rules (a compare-and-set on the record's revision; If-Match
                                        names the revision the caller saw); audited; says how it reaches the device.
                                        An optional "by" beside the rules says who is changing them ("Mum")
GET  /api/devices/{id}/history          listening history and favourites (parents, operator)
"""
from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from aiohttp import web
from loguru import logger

from core.devices import policy as rules
from core.devices.commands import (
    OPERATOR_ONLY,
    Command,
    Delivery,
    PauseNow,
    PolicyUpdated,
    Reboot,
    SetVolume,
    StopNow,
    UpgradeFirmware,
    firmware_url_problem,
)
from core.devices.policy import PolicyRecord
from core.devices.state import valid_device_id
from core.devices.store import PolicyConflict, PolicyUnavailable, PolicyWrite, PolicyWritten
from core.web.auth import CALLER, DEVICE_ID, Caller, Role
from core.web.errors import ApiError, json_body, ok
from core.web.view import DevicesView

__all__ = ["Devices"]

_MAX_BODY = 16 * 1024
_MAX_COMMAND_BODY = 1024
_AUDIT_KEPT = 500                 # device commands the audit answer holds (the log keeps every one)
_HOUSEHOLD_SHOWN = 50             # devices the household list holds (a household has a few; a fleet token many)

# What a rules change's delivery means for the parent: "live" (the session holding the device has it), "pending"
# (a node holds the device but did not hear of it: its session re-reads the record within policy_refresh_s),
# "stored" (nobody holds the device: it applies when the device connects; a session that is closing cannot write
# rules back, so nothing overwrites it).
_APPLIED = {Delivery.TAKEN: "live", Delivery.UNREACHED: "pending", Delivery.REFUSED: "stored",
            Delivery.NOT_HELD: "stored"}


def _etag(rev: int) -> dict[str, str]:
    return {"ETag": f'"{rev}"'}


def _expected_rev(request: web.Request) -> int | None:
    """If-Match: the revision the caller last saw ("3" or 3); none: the change applies to whatever is current."""
    given = request.headers.get("If-Match", "").strip()
    if not given or given == "*":
        return None
    given = given.removeprefix("W/").strip('"')
    if not given.isdigit() or len(given) > 12:
        raise ApiError(400, 'If-Match must be the revision the page loaded, e.g. "3"', "If-Match")
    return int(given)


def _record_body(record: PolicyRecord) -> dict[str, Any]:
    return {"policy": rules.to_dict(record.policy()), "rev": record.rev, "audit": [dict(a) for a in record.audit],
            "name": record.name}


def _audit_entry(request: web.Request, by: str, changes: dict[str, Any]) -> dict[str, Any]:
    entry = {"at": time.time(), "who": request[CALLER].role.value, "from": request.remote or "?", "changes": changes}
    return {**entry, "by": by} if by else entry


def _written(written: PolicyWrite, expected: int | None) -> PolicyRecord:
    """The record a change wrote, or the ApiError that says why it was not written."""
    if isinstance(written, PolicyConflict):
        current = written.current
        raise ApiError(409, f"the rules were changed meanwhile (now revision {current.rev}); nothing was saved: "
                            "look at them and save again", "If-Match" if expected is not None else None,
                       **_record_body(current))
    if isinstance(written, PolicyUnavailable):
        raise ApiError(503, f"{written.reason}; try again", None)
    assert isinstance(written, PolicyWritten)
    return written.record


class Devices:
    def __init__(self, node: DevicesView, firmware_urls: dict[str, str] | None = None) -> None:
        self.node = node
        self.firmware_urls = firmware_urls or {}           # board -> image URL (web.firmware_urls)
        self.audit: deque[dict[str, Any]] = deque(maxlen=_AUDIT_KEPT)

    # ------------------------------------------------------------------ the fleet's devices

    async def fleet(self, request: web.Request) -> web.Response:
        found = await self.node.devices(None)
        return ok({"devices": [{**view.to_dict(), "node": node} for node, view in found], "count": len(found)})

    async def one(self, request: web.Request) -> web.Response:
        device_id = request[DEVICE_ID]
        found = await self.node.devices(device_id)
        if not found:
            raise ApiError(404, f"device {device_id!r} is not connected to any node", "device_id")
        node, view = found[0]
        return ok({**view.to_dict(), "node": node})

    # ------------------------------------------------------------------ commands

    async def stop(self, request: web.Request) -> web.Response:
        return await self._send(request, StopNow())

    async def pause(self, request: web.Request) -> web.Response:
        return await self._send(request, PauseNow())

    async def reboot(self, request: web.Request) -> web.Response:
        return await self._send(request, Reboot())

    async def volume(self, request: web.Request) -> web.Response:
        body = await json_body(request, max_bytes=_MAX_COMMAND_BODY)
        level = body.get("volume") if isinstance(body, dict) else None
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            raise ApiError(400, 'send {"volume": N} with N a whole number 0-100', "volume")
        return await self._send(request, SetVolume(level), volume=level)

    async def upgrade(self, request: web.Request) -> web.Response:
        body = await json_body(request, max_bytes=_MAX_COMMAND_BODY) if request.can_read_body else {}
        url = body.get("url") if isinstance(body, dict) else None
        if url is None:
            url = await self._image_for(request[DEVICE_ID])
        problem = firmware_url_problem(url)
        if problem is not None or not isinstance(url, str):
            raise ApiError(400, f'send {{"url": "https://..."}}: the url {problem}', "url")
        return await self._send(request, UpgradeFirmware(url), url=url)

    async def _image_for(self, device_id: str) -> str:
        """The image web.firmware_urls names for the board the device's OTA request named; ApiError otherwise."""
        found = await self.node.devices(device_id)
        if not found:
            raise ApiError(404, f"device {device_id!r} is not connected to any node", "device_id", delivered=False)
        board = found[0][1].board
        url = self.firmware_urls.get(board)
        if url is None:
            raise ApiError(400, f'no firmware image for board {board or "(unknown)"!r}: send {{"url": "https://..."}} '
                                f"or add {board or '<board>'}=<URL> to web.firmware_urls", "url")
        return url

    async def audit_trail(self, request: web.Request) -> web.Response:
        entries = list(reversed(self.audit))
        return ok({"node": self.node.node_id, "actions": entries, "count": len(entries)})

    async def _send(self, request: web.Request, cmd: Command, **echo: object) -> web.Response:
        device_id = request[DEVICE_ID]
        delivery = await self.node.command(device_id, cmd)
        who, action = request[CALLER].role.value, type(cmd).__name__
        self.audit.append({"at": time.time(), "who": who, "from": request.remote or "?", "device_id": device_id,
                           "action": action, **echo, "delivery": delivery.value})
        # operator-only actions (reboot, firmware) are marked for the audit trail of the log
        (logger.bind(audit=True) if isinstance(cmd, OPERATOR_ONLY) else logger).info(
            "{} {} for device {} from {} ({}): {}", who, action, device_id, request.remote or "?",
            ", ".join(f"{k}={v}" for k, v in echo.items()) or "-", delivery.value)
        if delivery is Delivery.NOT_HELD:
            raise ApiError(404, f"device {device_id!r} is not connected to any node", "device_id", delivered=False)
        if delivery is Delivery.REFUSED:
            raise ApiError(409, "the device's session did not take the command (it is closing, or does not take "
                                "this command yet)", None, delivered=False)
        if delivery is Delivery.UNREACHED:
            raise ApiError(503, "the node holding the device did not receive the command; try again", None,
                           delivered=False)
        return ok({"device_id": device_id, **echo, "delivered": True})

    # ------------------------------------------------------------------ the household's rules

    def _catalog_names(self) -> tuple[list[str], list[str]]:
        tracks = self.node.tracks()
        return sorted({t.collection for t in tracks}), sorted({tag for t in tracks for tag in t.tags})

    async def policy(self, request: web.Request) -> web.Response:
        device_id = request[DEVICE_ID]
        record = await self.node.store.load_policy(device_id)
        state = await self.node.store.load(device_id)
        p = record.policy()
        now = time.time()
        collections, tags = self._catalog_names()
        return ok({"device_id": device_id, **_record_body(record),
                   "live": self.node.session(device_id) is not None,
                   "listened_today_s": round(rules.listened_today(state.listened_day, state.listened_s, p, now)),
                   "bedtime_now": rules.in_bedtime(p, now), "volume": state.volume,
                   "collections": collections, "tags": tags}, headers=_etag(record.rev))

    async def set_policy(self, request: web.Request) -> web.Response:
        device_id, who = request[DEVICE_ID], request[CALLER]
        expected = _expected_rev(request)
        body = await json_body(request, max_bytes=_MAX_BODY)
        collections, _ = self._catalog_names()
        try:
            by = ""
            if isinstance(body, dict) and "by" in body:
                body = dict(body)
                by = rules.changed_by(body.pop("by"))
            new_rules = rules.to_dict(rules.parse(body, collections=collections))
        except rules.PolicyError as exc:
            raise ApiError(400, str(exc), exc.field) from None
        changed: dict[str, Any] = {}

        def change(current: PolicyRecord) -> PolicyRecord:
            old = rules.to_dict(current.policy())
            changes: dict[str, Any] = {k: [old[k], new_rules[k]] for k in rules.RULE_KEYS if old[k] != new_rules[k]}
            changed.clear()
            changed.update(changes)
            if len(json.dumps(changes, ensure_ascii=False)) > rules.MAX_AUDIT_CHARS:
                changes = {k: "changed" for k in changes}          # the log line below keeps the detail
            entry = _audit_entry(request, by, changes)
            return PolicyRecord(current.rev + 1, new_rules, (entry, *current.audit)[: rules.MAX_AUDIT], current.name)

        record = _written(await self.node.store.update_policy(device_id, change, expect_rev=expected), expected)
        applied = _APPLIED[await self.node.command(device_id, PolicyUpdated(record))]
        logger.info("policy of {} changed by {} from {} (rev {}, {}): {}", device_id, _who(who, by),
                    request.remote or "?", record.rev, applied, json.dumps(changed, ensure_ascii=False)[:800])
        answer: dict[str, Any] = {"device_id": device_id, **_record_body(record), "applied": applied}
        if applied == "pending":
            answer["reaches_device_within_s"] = self.node.policy_refresh_s
        return ok(answer, headers=_etag(record.rev))

    async def rename(self, request: web.Request) -> web.Response:
        device_id, who = request[DEVICE_ID], request[CALLER]
        body = await json_body(request, max_bytes=_MAX_COMMAND_BODY)
        if not isinstance(body, dict) or "name" not in body or not set(body) <= {"name", "by"}:
            raise ApiError(400, 'send {"name": "Asha\'s room"} ("" to clear it), optionally with "by": "Mum"', "name")
        try:
            name, by = rules.device_name(body["name"]), rules.changed_by(body.get("by"))
        except rules.PolicyError as exc:
            raise ApiError(400, str(exc), exc.field) from None
        current = await self.node.store.load_policy(device_id)
        if current.name == name:                       # nothing to change: no revision, no audit entry
            return ok({"device_id": device_id, "name": name, "rev": current.rev}, headers=_etag(current.rev))

        def change(current: PolicyRecord) -> PolicyRecord:
            entry = _audit_entry(request, by, {"name": [current.name, name]})
            return PolicyRecord(current.rev + 1, current.rules, (entry, *current.audit)[: rules.MAX_AUDIT], name)

        record = _written(await self.node.store.update_policy(device_id, change), None)
        await self.node.command(device_id, PolicyUpdated(record))     # the session's revision stays current
        logger.info("device {} named {!r} by {} from {} (rev {})", device_id, name, _who(who, by),
                    request.remote or "?", record.rev)
        return ok({"device_id": device_id, "name": record.name, "rev": record.rev}, headers=_etag(record.rev))

    # ------------------------------------------------------------------ the household's devices

    async def household(self, request: web.Request) -> web.Response:
        who = request[CALLER]
        live = {view.device_id: (node, view) for node, view in await self.node.devices(None)
                if who.may_manage(view.device_id)}
        if who.role is Role.PARENT and who.devices:
            ids = list(who.devices)                    # the token's own list, connected or not, seen or not
        else:
            ids = [*await self.node.store.known_devices(_HOUSEHOLD_SHOWN), *live]
        now = time.time()
        shown: list[dict[str, Any]] = []
        for device_id in list(dict.fromkeys(d for d in ids if valid_device_id(d)))[:_HOUSEHOLD_SHOWN]:
            record = await self.node.store.load_policy(device_id)
            state = await self.node.store.load(device_id)
            p = record.policy()
            node, view = live.get(device_id, (None, None))
            shown.append({"device_id": device_id, "name": record.name, "live": view is not None, "node": node,
                          "state": view.state if view is not None else None,
                          "now_playing": view.now_playing.title if view is not None and view.now_playing else None,
                          "last_heard_at": state.updated_at or None,
                          "listened_today_s": round(rules.listened_today(state.listened_day, state.listened_s, p,
                                                                         now)),
                          "bedtime_now": rules.in_bedtime(p, now), "rules_rev": record.rev})
        shown.sort(key=lambda d: (d["name"] == "", d["name"].casefold(), d["device_id"]))
        return ok({"role": who.role.value, "devices": shown, "count": len(shown)})

    # ------------------------------------------------------------------ history

    async def history(self, request: web.Request) -> web.Response:
        device_id = request[DEVICE_ID]
        state = await self.node.store.load(device_id)
        live = self.node.session(device_id)
        titles = {t.uid: t.title for t in self.node.tracks()}
        now: dict[str, Any] | None = None
        if live is not None and live.now_playing is not None:
            now = {"uid": live.now_playing.uid, "title": live.now_playing.title,
                   "position_ms": live.now_playing.position_ms}
        elif state.item is not None:
            now = {"uid": state.item.uid, "title": state.item.title, "position_ms": state.item.position_ms}
        return ok({"device_id": device_id, "live": live is not None,
                   "history": [{"uid": h.uid, "kind": h.kind, "title": h.title, "collection": _collection(h.uid),
                                "started_at": h.started_at, "position_ms": h.position_ms, "finished": h.finished}
                               for h in state.history],
                   "favourites": [{"uid": u, "title": titles.get(u, u.rsplit("/", 1)[-1])} for u in state.favourites],
                   "now": now})


def _collection(uid: str) -> str:
    """The collection a catalog uid (kind/collection/file) names; "" for another shape."""
    parts = uid.split("/")
    return parts[1] if len(parts) >= 3 else ""


def _who(caller: Caller, by: str) -> str:
    return f"{caller.role.value} ({by!r})" if by else caller.role.value
