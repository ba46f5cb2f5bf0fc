"""A miss keeps what was playing: with `on_miss: play_alternative`, a request the catalog does not have, said while
an item plays, is answered "I couldn't find X" with the alternative offered in words, and the item goes on where it
was. Idle, the alternative plays as before. The real recogniser, plugins and fixture catalog (tests/session/driver)."""
from __future__ import annotations

import pytest

from core.content.types import Track
from core.playback.turn import SpeechSeg, TrackSeg
from core.session.playback import PlaybackState as P
from tests.session.driver import SONG, STORY, Driver

MISS = "play the dinosaur disco song"


def _segments(d: Driver) -> tuple[list[str], list[TrackSeg]]:
    assert d.turn is not None
    segs = d.turn.turn.segments
    return [s.text for s in segs if isinstance(s, SpeechSeg)], [s for s in segs if isinstance(s, TrackSeg)]


@pytest.mark.parametrize("request_, item, at", [("play humpty dumpty", SONG, 12.0),
                                                 ("tell me the little dragon story", STORY, 40.0)])
def test_a_miss_while_an_item_plays_says_so_offers_in_words_and_the_item_continues(request_: str, item: Track,
                                                                                    at: float) -> None:
    d = Driver(on_miss="play_alternative")
    d.say(request_)
    d.start_track()
    d.tick(at)
    d.say(MISS)
    said, tracks = _segments(d)
    assert len(said) == 1 and said[0].lower().startswith("i couldn't find dinosaur disco")
    assert "Say 'play " in said[0] and "instead" not in said[0]           # offered, not played
    assert [(t.track, t.start_ms) for t in tracks] == [(item, int(at * 1000))]
    d.start_track()                                                       # the device plays the held item on
    state = d.core.device_state()
    assert d.core.playback.state is P.PLAYING and state.item is not None and state.item.uid == item.uid


def test_a_miss_in_hindi_while_a_song_plays_answers_in_hindi_and_keeps_the_song() -> None:
    d = Driver(on_miss="play_alternative")
    d.say("play humpty dumpty")
    d.start_track()
    d.tick(5.0)
    d.say("डायनासोर वाला गाना बजाओ")
    said, tracks = _segments(d)
    assert "नहीं मिला" in said[0] and "बजाओ" in said[0]
    assert [(t.track, t.start_ms) for t in tracks] == [(SONG, 5000)]


def test_idle_a_miss_still_plays_the_labelled_alternative() -> None:
    d = Driver(on_miss="play_alternative")
    d.say(MISS)
    said, tracks = _segments(d)
    assert said[0].lower().startswith("i couldn't find dinosaur disco") and "instead" in said[0]
    assert len(tracks) == 1 and tracks[0].track.title in said[0]


def test_a_paused_item_is_not_held_so_a_miss_then_plays_the_alternative() -> None:
    d = Driver(on_miss="play_alternative")
    d.say("play humpty dumpty")
    d.start_track()
    d.tick(5.0)
    d.say("pause")
    d.end_turn()
    d.say(MISS)
    said, tracks = _segments(d)
    assert "instead" in said[0] and len(tracks) == 1
