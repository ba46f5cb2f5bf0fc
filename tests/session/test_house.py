"""HouseRules on its own: every transition of its table driven by the household's clock, the listening counter and
policy changes; the cap; refusals; a newer revision wins and an older one never does."""
from __future__ import annotations

import calendar
import time

import pytest

from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState
from core.session.house import TRANSITIONS, HouseRules, RulesChange, RulesState
from tests.session.driver import SONG, STORY

R = RulesState
MONDAY_NOON = calendar.timegm((2026, 12, 7, 12, 0, 0))          # a Monday, UTC (utc_offset_min 0)
HOUR = 3600.0
EVERY_NIGHT = {d: {"start": "19:00", "end": "07:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def house(**rules: object) -> HouseRules:
    h = HouseRules()
    h.apply(PolicyRecord(1, rules))
    return h


def device(listened_s: float, wall: float) -> DeviceState:
    """A device that listened `listened_s` on the (UTC) day of `wall`."""
    return DeviceState("aa:bb", listened_day=time.strftime("%Y-%m-%d", time.gmtime(wall)), listened_s=listened_s)


def test_every_transition_of_the_table_by_the_clock_the_counter_and_a_policy_change() -> None:
    h = house(bedtime=EVERY_NIGHT, daily_limit_min=30)
    seen: list[tuple[RulesState, RulesState, RulesChange]] = []

    def at(hours: float, listened_min: float) -> None:
        before, wall = h.state, MONDAY_NOON + hours * HOUR
        change = h.update(device(listened_min * 60, wall), wall)
        if change is not None:
            seen.append((before, h.state, change))
    at(0, 0)                                  # Monday 12:00: open
    at(0.02, 30)                              # the day's 30 minutes are used up
    at(8, 30)                                 # 20:00: bedtime begins while spent
    at(19.02, 31)                             # Tuesday 07:01: bedtime over, and Tuesday's time is used up already
    h.apply(PolicyRecord(2, {"bedtime": EVERY_NIGHT, "daily_limit_min": 60}))   # the parents allow an hour
    at(19.05, 31)
    at(31.5, 31)                              # Tuesday 19:30: bedtime
    at(43.02, 0)                              # Wednesday 07:01: open
    assert seen == [(R.OPEN, R.SPENT, RulesChange.LIMIT_REACHED), (R.SPENT, R.QUIET, RulesChange.BEDTIME_BEGINS),
                    (R.QUIET, R.SPENT, RulesChange.BEDTIME_ENDS), (R.SPENT, R.OPEN, RulesChange.LIMIT_LIFTED),
                    (R.OPEN, R.QUIET, RulesChange.BEDTIME_BEGINS), (R.QUIET, R.OPEN, RulesChange.BEDTIME_ENDS)]
    assert {(a, b) for a, b, _ in seen} == set(TRANSITIONS)
    assert all(TRANSITIONS[(a, b)] is change for a, b, change in seen)


def test_the_cap_refusals_and_the_counter() -> None:
    h = house(max_volume=60, allowed_collections=[STORY.collection], daily_limit_min=1)
    assert [h.cap(v) for v in (-5, 30, 60, 90, 200)] == [0, 30, 60, 60, 60]
    st = device(0, MONDAY_NOON)
    assert SONG.collection != STORY.collection and h.refusal(SONG, st, MONDAY_NOON) == "policy_not_allowed"
    assert h.refusal(STORY, st, MONDAY_NOON) is None
    first = h.count(st, MONDAY_NOON)
    assert first is not None and first.listened_s == 0
    assert h.count(first, MONDAY_NOON + 0.5) is None          # once a second
    later = h.count(first, MONDAY_NOON + 1.0)
    assert later is not None and later.listened_s == pytest.approx(1.0)
    h.rest()                                                 # silence is not listening
    after_pause = h.count(later, MONDAY_NOON + 100.0)
    assert after_pause is not None and after_pause.listened_s == pytest.approx(1.0)
    spent = DeviceState("aa:bb", listened_day=later.listened_day, listened_s=60.0)
    assert h.refusal(STORY, spent, MONDAY_NOON) == "policy_limit"


def test_a_newer_revision_wins_an_older_one_never_does_and_nothing_is_uncapped_by_a_bad_rule() -> None:
    h = house(max_volume=40)
    assert h.apply(PolicyRecord(0, {"max_volume": 90})) is None and h.max_volume == 40
    old = h.apply(PolicyRecord(2, {"max_volume": "loud", "daily_limit_min": 5}))
    assert old is not None and old.max_volume == 40
    assert h.max_volume is None and h.policy.daily_limit_min == 5          # the bad rule alone is dropped
