"""Where the session core cuts a request's stages (core/session/core.py): transcript -> decision when the
understanding comes back, decision -> first spoken frame and decision -> first song frame when the renderer reports
them; once per request, never for a superseded request or a turn nobody asked for. Time is the driver's."""
from __future__ import annotations

import asyncio

import pytest

from core.session import events as ev
from plugins_func.registry import PluginContext
from tests.session.driver import MATCHER, UNDERSTAND, Driver


class Recorded:
    """The session's metrics (SessionMetrics), keeping what it was given."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []
        self.first_frames: list[float] = []

    def stage_latency(self, stage: str, seconds: float) -> None:
        self.stages.append((stage, round(seconds, 6)))

    def first_frame(self, seconds: float, cached: bool) -> None:
        self.first_frames.append(round(seconds, 6))

    def request(self, intent: str, outcome: str) -> None: ...

    def match(self, match_type: str) -> None: ...

    def stream_started(self) -> None: ...

    def stream_ended(self) -> None: ...


def test_a_request_is_cut_into_understanding_speech_and_song() -> None:
    m = Recorded()
    d = Driver(metrics=m)
    d.thinking_s = 0.25
    d.say("play humpty dumpty")
    assert m.stages == [("understand", 0.25)]
    assert d.turn is not None
    turn_id = d.turn.turn.id
    d.now += 0.125
    d.feed(ev.SpeechStarted(turn_id))
    d.now += 0.5
    d.feed(ev.SpeechStarted(turn_id))             # only the turn's first spoken frame counts
    d.now += 0.875
    d.start_track()
    assert m.stages == [("understand", 0.25), ("tts", 0.125), ("song", 1.5)]
    assert m.first_frames == [1.75]               # transcript -> first song frame: understanding + song


def test_a_superseded_request_and_a_turn_without_one_count_nothing() -> None:
    m = Recorded()
    d = Driver(metrics=m)
    d.feed(ev.TextIn('{"type":"listen","state":"detect","text":"hey cheeko"}'))      # a greeting, no request
    assert d.turn is not None
    d.feed(ev.SpeechStarted(d.turn.turn.id))
    assert m.stages == []
    # A request whose understanding comes back after a newer one was heard: only the newer one is cut.
    d.core.handle(ev.TextIn('{"type":"listen","state":"detect","text":"play humpty dumpty"}'), d.now, d.wall)
    old = d.core.conversation.request
    assert old is not None
    d.now += 1.0
    d.thinking_s = 0.5
    d.say("tell me the little dragon story")
    assert m.stages == [("understand", 0.5)]
    late = asyncio.run(UNDERSTAND(old.text, PluginContext(catalog=MATCHER, device=d.core.device_state())))
    d.feed(ev.Understood(old.id, late))                           # the old request's answer, too late
    d.feed(ev.SpeechStarted(d.turn.turn.id + 1))                  # a turn that is not the current one
    assert m.stages == [("understand", 0.5)]


@pytest.mark.parametrize("spoken_first", [True, False])
def test_a_turn_that_starts_with_the_song_has_no_speech_stage(spoken_first: bool) -> None:
    m = Recorded()
    d = Driver(metrics=m)
    d.thinking_s = 0.1
    d.say("play humpty dumpty")
    d.now += 0.2
    if spoken_first:
        d.feed(ev.SpeechStarted(d.turn.turn.id))
    d.now += 0.2
    d.start_track()
    d.now += 0.2
    d.feed(ev.SpeechStarted(d.turn.turn.id))          # speech after the song started (an apology) is not the answer
    stages = [s for s, _ in m.stages]
    assert stages == (["understand", "tts", "song"] if spoken_first else ["understand", "song"])
    assert dict(m.stages)["song"] == 0.4


def test_a_request_heard_while_the_state_loads_counts_the_wait() -> None:
    """Heard before the device's state loaded, answered after: the child waited through the load too."""
    from core.devices.policy import PolicyRecord
    from core.devices.state import DeviceState
    from core.session.core import SessionCore, SessionSettings

    m = Recorded()
    core = SessionCore("aa:bb", 1, SessionSettings(), MATCHER.track, now=10.0, metrics=m)
    assert any(isinstance(a, ev.LoadState) for a in core.handle(ev.TextIn('{"type":"hello","version":1}'), 10.0))
    early = core.handle(ev.TextIn('{"type":"listen","state":"detect","text":"play humpty dumpty"}'), 10.5)
    assert not [a for a in early if isinstance(a, ev.Understand)]            # kept until the state is there
    asked = [a for a in core.handle(ev.StateLoaded(DeviceState("aa:bb"), PolicyRecord()), 11.0)
             if isinstance(a, ev.Understand)]
    assert len(asked) == 1
    answer = asyncio.run(UNDERSTAND(asked[0].text, PluginContext(catalog=MATCHER, device=core.device_state())))
    core.handle(ev.Understood(asked[0].request_id, answer), 11.25)
    assert m.stages == [("understand", 0.75)]
