"""Bad requests through the real server: a real WebSocket device on loopback sends them as `listen detect` text,
and what comes back (the spoken line, the decoded song) shows the request was read once, at one limit."""
from __future__ import annotations

import numpy as np
import pytest

from core.device_client import DeviceClient
from core.lang.replies import say
from core.lang.request import MAX_CHARS
from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, ws_url

pytestmark = pytest.mark.timeout(60)


def sentences(client: DeviceClient) -> list[str]:
    return [r.message["text"] for r in client.log
            if r.kind == "json" and r.message.get("type") == "tts" and r.message.get("state") == "sentence_start"]


async def test_a_ten_thousand_character_request_is_cut_once_and_still_plays(make_config, start_node,
                                                                            captured_logs) -> None:
    node = await start_node(make_config())
    async with DeviceClient(ws_url(node)) as client:
        # Zero-width spaces are not whitespace: nothing before the Request trims them, so it is the one cut.
        await client.send_text_request("play baa baa black sheep" + "\u200b" * 10_000)
        await client.wait_json("tts", "start", timeout=30)
        await client.wait_json("tts", "stop", timeout=30)
        assert any("Baa Baa Black Sheep" in s for s in sentences(client))
        pcm = client.decode_audio().astype(np.float64)
        freq, _ = TONES["Baa Baa Black Sheep"]
        assert abs(peak_frequencies(pcm, client.downlink_rate, 1)[0] - freq) < 5
    cut = [line for line in captured_logs.lines if "request cut" in line]
    assert len(cut) == 1 and f"first {MAX_CHARS} of" in cut[0], cut


@pytest.mark.parametrize("text", ["...?!", "\x00\x07", "la la la la la la", "hey cheeko hey cheeko"])
async def test_noise_transcripts_get_the_help_line_and_play_nothing(make_config, start_node, text: str) -> None:
    node = await start_node(make_config(matching={"on_miss": "play_alternative"}))
    async with DeviceClient(ws_url(node)) as client:
        await client.send_text_request(text)
        await client.wait_json("tts", "stop", timeout=30)
        said = sentences(client)
        if text.startswith("hey cheeko"):
            assert said and said[0] != say("help", "en")         # only wake words: the greeting, as before
        else:
            assert said == [say("help", "en")], said
        assert not client.audio          # no song started (a miss here would play an alternative, and frames)
