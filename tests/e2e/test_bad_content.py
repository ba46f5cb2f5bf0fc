"""Broken catalog items at the device: a short spoken apology, never a stuck or crashed session."""
from __future__ import annotations

import json
import shutil

import pytest

from core.device_client import DeviceClient
from tests.conftest import ws_url

pytestmark = pytest.mark.timeout(60)


BROKEN = {"Corrupt Song": b"\xff\xfb\x90\x00" + bytes(range(256)) * 40,
          "Html Song": b"<html><body>Access denied</body></html>", "Empty Song": b""}


@pytest.fixture
def broken_catalog(tmp_path, tone_catalog):
    root = tmp_path / "broken"
    english = root / "music" / "English"
    english.mkdir(parents=True)
    shutil.copy(tone_catalog / "music" / "English" / "Baa Baa Black Sheep.mp3", english / "Good Song.mp3")
    for title, body in BROKEN.items():
        (english / f"{title}.mp3").write_bytes(body)
    meta = {t: {"romanized": t, "filename": f"{t}.mp3", "alternatives": []}
            for t in ("Good Song", *BROKEN, "Missing Song")}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


@pytest.mark.parametrize("title", ["corrupt song", "html song", "empty song"])
async def test_a_local_file_that_does_not_play_is_never_announced(make_config, start_node, broken_catalog,
                                                                   title) -> None:
    node = await start_node(make_config(content={"content_dir": str(broken_catalog)},
                                        matching={"on_miss": "say"}))
    assert sorted(t.title for t in node.rt.content.tracks()) == ["Good Song"]     # skipped at load, as validate does
    async with DeviceClient(ws_url(node)) as device:
        await device.send_text_request(f"play {title}")
        said = await device.wait_json("tts", "sentence_start", timeout=15)
        assert said["text"].startswith("I couldn't find"), said
        await device.wait_json("tts", "stop", timeout=15)
        assert device.audio == []


@pytest.mark.parametrize("title", ["corrupt song", "html song", "empty song"])
async def test_broken_item_gets_an_apology_and_the_session_carries_on(make_config, start_node, broken_catalog,
                                                                      title) -> None:
    # Files that break after the catalog was loaded (not watched here): the player still apologises and carries on.
    english = broken_catalog / "music" / "English"
    for name in BROKEN:
        shutil.copy(english / "Good Song.mp3", english / f"{name}.mp3")
    node = await start_node(make_config(content={"content_dir": str(broken_catalog), "watch_s": 0}))
    for name, body in BROKEN.items():
        (english / f"{name}.mp3").write_bytes(body)
    async with DeviceClient(ws_url(node)) as device:
        await device.send_text_request(f"play {title}")
        await device.wait_json("tts", "stop", timeout=15)
        texts = [r.message["text"] for r in device.log
                 if r.kind == "json" and r.message.get("state") == "sentence_start"]
        assert any(t.startswith("Sorry, I couldn't") for t in texts), texts
        assert device.audio == []                      # silent TTS in tests: no song frames leaked out
        await device.send_text_request("play good song")
        await device.wait_json("tts", "stop", timeout=15)
        assert len(device.audio) == 40                 # the next request plays normally


async def test_an_entry_whose_file_is_missing_is_never_announced(make_config, start_node, broken_catalog) -> None:
    node = await start_node(make_config(content={"content_dir": str(broken_catalog)},
                                        matching={"on_miss": "say"}))
    async with DeviceClient(ws_url(node)) as device:
        await device.send_text_request("play missing song")
        said = await device.wait_json("tts", "sentence_start", timeout=15)
        assert said["text"].startswith("I couldn't find") and "Now playing" not in said["text"]
        await device.wait_json("tts", "stop", timeout=15)
        assert device.audio == []
