"""Nodes as separate processes (`app.py serve`) sharing one real redis-server: SIGTERM drains a node and the device
continues its story on the other node where it stopped; SIGKILL takes a node out of routing within its TTL and the
story resumes from the last save; a connection on the other node takes the device over; start-up refusals."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from core.device_client import DeviceClient
from tests.fleet_fixtures import ROOT, NodeProcess, RedisServer, free_port
from tests.player_fixtures import SEG_HZ, SEG_S, play_story_until

pytestmark = pytest.mark.timeout(180)


def _node_pair(redis_server: RedisServer, catalog: Path, tmp_path: Path) -> Iterator[tuple[NodeProcess, ...]]:
    """node-a and node-b sharing `redis_server`, both ready; stopped afterwards."""
    nodes = (NodeProcess(tmp_path, catalog, redis_server.url, "node-a"),
             NodeProcess(tmp_path, catalog, redis_server.url, "node-b"))
    try:
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_ready()
        yield nodes
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture
def two_nodes(redis_server: RedisServer, tone_catalog: Path, tmp_path: Path) -> Iterator[tuple[NodeProcess, ...]]:
    yield from _node_pair(redis_server, tone_catalog, tmp_path)


async def ota(node: NodeProcess, device_id: str = "aa:bb:cc:00:00:09") -> str:
    async with aiohttp.ClientSession() as s, s.post(f"{node.http_url}/xiaozhi/ota/", json={},
                                                    headers={"Device-Id": device_id, "Client-Id": "c"}) as r:
        return str((await r.json())["websocket"]["url"])


async def test_sigterm_drains_and_the_device_moves_to_the_other_node(two_nodes: tuple[NodeProcess, ...]) -> None:
    a, b = two_nodes
    client = DeviceClient(a.ws_url, device_id="aa:bb:cc:00:00:09")
    await client.connect()
    await client.send_text_request("play long lullaby")
    await client.wait_for(lambda r: r.kind == "audio", timeout=30)
    assert a.proc is not None
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    # the device is closed with a going-away / service-restart code, so it reconnects (through OTA) elsewhere
    assert client.ws is not None
    async with asyncio.timeout(12):
        await client.ws.wait_closed()
    assert client.ws.close_code == 1012                  # service restart: positions were saved first
    assert await asyncio.to_thread(a.proc.wait, 15) == 0
    assert time.monotonic() - t0 < 10.0 + 2.0                  # within the drain deadline (10 s) and exit
    out = a.output()
    assert "SIGTERM: draining" in out and "node node-a drained in" in out and "left the registry" in out
    assert "Traceback" not in out
    # the device asks OTA (node-a is gone: it asks node-b) and gets node-b, then plays there
    assert {await ota(b) for _ in range(5)} == {b.ws_url}
    async with DeviceClient(b.ws_url, device_id="aa:bb:cc:00:00:09") as again:
        await again.send_text_request("play baa baa black sheep")
        await again.wait_json("tts", "stop", timeout=30)
        assert len(again.audio) > 30


async def test_sigkill_node_leaves_routing_within_its_ttl(two_nodes: tuple[NodeProcess, ...],
                                                          redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis
    a, b = two_nodes
    assert a.proc is not None
    urls = {await ota(b, f"aa:bb:cc:00:01:{i:02x}") for i in range(20)}
    assert urls == {a.ws_url, b.ws_url}                      # both idle: devices are spread over both
    a.proc.kill()
    a.proc.wait(10)
    t0 = time.monotonic()
    r = aioredis.Redis.from_url(redis_server.url)
    try:
        while await r.exists("xz:node:node-a"):       # its registry entry expires (node_ttl_s = 1 s)
            assert time.monotonic() - t0 < 3.0, "a killed node stayed in the registry past its TTL"
            await asyncio.sleep(0.05)
    finally:
        await r.aclose()
    assert {await ota(b) for _ in range(20)} == {b.ws_url}


def test_serve_refuses_a_duplicate_id_and_an_unreachable_redis(two_nodes: tuple[NodeProcess, ...],
                                                               tone_catalog: Path, tmp_path: Path) -> None:
    a, _ = two_nodes
    # the container healthcheck probes the port the node is configured with
    probe = subprocess.run([sys.executable, str(ROOT / "app.py"), "health", "--ready", "--config", str(a.config)],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and f":{a.http_port}/ready: 200" in probe.stdout
    dup = NodeProcess(tmp_path / "dup", tone_catalog, "redis://unused", "node-a")
    redis_url = a.config.read_text().split("url: ")[1].split()[0]
    dup.start(env={"REDIS_URL": redis_url})                     # env REDIS_URL wins over the file
    assert dup.proc is not None and dup.proc.wait(60) == 1
    assert "node id 'node-a' is already used by a live node" in dup.output()
    down = NodeProcess(tmp_path / "down", tone_catalog, f"redis://:pw-secret@127.0.0.1:{free_port()}/0", "node-x")
    down.start()
    assert down.proc is not None and down.proc.wait(60) == 1
    out = down.output()
    assert "cannot reach Redis at redis://:***@127.0.0.1" in out and "REDIS_URL" in out and "pw-secret" not in out


# ---------------------------------------------------------------------------------------- positions across nodes
# "The Tone Story" (tests/e2e/test_player.py): eight 3-second segments, each its own tone, so the audio a device
# decodes tells where in the story it is. Positions are measured on the decoded audio only.


def resumed_position(client: DeviceClient, mark: int) -> float:
    """Story position (s) of the first audio packet after `mark`: where the next tone change falls in the decoded
    audio tells it (segment k starts at k * 3 s)."""
    import numpy as np
    rate = client.downlink_rate
    samples = client.decode_audio(client.audio[mark:])
    win = int(0.12 * rate)

    def seg(i: int) -> int:
        part = samples[i:i + win] * np.hanning(win)
        hz = float(np.fft.rfftfreq(win, 1 / rate)[int(np.argmax(np.abs(np.fft.rfft(part))))])
        return int(np.argmin([abs(hz - f) for f in SEG_HZ]))
    first = seg(win)                     # skip the first window (decoder warm-up)
    for i in range(win, len(samples) - win, win // 4):
        k = seg(i)
        if k != first:
            assert k == first + 1, f"tones jumped from segment {first} to {k}"
            return k * SEG_S - i / rate
    raise AssertionError(f"no segment boundary within {len(samples) / rate:.1f} s of audio")


async def continue_on(url: str, device_id: str, text: str = "continue the story") -> float:
    async with DeviceClient(url, device_id=device_id) as again:
        mark = len(again.audio)
        await again.send_text_request(text)
        await again.wait_for(lambda r: r.kind == "audio" and len(again.audio) > mark + 70, timeout=30)
        return resumed_position(again, mark)


@pytest.fixture
def story_nodes(redis_server: RedisServer, player_catalog: Path, tmp_path: Path) -> Iterator[tuple[NodeProcess, ...]]:
    yield from _node_pair(redis_server, player_catalog, tmp_path)


async def test_sigterm_then_continue_the_story_on_the_other_node(story_nodes: tuple[NodeProcess, ...]) -> None:
    a, b = story_nodes
    device = "aa:bb:cc:00:02:01"
    client = DeviceClient(a.ws_url, device_id=device)
    await client.connect()
    await play_story_until(client, 10.5)                 # in segment 3 (9-12 s)
    assert a.proc is not None and client.ws is not None
    a.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(12):
        await client.ws.wait_closed()
    heard_on_a = len(client.audio) * 0.06               # every packet on A was story audio (no speech configured)
    assert client.ws.close_code == 1012                  # service restart: the position was saved first
    assert await asyncio.to_thread(a.proc.wait, 15) == 0
    url = await ota(b, device)                           # A is gone; B's OTA hands out B
    assert url == b.ws_url
    resumed = await continue_on(url, device)
    assert abs(resumed - heard_on_a) <= 1.0, f"resumed at {resumed:.2f} s, A had played {heard_on_a:.2f} s"


async def test_sigkill_then_continue_within_ten_seconds(story_nodes: tuple[NodeProcess, ...]) -> None:
    a, b = story_nodes
    device = "aa:bb:cc:00:02:02"
    client = DeviceClient(a.ws_url, device_id=device)
    await client.connect()
    await play_story_until(client, 13.5)                 # saves every 10 s while playing
    assert a.proc is not None
    a.proc.kill()
    heard_on_a = len(client.audio) * 0.06
    a.proc.wait(10)
    await client.close()
    resumed = await continue_on(b.ws_url, device)        # B finds A's lease, A does not answer: last save
    assert heard_on_a - 10.0 <= resumed <= heard_on_a + 0.5, f"resumed at {resumed:.2f} s of {heard_on_a:.2f} s"
    assert resumed > 1.0                                 # not from the start


async def test_a_connection_on_the_other_node_takes_the_device_over(story_nodes: tuple[NodeProcess, ...]) -> None:
    a, b = story_nodes
    device = "aa:bb:cc:00:02:03"
    first = DeviceClient(a.ws_url, device_id=device)
    await first.connect()
    await play_story_until(first, 7.5)                   # in segment 2 (6-9 s)
    async with DeviceClient(b.ws_url, device_id=device) as second:
        assert first.ws is not None
        async with asyncio.timeout(10):
            await first.ws.wait_closed()                 # the older session was saved and closed
        assert first.ws.close_code == 4000
        heard_on_a = len(first.audio) * 0.06
        mark = len(second.audio)
        await second.send_text_request("continue the story")
        await second.wait_for(lambda r: r.kind == "audio" and len(second.audio) > mark + 70, timeout=30)
        resumed = resumed_position(second, mark)
    assert abs(resumed - heard_on_a) <= 1.0, f"resumed at {resumed:.2f} s, A had played {heard_on_a:.2f} s"
    assert "taken over from node node-a after it saved" in b.output()
    await first.close()
