"""The parents' rules inside the session core, without a socket: a refused request speaks a kind line and plays
nothing, bedtime beginning stops what plays, the default sleep timer, a policy that arrives while the state loads,
the volume cap on every volume path, a lower cap turning the speaker down, the queue stopping before a refused item,
and the operator's and parents' commands."""
from __future__ import annotations

import json

import pytest

from core.devices.commands import PauseNow, PolicyUpdated, SetVolume, StopNow
from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState, PlaybackState
from core.lang.replies import say
from core.playback.turn import SpeechSeg, TrackSeg
from core.protocol.tools import SET_VOLUME
from core.session import events as ev
from core.session.conversation import ConversationState
from core.session.core import SessionCore, SessionSettings
from tests.session.driver import MATCHER, SONG, STORY, Driver, rules

P = PlaybackState
ALL_DAY = {d: {"start": "00:00", "end": "23:59"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_a_refused_request_speaks_kindly_and_plays_nothing() -> None:
    d = Driver(policy=rules(allowed_collections=["Bedtime"]))
    d.say("play humpty dumpty")
    assert d.turn is not None
    segs = d.turn.turn.segments
    assert [type(s) for s in segs] == [SpeechSeg] and segs[0].text == say("policy_not_allowed", "en")
    assert d.core.device_state().item is None and d.core.playback.state is P.IDLE


def test_bedtime_beginning_stops_what_plays_and_the_default_timer_is_set() -> None:
    d = Driver(policy=rules(sleep_timer_min=20))
    d.say("play humpty dumpty")
    seg = d.start_track()
    assert seg.track.uid == SONG.uid
    timer = d.core.device_state().timer
    assert timer is not None and timer.at is not None and abs(timer.at - d.wall - 20 * 60) < 5
    d.tick(0.25)                                        # the first tick starts the count
    d.tick(1.0)
    assert d.core.playback.state is P.PLAYING
    d.feed(PolicyUpdated(rules(2, bedtime=ALL_DAY)))
    d.tick(0.25)                                        # the rules are checked once a second
    assert d.core.playback.state is P.PLAYING
    d.tick(0.75)                                        # a second on: stopped, with the bedtime line
    assert d.turn is not None and d.spoken() == [say("policy_bedtime", "en")]
    assert not any(isinstance(s, TrackSeg) for s in d.turn.turn.segments)
    st = d.core.device_state()
    assert st.item is not None and st.item.uid == SONG.uid and st.playback is P.STOPPED   # remembered, stopped
    assert st.listened_s == pytest.approx(2.0)          # what played since the first tick was counted
    assert not [s for s in d.sent if s["type"] == "alert"]      # it was playing: the spoken line says it


def test_a_policy_that_arrives_while_the_state_loads_applies_and_an_older_revision_never_wins() -> None:
    core = SessionCore("aa:bb", 1, SessionSettings(), MATCHER.track, now=1.0)
    core.handle(ev.TextIn(json.dumps({"type": "hello", "version": 1})), 1.0, 1.0)
    assert core.handle(PolicyUpdated(rules(5, max_volume=30)), 1.05, 1.05) == []
    out = core.handle(ev.StateLoaded(DeviceState("aa:bb", volume=80), rules(4, max_volume=90)), 1.1, 1.1)
    assert core.rules.record.rev == 5 and core.rules.max_volume == 30
    assert not any(isinstance(a, ev.SaveState) for a in out)       # the session never writes the rules


def test_the_volume_cap_holds_on_every_volume_path() -> None:
    d = Driver(policy=rules(max_volume=40), volume=35)
    d.say("louder")                                     # status read, then set within the cap
    assert d.volume == 40 and d.core.device_state().volume == 40
    d.feed(SetVolume(90))                               # the operator's volume
    assert d.volume == 40
    d.feed(SetVolume(20))
    assert d.volume == 20
    level = [c.arguments for c in d.calls if c.name == SET_VOLUME]
    assert level == [{"volume": 40}, {"volume": 40}, {"volume": 20}]


def test_a_lower_cap_turns_the_speaker_down_and_a_higher_volume_reported_later_is_set_down() -> None:
    d = Driver(volume=80)
    d.feed(PolicyUpdated(rules(2, max_volume=50)))
    assert d.volume == 50
    d.feed(PolicyUpdated(rules(3, max_volume=70)))      # a higher cap never raises the volume
    assert d.volume == 50
    d.volume = 95                                        # the child used the buttons
    idle = Driver(volume=95, persistent=True, hello=False, policy=rules(max_volume=60), status_every_s=300)
    idle.tick(301)
    assert idle.volume == 60                             # read while idle, set down to the cap


def test_the_queue_stops_before_an_item_the_rules_refuse() -> None:
    d = Driver()
    d.say("play english songs")
    seg = d.start_track()
    assert d.core.playback is not None
    nxt = d.core.playback.player.peek_next()
    assert nxt is not None                               # a collection plays on by itself
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, seg.track))
    assert [a.segment.track.uid for a in out if isinstance(a, ev.Continue)] == [nxt.uid]
    d.feed(PolicyUpdated(rules(2, allowed_collections=[seg.track.collection + "-other"])))
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, seg.track))
    assert [a.segment for a in out if isinstance(a, ev.Continue)] == [None]


def test_the_operators_stop_is_the_devices_button_and_the_parents_pause_keeps_the_place() -> None:
    d = Driver()
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(12.0)
    d.feed(PauseNow())
    st = d.core.device_state()
    assert d.turn is None and st.playback is P.PAUSED and st.item is not None and st.item.position_ms == 12000
    assert [s for s in d.sent if s["type"] == "alert"][-1]["message"] == say("policy_pause", "en")
    d.say("continue")
    seg = d.start_track()
    assert seg.track == STORY and seg.start_ms == 12000
    d.tick(3.0)
    d.feed(StopNow())
    st = d.core.device_state()
    assert d.turn is None and st.playback is P.STOPPED and st.item.position_ms == 15000
    assert d.core.conversation.state is ConversationState.IDLE


def test_an_idle_mqtt_speaker_is_shown_bedtime_when_it_begins() -> None:
    d = Driver(persistent=True, hello=False)           # connected over MQTT, no conversation open
    assert d.core.playback is not None                 # claimed and loaded at connect, not at hello
    d.feed(PolicyUpdated(rules(2, bedtime=ALL_DAY)))
    alerts = [s for s in d.sent if s["type"] == "alert"]
    assert [a["message"] for a in alerts] == [say("policy_bedtime", "en")] and alerts[0]["emotion"] == "sleepy"
    d.tick(1.0)
    d.tick(1.0)
    assert len([s for s in d.sent if s["type"] == "alert"]) == 1    # an edge, once


def test_an_afternoon_quiet_time_says_a_bit_later_not_tomorrow() -> None:
    d = Driver(persistent=True, hello=False)
    d.wall -= 10 * 3600                                # 12:13 UTC, the policy's default offset
    d.feed(PolicyUpdated(rules(2, bedtime=ALL_DAY)))
    alerts = [s for s in d.sent if s["type"] == "alert"]
    assert [a["message"] for a in alerts] == [say("policy_quiet", "en")] and alerts[0]["emotion"] == "neutral"
    assert "tomorrow" not in alerts[0]["message"]


def test_a_stored_record_in_the_old_shape_reads_unchanged() -> None:
    # a record as the code before the playback enum and the policy record wrote it
    old = json.dumps({"device_id": "aa:bb", "schema": 1, "volume": 55, "playing": True, "paused": False,
                      "item": {"uid": STORY.uid, "kind": "story", "title": "The Little Dragon", "position_ms": 61000},
                      "policy": {"max_volume": 70, "rev": 3, "audit": [{"at": 1.0, "who": "parent"}]}})
    st = DeviceState.from_json(old, "aa:bb")
    assert st.playback is P.PLAYING and st.item is not None and st.item.position_ms == 61000 and st.volume == 55
    from core.devices.store import legacy_rules, policy_record
    record = policy_record(None, legacy_rules(old))             # no rules record yet: the older copy counts
    assert record == PolicyRecord(3, {**record.rules, "max_volume": 70}, ({"at": 1.0, "who": "parent"},))
    assert record.policy().max_volume == 70
    d = Driver(st, policy=record)
    assert d.core.playback.state is P.STOPPED           # it was playing when that connection ended
    d.say("continue the story")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == STORY and seg.start_ms == 61000


def test_a_duplicated_or_late_policy_message_changes_nothing() -> None:
    d = Driver(volume=80)
    d.feed(PolicyUpdated(rules(3, max_volume=50)))
    calls = len(d.calls)
    d.feed(PolicyUpdated(rules(3, max_volume=50)))          # the bus delivered it twice
    d.feed(PolicyUpdated(rules(2, max_volume=90)))          # an older revision arrives late (a re-read raced it)
    assert d.core.rules.record.rev == 3 and d.core.rules.max_volume == 50 and len(d.calls) == calls
    d.tick(31.0)                                             # the periodic re-read is asked for
    assert any(isinstance(a, ev.LoadPolicy) for a in d.actions)
