"""Controls said the way children say them, during a song, through the session core with the real recogniser and
plugins: the volume moves by the steps asked for within the parents' cap, and the song continues where it was."""
from __future__ import annotations

import asyncio

import pytest

from core.devices.state import DeviceState
from core.playback.turn import TrackSeg
from core.protocol.tools import SET_VOLUME
from plugins_func.actions import ChangeVolume
from plugins_func.loader import default_functions
from plugins_func.registry import PluginContext, PluginRegistry
from tests.session.driver import MATCHER, SONG, UNDERSTAND, Driver, rules


def _song_at_12s(d: Driver) -> None:
    d.say("play humpty dumpty")
    d.start_track()
    d.tick(12.0)


@pytest.mark.parametrize("said, volume", [
    ("make it a little louder please", 60),
    ("make it a lot louder please", 80),
    ("louder louder", 70),
    ("not so loud", 40),
    ("आवाज़ बहुत कम करो", 20),
    ("sound konchem penchu", 60),
    ("ಸೌಂಡ್ ತುಂಬಾ ಜಾಸ್ತಿ ಮಾಡು", 80),
])
def test_a_volume_request_with_a_quantity_moves_by_its_steps_and_the_song_goes_on(said: str, volume: int) -> None:
    d = Driver(volume=50)
    _song_at_12s(d)
    d.say(said)
    assert d.volume == volume, said
    assert d.turn is not None
    kept = [s for s in d.turn.turn.segments if isinstance(s, TrackSeg)]
    assert kept and kept[0].track == SONG and kept[0].start_ms == 12000, said


def test_a_lot_louder_stops_at_the_parents_cap() -> None:
    d = Driver(policy=rules(max_volume=65), volume=50)
    _song_at_12s(d)
    d.say("much louder please")
    assert d.volume == 65
    assert [c.arguments for c in d.calls if c.name == SET_VOLUME] == [{"volume": 65}]


@pytest.mark.parametrize("said, function", [
    ("next please", "next"), ("can you play the previous song", "previous"), ("one more time please", "play_again"),
    ("ek minute ruko na", "pause"), ("ಇನ್ನೊಂದು ಸಲ ಹಾಕು", "play_again")])
def test_transport_with_politeness_during_a_song_is_the_control_not_a_title_search(said: str, function: str
                                                                                   ) -> None:
    d = Driver()
    _song_at_12s(d)
    u = asyncio.run(UNDERSTAND(said, PluginContext(catalog=MATCHER, device=d.core.device_state(),
                                                   tools={SET_VOLUME: {}})))
    assert u.intent.name == function, said


@pytest.mark.parametrize("steps, delta", [(None, 10), (1, 10), (2, 20), (3, 30), (99, 30), (-4, 10), (0, 10),
                                          ("2", 10), (2.4, 10), ("lots", 10), (float("nan"), 10)])
def test_volume_steps_from_any_recogniser_are_one_to_three(steps: object, delta: int) -> None:
    """An LLM may send anything: a value that is not a JSON integer is dropped (one step), the rest is bounded."""
    registry = PluginRegistry(default_functions())
    args = {} if steps is None else {"steps": steps}
    for name, sign in (("volume_up", 1), ("volume_down", -1)):
        r = registry.call(name, PluginContext(catalog=MATCHER, device=DeviceState("aa:bb"), tools={SET_VOLUME: {}}),
                          args)
        assert r.actions == (ChangeVolume(sign * delta, SET_VOLUME),), (name, steps)
