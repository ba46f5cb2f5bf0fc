"""The parents' layer as pure functions: bedtime per weekday, a daily listening limit, a maximum volume, allowed
collections and blocked tags, and a default sleep timer.

A device's rules are stored as a `PolicyRecord` (rules, revision, audit trail) of their own, next to the device
state: the policy API is its only writer (a revision compare-and-set), sessions read it and never write it, so a
session's periodic save can never undo a parent's change. Records written before that split kept the rules inside
the device state (rules at the top level plus `rev` and `audit`): `PolicyRecord.from_legacy` reads them. The record
also holds the name the parents gave the device ("Asha's room"), for the same reason: a session never writes it.
Records written before names existed read as unnamed.

`parse` is strict (the policy API: a bad value raises `PolicyError` naming the field), `load` is lenient (a stored
record: anything unusable counts as "no rule", so an odd record never stops a device). Times are the
household's local time: `utc_offset_min` comes from the parents' page (the browser knows its time zone).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.content.types import Track
from core.devices.state import DeviceState

__all__ = ["Policy", "PolicyRecord", "Window", "PolicyError", "WEEKDAYS", "RULE_KEYS", "parse", "load", "to_dict",
           "in_bedtime", "refusal", "day_key", "listened_today", "count", "MAX_AUDIT", "MAX_AUDIT_CHARS", "device_name",
           "changed_by", "MAX_NAME"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE_KEYS = ("bedtime", "sleep_collections", "daily_limit_min", "max_volume", "allowed_collections", "blocked_tags",
             "sleep_timer_min", "utc_offset_min")
MAX_AUDIT = 20                  # audit entries kept with the device (the log keeps every one)
MAX_AUDIT_CHARS = 2000          # one entry's changes as JSON; a larger change is kept as the list of rules it touched
_MAX_NAMES = 50                 # the whole record stays far below DeviceState's 256 KiB bound
MAX_NAME = 40                   # a device's name, and who made a change ("Mum"), in characters
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class PolicyError(ValueError):
    """A policy value that cannot be used; `field` names it (the API answers 400 with it)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class Window:
    """Quiet time starting on one weekday: minutes after midnight; end <= start crosses midnight."""
    start: int
    end: int

    def text(self) -> dict[str, str]:
        return {"start": _hhmm(self.start), "end": _hhmm(self.end)}


@dataclass(frozen=True, slots=True)
class Policy:
    bedtime: Mapping[str, Window] = field(default_factory=dict)
    sleep_collections: tuple[str, ...] = ()     # what may still play at bedtime
    daily_limit_min: int | None = None          # None: no limit; 0: nothing today
    max_volume: int | None = None
    allowed_collections: tuple[str, ...] = ()   # empty: every collection
    blocked_tags: tuple[str, ...] = ()
    sleep_timer_min: int | None = None          # a timer set by itself when something starts
    utc_offset_min: int = 0

    @property
    def empty(self) -> bool:
        return self == Policy()


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """The household's rules of one device as stored: `rev` counts the changes (0: never set), `name` is what the
    parents call the device ("" until they name it)."""
    rev: int = 0
    rules: Mapping[str, Any] = field(default_factory=dict)       # RULE_KEYS -> JSON values, as `to_dict` writes
    audit: tuple[Mapping[str, Any], ...] = ()                    # newest first, at most MAX_AUDIT
    name: str = ""

    def policy(self) -> Policy:
        return load(self.rules)

    def to_json(self) -> str:
        return json.dumps({"rev": self.rev, "rules": dict(self.rules), "audit": [dict(a) for a in self.audit],
                           "name": self.name}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> PolicyRecord:
        """A stored record; anything unusable reads as "no rules" (a bad rule is dropped, never fatal)."""
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            return cls()
        if not isinstance(raw, Mapping):
            return cls()
        rules = raw.get("rules")
        return cls(_rev(raw.get("rev")), _kept_rules(rules if isinstance(rules, Mapping) else {}),
                   _audit(raw.get("audit")), _stored_name(raw.get("name")))

    @classmethod
    def from_legacy(cls, raw: Mapping[str, Any] | None) -> PolicyRecord:
        """The rules as older records kept them inside the device state: rules at the top level, `rev`, `audit`."""
        if not raw:
            return cls()
        return cls(_rev(raw.get("rev")), _kept_rules(raw), _audit(raw.get("audit")))


def _rev(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _audit(v: Any) -> tuple[Mapping[str, Any], ...]:
    return tuple(a for a in v if isinstance(a, Mapping))[:MAX_AUDIT] if isinstance(v, list) else ()


def _stored_name(v: Any) -> str:
    try:
        return device_name(v)
    except PolicyError:
        return ""                      # an unusable stored name reads as unnamed, never as a failure


def _kept_rules(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The rules of `raw` that parse, one by one, in their stored form."""
    return to_dict(load(raw))


# ---------------------------------------------------------------------------------------------- parsing

def parse(raw: Any, *, collections: Collection[str] | None = None) -> Policy:
    """A policy from API input; unknown keys and bad values raise PolicyError. `collections` (if given) are the
    catalog's collection names: naming another one is an error."""
    if not isinstance(raw, Mapping):
        raise PolicyError("policy", "must be a JSON object")
    for key in raw:
        if key not in RULE_KEYS:
            raise PolicyError(str(key)[:40], f"unknown rule; known: {', '.join(RULE_KEYS)}")
    known = {c.lower(): c for c in collections} if collections is not None else None
    return Policy(
        bedtime=_bedtime(raw.get("bedtime")),
        sleep_collections=_names(raw.get("sleep_collections"), "sleep_collections", known),
        daily_limit_min=_opt_int(raw.get("daily_limit_min"), "daily_limit_min", 0, 24 * 60),
        max_volume=_opt_int(raw.get("max_volume"), "max_volume", 0, 100),
        allowed_collections=_names(raw.get("allowed_collections"), "allowed_collections", known),
        blocked_tags=tuple(t.lower() for t in _names(raw.get("blocked_tags"), "blocked_tags", None)),
        sleep_timer_min=_opt_int(raw.get("sleep_timer_min"), "sleep_timer_min", 1, 12 * 60),
        utc_offset_min=_opt_int(raw.get("utc_offset_min"), "utc_offset_min", -14 * 60, 14 * 60) or 0)


def _short_text(v: Any, name: str, what: str) -> str:
    if not isinstance(v, str) or len(v.strip()) > MAX_NAME or not v.strip().isprintable():
        raise PolicyError(name, f"must be {what} of at most {MAX_NAME} printable characters")
    return " ".join(v.split())


def device_name(v: Any) -> str:
    """What the parents call a device ("" clears it); PolicyError("name") when it cannot be one."""
    if v is None:
        return ""
    return _short_text(v, "name", "a name")


def changed_by(v: Any) -> str:
    """Who makes a change, as they call themselves on the page ("Mum"; "" when not given). The token is the
    authority; this only makes the audit trail read like the household talks."""
    if v is None:
        return ""
    return _short_text(v, "by", "a name")


def load(raw: Mapping[str, Any] | None) -> Policy:
    """The policy in a stored record; never raises (rules that do not parse are left out one by one)."""
    if not raw:
        return Policy()
    kept: dict[str, Any] = {}
    for key in RULE_KEYS:
        if key in raw:
            try:
                parse({key: raw[key]})
                kept[key] = raw[key]
            except PolicyError:
                pass
    return parse(kept)


def to_dict(p: Policy) -> dict[str, Any]:
    return {"bedtime": {d: w.text() for d, w in p.bedtime.items()},
            "sleep_collections": list(p.sleep_collections), "daily_limit_min": p.daily_limit_min,
            "max_volume": p.max_volume, "allowed_collections": list(p.allowed_collections),
            "blocked_tags": list(p.blocked_tags), "sleep_timer_min": p.sleep_timer_min,
            "utc_offset_min": p.utc_offset_min}


def _bedtime(v: Any) -> dict[str, Window]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise PolicyError("bedtime", 'must be an object like {"mon": {"start": "19:30", "end": "07:00"}}')
    out: dict[str, Window] = {}
    for day, w in v.items():
        if day not in WEEKDAYS:
            raise PolicyError(f"bedtime.{str(day)[:10]}", f"not a weekday; use {', '.join(WEEKDAYS)}")
        if w is None:
            continue
        if not isinstance(w, Mapping):
            raise PolicyError(f"bedtime.{day}", 'must be {"start": "HH:MM", "end": "HH:MM"} or null')
        start, end = _minutes(w.get("start"), f"bedtime.{day}.start"), _minutes(w.get("end"), f"bedtime.{day}.end")
        if start == end:
            raise PolicyError(f"bedtime.{day}", "start and end are the same time")
        out[day] = Window(start, end)
    return out


def _minutes(v: Any, name: str) -> int:
    m = _HHMM.match(v) if isinstance(v, str) else None
    if m is None:
        raise PolicyError(name, "must be a 24-hour time HH:MM, e.g. 19:30")
    return int(m.group(1)) * 60 + int(m.group(2))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _opt_int(v: Any, name: str, lo: int, hi: int) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise PolicyError(name, f"must be a whole number {lo}-{hi} or null")
    return v


def _names(v: Any, name: str, known: Mapping[str, str] | None) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or len(v) > _MAX_NAMES:
        raise PolicyError(name, f"must be a list of at most {_MAX_NAMES} names")
    out: list[str] = []
    for x in v:
        if not isinstance(x, str) or not x.strip() or len(x) > 64 or not x.isprintable():
            raise PolicyError(name, "each entry must be a printable name of 1-64 characters")
        x = x.strip()
        if known is not None:
            if x.lower() not in known:
                raise PolicyError(name, f"unknown collection {x[:40]!r}; known: {', '.join(sorted(known.values()))}")
            x = known[x.lower()]
        if x not in out:
            out.append(x)
    return tuple(out)


# ---------------------------------------------------------------------------------------------- decisions

def _local(p: Policy, wall: float) -> time.struct_time:
    return time.gmtime(wall + p.utc_offset_min * 60)


def day_key(p: Policy, wall: float) -> str:
    """The household's local date: the daily limit's counter starts again when it changes."""
    return time.strftime("%Y-%m-%d", _local(p, wall))


def listened_today(listened_day: str, listened_s: float, p: Policy, wall: float) -> float:
    return listened_s if listened_day == day_key(p, wall) else 0.0


def count(st: DeviceState, p: Policy, wall: float, since: float | None) -> DeviceState:
    """`st` with the listening between `since` and `wall` counted for the household's day (a gap of more than two
    seconds, e.g. a stalled clock or a suspended process, counts as two)."""
    step = min(max(0.0, wall - since), 2.0) if since is not None else 0.0
    day = day_key(p, wall)
    listened = (st.listened_s if st.listened_day == day else 0.0) + step
    return replace(st, listened_day=day, listened_s=min(listened, 86400.0))


def in_bedtime(p: Policy, wall: float) -> bool:
    if not p.bedtime:
        return False
    t = _local(p, wall)
    now = t.tm_hour * 60 + t.tm_min
    today, yesterday = WEEKDAYS[t.tm_wday], WEEKDAYS[(t.tm_wday - 1) % 7]
    w = p.bedtime.get(today)
    if w is not None and (w.start <= now < w.end if w.start < w.end else now >= w.start):
        return True
    w = p.bedtime.get(yesterday)                  # last night's quiet time running past midnight
    return w is not None and w.end <= w.start and now < w.end


# Local hours when a quiet time is a night's sleep ("Sleep well, and we'll play again tomorrow!"); outside them it is
# a daytime rest, and the child is told to play again a bit later.
_NIGHT_FROM, _NIGHT_UNTIL = 18, 5


def quiet_reply(p: Policy, wall: float) -> str:
    """The reply key for a quiet time at `wall`: "policy_bedtime" at night, "policy_quiet" for a daytime rest."""
    hour = _local(p, wall).tm_hour
    return "policy_bedtime" if hour >= _NIGHT_FROM or hour < _NIGHT_UNTIL else "policy_quiet"


def refusal(p: Policy, track: Track, wall: float, listened_s: float) -> str | None:
    """Why `track` may not play now (a reply key in core/lang/replies.py), or None when it may."""
    collection = track.collection.lower()
    if p.allowed_collections and collection not in {c.lower() for c in p.allowed_collections}:
        return "policy_not_allowed"
    if p.blocked_tags and {t.lower() for t in track.tags} & set(p.blocked_tags):
        return "policy_not_allowed"
    if in_bedtime(p, wall) and collection not in {c.lower() for c in p.sleep_collections}:
        return quiet_reply(p, wall)
    if p.daily_limit_min is not None and listened_s >= p.daily_limit_min * 60:
        return "policy_limit"
    return None
