"""The parents' rules as pure functions: parsing (400-worthy errors name the field), bedtime across midnight and
weekdays in the household's time zone, refusals, the daily counter, and a stored record that never breaks a device."""
from __future__ import annotations

import calendar

import pytest

from core.content.types import Kind, Track
from core.devices import policy as rules
from core.devices.state import DeviceState
from core.lang.replies import say

SONG = Track(kind=Kind.MUSIC, collection="English", title="Baa", filename="Baa.mp3", tags=("calm",))
SCARY = Track(kind=Kind.STORY, collection="Adventure", title="Ghost", filename="Ghost.mp3", tags=("Scary",))
MOON = Track(kind=Kind.STORY, collection="Bedtime", title="Moon", filename="Moon.mp3")


def at(day: int, hh: int, mm: int, offset_min: int = 0) -> float:
    """Epoch seconds of a local time; 2026-11-30 is a Monday (day 0)."""
    return calendar.timegm((2026, 11, 30 + day, hh, mm, 0, 0, 0, 0)) - offset_min * 60


def test_parse_names_the_bad_field() -> None:
    cases = {
        "max_volume": {"max_volume": 101},
        "daily_limit_min": {"daily_limit_min": "60"},
        "bedtime.mon.start": {"bedtime": {"mon": {"start": "25:00", "end": "07:00"}}},
        "bedtime.funday": {"bedtime": {"funday": {"start": "19:00", "end": "07:00"}}},
        "bedtime.tue": {"bedtime": {"tue": {"start": "19:00", "end": "19:00"}}},
        "allowed_collections": {"allowed_collections": ["Nope"]},
        "sleep_timer_min": {"sleep_timer_min": 0},
        "colour": {"colour": "blue"},
    }
    for field, raw in cases.items():
        with pytest.raises(rules.PolicyError) as exc:
            rules.parse(raw, collections=["English", "Bedtime"])
        assert exc.value.field == field, (field, str(exc.value))
    with pytest.raises(rules.PolicyError) as exc:
        rules.parse([1, 2])
    assert exc.value.field == "policy"
    p = rules.parse({"allowed_collections": ["english"], "max_volume": 40}, collections=["English"])
    assert p.allowed_collections == ("English",) and p.max_volume == 40      # the catalog's own spelling


def test_bedtime_crosses_midnight_per_weekday_in_local_time() -> None:
    p = rules.parse({"bedtime": {"mon": {"start": "19:30", "end": "07:00"}}, "utc_offset_min": 330})
    assert not rules.in_bedtime(p, at(0, 19, 29, 330))
    assert rules.in_bedtime(p, at(0, 19, 30, 330))
    assert rules.in_bedtime(p, at(1, 6, 59, 330))          # Tuesday morning: Monday's night goes on
    assert not rules.in_bedtime(p, at(1, 7, 0, 330))
    assert not rules.in_bedtime(p, at(1, 20, 0, 330))      # no rule for Tuesday evening
    assert rules.in_bedtime(p, at(0, 14, 0, 0)) and not rules.in_bedtime(p, at(0, 13, 59, 0))   # 14:00 UTC: 19:30 IST
    nap = rules.parse({"bedtime": {"sat": {"start": "13:00", "end": "15:00"}}})
    assert rules.in_bedtime(nap, at(5, 14, 0)) and not rules.in_bedtime(nap, at(5, 15, 0))


def test_refusals() -> None:
    p = rules.parse({"bedtime": {d: {"start": "19:00", "end": "07:00"} for d in rules.WEEKDAYS},
                     "sleep_collections": ["Bedtime"], "blocked_tags": ["scary"], "daily_limit_min": 30})
    day, night = at(2, 10, 0), at(2, 20, 0)
    assert rules.refusal(p, SONG, day, 0) is None
    assert rules.refusal(p, SCARY, day, 0) == "policy_not_allowed"          # tags compare without case
    assert rules.refusal(p, SONG, night, 0) == "policy_bedtime"
    assert rules.refusal(p, MOON, night, 0) is None                          # sleep collections still play
    assert rules.refusal(p, SONG, day, 30 * 60) == "policy_limit"
    only = rules.parse({"allowed_collections": ["Bedtime"]})
    assert rules.refusal(only, SONG, day, 0) == "policy_not_allowed" and rules.refusal(only, MOON, day, 0) is None


def test_a_quiet_time_is_worded_for_the_hour_in_every_language() -> None:
    nap = rules.parse({"bedtime": {"sat": {"start": "13:00", "end": "16:00"},
                                   "sun": {"start": "19:30", "end": "06:30"}}, "utc_offset_min": 330})
    assert rules.refusal(nap, SONG, at(5, 14, 0, 330), 0) == "policy_quiet"        # an afternoon rest
    assert rules.refusal(nap, SONG, at(6, 20, 0, 330), 0) == "policy_bedtime"      # a night's sleep
    assert rules.refusal(nap, SONG, at(0, 2, 0, 330), 0) == "policy_bedtime"       # still night after midnight
    assert rules.refusal(nap, SONG, at(0, 6, 0, 330), 0) == "policy_quiet"         # early morning: "later"
    langs = ("en", "hi", "te", "kn")
    assert len({say("policy_quiet", lang) for lang in langs}) == 4          # each language has its own line
    assert all(say("policy_quiet", lang) != say("policy_bedtime", lang) for lang in langs)
    assert "tomorrow" not in say("policy_quiet", "en") and "tomorrow" in say("policy_bedtime", "en")


def test_counter_restarts_each_local_day_and_is_bounded() -> None:
    p = rules.parse({"utc_offset_min": -300})
    st = DeviceState("d")
    t = at(0, 22, 0, -300)
    st = rules.count(st, p, t, None)
    assert st.listened_s == 0 and st.listened_day == "2026-11-30"
    st = rules.count(st, p, t + 1.5, t)
    assert st.listened_s == pytest.approx(1.5)
    st = rules.count(st, p, t + 1800, t + 1.5)                 # a long gap counts as two seconds, not half an hour
    assert st.listened_s == pytest.approx(3.5) and st.listened_day == "2026-11-30"
    midnight = at(1, 0, 0, -300)                               # local midnight: a new day starts from zero
    st = rules.count(st, p, midnight + 1, midnight)
    assert st.listened_day == "2026-12-01" and st.listened_s == pytest.approx(1.0)
    assert rules.listened_today(st.listened_day, st.listened_s, p, at(2, 9, 0, -300)) == 0.0


def test_a_stored_record_never_breaks_a_device() -> None:
    p = rules.load({"max_volume": "loud", "daily_limit_min": 20, "bedtime": 7, "audit": [{"x": 1}], "rev": 3})
    assert p.max_volume is None and p.daily_limit_min == 20 and not p.bedtime
    assert rules.load(None).empty and rules.load({}).empty
    round_trip = rules.to_dict(rules.parse({"bedtime": {"fri": {"start": "21:00", "end": "08:30"}}, "max_volume": 50}))
    assert rules.parse(round_trip) == rules.parse({"bedtime": {"fri": {"start": "21:00", "end": "08:30"}},
                                                   "max_volume": 50})


def test_device_state_keeps_the_counter_within_bounds() -> None:
    st = DeviceState("d", listened_day="2026-11-30", listened_s=12.5)
    back = DeviceState.from_json(st.to_json(), "d")
    assert back.listened_day == "2026-11-30" and back.listened_s == 12.5
    huge = DeviceState.from_json('{"listened_s": 1e12, "listened_day": "2026-11-30"}', "d")
    assert huge.listened_s == 86400.0
