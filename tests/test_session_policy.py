"""The parents' rules inside the session core, without a socket (the driver of tests/test_session_core.py): a
refused request speaks a kind line and plays nothing, bedtime beginning stops what plays, the default sleep timer,
a policy set while the state loads, and the volume cap on both volume paths."""
from __future__ import annotations

import json

import pytest

from core.devices.state import DeviceState
from core.lang.replies import say
from core.playback.turn import SpeechSeg, TrackSeg
from core.session import events as ev
from core.session.core import SessionCore, SessionSettings
from tests.test_session_core import MATCHER, SONG, Driver

ALL_DAY = {d: {"start": "00:00", "end": "23:59"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_a_refused_request_speaks_kindly_and_plays_nothing() -> None:
    d = Driver(DeviceState("aa:bb", policy={"allowed_collections": ["Bedtime"]}))
    d.say("play humpty dumpty")
    assert d.turn is not None
    segs = d.turn.turn.segments
    assert [type(s) for s in segs] == [SpeechSeg] and segs[0].text == say("policy_not_allowed", "en")
    assert d.core.device_state().item is None


def test_bedtime_beginning_stops_what_plays_and_the_default_timer_is_set() -> None:
    d = Driver(DeviceState("aa:bb", policy={"sleep_timer_min": 20}))
    d.say("play humpty dumpty")
    seg = d.start_track()
    assert seg.track.uid == SONG.uid
    timer = d.core.device_state().timer
    assert timer is not None and timer.at is not None and abs(timer.at - d.wall - 20 * 60) < 5
    d.tick(0.25)                                        # the first tick starts the count
    d.tick(1.0)
    assert d.core.state.value == "playing"
    for a in d.core.set_policy({"bedtime": ALL_DAY}):
        assert isinstance(a, ev.SaveState)
    d.tick(0.25)                                        # the rules are checked once a second
    assert d.core.state.value == "playing"
    d.tick(0.75)                                        # a second on: stopped, with the bedtime line
    assert d.turn is not None and [s.text for s in d.turn.turn.segments if isinstance(s, SpeechSeg)] == [
        say("policy_bedtime", "en")]
    assert not any(isinstance(s, TrackSeg) for s in d.turn.turn.segments)
    st = d.core.device_state()
    assert st.item is not None and st.item.uid == SONG.uid and not st.playing     # remembered, stopped
    assert st.listened_s == pytest.approx(2.0)          # what played since the first tick was counted


def test_a_policy_set_while_the_state_loads_applies_once_loaded() -> None:
    core = SessionCore("aa:bb", 1, SessionSettings(), MATCHER.track, now=1.0)
    core.handle(ev.TextIn(json.dumps({"type": "hello", "version": 1})), 1.0, 1.0)
    assert core.set_policy({"max_volume": 30}) == []
    out = core.handle(ev.StateLoaded(DeviceState("aa:bb", volume=80)), 1.1, 1.1)
    assert core.device_state().policy == {"max_volume": 30} and any(isinstance(a, ev.SaveState) for a in out)


def test_the_volume_cap_holds_on_both_volume_paths() -> None:
    d = Driver(DeviceState("aa:bb", policy={"max_volume": 40}))
    d.say("louder")
    change = next(a for a in d.actions if isinstance(a, ev.VolumeChange))
    assert change.cap == 40 and change.delta > 0
    assert d.core._capped({"volume": 90}) == {"volume": 40}
    assert d.core._capped({"volume": 25}) == {"volume": 25}


def test_the_queue_stops_before_an_item_the_rules_refuse() -> None:
    d = Driver()
    d.say("play english songs")
    seg = d.start_track()
    nxt = d.core.player.peek_next()
    assert nxt is not None                               # a collection plays on by itself
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, seg.track))
    assert [a.segment.track.uid for a in out if isinstance(a, ev.Continue)] == [nxt.uid]
    d.core.set_policy({"allowed_collections": [seg.track.collection + "-other"]})
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, seg.track))
    assert [a.segment for a in out if isinstance(a, ev.Continue)] == [None]
