"""The session core without a socket: events in, actions out (core/session/core.py), through the driver of
tests/session/driver.py: the whole conversation, playback and household behaviour of one device."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.devices.state import DeviceState, Item, Play, PlaybackState, Timer
from core.lang.replies import say
from core.playback.turn import SpeechSeg, TrackSeg
from core.protocol.errors import CloseCode
from core.session import events as ev
from core.session.conversation import ConversationState
from core.session.core import SessionCore, SessionSettings
from tests.session.driver import MATCHER, SONG, STORY, Driver

C = ConversationState
P = PlaybackState


def test_hello_then_state_load_and_one_logged_transition_each(caplog_loguru: list[str]) -> None:
    d = Driver()
    assert d.sent[0]["type"] == "hello" and d.sent[0]["transport"] == "websocket"
    assert any(isinstance(a, ev.LoadState) for a in d.actions) and any(isinstance(a, ev.McpDiscover) for a in d.actions)
    assert d.core.conversation.state is C.IDLE
    d.say("play humpty dumpty")
    d.start_track()
    d.say("pause")
    d.end_turn()
    moves = [line.split(" - ", 1)[1].strip() for line in caplog_loguru if " -> " in line]
    assert moves == ["conversation awaiting_hello -> idle (hello)",
                     "conversation idle -> understanding (request)",
                     "playback idle -> playing (request)",
                     "conversation understanding -> answering (turn)",
                     "conversation answering -> idle (new request)",
                     "playback playing -> suspended (new request)",
                     "conversation idle -> understanding (request)",
                     "playback suspended -> paused (asked)",
                     "conversation understanding -> answering (turn)",
                     "conversation answering -> idle (turn done)"]


def test_messages_before_hello_are_ignored_and_no_hello_closes() -> None:
    core = SessionCore("x", 1, SessionSettings(hello_timeout_s=10), MATCHER.track, now=0.0)
    assert core.handle(ev.TextIn('{"type":"listen","state":"detect","text":"play humpty dumpty"}'), 1.0) == []
    assert core.handle(ev.BinaryIn(b"\x00" * 10), 1.0) == []
    out = core.handle(ev.Tick(11.0, 0.0))
    assert out == [ev.Close(CloseCode.POLICY, "hello expected")] and core.conversation.state is C.CLOSED


def test_a_request_plays_its_track_and_a_question_keeps_it() -> None:
    d = Driver()
    d.say("play humpty dumpty")
    assert d.core.conversation.state is C.ANSWERING
    seg = d.start_track()
    assert seg.track == SONG and d.core.playback.state is P.PLAYING
    d.tick(12.0)                                    # 12 s into the song
    d.say("what song is this")
    # the song was suspended at 12 s, the answer is spoken, then the song continues from there
    assert d.turn is not None
    segs = d.turn.turn.segments
    assert isinstance(segs[0], SpeechSeg) and "Humpty Dumpty" in segs[0].text
    assert isinstance(segs[1], TrackSeg) and segs[1].track == SONG and segs[1].start_ms == 12000


@pytest.mark.parametrize("control", ["volume up", "louder", "what's playing", "is this a story"])
def test_controls_and_questions_continue_the_item(control: str) -> None:
    d = Driver()
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(30.0)
    d.say(control)
    assert d.turn is not None
    resumed = [s for s in d.turn.turn.segments if isinstance(s, TrackSeg)]
    assert resumed and resumed[0].track == STORY and resumed[0].start_ms == 30000


def test_pause_keeps_position_and_resume_continues_there() -> None:
    d = Driver()
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(21.0)
    d.say("pause")
    assert d.turn is not None and not any(isinstance(x, TrackSeg) for x in d.turn.turn.segments)   # said, not played
    d.end_turn()
    assert d.core.playback.state is P.PAUSED and d.core.conversation.state is C.IDLE
    st = d.saved[-1]
    assert st.playback is P.PAUSED and st.item is not None and st.item.position_ms == 21000
    d.tick(30.0)                                   # no auto-resume for a pause the child asked for
    assert d.turn is None
    d.say("continue")
    assert d.turn is not None
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == STORY and seg.start_ms == 21000 and seg.etag == "etag-1"


def test_stop_is_remembered_for_continue_and_a_new_request_keeps_the_old_position() -> None:
    d = Driver()
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(40.0)
    d.say("stop")
    assert d.turn is None and d.core.conversation.state is C.IDLE
    assert d.sent[-1] == {"type": "tts", "state": "stop", "session_id": "s"}
    d.say("play humpty dumpty")
    d.start_track()
    d.tick(5.0)
    d.say("stop")
    d.say("continue my story")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == STORY and seg.start_ms == 40000


def test_wake_word_abort_then_silence_resumes_after_the_grace() -> None:
    d = Driver(resume_grace_s=8.0)
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(10.0)
    d.feed(ev.TextIn('{"type":"abort","reason":"wake_word_detected"}'))
    assert d.turn is None and d.core.playback.state is P.SUSPENDED and d.core.conversation.state is C.IDLE
    assert d.sent[-1]["state"] == "stop"
    d.say("hey cheeko")                            # the wake word alone: no greeting over a held story
    assert d.turn is None
    d.playing_track = False
    d.tick(4.0)
    assert d.turn is None
    d.tick(4.5)
    assert d.turn is not None
    seg = d.turn.turn.segments[0]
    assert isinstance(seg, TrackSeg) and seg.start_ms == 10000


def test_button_abort_is_a_stop_still_remembered() -> None:
    d = Driver()
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(15.0)
    d.feed(ev.TextIn('{"type":"abort"}'))
    d.playing_track = False
    d.tick(20.0)
    assert d.turn is None and d.core.conversation.state is C.IDLE
    st = d.core.device_state()
    assert st.item is not None and st.item.position_ms == 15000 and st.playback is P.STOPPED


def test_push_to_talk_and_barge_in_suspend_playback() -> None:
    for event in (ev.TextIn('{"type":"listen","state":"start","mode":"manual"}'), ev.BargeIn()):
        d = Driver()
        d.say("play humpty dumpty")
        d.start_track()
        d.tick(3.0)
        d.feed(event)
        assert d.turn is None and d.core.playback.state is P.SUSPENDED
        assert d.core.device_state().item.position_ms == 3000


def test_collection_plays_on_and_the_timer_stops_after_the_item() -> None:
    d = Driver()
    d.say("play english songs")
    first = d.start_track()
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, first.track))
    cont = [a for a in out if isinstance(a, ev.Continue)]
    assert cont and isinstance(cont[0].segment, TrackSeg) and cont[0].segment.track != first.track
    second = cont[0].segment.track
    assert d.core.device_state().upcoming() == second.uid
    d.feed(ev.TrackFinished(d.turn.turn.id, first.track, 60000))
    d.feed(ev.TrackStarted(d.turn.turn.id, second, 0, None))
    assert d.core.device_state().history[1].finished and d.core.device_state().item.uid == second.uid
    d.tick(2.0)
    d.say("stop after this song")                  # answered, then the song continues to its end
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == second and seg.start_ms == 2000
    d.start_track()
    out = d.feed(ev.TrackNearEnd(d.turn.turn.id, second))
    assert [a for a in out if isinstance(a, ev.Continue)] == [ev.Continue(d.turn.turn.id, None)]
    d.feed(ev.TrackFinished(d.turn.turn.id, second, 50000))
    assert d.core.device_state().timer is None


def test_timed_sleep_fades_then_stops_and_the_queue_does_not_advance() -> None:
    d = Driver(fade_s=5.0)
    d.say("play english songs")
    d.start_track()
    d.say("stop in 1 minute")
    assert d.core.device_state().timer is not None
    d.start_track()
    d.tick(54.0)
    assert not any(isinstance(a, ev.FadeOut) for a in d.actions)
    d.tick(1.5)
    fades = [a for a in d.actions if isinstance(a, ev.FadeOut)]
    assert len(fades) == 1 and 3.0 <= fades[0].seconds <= 5.0
    d.tick(5.0)
    assert d.turn is None and d.core.device_state().timer is None and d.core.device_state().playback is not P.PLAYING
    d.tick(30.0)
    assert d.turn is None


def test_history_favourites_and_play_my_favourites() -> None:
    d = Driver()
    d.say("play humpty dumpty")
    d.start_track()
    d.say("i like this")
    assert SONG.uid in d.core.device_state().favourites
    d.say("stop")
    d.say("what did i listen to")
    assert "Humpty Dumpty" in d.turn.turn.segments[0].text
    d.end_turn()
    d.say("play my favourites")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == SONG


def test_reconnect_rules_stories_keep_their_place_songs_restart() -> None:
    story = DeviceState("aa:bb", item=Item(STORY.uid, "story", STORY.title, 61000), playback=P.PLAYING,
                        history=(Play(STORY.uid, "story", STORY.title, 1.0, 61000),))
    d = Driver(story)
    d.say("continue the story")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == STORY and seg.start_ms == 61000
    song = DeviceState("aa:bb", item=Item(SONG.uid, "music", SONG.title, 20000), playback=P.PLAYING)
    d = Driver(song)
    d.say("resume")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.track == SONG and seg.start_ms == 0
    paused = replace(song, playback=P.PAUSED)
    d = Driver(paused)
    d.say("resume")
    seg = next(s for s in d.turn.turn.segments if isinstance(s, TrackSeg))
    assert seg.start_ms == 20000


def test_resume_with_nothing_and_a_deleted_entry_get_clear_replies() -> None:
    d = Driver()
    d.say("continue")
    assert "nothing to continue" in d.turn.turn.segments[0].text.lower()
    gone = DeviceState("aa:bb", item=Item("story/Bedtime/gone.mp3", "story", "The Lost Tale", 5000), playback=P.PAUSED)
    d = Driver(gone)
    d.say("continue")
    assert d.turn.turn.segments[0].text == "I can't find The Lost Tale any more."
    assert not any(isinstance(s, TrackSeg) for s in d.turn.turn.segments)


def test_speech_without_words_asks_again_but_a_busy_recogniser_says_busy() -> None:
    from core.lang.replies import say
    d = Driver()
    d.feed(ev.VoiceUtterance(""))
    assert d.turn.turn.segments[0].text == say("didnt_catch", "en")
    d.end_turn()
    d.feed(ev.VoiceUtterance("", busy=True))
    assert d.turn.turn.segments[0].text == say("busy", "en")
    assert [s for s in d.sent if s["type"] == "stt"] == [{"type": "stt", "text": "", "session_id": "s"}] * 2


def test_periodic_saves_while_playing_and_evict_saves_then_closes() -> None:
    d = Driver(save_every_s=10.0)
    d.say("tell me the little dragon story")
    d.start_track()
    before = len(d.saved)
    for _ in range(8):
        d.tick(2.5)
    assert len(d.saved) - before == 2 and d.saved[-1].item.position_ms >= 19000
    out = d.feed(ev.Evict(CloseCode.SERVICE_RESTART, "drain"))
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("CancelTurn") < kinds.index("SaveState") < kinds.index("Close")
    assert d.saved[-1].item.position_ms == 20000
    assert d.core.conversation.state is C.CLOSED


def test_a_failed_track_is_forgotten_and_the_collection_goes_on() -> None:
    d = Driver()
    d.say("play english songs")
    first = d.start_track()
    out = d.feed(ev.TrackFailed(d.turn.turn.id, first.track, busy=False))
    cont = [a for a in out if isinstance(a, ev.Continue)]
    assert cont and isinstance(cont[0].segment, TrackSeg) and cont[0].segment.track != first.track
    st = d.core.device_state()                 # forgotten: not in hand, not in the history; the next one is
    assert st.item is not None and st.item.uid == cont[0].segment.track.uid
    assert first.track.uid not in [h.uid for h in st.history] and d.core.playback.state is P.PLAYING


def test_timer_state_survives_json() -> None:
    st = DeviceState("x", timer=Timer(at=5.0), favourites=("a",))
    assert DeviceState.from_json(st.to_json(), "x") == st


@pytest.mark.parametrize(("typed", "heard"), [
    ("हनुमान चालीसा सुनाओ", "Hanuman Chalisa"),             # whisper drops the "sunao" it mishears
    ("हनुमान चालीसा सुनाओ", "Hanuman Chalisa sunao"),
    ("Bandar Mama", "Bandar Mama"),
])
def test_a_spoken_request_is_answered_in_the_language_of_the_typed_one(typed: str, heard: str) -> None:
    by_text, by_voice = Driver(), Driver()
    by_text.say(typed)
    by_voice.feed(ev.VoiceUtterance(heard))
    assert by_text.turn is not None and by_voice.turn is not None
    assert by_voice.spoken() == by_text.spoken() and by_voice.turn.turn.segments[0].language == "hi"


def test_a_request_word_still_chooses_the_reply_language() -> None:
    d = Driver()
    d.feed(ev.VoiceUtterance("play Hanuman Chalisa"))
    assert d.spoken() == [say("now_playing", "en", title="Hanuman Chalisa")]
