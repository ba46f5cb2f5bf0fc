"""The Player on its own: a frozen DeviceState in, a new one out, for every action a plugin can ask for and every
report the renderer makes (core/playback/player.py). No session, no socket, no clock but the arguments."""
from __future__ import annotations

import random

from core.devices.state import DeviceState, Item, Play, PlaybackState, Repeat, Timer
from core.playback.player import Player, ResumeRules
from plugins_func.actions import CancelTimer, Enqueue, Favourite, PlayTrack, SetModes, SetTimer
from tests.session.driver import MATCHER

SONGS = [t for t in MATCHER.tracks if t.collection == "English"][:5]
UIDS = tuple(t.uid for t in SONGS)
NOW = 1_700_000_000.0


def player(state: DeviceState | None = None, rules: ResumeRules | None = None) -> Player:
    return Player(state or DeviceState("aa:bb"), rules or ResumeRules(), MATCHER.track, rng=random.Random(3))


def test_a_collection_plays_in_order_and_its_queue_ends_unless_repeated() -> None:
    p = player()
    p.play(PlayTrack(SONGS[0], queue=UIDS, index=0, continuous=True))
    assert p.state.item is not None and p.state.item.uid == UIDS[0] and p.state.queue == UIDS and p.state.index == 0
    for i in range(1, len(SONGS)):
        nxt = p.peek_next()
        assert nxt == SONGS[i]
        p.finished(60_000, NOW + i)
        p.play(PlayTrack(nxt, keep_queue=True))
        p.started(nxt, 0, None, NOW + i)
        assert p.state.index == i
    assert p.peek_next() is None                                 # the queue ended
    p.apply(SetModes(repeat=Repeat.ALL), NOW)
    assert p.peek_next() == SONGS[0]
    p.apply(SetModes(repeat=Repeat.ONE), NOW)
    assert p.peek_next() == SONGS[-1]


def test_history_marks_what_finished_and_a_resume_continues_its_entry() -> None:
    p = player()
    p.play(PlayTrack(SONGS[0]))
    p.started(SONGS[0], 0, "e1", NOW)
    p.at(30_000)
    assert p.state.history[0] == Play(SONGS[0].uid, "music", SONGS[0].display_title, NOW, 30_000)
    p.play(PlayTrack(SONGS[0], start_ms=30_000))
    p.started(SONGS[0], 30_000, "e1", NOW + 60)
    assert len(p.state.history) == 1 and p.state.history[0].position_ms == 30_000      # the same entry
    p.finished(90_000, NOW + 120)
    assert p.state.item is None and p.state.history[0].finished and p.state.history[0].position_ms == 90_000


def test_enqueue_next_and_last_and_shuffle_keeps_the_current_item_first() -> None:
    p = player()
    p.play(PlayTrack(SONGS[0], queue=UIDS[:3], index=0, continuous=True))
    p.apply(Enqueue(SONGS[4], next=True), NOW)
    assert p.state.queue == (UIDS[0], UIDS[4], UIDS[1], UIDS[2])
    p.apply(Enqueue(SONGS[3], next=False), NOW)
    assert p.state.queue[-1] == UIDS[3] and p.state.continuous
    p.apply(SetModes(shuffle=True), NOW)
    assert p.state.queue[0] == UIDS[0] and sorted(p.state.queue) == sorted((*UIDS[:3], UIDS[3], UIDS[4]))
    p.apply(SetModes(shuffle=False), NOW)
    assert p.state.queue[1:] == tuple(sorted(p.state.queue[1:]))          # catalog order again


def test_a_queued_item_the_catalog_lost_is_skipped() -> None:
    gone = "music/English/Gone Song.mp3"
    p = player(DeviceState("aa:bb", item=Item(UIDS[0], "music", "x"), queue=(UIDS[0], gone, UIDS[1]), index=0,
                           continuous=True))
    assert p.peek_next() == SONGS[1]


def test_timers_and_favourites() -> None:
    p = player()
    p.play(PlayTrack(SONGS[0]))
    p.apply(SetTimer(minutes=10), NOW)
    assert p.state.timer == Timer(at=NOW + 600)
    assert p.timer_due(NOW + 594, fade_s=5) is None
    assert p.timer_due(NOW + 596, fade_s=5) == "fade" and p.timer_due(NOW + 600, fade_s=5) == "stop"
    p.apply(CancelTimer(), NOW)
    assert p.state.timer is None
    p.apply(SetTimer(after_item=True), NOW)
    assert p.peek_next() is None                                     # nothing follows the item
    p.finished(1000, NOW)
    assert p.state.timer is None                                     # the timer fired with the item's end
    p.apply(Favourite(UIDS[0]), NOW)
    p.apply(Favourite(UIDS[1]), NOW)
    assert p.state.favourites == (UIDS[1], UIDS[0])
    p.apply(Favourite(UIDS[0], add=False), NOW)
    assert p.state.favourites == (UIDS[1],)


def test_near_the_end_counts_as_finished_and_a_failed_item_is_forgotten() -> None:
    p = player(rules=ResumeRules(finished_within_ms=10_000))
    p.play(PlayTrack(SONGS[0]))
    p.started(SONGS[0], 0, None, NOW)
    p.at(55_000)
    assert not p.near_end()                                          # the duration is unknown (no metadata)
    p.state = DeviceState("aa:bb", item=Item(UIDS[0], "music", "x", 55_000, duration_ms=60_000),
                          history=(Play(UIDS[0], "music", "x", NOW, 55_000),), playback=PlaybackState.PLAYING)
    assert p.near_end()
    p.drop_finished()
    assert p.state.item is None and p.state.history[0].finished
    p.play(PlayTrack(SONGS[1]))
    p.started(SONGS[1], 0, None, NOW)
    p.failed()
    assert p.state.item is None and [h.uid for h in p.state.history] == [UIDS[0]]


def test_the_listening_counter_and_the_volume_are_kept_with_the_state() -> None:
    p = player()
    p.counted("2026-12-07", 125.0)
    p.volume_is(40)
    assert (p.state.listened_day, p.state.listened_s, p.state.volume) == ("2026-12-07", 125.0, 40)
    assert DeviceState.from_json(p.touch(NOW).to_json(), "aa:bb") == p.state
