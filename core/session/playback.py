"""PlaybackControl: the one machine that moves a device's `PlaybackState` (persisted on `DeviceState`).

Sans-I/O. The Player (core/playback/player.py) keeps the data (item, position, queue, history); this machine decides
whether that item plays, is held while the child is heard, paused, stopped or gone, through one transition table.
Every change is logged once; a command the table does not allow is refused and logged, never applied half-way.
The session core calls these methods; what to render follows from the state they leave.
"""
from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from loguru import logger

from core.content.types import Track
from core.devices.state import DeviceState, PlaybackState
from core.playback.player import Player, ResumeRules, TrackLookup
from plugins_func.actions import PlayTrack

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["PlaybackCommand", "PlaybackControl", "TRANSITIONS", "Refusal"]

P = PlaybackState
Refusal = Callable[[Track], str | None]      # why the parents' rules refuse a track now, or None


class PlaybackCommand(StrEnum):
    PLAY = "play"            # a request, a resume by the plugin, or the queue's next item
    SUSPEND = "suspend"      # the child is heard: hold the item where the device is
    RESUME = "resume"        # the answer (or the grace) gives the held item back
    PAUSE = "pause"          # paused on purpose
    STOP = "stop"            # stopped: remembered for "continue"
    FINISH = "finish"        # played to its end, or stopped this close to it: nothing in hand
    FAIL = "fail"            # could not be played: forgotten


C = PlaybackCommand

# (state, command) -> new state. Nothing else moves the state (docs/architecture.md prints this table; a test keeps
# the two in step).
TRANSITIONS: dict[tuple[PlaybackState, PlaybackCommand], PlaybackState] = {
    (P.IDLE, C.PLAY): P.PLAYING,
    (P.STOPPED, C.PLAY): P.PLAYING,
    (P.PAUSED, C.PLAY): P.PLAYING,
    (P.PLAYING, C.PLAY): P.PLAYING,
    (P.SUSPENDED, C.PLAY): P.PLAYING,
    (P.PLAYING, C.SUSPEND): P.SUSPENDED,
    (P.SUSPENDED, C.SUSPEND): P.SUSPENDED,
    (P.SUSPENDED, C.RESUME): P.PLAYING,
    (P.PLAYING, C.PAUSE): P.PAUSED,
    (P.SUSPENDED, C.PAUSE): P.PAUSED,
    (P.PAUSED, C.PAUSE): P.PAUSED,
    (P.PLAYING, C.STOP): P.STOPPED,
    (P.SUSPENDED, C.STOP): P.STOPPED,
    (P.PAUSED, C.STOP): P.STOPPED,
    (P.PLAYING, C.FINISH): P.IDLE,
    (P.SUSPENDED, C.FINISH): P.IDLE,
    (P.PAUSED, C.FINISH): P.IDLE,
    (P.STOPPED, C.FINISH): P.IDLE,
    (P.PLAYING, C.FAIL): P.IDLE,
}


class PlaybackControl:
    def __init__(self, player: Player, *, log: Logger = logger) -> None:
        self.player = player
        self.following: Track | None = None     # the queue's next item, handed to the renderer near the end
        self._log = log

    @classmethod
    def restored(cls, state: DeviceState, rules: ResumeRules, tracks: TrackLookup, *, log: Logger = logger
                 ) -> PlaybackControl:
        """A saved state at the start of a connection: nothing plays by itself. An item that was on the device or
        held when the last connection ended is stopped (remembered); the resume rules set its position."""
        control = cls(Player.restored(state, rules, tracks), log=log)
        if control.state in (P.PLAYING, P.SUSPENDED):
            control._go(C.STOP, "restored after a reconnect")
        return control

    @property
    def state(self) -> PlaybackState:
        return self.player.state.playback

    @property
    def device(self) -> DeviceState:
        return self.player.state

    @property
    def suspended_until(self) -> float | None:
        return self.player.state.suspended_until

    @property
    def in_hand(self) -> bool:
        """An item is on the device or held for it (the answer to a request decides what becomes of it)."""
        return self.state in (P.PLAYING, P.SUSPENDED)

    def may(self, command: PlaybackCommand) -> bool:
        return (self.state, command) in TRANSITIONS

    # ------------------------------------------------------------------ commands

    def play(self, action: PlayTrack, why: str) -> None:
        self.player.play(action)
        self._go(C.PLAY, why)

    def suspend(self, until: float | None, why: str) -> bool:
        """Hold the item (PLAYING or already SUSPENDED); `until` (wall time) resumes it by itself, None waits for the
        answer. False when nothing was in hand."""
        return self._go(C.SUSPEND, why, until=until)

    def resume(self, why: str) -> bool:
        return self._go(C.RESUME, why)

    def pause(self, why: str) -> bool:
        return self._go(C.PAUSE, why)

    def stop(self, why: str) -> bool:
        """Stop the item in hand; one practically over is finished instead (not something to continue)."""
        if self.player.near_end():
            return self.finish(why)
        return self._go(C.STOP, why)

    def finish(self, why: str) -> bool:
        if not self._go(C.FINISH, why):
            return False
        if self.player.state.item is not None:
            self.player.drop_finished()
        return True

    def fail(self, track: Track, why: str) -> bool:
        item = self.player.state.item
        if item is None or item.uid != track.uid or not self._go(C.FAIL, why):
            return False
        self.player.failed()
        return True

    # ------------------------------------------------------------------ the renderer's reports

    def next_item(self, refusal: Refusal) -> Track | None:
        """What plays by itself after the item, unless the parents' rules refuse it (the queue stops before it);
        handed to the renderer near the item's end, and in hand once the item finishes."""
        nxt = self.player.peek_next()
        self.following = nxt if nxt is not None and refusal(nxt) is None else None
        return self.following

    def track_finished(self, end_ms: int, wall: float) -> bool:
        """The item played to its end: the queue's next item is in hand (True), or nothing is (False)."""
        self.player.finished(end_ms, wall)
        following, self.following = self.following, None
        if following is not None:
            self.play(PlayTrack(following, keep_queue=True), "next in the queue")
            return True
        self.finish("played to its end")
        return False

    def track_failed(self, track: Track, busy: bool, refusal: Refusal) -> Track | None:
        """The item could not be played: forgotten; the queue goes on unless the node is busy (the next item, in
        hand, is returned)."""
        self.fail(track, "busy" if busy else "unplayable")
        nxt = None if busy else self.next_item(refusal)
        self.following = None
        if nxt is not None:
            self.play(PlayTrack(nxt, keep_queue=True), "next after a failure")
        elif self.state is P.PLAYING:
            self.stop("could not play")
        return nxt

    def settle(self, position_ms: int | None) -> None:
        """Where the device was when its turn was cancelled: the position of the item (held, paused or stopped);
        a stopped item that turns out to be practically over is finished."""
        self.player.at(position_ms)
        if self.state is P.STOPPED and self.player.near_end():
            self.finish("stopped at its end")

    # ------------------------------------------------------------------ the table

    def _go(self, command: PlaybackCommand, why: str, *, until: float | None = None) -> bool:
        old = self.state
        new = TRANSITIONS.get((old, command))
        if new is None:
            self._log.warning("playback: {} refused in state {} ({})", command.value, old.value, why)
            return False
        self.player.set_playback(new, until if new is P.SUSPENDED else None)
        if new is not old:
            self._log.info("playback {} -> {} ({})", old.value, new.value, why)
        return True
