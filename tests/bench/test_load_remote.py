"""The load bench pointed at a running deployment (bench/load_bench.py --ota/--url): each device asks the OTA
endpoint for its WebSocket URL and token as the firmware does, asks for a title from the deployment's catalog and
is judged by what it hears. Here against a real node on loopback with auth on (tokens minted by OTA)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.load_bench import ID_PREFIX, _device_id, catalog_titles, one_device, summarize

pytestmark = pytest.mark.timeout(60)


async def test_devices_routed_by_ota_with_minted_tokens_hear_their_titles(make_config: Any, start_node: Any,
                                                                          tone_catalog: Path) -> None:
    node = await start_node(make_config(server={"auth": {"enabled": True, "hmac_key": "k3y"}}))
    titles = catalog_titles(tone_catalog)
    assert set(titles) == {"Baa Baa Black Sheep", "Twinkle Twinkle Little Star", "Long Lullaby"}
    ota = f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/"
    results = [await one_device("", "Long Lullaby", 1.5, 0.0, None, _device_id(ID_PREFIX, i), ota)
               for i in (0.1, 0.2)]
    row = summarize("remote", results, 1.0, 1, "target")
    assert row["heard"] == 2 and row["errors"] == []
    assert 0 < row["audio_p50"] <= row["ttff_p50"]
    assert row["frames"] >= 2 * int(1.5 / 0.06)
    # without OTA's token the same device is refused at the upgrade: the bench reports it, it does not crash
    refused = await one_device(f"ws://127.0.0.1:{node.ws_port}/xiaozhi/v1/", "Long Lullaby", 1.0, 0.0, None,
                               _device_id(ID_PREFIX, 0.3))
    assert not refused["heard"] and refused["error"] == "InvalidStatus"


async def test_the_light_listener_hears_its_song_as_the_full_client_does(make_config: Any, start_node: Any) -> None:
    from bench._light_ws import light_device
    node = await start_node(make_config())
    light = await light_device("127.0.0.1", node.ws_port, "/xiaozhi/v1/", _device_id(ID_PREFIX, 0.4), "Long Lullaby",
                               1.5, 0.0)
    full = await one_device(f"ws://127.0.0.1:{node.ws_port}/xiaozhi/v1/", "Long Lullaby", 1.5, 0.0, None,
                            _device_id(ID_PREFIX, 0.5))
    assert light["heard"] and full["heard"] and light["error"] == ""
    assert abs(light["frames"] - full["frames"]) <= 2 and light["frames"] >= int(1.5 / 0.06)
    assert light["stalls"] == 0 and 0 < light["first_audio"] <= light["ttff"]
    # a title the catalog lacks: the device hears another answer, never counted as its song
    missing = await light_device("127.0.0.1", node.ws_port, "/xiaozhi/v1/", _device_id(ID_PREFIX, 0.6),
                                 "Purple Dragon Song", 1.0, 0.0)
    assert not missing["heard"]
