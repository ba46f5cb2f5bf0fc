"""MqttLink driven by the test responder: hello with UDP fields, audio both ways, conversations, goodbye, MCP, and
no secret in any log line."""
from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from core.simdevice.mqtt import USER_ONLY_TOOLS, ServerTimeout
from tests.audio_fixtures import assert_tone, peak_frequencies
from tests.mqtt.conftest import SIGNATURE_KEY, TONE_S, link_of
from tests.mqtt.responder import DOWNLINK_RATE, Responder


async def test_hello_then_a_tone_from_a_file_reaches_the_device_over_udp(start_mqtt, captured_log) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    hello = await dev.open_audio_channel()
    assert hello["transport"] == "udp" and dev.rejected_hellos == []
    udp = hello["udp"]
    assert isinstance(udp, dict) and udp["port"] == node.udp.port and udp["encryption"] == "aes-128-ctr"
    assert udp["server"] == "127.0.0.1"
    await dev.send_text_request("tone")
    await dev.wait_json("tts", "stop")
    await dev.wait_audio(len(node.responder.tone))
    assert_tone(dev.audio, DOWNLINK_RATE, TONE_S)
    assert dev.udp_drops == {} and dev.sequence_gaps == 0
    assert dev.audio_timestamps[:3] == [0, 60, 120]
    text = "\n".join(captured_log)                   # neither the signature key, the password nor the UDP key
    for secret in (SIGNATURE_KEY, dev.settings.password, udp["key"]):
        assert isinstance(secret, str) and secret not in text


async def test_uplink_audio_comes_out_of_incoming_and_back_to_the_device(start_mqtt, tmp_path: Path) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    await dev.open_audio_channel()
    await dev.send_text_request("echo")
    rec = await node.responder.wait(dev.device_id, lambda r: r.echo)
    t = np.arange(int(16000 * 1.5)) / 16000
    pcm = (0.25 * 32767 * (np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 1200 * t))).astype("<i2").tobytes()
    await dev.stream_microphone(pcm, realtime=False, trailing_silence_s=0)
    await dev.wait_audio(25)                         # 25 frames of tone, echoed
    assert len(rec.audio) == 1 + 25                  # the request's activation frame came before "echo"
    heard = dev.decode_audio().astype(np.float64)
    assert sorted(round(f) for f in peak_frequencies(heard, DOWNLINK_RATE)) == pytest.approx([500, 1200], abs=10)
    out = tmp_path / "heard.wav"
    assert dev.write_wav(str(out)) == pytest.approx(25 * 0.06, abs=0.01)
    with wave.open(str(out)) as w:
        assert w.getframerate() == DOWNLINK_RATE


async def test_conversations_come_and_go_on_one_persistent_link(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    first = await dev.open_audio_channel()
    await dev.send_text_request("tone")
    await dev.wait_json("tts", "stop")
    await dev.wait_audio(30)
    await dev.goodbye()                              # the device ends the conversation, not the link
    rec = await node.responder.wait(dev.device_id, lambda r: r.link.udp_session is None)
    assert not rec.link.closed and rec.link.persistent
    dev.audio.clear()
    second = await dev.open_audio_channel()          # the next conversation: fresh key and connection id
    assert second["udp"]["key"] != first["udp"]["key"] and second["udp"]["nonce"] != first["udp"]["nonce"]
    assert second["session_id"] != first["session_id"]
    await dev.send_text_request("tone")
    await dev.wait_json("tts", "stop")
    await dev.wait_audio(30)
    assert_tone(dev.audio, DOWNLINK_RATE, TONE_S)    # the device's sequence restarted and nothing was dropped
    assert dev.udp_drops == {} and rec.link.conversations == 2


async def test_server_goodbye_closes_the_channel_only_for_the_current_session(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    await dev.open_audio_channel()
    link = link_of(node, dev.device_id)
    await link.send_text(json.dumps({"type": "goodbye", "session_id": "some-older-session"}))
    await dev.wait_json("goodbye")
    assert dev.channel_open
    await link.send_text(json.dumps({"type": "goodbye", "session_id": dev.session_id}))
    await dev.wait_for(lambda e: e.kind == "channel_closed")
    assert not dev.channel_open
    await asyncio.sleep(0.2)
    rec = node.responder.devices[dev.device_id]
    assert [m["type"] for m in rec.messages] == ["hello"]          # the device does not answer a goodbye


async def test_the_device_ignores_a_server_hello_that_fails_the_firmware_checks(start_mqtt) -> None:
    bad_hellos = [
        {"transport": "websocket"},
        {"udp": "127.0.0.1:9"},
        {"udp": {"server": "127.0.0.1", "port": 0, "key": "00" * 16, "nonce": "00" * 16}},
        {"udp": {"server": "127.0.0.1", "port": 9, "key": "00" * 15, "nonce": "00" * 16}},
        {"udp": {"server": "127.0.0.1", "port": 9, "key": "00" * 16, "nonce": "zz" * 16}},
    ]

    class BadHello(Responder):
        async def _on_text(self, rec, msg) -> None:
            if msg.get("type") == "hello":
                rec.link.hello_fields()
                for bad in bad_hellos:
                    await rec.link.send_text(json.dumps({"type": "hello", "transport": "udp", **bad}))
            else:
                await super()._on_text(rec, msg)

    node = await start_mqtt(responder=BadHello())
    dev = node.device()
    dev.hello_timeout_s = 3.0
    await dev.connect()
    with pytest.raises(ServerTimeout):
        await dev.open_audio_channel()
    assert len(dev.rejected_hellos) == 5 and dev.server_hello is None


async def test_the_device_answers_mcp_with_user_only_tools_only_when_asked(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    link = link_of(node, dev.device_id)              # an idle device: MQTT up, no conversation
    rec = node.responder.devices[dev.device_id]

    async def call(msg_id: int, method: str, params: dict[str, object]) -> dict[str, object]:
        await link.send_text(json.dumps({"type": "mcp", "payload": {"jsonrpc": "2.0", "id": msg_id,
                                                                      "method": method, "params": params}}))
        got = await node.responder.wait(dev.device_id, lambda r: any(
            m.get("type") == "mcp" and m["payload"].get("id") == msg_id for m in r.messages))
        return next(m["payload"] for m in got.messages if m.get("type") == "mcp" and m["payload"]["id"] == msg_id)

    plain = await call(1, "tools/list", {"cursor": ""})
    names = [t["name"] for t in plain["result"]["tools"]]
    assert names == ["self.get_device_status", "self.audio_speaker.set_volume"]
    full = await call(2, "tools/list", {"cursor": "", "withUserTools": True})
    assert set(USER_ONLY_TOOLS) <= {t["name"] for t in full["result"]["tools"]}
    assert (await call(3, "tools/call", {"name": "self.audio_speaker.set_volume",
                                         "arguments": {"volume": 35}}))["result"]["isError"] is False
    status = await call(4, "tools/call", {"name": "self.get_device_status", "arguments": {}})
    assert json.loads(status["result"]["content"][0]["text"])["audio_speaker"]["volume"] == 35
    await call(5, "tools/call", {"name": "self.upgrade_firmware", "arguments": {"url": "http://fw/x.bin"}})
    await call(6, "tools/call", {"name": "self.reboot", "arguments": {}})
    assert dev.reboots == 1 and dev.upgrade_urls == ["http://fw/x.bin"] and dev.volume == 35
    bad = await call(7, "tools/call", {"name": "self.audio_speaker.set_volume", "arguments": {"volume": 101}})
    assert "error" in bad and dev.volume == 35
    assert all(m.get("session_id") == "" for m in rec.messages if m.get("type") == "mcp")


async def test_the_device_channel_times_out_without_server_traffic(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device()
    dev.channel_timeout_s = 2.0                      # the firmware's 120 s, shortened
    await dev.connect()
    await dev.open_audio_channel()
    opened = asyncio.get_running_loop().time()
    assert dev.channel_open
    await asyncio.sleep(1.0)
    await link_of(node, dev.device_id).send_text('{"type":"mcp","payload":{"jsonrpc":"2.0","method":"x"}}')
    await dev.wait_json("mcp")                       # any message with a string type refreshes the channel
    await asyncio.sleep(max(0.0, opened + 2.2 - asyncio.get_running_loop().time()))
    assert dev.channel_open                          # past the timeout counted from the hello: refreshed
    async with asyncio.timeout(10):
        while dev.channel_open:                      # and then, with nothing more from the server, it expires
            await asyncio.sleep(0.05)
