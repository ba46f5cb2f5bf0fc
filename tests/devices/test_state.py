"""DeviceState as stored: the playback enum, records from before it, and records that say something unusable."""
from __future__ import annotations

import json

import pytest

from core.devices.state import DeviceState, Item, PlaybackState, StateError

P = PlaybackState
ITEM = {"uid": "story/Bedtime/moon.mp3", "kind": "story", "title": "The Moon", "position_ms": 5000}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"playing": True}, P.PLAYING), ({"paused": True}, P.PAUSED), ({"playing": True, "paused": True}, P.PAUSED),
    ({}, P.STOPPED), ({"playback": "suspended", "suspended_until": 12.5}, P.SUSPENDED),
])
def test_records_before_and_after_the_enum_read_the_same_truth(fields: dict[str, object], expected: P) -> None:
    st = DeviceState.from_json(json.dumps({"item": ITEM, **fields}), "d")
    assert st.playback is expected and st.item == Item(**ITEM)  # type: ignore[arg-type]  # ITEM holds Item's fields
    assert DeviceState.from_json(st.to_json(), "d") == st
    assert "playing" not in json.loads(st.to_json()) and "paused" not in json.loads(st.to_json())


def test_an_unknown_playback_state_reads_as_not_playing_logged_once(caplog_loguru: list[str]) -> None:
    st = DeviceState.from_json(json.dumps({"item": ITEM, "playback": "dancing"}), "d")
    assert st.playback is P.STOPPED and st.item is not None and st.item.position_ms == 5000   # nothing lost
    idle = DeviceState.from_json(json.dumps({"playback": "dancing"}), "d")
    assert idle.playback is P.IDLE
    assert len([line for line in caplog_loguru if "unknown playback state" in line]) == 2     # once per record


def test_nothing_in_hand_is_idle_whatever_the_record_says_and_junk_is_a_state_error() -> None:
    assert DeviceState.from_json(json.dumps({"playback": "playing"}), "d").playback is P.IDLE
    assert DeviceState.from_json(json.dumps({"item": ITEM, "playback": "idle"}), "d").playback is P.STOPPED
    with pytest.raises(StateError):
        DeviceState.from_json(json.dumps({"item": ITEM, "playback": "suspended", "suspended_until": "soon"}), "d")
