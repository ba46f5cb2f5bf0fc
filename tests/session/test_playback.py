"""PlaybackControl on its own: every transition of its table, driven through its public commands, and every command
the table does not allow refused without a change."""
from __future__ import annotations

import pytest

from core.devices.state import DeviceState, Item, PlaybackState
from core.playback.player import Player, ResumeRules
from core.session.playback import TRANSITIONS, PlaybackCommand, PlaybackControl
from plugins_func.actions import PlayTrack
from tests.session.driver import MATCHER, SONG, STORY

P, C = PlaybackState, PlaybackCommand
RULES = ResumeRules(finished_within_ms=10_000)


def control(state: PlaybackState, position_ms: int = 30_000) -> PlaybackControl:
    """A device whose item (the story, 4 minutes long) is in `state` at `position_ms` (no item when IDLE)."""
    item = None if state is P.IDLE else Item(STORY.uid, "story", STORY.title, position_ms, duration_ms=240_000)
    return PlaybackControl(Player(DeviceState("aa:bb", item=item, playback=state), RULES, MATCHER.track))


def apply(pc: PlaybackControl, command: PlaybackCommand) -> bool:
    match command:
        case C.PLAY:
            pc.play(PlayTrack(SONG), "test")
            return True
        case C.SUSPEND:
            return pc.suspend(1000.0, "test")
        case C.RESUME:
            return pc.resume("test")
        case C.PAUSE:
            return pc.pause("test")
        case C.STOP:
            return pc.stop("test")
        case C.FINISH:
            return pc.finish("test")
        case C.FAIL:
            return pc.fail(STORY, "test")


@pytest.mark.parametrize(("state", "command"), sorted(TRANSITIONS, key=str))
def test_every_transition_of_the_table(state: PlaybackState, command: PlaybackCommand) -> None:
    pc = control(state)
    assert apply(pc, command)
    assert pc.state is TRANSITIONS[(state, command)]
    assert (pc.device.item is None) == (pc.state is P.IDLE)          # nothing in hand exactly when idle
    assert (pc.suspended_until is not None) == (pc.state is P.SUSPENDED)


@pytest.mark.parametrize(("state", "command"), [(s, c) for s in P for c in C
                                                if (s, c) not in TRANSITIONS and c is not C.PLAY])
def test_what_the_table_does_not_allow_is_refused_and_changes_nothing(state: PlaybackState,
                                                                       command: PlaybackCommand) -> None:
    pc = control(state)
    before = pc.device
    assert not apply(pc, command)
    assert pc.device == before


def test_a_stop_practically_at_the_end_finishes_and_a_settled_stop_there_does_too() -> None:
    pc = control(P.PLAYING, position_ms=235_000)
    assert pc.stop("test") and pc.state is P.IDLE and pc.device.item is None
    pc = control(P.PLAYING, position_ms=100_000)
    pc.stop("test")
    assert pc.state is P.STOPPED
    pc.settle(236_000)                       # the cancelled turn reports the device was nearly at the end
    assert pc.state is P.IDLE


def test_restored_state_never_plays_by_itself_and_the_resume_rules_set_the_position() -> None:
    story = DeviceState("aa:bb", item=Item(STORY.uid, "story", STORY.title, 61_000), playback=P.PLAYING)
    pc = PlaybackControl.restored(story, ResumeRules(), MATCHER.track)
    assert pc.state is P.STOPPED and pc.device.item is not None and pc.device.item.position_ms == 61_000
    song = DeviceState("aa:bb", item=Item(SONG.uid, "music", SONG.title, 20_000), playback=P.SUSPENDED,
                       suspended_until=5.0)
    pc = PlaybackControl.restored(song, ResumeRules(), MATCHER.track)
    assert pc.state is P.STOPPED and pc.device.item.position_ms == 0 and pc.suspended_until is None
    paused = DeviceState("aa:bb", item=Item(SONG.uid, "music", SONG.title, 20_000), playback=P.PAUSED)
    pc = PlaybackControl.restored(paused, ResumeRules(), MATCHER.track)
    assert pc.state is P.PAUSED and pc.device.item.position_ms == 20_000


def test_the_persisted_state_survives_json_with_its_data() -> None:
    pc = control(P.PLAYING)
    pc.suspend(1234.5, "test")
    again = DeviceState.from_json(pc.device.to_json(), "aa:bb")
    assert again.playback is P.SUSPENDED and again.suspended_until == 1234.5 and again == pc.device
