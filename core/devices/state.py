"""`DeviceState`: everything the speaker remembers about one device between connections, as a frozen value.

The player changes it (`dataclasses.replace`), the store saves it as JSON, plugins read it. Parsing a saved state
never raises past `StateError`, and `from_json` ignores unknown keys, so an older node can read a newer record.
What plays is one `PlaybackState` (core/session/playback.py owns its transitions). Records written before it existed
kept two booleans, `playing` and `paused`; they load unchanged (`_playback_of`). The household's rules are not part
of this record: they live in a `PolicyRecord` of their own (core/devices/policy.py), which sessions never write.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from loguru import logger

__all__ = ["Repeat", "PlaybackState", "Item", "Play", "Timer", "DeviceState", "StateError", "MAX_STATE_BYTES",
           "valid_device_id"]

SCHEMA = 1
MAX_STATE_BYTES = 256 * 1024      # a saved record larger than this is corrupt (100 plays + 100 queued uids << this)
_MAX_ID = 128


class StateError(ValueError):
    """A saved record that cannot be used (corrupt, truncated, wrong types)."""


class PlaybackState(StrEnum):
    """What the device's player is doing; the one truth about playback (transitions: core/session/playback.py)."""
    IDLE = "idle"              # nothing in hand
    PLAYING = "playing"        # the item is on the device (or starting)
    SUSPENDED = "suspended"    # held at its position while the child is heard; `suspended_until` resumes it
    PAUSED = "paused"          # paused on purpose: resumes where it was, even a song after a reconnect
    STOPPED = "stopped"        # stopped; the item and its position are remembered for "continue"


class Repeat(StrEnum):
    OFF = "off"
    ONE = "one"          # the current item again and again
    ALL = "all"          # the queue from the top after its last item


@dataclass(frozen=True, slots=True)
class Item:
    """The item in hand: playing, paused, or stopped but remembered for "continue"."""
    uid: str                      # Track.uid: kind/collection/filename
    kind: str                     # "music" or "story"
    title: str                    # display title, kept for "what was that" even if the catalog changes
    position_ms: int = 0          # what the device has played of it
    etag: str | None = None       # object version it started with: a changed object starts over
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Play:
    """One entry of the listening history (newest first)."""
    uid: str
    kind: str
    title: str
    started_at: float             # wall clock (epoch seconds)
    position_ms: int = 0          # how far it got
    finished: bool = False


@dataclass(frozen=True, slots=True)
class Timer:
    """Sleep timer: stop at a wall-clock time, or when the current item ends."""
    at: float | None = None
    after_item: bool = False


@dataclass(frozen=True, slots=True)
class DeviceState:
    device_id: str
    item: Item | None = None
    playback: PlaybackState = PlaybackState.IDLE
    suspended_until: float | None = None   # SUSPENDED: wall time it resumes by itself (None: when answered)
    queue: tuple[str, ...] = ()   # uids; `item` is queue[index] while index >= 0
    index: int = -1
    continuous: bool = False      # advance through the queue by itself (collections, moods, favourites)
    repeat: Repeat = Repeat.OFF
    shuffle: bool = False
    timer: Timer | None = None
    history: tuple[Play, ...] = ()
    favourites: tuple[str, ...] = ()
    volume: int | None = None
    updated_at: float = 0.0
    listened_day: str = ""        # local date (YYYY-MM-DD) that listened_s counts for (the daily limit)
    listened_s: float = 0.0       # seconds of songs and stories played on listened_day (0..86400)

    # ------------------------------------------------------------------ queries used by player and plugins

    def last_unfinished(self, kind: str | None = None) -> Play | None:
        """The most recent play that did not finish (optionally of one kind): what "continue my story" means."""
        for p in self.history:
            if not p.finished and (kind is None or p.kind == kind):
                return p
        return None

    def upcoming(self) -> str | None:
        """The uid that plays after the current item by itself, honouring repeat (None: playback stops)."""
        if self.repeat is Repeat.ONE and self.item is not None:
            return self.item.uid
        if not self.queue or (not self.continuous and self.repeat is Repeat.OFF):
            return None
        nxt = self.index + 1
        if nxt < len(self.queue):
            return self.queue[nxt]
        return self.queue[0] if self.repeat is Repeat.ALL else None

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> str:
        data = asdict(self)
        data["schema"] = SCHEMA
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, device_id: str) -> DeviceState:
        if len(text) > MAX_STATE_BYTES:
            raise StateError(f"record of {len(text)} bytes is larger than {MAX_STATE_BYTES}")
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise StateError(f"not JSON ({type(exc).__name__})") from None
        if not isinstance(raw, dict):
            raise StateError("record is not an object")
        try:
            return _state(raw, device_id)
        except (TypeError, ValueError, KeyError) as exc:
            raise StateError(f"bad field: {exc}") from None


def valid_device_id(device_id: str) -> bool:
    """Ids we persist under: non-empty, printable, at most 128 characters (a MAC or a UUID fits easily)."""
    return 0 < len(device_id) <= _MAX_ID and device_id.isprintable()


def _str(v: Any, name: str, limit: int = 1024) -> str:
    if not isinstance(v, str) or len(v) > limit:
        raise TypeError(f"{name} must be a string of at most {limit} characters")
    return v


def _int(v: Any, name: str, lo: int = 0, hi: int = 10**10) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise TypeError(f"{name} must be an integer in {lo}..{hi}")
    return v


def _opt(v: Any, conv: Any, name: str) -> Any:
    return None if v is None else conv(v, name)


def _num(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number")
    return float(v)


def _item(d: Any) -> Item:
    if not isinstance(d, dict):
        raise TypeError("item must be an object")
    return Item(uid=_str(d["uid"], "item.uid"), kind=_str(d["kind"], "item.kind", 16),
                title=_str(d.get("title", ""), "item.title"), position_ms=_int(d.get("position_ms", 0), "position_ms"),
                etag=_opt(d.get("etag"), _str, "item.etag"),
                duration_ms=_opt(d.get("duration_ms"), _int, "item.duration_ms"))


def _play(d: Any) -> Play:
    if not isinstance(d, dict):
        raise TypeError("history entry must be an object")
    return Play(uid=_str(d["uid"], "play.uid"), kind=_str(d["kind"], "play.kind", 16),
                title=_str(d.get("title", ""), "play.title"), started_at=_num(d["started_at"], "play.started_at"),
                position_ms=_int(d.get("position_ms", 0), "play.position_ms"), finished=bool(d.get("finished")))


def _uids(v: Any, name: str, limit: int) -> tuple[str, ...]:
    if not isinstance(v, list) or len(v) > limit:
        raise TypeError(f"{name} must be a list of at most {limit} ids")
    return tuple(_str(u, name) for u in v)


def _state(raw: dict[str, Any], device_id: str) -> DeviceState:
    timer = raw.get("timer")
    if timer is not None:
        if not isinstance(timer, dict):
            raise TypeError("timer must be an object")
        timer = Timer(at=_opt(timer.get("at"), _num, "timer.at"), after_item=bool(timer.get("after_item")))
    history = raw.get("history", [])
    if not isinstance(history, list) or len(history) > 1000:
        raise TypeError("history must be a list")
    volume = raw.get("volume")
    item = _item(raw["item"]) if raw.get("item") is not None else None
    playback = _playback_of(raw, item is not None, device_id)
    until = raw.get("suspended_until")
    return DeviceState(
        device_id=device_id,
        item=item, playback=playback,
        suspended_until=_num(until, "suspended_until") if until is not None and playback is PlaybackState.SUSPENDED
        else None,
        queue=_uids(raw.get("queue", []), "queue", 10_000), index=_int(raw.get("index", -1), "index", -1),
        continuous=bool(raw.get("continuous")), repeat=Repeat(raw.get("repeat", "off")),
        shuffle=bool(raw.get("shuffle")), timer=timer, history=tuple(_play(p) for p in history),
        favourites=_uids(raw.get("favourites", []), "favourites", 10_000),
        volume=_opt(volume, lambda v, n: _int(v, n, 0, 100), "volume"),
        updated_at=_num(raw.get("updated_at", 0.0), "updated_at"),
        listened_day=_str(raw.get("listened_day", ""), "listened_day", 10),
        listened_s=min(86400.0, max(0.0, _num(raw.get("listened_s", 0.0), "listened_s"))))


def _playback_of(raw: dict[str, Any], has_item: bool, device_id: str) -> PlaybackState:
    """The stored playback state; records older than the enum say `playing`/`paused`. Nothing in hand is IDLE, and
    an item in hand is never IDLE (it is remembered: STOPPED)."""
    if "playback" in raw:
        try:
            state = PlaybackState(raw["playback"])
        except ValueError:
            logger.warning("device state of {}: unknown playback state {!r}; read as not playing", device_id,
                           str(raw["playback"])[:20])
            state = PlaybackState.IDLE
    elif raw.get("paused"):
        state = PlaybackState.PAUSED
    elif raw.get("playing"):
        state = PlaybackState.PLAYING
    else:
        state = PlaybackState.STOPPED
    if not has_item:
        return PlaybackState.IDLE
    return PlaybackState.STOPPED if state is PlaybackState.IDLE else state
