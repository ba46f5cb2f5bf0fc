"""The firmware's MQTT + UDP transport against a real node on loopback: OTA hands out `mqtt`, the scripted device
(core/simdevice/mqtt.py, the firmware's rules) connects, says hello and asks; what it hears is decoded Opus from
AES-CTR UDP datagrams, checked by frequency. Also what the operator sees of it."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, until
from tests.e2e.mqtt_helpers import OP, SIGNATURE_KEY, api, mqtt_device, mqtt_section, ota

pytestmark = pytest.mark.timeout(120)


async def test_ota_offers_mqtt_and_the_device_plays_what_it_asked_for_over_udp(make_config: Any, start_node: Any,
                                                                               captured_log: list[str]) -> None:
    node = await start_node(make_config(mqtt=mqtt_section(), fleet={"operator_token": OP}))
    answer = await ota(node.http_port, "a4:cf:12:00:10:01", board="esp-box-3", version="2.4.2")
    assert answer["websocket"]["url"].startswith("ws://127.0.0.1:")       # still there: older firmware uses it
    mqtt = answer["mqtt"]
    assert mqtt["endpoint"] == f"127.0.0.1:{node.mqtt_port}" and mqtt["publish_topic"] == "device-server"
    assert mqtt["client_id"].startswith("GID_esp-box-3@@@a4_cf_12_00_10_01@@@") and mqtt["keepalive"] == 240
    dev = await mqtt_device(node.http_port, "a4:cf:12:00:10:01", board="esp-box-3", version="2.4.2")
    async with dev:
        hello = await dev.open_audio_channel()
        assert hello["transport"] == "udp" and hello["udp"]["port"] == node.udp_port
        await dev.send_text_request("play twinkle twinkle little star")
        await dev.wait_json("tts", "stop", timeout=20)
        await dev.wait_audio(25)
        freq, secs = TONES["Twinkle Twinkle Little Star"]
        pcm = dev.decode_audio()
        assert abs(peak_frequencies(pcm, dev.downlink_rate, 1)[0] - freq) < 5
        assert abs(len(pcm) / dev.downlink_rate - secs) <= 0.15
        assert dev.udp_drops == {} and dev.sequence_gaps == 0
        await dev.goodbye()
        # the operator sees the speaker idle on MQTT, with what its OTA request and its status said
        status, view = await api(node.http_port, "GET", "/api/devices/a4:cf:12:00:10:01", OP)
        assert status == 200
        assert (view["transport"], view["board"], view["firmware"]) == ("mqtt", "esp-box-3", "2.4.2")
        assert view["last_ota_at"] > 0 and view["status"]["signal"] == "strong" and view["status"]["battery"] == 87
        await until(lambda: node.snapshots("a4:cf:12:00:10:01")[0].state == "idle", timeout=5)
        status, view = await api(node.http_port, "GET", "/api/devices/a4:cf:12:00:10:01", OP)
        assert view["state"] == "idle" and view["conversation"] == "awaiting_hello"
    text = "\n".join(captured_log)
    assert SIGNATURE_KEY not in text and mqtt["password"] not in text and hello["udp"]["key"] not in text


async def test_without_mqtt_or_without_a_mac_the_answer_is_websocket_only(make_config: Any,
                                                                          start_node: Any) -> None:
    off = await start_node(make_config())
    assert "mqtt" not in await ota(off.http_port, "a4:cf:12:00:10:02")
    on = await start_node(make_config(mqtt=mqtt_section()))
    assert "mqtt" not in await ota(on.http_port, "web-browser-7")             # MQTT client ids are built on MACs
    assert "mqtt" in await ota(on.http_port, "a4:cf:12:00:10:02")


async def test_public_endpoint_is_what_ota_advertises(make_config: Any, start_node: Any) -> None:
    node = await start_node(make_config(mqtt=mqtt_section(public_endpoint="toys.example.com:1883")))
    answer = await ota(node.http_port, "a4:cf:12:00:10:03")
    assert answer["mqtt"]["endpoint"] == "toys.example.com:1883"


async def test_a_device_with_credentials_of_another_key_is_refused(make_config: Any, start_node: Any) -> None:
    import aiomqtt
    node = await start_node(make_config(mqtt=mqtt_section()))
    dev = await mqtt_device(node.http_port, "a4:cf:12:00:10:04")
    other = await start_node(make_config(mqtt=mqtt_section(signature_key="another-key-0123456789abcdef")))
    stranger = await mqtt_device(other.http_port, "a4:cf:12:00:10:04")
    stranger.settings = type(stranger.settings)(dev.settings.endpoint, stranger.settings.client_id,
                                                stranger.settings.username, stranger.settings.password,
                                                stranger.settings.publish_topic)
    with pytest.raises(aiomqtt.MqttError):
        await stranger.connect()
    await stranger.close()
    async with dev:
        await dev.open_audio_channel()
    await asyncio.sleep(0)


@pytest.fixture(scope="module")
def spoken_request() -> bytes:
    from core.providers.tts.piper import PiperTTS

    async def synth() -> bytes:
        tts = PiperTTS()
        try:
            return b"".join([c async for c in tts.synthesize("play twinkle twinkle little star", "en", 16000)])
        finally:
            await tts.aclose()
    return asyncio.run(synth())


@pytest.mark.timeout(180)
async def test_a_spoken_request_over_udp_plays_the_right_song(make_config: Any, start_node: Any,
                                                              spoken_request: bytes) -> None:
    from pathlib import Path
    models = Path(__file__).resolve().parents[2] / "metadata" / "models" / "whisper-base"
    node = await start_node(make_config(mqtt=mqtt_section(), voice={
        "asr": {"provider": "whisper", "model_dir": str(models)}, "vad": {"provider": "silero"}}))
    dev = await mqtt_device(node.http_port, "a4:cf:12:00:10:05")
    async with dev:
        await dev.open_audio_channel()
        silence = b"\0" * (2 * 16000 * 6 // 10)
        speaking = asyncio.create_task(dev.stream_microphone(silence + spoken_request))   # 60 ms Opus over UDP
        stt = await dev.wait_json("stt", timeout=60)
        assert "twinkle" in stt["text"].lower(), stt
        first = len(dev.audio)
        await dev.wait_json("tts", "stop", timeout=30)
        await speaking
        await dev.wait_audio(first + 25)
        freq, secs = TONES["Twinkle Twinkle Little Star"]
        pcm = dev.decode_audio(dev.audio[first:])
        assert abs(peak_frequencies(pcm, dev.downlink_rate, 1)[0] - freq) < 5
        assert abs(len(pcm) / dev.downlink_rate - secs) <= 0.15


async def test_udp_that_never_arrives_ends_the_conversation_with_a_goodbye(make_config: Any, start_node: Any,
                                                                           captured_log: list[str]) -> None:
    node = await start_node(make_config(mqtt=mqtt_section(udp_first_packet_timeout_s=1.0)))
    dev = await mqtt_device(node.http_port, "a4:cf:12:00:10:06")
    async with dev:
        await dev.open_audio_channel()
        # the microphone's datagrams never reach the node (UDP blocked on the way): the request arrives as text only
        await dev.send_json({"type": "listen", "state": "start", "mode": "auto"})
        await dev.send_json({"type": "listen", "state": "detect", "text": "play twinkle twinkle little star"})
        bye = await dev.wait_json("goodbye", timeout=5)
        assert bye["session_id"] == dev.session_id and not dev.channel_open     # the device closed its channel
        assert any("UDP never arrived" in line for line in captured_log)
        # MQTT stays up: the next conversation, with UDP getting through, plays
        await dev.open_audio_channel()
        await dev.send_text_request("play twinkle twinkle little star")
        await dev.wait_json("tts", "stop", timeout=20)
        await dev.wait_audio(25)
        assert abs(peak_frequencies(dev.decode_audio(), dev.downlink_rate, 1)[0] - 660.0) < 5


async def test_junk_on_both_ports_is_counted_and_a_playing_device_hears_every_frame(make_config: Any,
                                                                                    start_node: Any) -> None:
    import socket
    import struct

    import aiohttp
    node = await start_node(make_config(mqtt=mqtt_section()))
    dev = await mqtt_device(node.http_port, "a4:cf:12:00:10:07")
    async with dev:
        hello = await dev.open_audio_channel()
        conn_id = struct.unpack(">I", bytes.fromhex(hello["udp"]["nonce"])[4:8])[0]
        await dev.send_text_request("play long lullaby")
        await dev.wait_audio(10, timeout=20)
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        junk.setblocking(False)
        target = ("127.0.0.1", node.udp_port)
        datagrams = [b"\x01", struct.pack(">BBHIII", 2, 0, 0, conn_id, 0, 1),                  # short, bad type
                     struct.pack(">BBHIII", 1, 0, 40, conn_id, 0, 99) + b"x" * 10,            # truncated
                     struct.pack(">BBHIII", 1, 0, 4, conn_id ^ 0xFFFF, 0, 1) + b"abcd",       # unknown id
                     struct.pack(">BBHIII", 1, 0, 4, conn_id, 0, 10_000) + b"abcd"]           # spoofed source
        start = len(dev.audio)
        for _ in range(400):                   # 2,000 datagrams in bursts while the song plays
            for d in datagrams:
                junk.sendto(d, target)
            await asyncio.sleep(0.005)
        for payload in (b"\x10\xff\xff\xff\xff\x7f", b"GET / HTTP/1.1\r\n\r\n"):   # a bad remaining length, HTTP
            _, writer = await asyncio.open_connection("127.0.0.1", node.mqtt_port)
            writer.write(payload)
            await writer.drain()
            writer.close()
        junk.close()
        await dev.wait_audio(start + 40, timeout=10)
        gaps = [b - a for a, b in zip(dev.audio_times[start:], dev.audio_times[start + 1:], strict=False)]
        assert max(gaps) < 0.5 and dev.sequence_gaps == 0 and not dev.udp_drops
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{node.http_port}/metrics") as r:
            text = await r.text()
        for reason in ("short", "bad_type", "truncated", "unknown_id", "wrong_source"):
            prefix = f'xiaozhi_udp_dropped_total{{reason="{reason}"'
            line = next(ln for ln in text.splitlines() if ln.startswith(prefix))
            assert float(line.split()[-1]) >= 400, line
        assert "xiaozhi_mqtt_connections 1.0" in text
        assert any(ln.startswith("xiaozhi_udp_sent_total") and float(ln.split()[-1]) > 0 for ln in text.splitlines())


async def test_a_websocket_device_is_shown_with_what_its_ota_request_said(make_config: Any, start_node: Any) -> None:
    from core.device_client import DeviceClient
    from tests.conftest import ws_url
    node = await start_node(make_config(fleet={"operator_token": OP}))
    answer = await ota(node.http_port, "a4:cf:12:00:10:08", board="esp32-s3-box", version="1.9.4")
    assert "mqtt" not in answer
    async with DeviceClient(ws_url(node), device_id="a4:cf:12:00:10:08"):
        await until(lambda: bool(node.snapshots("a4:cf:12:00:10:08")), timeout=5)
        status, view = await api(node.http_port, "GET", "/api/devices/a4:cf:12:00:10:08", OP)
    assert status == 200
    assert (view["transport"], view["board"], view["firmware"]) == ("websocket", "esp32-s3-box", "1.9.4")
    assert view["last_ota_at"] > 0


async def test_the_board_comes_from_the_user_agent_when_the_body_has_none(make_config: Any, start_node: Any) -> None:
    import aiohttp
    node = await start_node(make_config(mqtt=mqtt_section()))
    headers = {"Device-Id": "A4:CF:12:00:10:09", "Client-Id": "c-1", "User-Agent": "esp-box-3/2.4.1"}
    async with aiohttp.ClientSession() as http, \
            http.post(f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/", data=b"", headers=headers) as r:
        answer = await r.json()
    assert answer["mqtt"]["client_id"] == "GID_esp-box-3@@@a4_cf_12_00_10_09@@@c-1"


async def test_idle_speakers_count_against_mqtt_max_connections_not_as_sessions(make_config: Any,
                                                                                start_node: Any) -> None:
    node = await start_node(make_config(mqtt=mqtt_section(max_connections=2)))
    first = await mqtt_device(node.http_port, "a4:cf:12:00:10:0a")
    second = await mqtt_device(node.http_port, "a4:cf:12:00:10:0b")
    async with first:
        await until(lambda: len(node.snapshots()) == 1, timeout=5)
        report = node.load_report()
        assert (report["sessions"], report["mqtt_devices"], report["load"], report["overloaded"]) == (0, 1, 0.5, False)
        await first.open_audio_channel()                      # a conversation is work: it counts as a session
        await until(lambda: node.load_report()["sessions"] == 1, timeout=5)
        async with second:
            await until(lambda: node.load_report()["mqtt_devices"] == 2, timeout=5)
            assert node.load_report()["overloaded"] is True
            checks = await node.readiness()
            assert checks["not_overloaded"] is False
