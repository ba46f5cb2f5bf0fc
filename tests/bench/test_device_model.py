"""The device model the load and MQTT benches count stalls with (bench/load_bench.py song_stalls): frames queue on the
device and play back to back, 60 ms each; a stall is a song frame that arrives after the previous one has finished."""
from __future__ import annotations

from bench.load_bench import FRAME_S, device_playback, song_stalls


def paced(start: float, count: int, lead: int = 3) -> list[float]:
    """Arrival times of a pacer that sends `lead` + 1 frames at once and then one per frame time."""
    return [start + max(0, n - lead) * FRAME_S for n in range(count)]


def test_a_song_paced_with_a_lead_after_the_announcement_never_stalls() -> None:
    speech = paced(0.0, 20)                          # 1.2 s of announcement
    song = paced(speech[-1] + FRAME_S, 100)          # the song follows while the announcement still plays
    every = speech + song
    got = song_stalls(every, len(speech))
    assert got == {"dry": 0, "pause": 0.0, "stalls": 0, "longest": 0.0, "silence": 0.0}
    # counted from the song's first frame alone, the lead the device still holds is invisible: the old model saw
    # the song as exactly on time, so any jitter would have looked like a stall
    assert device_playback(song)["late"] == 0


def test_a_frame_later_than_the_device_queue_lasts_is_one_stall() -> None:
    every = paced(0.0, 50)
    every[30:] = [t + 0.25 for t in every[30:]]      # the sender stops for 250 ms: 180 ms of lead run out
    got = song_stalls(every, 0)
    assert got["dry"] == 1
    assert got["stalls"] == 0                        # 70 ms: a stall in the strict figure only
    assert got["pause"] == 0.0


def test_silence_before_the_song_is_a_pause_not_a_stall() -> None:
    speech = paced(0.0, 10)
    song = paced(2.0, 40)                            # the song's decoder took a while: the announcement ended at 0.6 s
    got = song_stalls(speech + song, len(speech))
    assert got["dry"] == 0
    assert abs(got["pause"] - (2.0 - 10 * FRAME_S)) < 1e-9


def test_a_stall_over_300_ms_is_counted_with_its_silence() -> None:
    every = paced(0.0, 60)
    every[40:] = [t + 0.6 for t in every[40:]]       # the sender stops for 600 ms: 420 ms dry after the lead
    got = song_stalls(every, 0)
    assert got["dry"] == 1
    assert got["stalls"] == 1
    assert abs(got["longest"] - 0.42) < 1e-9 and abs(got["silence"] - 0.42) < 1e-9
