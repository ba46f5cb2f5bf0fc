"""The player's test library: "The Tone Story" (eight 3-second segments, each its own tone, so the frequency a
device decodes names the position it hears), three short counting songs and a long hum, and helpers that read
positions off the decoded audio."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.device_client import DeviceClient
from tests.audio_fixtures import peak_frequencies
from tests.conftest import write_tone

SEG_S = 3.0
SEG_HZ = [300.0, 420.0, 540.0, 660.0, 780.0, 900.0, 1020.0, 1140.0]
COUNTING = {"One Little Finger": 350.0, "Two Little Hands": 500.0, "Three Blind Mice": 800.0}


@pytest.fixture(scope="module")
def player_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("player-catalog")
    story_dir = root / "stories" / "Bedtime"
    story_dir.mkdir(parents=True)
    parts = []
    for i, hz in enumerate(SEG_HZ):
        parts.append(write_tone(root / f"seg{i}.mp3", hz, SEG_S))
    listing = root / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c:a", "libmp3lame", "-b:a", "128k", str(story_dir / "The Tone Story.mp3")],
                   check=True, timeout=60)
    (story_dir / "metadata.json").write_text(json.dumps({"The Tone Story": {
        "romanized": "The Tone Story", "filename": "The Tone Story.mp3", "alternatives": []}}), encoding="utf-8")
    counting = root / "music" / "Counting"
    counting.mkdir(parents=True)
    meta = {}
    for title, hz in COUNTING.items():
        write_tone(counting / f"{title}.mp3", hz, 1.5)
        meta[title] = {"romanized": title, "filename": f"{title}.mp3", "alternatives": []}
    (counting / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    english = root / "music" / "English"
    english.mkdir(parents=True)
    write_tone(english / "Long Hum.mp3", 440.0, 75.0)
    (english / "metadata.json").write_text(json.dumps({"Long Hum": {
        "romanized": "Long Hum", "filename": "Long Hum.mp3", "alternatives": []}}), encoding="utf-8")
    return root


@pytest.fixture
def player_config(make_config: Any, player_catalog: Path, tmp_path: Path) -> Any:
    def build(**extra: Any) -> Any:
        return make_config(content={"content_dir": str(player_catalog)},
                           state={"url": f"sqlite:{tmp_path / 'devices.db'}"}, **extra)
    return build


def segment_at(client: DeviceClient, start: int, seconds: float = 0.6, skip_s: float = 0.12) -> int:
    """Which story segment the device hears in the audio received from packet `start` on."""
    rate = client.downlink_rate
    first = start + int(skip_s / 0.06)
    packets = client.audio[first:first + max(2, int(seconds / 0.06))]
    assert packets, "no audio received"
    hz = peak_frequencies(client.decode_audio(packets), rate, 1)[0]
    return int(np.argmin([abs(hz - f) for f in SEG_HZ]))


async def request(client: DeviceClient, text: str) -> int:
    """Send a text request; the index of the next audio packet (what answers it)."""
    mark = len(client.audio)
    await client.send_text_request(text)
    return mark


async def play_story_until(client: DeviceClient, seconds: float) -> None:
    await client.send_text_request("tell me the tone story")
    await client.wait_json("tts", "sentence_start", timeout=10)
    first = await client.wait_for(lambda r: r.kind == "audio", timeout=20)
    while client.audio_times[-1] - first.t < seconds:
        await client.wait_for(lambda r: r.kind == "audio", timeout=10)


async def first_audio_after(client: DeviceClient, mark: int, timeout: float = 15.0) -> int:
    await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > mark + 12, timeout=timeout)
    return mark
