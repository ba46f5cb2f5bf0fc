"""The Player: one per device, owner of what plays and where — the item in hand and its position, the queue,
the modes (repeat, shuffle, continuous), the sleep timer, history and favourites.

Sans-I/O and synchronous: it turns plugin actions and playback progress into a new `DeviceState` (frozen) and
tells the session what to render next. Time comes in as arguments (wall clock, epoch seconds), so tests drive it
without sleeping. It keeps the data of playback; whether the item plays, is held, paused or stopped is the
`PlaybackState`, changed only by core/session/playback.py through `set_playback`.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.content.types import Kind, Track
from core.devices.state import DeviceState, Item, Play, PlaybackState, Timer
from plugins_func.actions import Action, CancelTimer, Enqueue, Favourite, PlayTrack, SetModes, SetTimer

__all__ = ["ResumeRules", "Player"]

TrackLookup = Callable[[str], Track | None]


@dataclass(frozen=True, slots=True)
class ResumeRules:
    finished_within_ms: int = 10_000        # an item stopped this close to its end counts as finished
    songs_resume_after_disconnect: bool = False   # songs restart after a reconnect unless paused on purpose
    stories_resume: bool = True
    history_max: int = 100
    favourites_max: int = 200


class Player:
    def __init__(self, state: DeviceState, cfg: ResumeRules, tracks: TrackLookup, *,
                 rng: random.Random | None = None) -> None:
        self.state = state
        self.cfg = cfg
        self._tracks = tracks
        self._rng = rng or random.Random()

    @classmethod
    def restored(cls, state: DeviceState, cfg: ResumeRules, tracks: TrackLookup) -> Player:
        """A saved state at the start of a new connection: the resume rules apply to the position (the session
        decides that nothing plays by itself)."""
        item = state.item
        if item is not None and state.playback is not PlaybackState.PAUSED:
            keep = cfg.stories_resume if item.kind == Kind.STORY.value else cfg.songs_resume_after_disconnect
            if not keep:
                item = replace(item, position_ms=0)
        return cls(replace(state, item=item), cfg, tracks)

    def set_playback(self, playback: PlaybackState, suspended_until: float | None = None) -> None:
        self.state = replace(self.state, playback=playback, suspended_until=suspended_until)

    # ------------------------------------------------------------------ plugin actions

    def apply(self, action: Action, now: float) -> None:
        """Queue, modes, timer and favourites; PlayTrack/Pause/Stop are applied through play()/pause()/stop()."""
        s = self.state
        if isinstance(action, Enqueue):
            self._enqueue(action)
        elif isinstance(action, SetModes):
            if action.repeat is not None:
                s = replace(s, repeat=action.repeat)
            if action.shuffle is not None and action.shuffle != s.shuffle:
                s = replace(s, shuffle=action.shuffle, queue=self._reorder(s, action.shuffle))
            self.state = s
        elif isinstance(action, SetTimer):
            timer = Timer(after_item=True) if action.after_item else Timer(at=now + (action.minutes or 0) * 60.0)
            self.state = replace(s, timer=timer)
        elif isinstance(action, CancelTimer):
            self.state = replace(s, timer=None)
        elif isinstance(action, Favourite):
            favs = tuple(u for u in s.favourites if u != action.uid)
            if action.add:
                favs = (action.uid, *favs)[: self.cfg.favourites_max]
            self.state = replace(s, favourites=favs)

    def play(self, action: PlayTrack) -> None:
        """Make `action.track` the item in hand, from `action.start_ms`."""
        s = self.state
        t = action.track
        if action.keep_queue and s.queue:
            queue = action.queue if action.queue is not None else s.queue
            index = action.index if action.queue is not None else _find(queue, t.uid, s.index)
            continuous = s.continuous if action.queue is None else action.continuous
        else:
            queue = action.queue if action.queue else (t.uid,)
            index, continuous = action.index, action.continuous
            if s.shuffle and continuous:
                queue = queue[: index + 1] + tuple(self._rng.sample(queue[index + 1:], len(queue) - index - 1))
        if index < 0 or index >= len(queue) or queue[index] != t.uid:
            queue, index = (t.uid,), 0
        same = s.item is not None and s.item.uid == t.uid and action.start_ms > 0
        item = Item(uid=t.uid, kind=t.kind.value, title=t.display_title, position_ms=max(0, action.start_ms),
                    etag=s.item.etag if same and s.item else None,     # the version the position belongs to
                    duration_ms=int(t.duration * 1000) if t.duration else None)
        self.state = replace(s, item=item, queue=queue, index=index, continuous=continuous)

    def near_end(self) -> bool:
        """The item in hand stopped this close to its end counts as finished."""
        item = self.state.item
        return item is not None and _near_end(item, self.cfg.finished_within_ms)

    def drop_finished(self) -> None:
        """The item was practically over when it stopped: it goes to the history as finished, not to "continue"."""
        self._mark_finished()
        self.state = replace(self.state, item=None)

    # ------------------------------------------------------------------ playback progress

    def started(self, track: Track, start_ms: int, etag: str | None, now: float) -> None:
        """The first frame of `track` went out."""
        s = self.state
        item = s.item if s.item is not None and s.item.uid == track.uid else None
        item = replace(item or Item(track.uid, track.kind.value, track.display_title), position_ms=start_ms,
                       etag=etag, duration_ms=int(track.duration * 1000) if track.duration else
                       (item.duration_ms if item else None))
        index = s.index
        if not (0 <= index < len(s.queue) and s.queue[index] == track.uid):
            index = _find(s.queue, track.uid, s.index)
            if index < 0:
                queue = (*s.queue, track.uid) if s.continuous else (track.uid,)
                index = len(queue) - 1
                s = replace(s, queue=queue)
        history = s.history
        head = history[0] if history else None
        if head is not None and head.uid == track.uid and not head.finished and start_ms > 0:
            history = (replace(head, position_ms=start_ms), *history[1:])        # a resume continues its entry
        else:
            history = (Play(track.uid, track.kind.value, track.display_title, now, start_ms), *history)
        self.state = replace(s, item=item, index=index, history=history[: self.cfg.history_max])

    def counted(self, day: str, seconds: float) -> None:
        """Today's listening, as the parents' rules counted it."""
        self.state = replace(self.state, listened_day=day, listened_s=seconds)

    def volume_is(self, level: int) -> None:
        self.state = replace(self.state, volume=level)

    def at(self, position_ms: int | None) -> None:
        """Where the device is in the item (None: unknown, nothing changes)."""
        self._at(position_ms)

    def peek_next(self) -> Track | None:
        """What plays by itself after the current item: None when the queue ends or the timer says stop."""
        s = self.state
        if s.timer is not None and s.timer.after_item:
            return None
        uid = s.upcoming()
        seen = 0
        while uid is not None and seen < len(s.queue) + 1:
            track = self._tracks(uid)
            if track is not None:
                return track
            seen += 1                      # a queued item the catalog no longer has is skipped
            i = _find(s.queue, uid, s.index) + 1
            uid = s.queue[i] if 0 < i < len(s.queue) else None
        return None

    def finished(self, duration_ms: int | None, now: float) -> None:
        """The item played to its end."""
        s = self.state
        if s.item is not None and duration_ms:
            self.state = replace(s, item=replace(s.item, position_ms=duration_ms, duration_ms=duration_ms))
        self._mark_finished()
        s = self.state
        timer = None if s.timer is not None and s.timer.after_item else s.timer
        self.state = replace(s, item=None, timer=timer)

    def failed(self) -> None:
        """The item could not be played: forget it (it is not something to continue)."""
        s = self.state
        history = s.history[1:] if s.history and s.item and s.history[0].uid == s.item.uid else s.history
        self.state = replace(s, item=None, history=history)

    def timer_due(self, now: float, fade_s: float) -> str | None:
        """"fade" when a timed stop is `fade_s` away, "stop" when it is due, else None."""
        t = self.state.timer
        if t is None or t.at is None:
            return None
        if now >= t.at:
            return "stop"
        return "fade" if now >= t.at - fade_s else None

    def timer_fired(self) -> None:
        self.state = replace(self.state, timer=None)

    def touch(self, now: float) -> DeviceState:
        self.state = replace(self.state, updated_at=now)
        return self.state

    # ------------------------------------------------------------------ helpers

    def _at(self, position_ms: int | None) -> None:
        s = self.state
        if position_ms is None or s.item is None:
            return
        item = replace(s.item, position_ms=max(0, int(position_ms)))
        history = s.history
        if history and history[0].uid == item.uid and not history[0].finished:
            history = (replace(history[0], position_ms=item.position_ms), *history[1:])
        self.state = replace(s, item=item, history=history)

    def _mark_finished(self) -> None:
        s = self.state
        if s.history and s.item is not None and s.history[0].uid == s.item.uid:
            self.state = replace(s, history=(replace(s.history[0], finished=True,
                                                     position_ms=s.item.position_ms), *s.history[1:]))

    def _enqueue(self, action: Enqueue) -> None:
        s = self.state
        uid = action.track.uid
        if not s.queue or s.index < 0:
            base = (s.item.uid,) if s.item is not None else ()
            queue, index = (*base, uid), 0 if base else -1
        else:
            rest = tuple(u for u in s.queue[s.index + 1:] if u != uid)
            queue = s.queue[: s.index + 1] + ((uid, *rest) if action.next else (*rest, uid))
            index = s.index
        self.state = replace(s, queue=queue, index=index, continuous=True)

    def _reorder(self, s: DeviceState, shuffle: bool) -> tuple[str, ...]:
        head, rest = s.queue[: s.index + 1], list(s.queue[s.index + 1:])
        if shuffle:
            self._rng.shuffle(rest)
        else:
            rest.sort()          # catalog order: kind/collection/filename
        return (*head, *rest)


def _find(queue: tuple[str, ...], uid: str, after: int) -> int:
    """Index of `uid` in `queue`, preferring the first occurrence after `after`; -1 when absent."""
    for i in range(max(after, -1) + 1, len(queue)):
        if queue[i] == uid:
            return i
    try:
        return queue.index(uid)
    except ValueError:
        return -1


def _near_end(item: Item, within_ms: int) -> bool:
    return bool(item.duration_ms) and item.position_ms >= (item.duration_ms or 0) - within_ms

