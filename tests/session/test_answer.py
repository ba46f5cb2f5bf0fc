"""plan_answer on its own: a pure function from a plugin's result, the held item and the rules to what the device
does next."""
from __future__ import annotations

from core.content.types import Track
from core.playback.turn import SpeechSeg, TrackSeg
from core.protocol.tools import SET_VOLUME
from core.session.answer import plan_answer
from core.session.playback import PlaybackCommand
from plugins_func.actions import ChangeVolume, DeviceTool, Pause, PlayTrack, SetTimer, Stop
from plugins_func.registry import PluginResult
from tests.session.driver import SONG, STORY

HELD = TrackSeg(STORY, 30_000, etag="e1")


def allowed(_track: Track) -> str | None:
    return None


def no_etag(_track: Track) -> str | None:
    return None


def test_a_play_replaces_the_held_item_and_carries_the_etag_of_the_same_item() -> None:
    r = PluginResult("Now playing Humpty Dumpty", "en", (PlayTrack(SONG, start_ms=5000),), announces=True)
    plan = plan_answer(r, held=HELD, refusal=allowed, item_etag=lambda t: "v7" if t == SONG else None)
    assert plan.playback is PlaybackCommand.PLAY and plan.play == PlayTrack(SONG, start_ms=5000)
    assert plan.segments == (SpeechSeg("Now playing Humpty Dumpty", "en", announces=True),
                             TrackSeg(SONG, 5000, etag="v7", language="en"))


def test_a_question_or_a_control_gives_the_held_item_back_after_the_answer() -> None:
    r = PluginResult("This is a story.", "en", (SetTimer(minutes=5), ChangeVolume(10, SET_VOLUME),
                                               ChangeVolume(20, SET_VOLUME)))
    plan = plan_answer(r, held=HELD, refusal=allowed, item_etag=no_etag)
    assert plan.playback is PlaybackCommand.RESUME and plan.segments == (SpeechSeg("This is a story.", "en"), HELD)
    assert plan.volume == ChangeVolume(30, SET_VOLUME) and plan.player_actions == (SetTimer(minutes=5),)
    idle = plan_answer(r, held=None, refusal=allowed, item_etag=no_etag)
    assert idle.playback is None and idle.segments == (SpeechSeg("This is a story.", "en"),)


def test_pause_and_stop_say_their_line_and_play_nothing() -> None:
    for action, command in ((Pause(), PlaybackCommand.PAUSE), (Stop(), PlaybackCommand.STOP)):
        plan = plan_answer(PluginResult("Okay.", "en", (action,)), held=HELD, refusal=allowed, item_etag=no_etag)
        assert plan.playback is command and plan.segments == (SpeechSeg("Okay.", "en"),)


def test_a_refused_request_speaks_the_rule_kindly_and_the_held_item_goes_on() -> None:
    r = PluginResult("Now playing Humpty Dumpty", "hi", (PlayTrack(SONG),))
    plan = plan_answer(r, held=HELD, refusal=lambda t: "policy_bedtime" if t == SONG else None, item_etag=no_etag)
    assert plan.refused == "policy_bedtime" and plan.playback is PlaybackCommand.RESUME
    assert isinstance(plan.segments[0], SpeechSeg) and plan.segments[0].language == "hi"
    assert plan.segments[1] == HELD
    nothing_held = plan_answer(r, held=None, refusal=lambda t: "policy_limit", item_etag=no_etag)
    assert nothing_held.playback is None and len(nothing_held.segments) == 1


def test_a_miss_while_something_is_held_says_so_and_gives_it_back_but_idle_it_plays_the_alternative() -> None:
    r = PluginResult("I couldn't find dinosaur song. Here's an English song instead: Humpty Dumpty", "en",
                     (PlayTrack(SONG),), miss_speech="I couldn't find dinosaur song. You could ask for Humpty Dumpty.")
    held = plan_answer(r, held=HELD, refusal=allowed, item_etag=no_etag)
    assert held.playback is PlaybackCommand.RESUME and held.play is None
    assert held.segments == (SpeechSeg("I couldn't find dinosaur song. You could ask for Humpty Dumpty.", "en"), HELD)
    idle = plan_answer(r, held=None, refusal=allowed, item_etag=no_etag)
    assert idle.playback is PlaybackCommand.PLAY and idle.play == PlayTrack(SONG)


def test_a_device_tool_an_intent_named_is_passed_on() -> None:
    r = PluginResult(None, "en", (DeviceTool("self.screen.set_brightness", {"brightness": 30}),))
    plan = plan_answer(r, held=None, refusal=allowed, item_etag=no_etag)
    assert plan.tools == (DeviceTool("self.screen.set_brightness", {"brightness": 30}),) and plan.segments == ()
