"""A session over a link that outlives its conversations (MQTT + UDP): claimed at connect, conversations opened by
hello and ended by goodbye either way, the position kept across them, idle conversations ended on purpose before the
firmware's 120 s channel timeout, a lost audio channel."""
from __future__ import annotations

import json

from core.devices.state import PlaybackState
from core.playback.turn import SpeechSeg, TrackSeg
from core.session import events as ev
from core.session.conversation import ConversationState
from tests.session.driver import STORY, Driver

C, P = ConversationState, PlaybackState
UDP_HELLO = {"type": "hello", "version": 3, "transport": "udp", "features": {"mcp": True},
             "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}}


def test_claimed_at_connect_and_a_hello_opens_a_conversation_with_raw_opus() -> None:
    d = Driver(persistent=True, hello=False)
    assert [type(a) for a in d.actions[:2]] == [ev.LoadState, ev.McpDiscover]
    assert d.core.conversation.state is C.AWAITING_HELLO and d.core.playback is not None
    d.feed(ev.TextIn(json.dumps(UDP_HELLO)))
    hello = d.sent[-1]
    assert hello["type"] == "hello" and hello["transport"] == "udp" and hello["version"] == 3
    assert d.core.version == 1                              # over UDP the payload is raw Opus, whatever `version` says
    assert d.core.conversation.state is C.IDLE
    assert sum(isinstance(a, ev.LoadState) for a in d.actions) == 1     # loaded once, at connect
    out = d.feed(ev.BinaryIn(b"\xf8\xff\xfe"))               # a raw Opus packet reaches the recogniser as it is
    assert out == [ev.VoiceFeed(b"\xf8\xff\xfe")]


def test_goodbye_from_the_device_stops_the_story_remembered_and_the_next_conversation_continues_it() -> None:
    d = Driver(persistent=True, hello=UDP_HELLO)
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(20.0)
    d.feed(ev.TextIn(json.dumps({"type": "goodbye", "session_id": "s"})))
    assert d.core.conversation.state is C.AWAITING_HELLO and any(isinstance(a, ev.EndConversation) for a in d.actions)
    st = d.saved[-1]
    assert st.playback is P.STOPPED and st.item is not None and st.item.position_ms == 20000
    assert not [s for s in d.sent if s["type"] == "goodbye"]         # the device said it: no answer
    d.feed(ev.TextIn(json.dumps(UDP_HELLO)))
    d.say("continue my story")
    assert d.turn is not None
    line, story = d.turn.turn.segments
    # the line only announces: a storm of resumes never waits behind renders of their lines
    assert isinstance(line, SpeechSeg) and line.text.startswith("Carrying on with") and line.announces
    assert isinstance(story, TrackSeg)
    seg = d.start_track()
    assert seg.track == STORY and seg.start_ms == 20000


def test_an_idle_conversation_is_ended_with_a_goodbye_before_the_firmware_would_drop_it() -> None:
    d = Driver(persistent=True, hello=UDP_HELLO, idle_timeout_s=120.0)
    d.tick(60.0)
    assert d.core.conversation.state is C.IDLE
    d.tick(31.0)                                         # 91 s: the firmware would give up at 120 s
    assert d.sent[-1]["type"] == "goodbye" and d.core.conversation.state is C.AWAITING_HELLO
    assert isinstance(d.actions[-1], ev.EndConversation)
    d.tick(600.0)                                        # an idle MQTT speaker is never closed by the session
    assert not any(isinstance(a, ev.Close) for a in d.actions)


def test_a_lost_audio_channel_ends_the_conversation_and_keeps_the_place() -> None:
    d = Driver(persistent=True, hello=UDP_HELLO)
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(5.0)
    d.feed(ev.ChannelLost("no UDP datagram arrived"))
    assert d.sent[-1]["type"] == "goodbye" and d.core.conversation.state is C.AWAITING_HELLO
    assert d.core.device_state().playback is P.STOPPED and d.core.device_state().item.position_ms == 5000


def test_a_second_hello_replaces_the_conversation() -> None:
    d = Driver(persistent=True, hello=UDP_HELLO)
    d.say("tell me the little dragon story")
    d.start_track()
    d.tick(7.0)
    d.feed(ev.TextIn(json.dumps(UDP_HELLO)))
    assert d.turn is None and d.core.conversation.state is C.IDLE
    assert d.core.device_state().playback is P.STOPPED and d.core.device_state().item.position_ms == 7000
    assert [s["type"] for s in d.sent].count("hello") == 2
