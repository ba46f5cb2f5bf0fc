"""HouseRules: the parents' rules for one device session, and the only place they are applied.

Sans-I/O. It holds the newest `PolicyRecord` it was given (a session reads the record, never writes it) and answers
the questions the session asks: may this track play now (a refusal reason or None), what volume a request may
reach (the cap), how much was listened today (the daily counter, kept in the device state), and whether the
household is in quiet time or out of listening time (`RulesState`, one transition table, each change logged once).
The pure rule functions are in core/devices/policy.py.
"""
from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from loguru import logger

from core.content.types import Track
from core.devices import policy as rules
from core.devices.policy import Policy, PolicyRecord
from core.devices.state import DeviceState

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["RulesState", "RulesChange", "HouseRules", "TRANSITIONS"]


class RulesState(StrEnum):
    OPEN = "open"            # anything allowed may play
    QUIET = "quiet"          # bedtime: only the sleep collections play
    SPENT = "spent"          # today's listening time is used up


class RulesChange(StrEnum):
    BEDTIME_BEGINS = "bedtime begins"
    BEDTIME_ENDS = "bedtime ends"
    LIMIT_REACHED = "daily limit reached"
    LIMIT_LIFTED = "daily limit lifted"          # a new day, or the parents raised or removed it


R = RulesState
TRANSITIONS: dict[tuple[RulesState, RulesState], RulesChange] = {
    (R.OPEN, R.QUIET): RulesChange.BEDTIME_BEGINS,
    (R.SPENT, R.QUIET): RulesChange.BEDTIME_BEGINS,
    (R.QUIET, R.OPEN): RulesChange.BEDTIME_ENDS,
    (R.QUIET, R.SPENT): RulesChange.BEDTIME_ENDS,
    (R.OPEN, R.SPENT): RulesChange.LIMIT_REACHED,
    (R.SPENT, R.OPEN): RulesChange.LIMIT_LIFTED,
}

_COUNT_EVERY_S = 1.0         # the counter and the rules are checked once a second while something plays


class HouseRules:
    def __init__(self, *, log: Logger = logger) -> None:
        self.record = PolicyRecord()
        self.policy = Policy()
        self.state = RulesState.OPEN
        self._log = log
        self._counted_at: float | None = None      # wall time listening was last counted up to

    # ------------------------------------------------------------------ the record

    def apply(self, record: PolicyRecord) -> Policy | None:
        """Take a newer record (an older or equal revision is ignored); returns the previous policy if it changed."""
        if record.rev < self.record.rev or (record.rev == self.record.rev and record == self.record):
            return None
        old = self.policy
        self.record, self.policy = record, record.policy()
        self._log.info("parents' rules: revision {} applied", record.rev)
        return old

    # ------------------------------------------------------------------ questions

    @property
    def max_volume(self) -> int | None:
        return self.policy.max_volume

    @property
    def sleep_timer_min(self) -> int | None:
        return self.policy.sleep_timer_min

    def cap(self, level: int) -> int:
        """The volume a request may reach: 0-100 and at most the parents' maximum."""
        level = max(0, min(100, level))
        cap = self.policy.max_volume
        return min(level, cap) if cap is not None else level

    def listened(self, device: DeviceState, wall: float) -> float:
        return rules.listened_today(device.listened_day, device.listened_s, self.policy, wall)

    def refusal(self, track: Track, device: DeviceState, wall: float) -> str | None:
        """Why `track` may not play now (a reply key), or None."""
        p = self.policy
        return None if p.empty else rules.refusal(p, track, wall, self.listened(device, wall))

    def quiet_reply(self, wall: float) -> str:
        """The reply key for the quiet time at `wall` (a night's "sleep well" or a daytime "a bit later")."""
        return rules.quiet_reply(self.policy, wall)

    # ------------------------------------------------------------------ while something plays

    def count(self, device: DeviceState, wall: float) -> DeviceState | None:
        """Today's listening counted up to `wall` (None: less than a second since the last count, nothing to do).
        Call it once per tick while a track is audible; `rest()` when it stops."""
        if self._counted_at is not None and 0.0 <= wall - self._counted_at < _COUNT_EVERY_S:
            return None
        counted = rules.count(device, self.policy, wall, self._counted_at)
        self._counted_at = wall
        return counted

    def audible(self, device: DeviceState, track: Track | None, wall: float) -> tuple[DeviceState, str | None] | None:
        """Once a second while `track` (the item) is audible: the device state with today's listening counted, and
        why the rules now refuse the track (bedtime begun, the day's time used up, a policy changed), or None.
        None altogether between the once-a-second checks."""
        counted = self.count(device, wall)
        if counted is None:
            return None
        self.update(counted, wall)          # stopping is the answer to an edge here: the caller acts on the refusal
        return counted, (self.refusal(track, counted, wall) if track is not None else None)

    def rest(self) -> None:
        """Nothing is audible: the next count starts afresh (silence is not listening)."""
        self._counted_at = None

    # ------------------------------------------------------------------ the household's state

    def update(self, device: DeviceState, wall: float) -> RulesChange | None:
        """Move to the state the rules say now; the change, if any (logged once)."""
        p = self.policy
        if rules.in_bedtime(p, wall):
            new = R.QUIET
        elif p.daily_limit_min is not None and self.listened(device, wall) >= p.daily_limit_min * 60:
            new = R.SPENT
        else:
            new = R.OPEN
        if new is self.state:
            return None
        change = TRANSITIONS[(self.state, new)]
        self._log.info("house rules {} -> {} ({})", self.state.value, new.value, change.value)
        self.state = new
        return change

