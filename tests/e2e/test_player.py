"""The player over a real WebSocket, with audio that tells where it is.

"The Tone Story" is eight 3-second segments, each its own tone, so the frequency a device decodes names the
position it hears. Positions are checked on the decoded audio, never on server internals. Pause and resume,
"continue my story" after a lost connection and "what's playing" run over both transports in
test_both_transports.py.
"""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.device_client import DeviceClient
from tests.audio_fixtures import peak_frequencies
from tests.conftest import write_tone, ws_url
from tests.player_fixtures import COUNTING, first_audio_after, play_story_until, request, segment_at

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]


async def test_a_newer_connection_with_the_same_id_takes_over(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config())
    url = ws_url(node)
    old = DeviceClient(url, device_id="aa:00:00:00:00:04")
    await old.connect()
    await play_story_until(old, 7.0)
    async with DeviceClient(url, device_id="aa:00:00:00:00:04") as new:
        with pytest.raises(ConnectionError):
            await old.wait_for(lambda r: False, timeout=5)   # the older session is closed
        assert old.ws is not None and old.ws.close_code == 4000
        mark = await request(new, "continue the story")
        await first_audio_after(new, mark)
        assert segment_at(new, mark) == 2
    await old.close()


async def test_a_collection_plays_three_items_in_a_row(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config())
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:05") as client:
        await client.send_text_request("play counting songs")
        titles: list[str] = []
        while len(titles) < 4:
            msg = await client.wait_json("tts", timeout=15)
            if msg["state"] == "sentence_start" and msg["text"] in COUNTING:
                titles.append(msg["text"])
            if msg["state"] == "stop":
                break
        assert len(set(titles)) == 3 and len(titles) == 3     # all three, each once, then the queue ends
        # what the device heard: three tones, in the order of the titles, with no gap longer than a second
        heard = peak_frequencies(client.decode_audio(), client.downlink_rate, 3)
        assert sorted(round(h, -1) for h in heard) == sorted(round(COUNTING[t], -1) for t in titles)
        times = client.audio_times
        assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 1.0


async def test_stop_after_this_song_stops_at_the_boundary(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config())
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:06") as client:
        await client.send_text_request("play counting songs")
        first = (await client.wait_for(lambda r: r.kind == "json" and r.message.get("state") == "sentence_start"
                                       and r.message.get("text") in COUNTING, timeout=15)).message
        await client.wait_for(lambda r: r.kind == "audio", timeout=10)
        await client.send_text_request("stop after this song")
        seen: list[str] = []
        while True:
            msg = await client.wait_json("tts", timeout=15)
            if msg["state"] == "sentence_start" and msg["text"] in COUNTING:
                seen.append(msg["text"])
            if msg["state"] == "stop" and seen:
                break
        assert seen == [first["text"]]                      # the same song went on to its end, and only it
        # Nothing follows the boundary: no new turn, no title, no audio within the next 2.5 s (an observation window;
        # a next song would start within a frame or two).
        with pytest.raises(TimeoutError):
            await client.wait_for(lambda r: r.kind == "audio" or (r.kind == "json" and r.message.get("type") == "tts"),
                                  timeout=2.5)


@pytest.mark.timeout(300)
async def test_stop_in_one_minute_fades_out_and_stops(player_config: Any, start_node: Any) -> None:
    node = await start_node(player_config())
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:07") as client:
        await client.send_text_request("play long hum")
        await client.wait_for(lambda r: r.kind == "audio", timeout=10)
        await client.send_text_request("stop in 1 minute")
        await client.wait_json("stt", timeout=5)
        set_at = client.log[-1].t
        answer = await client.wait_json("tts", "sentence_start", timeout=10)
        assert "1 minute" in answer["text"]
        # the song resumes, then the timer stops it (the earlier `tts stop` suspended it for the answer)
        stop = await client.wait_for(lambda r: r.kind == "json" and r.message.get("state") == "stop"
                                     and r.t - set_at > 30, timeout=90)
        stopped = stop.t
        assert 58.0 <= stopped - set_at <= 64.0
        rate = client.downlink_rate
        tail = client.decode_audio(client.audio[-int(6 / 0.06):]).astype(np.float64)
        half = rate // 2
        levels = [float(np.sqrt(np.mean(tail[i:i + half] ** 2))) for i in range(0, len(tail) - half + 1, half)]
        # full level before the fade, then falling to near silence by the stop (a gain ramp, not a cut)
        assert levels[0] > 5 * levels[-1], levels
        assert all(a >= b * 0.85 for a, b in zip(levels[2:], levels[3:], strict=False)), levels


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sigterm_saves_and_the_story_continues_after_a_restart(player_catalog: Path, tmp_path: Path) -> None:
    port, http_port = _free_port(), _free_port()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({
        "server": {"host": "127.0.0.1", "port": port, "http_port": http_port},
        "content": {"content_dir": str(player_catalog), "generate_demo": False,
                    "cache_dir": str(tmp_path / "catalog-cache")},
        "audio": {"cache_dir": str(tmp_path / "audio-cache")},
        "voice": {"tts": {"provider": "none"}, "asr": {"provider": "none"}, "vad": {"provider": "none"}},
        "state": {"url": f"sqlite:{tmp_path / 'devices.db'}"}}))

    async def start() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "app.py"), "serve", "--config",
                                                    str(cfg), cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                return proc
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError("server did not start")

    url = f"ws://127.0.0.1:{port}/xiaozhi/v1/"
    proc = await start()
    try:
        client = DeviceClient(url, device_id="aa:00:00:00:00:08")
        await client.connect()
        await play_story_until(client, 13.5)                 # in segment 4 (12-15 s)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        with pytest.raises(ConnectionError):
            await client.wait_for(lambda r: False, timeout=5)
        await client.close()
        proc = await start()
        async with DeviceClient(url, device_id="aa:00:00:00:00:08") as again:
            mark = await request(again, "continue the story")
            await first_audio_after(again, mark)
            assert segment_at(again, mark) == 4
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()


async def test_a_changed_file_starts_over_and_says_so(player_catalog: Path, make_config: Any, start_node: Any,
                                                      tmp_path: Path) -> None:
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(player_catalog, lib)
    node = await start_node(make_config(content={"content_dir": str(lib)},
                                        state={"url": f"sqlite:{tmp_path / 'devices.db'}"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:09") as client:
        await play_story_until(client, 4.0)
        await request(client, "pause")
        await client.wait_json("tts", "stop", timeout=5)
        write_tone(lib / "stories" / "Bedtime" / "The Tone Story.mp3", 1500.0, 6.0)    # a new version
        mark = await request(client, "continue")
        said = await client.wait_for(lambda r: r.kind == "json" and "changed" in str(r.message.get("text", "")),
                                     timeout=10)
        assert "from the beginning" in said.message["text"]
        await client.wait_for(lambda r: r.kind == "json" and r.message.get("text") == "The Tone Story", timeout=10)
        start = len(client.audio)
        await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) > start + 12, timeout=10)
        hz = peak_frequencies(client.decode_audio(client.audio[start + 2:start + 12]), client.downlink_rate, 1)[0]
        assert abs(hz - 1500.0) < 20 and mark >= 0


async def test_a_position_past_the_end_counts_as_finished(player_config: Any, start_node: Any, tmp_path: Path
                                                          ) -> None:
    from core.devices.backends import open_store
    from core.devices.state import DeviceState, Item, Play, PlaybackState
    cfg = player_config()
    store = await open_store(cfg.state.url)
    uid = "story/Bedtime/The Tone Story.mp3"
    await store.save(DeviceState("aa:00:00:00:00:0a", item=Item(uid, "story", "The Tone Story", 999_000),
                                 playback=PlaybackState.PAUSED,
                                 history=(Play(uid, "story", "The Tone Story", 1.0, 999_000),)))
    await store.close()
    node = await start_node(cfg)
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:0a") as client:
        await request(client, "continue")
        await client.wait_json("tts", "stop", timeout=10)          # nothing left to play: the turn ends cleanly
        assert len(client.audio) == 0
        await request(client, "continue")                          # and it is not offered again as unfinished
        answer = await client.wait_json("tts", "sentence_start", timeout=10)
        assert "nothing to continue" in answer["text"].lower()


async def test_the_resumed_position_is_where_the_device_was_within_half_a_second(make_config: Any, start_node: Any,
                                                                                 tmp_path: Path) -> None:
    # A sweep from 200 Hz rising 100 Hz per second: the frequency heard names the position to a tenth of a second.
    lib = tmp_path / "sweep"
    story = lib / "stories" / "Bedtime"
    story.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "aevalsrc=0.4*sin(2*PI*(200*t+50*t*t)):s=44100:d=20", "-c:a", "libmp3lame", "-b:a", "128k",
                    str(story / "The Sweep Story.mp3")], check=True, timeout=60)
    (story / "metadata.json").write_text(json.dumps({"The Sweep Story": {
        "romanized": "The Sweep Story", "filename": "The Sweep Story.mp3", "alternatives": []}}), encoding="utf-8")
    node = await start_node(make_config(content={"content_dir": str(lib)},
                                        state={"url": f"sqlite:{tmp_path / 'devices.db'}"}))
    async with DeviceClient(ws_url(node), device_id="aa:00:00:00:00:0b") as client:
        await client.send_text_request("tell me the sweep story")
        await client.wait_for(lambda r: r.kind == "audio" and len(client.audio) >= 130, timeout=30)
        await client.send_text_request("pause")
        await client.wait_json("tts", "stop", timeout=5)
        heard_s = len(client.audio) * 0.06           # what the device received (and plays out) before the pause
        mark = await request(client, "resume")
        await first_audio_after(client, mark)
        window = client.decode_audio(client.audio[mark + 1:mark + 6])          # 0.06-0.36 s into the resume
        hz = peak_frequencies(window, client.downlink_rate, 1)[0]
        position = (hz - 200.0) / 100.0 - 0.21                               # the window's middle, back to its start
        assert abs(position - heard_s) <= 0.5, (position, heard_s)
