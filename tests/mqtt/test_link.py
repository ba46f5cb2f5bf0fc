"""MqttLink driven by the test responder: hello with UDP fields, audio both ways, conversations, goodbye, MCP."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.mqtt.link import AudioChannelLost
from core.simdevice.mqtt import USER_ONLY_TOOLS, ServerTimeout
from tests.audio_fixtures import assert_tone, decode_packets, peak_frequencies
from tests.mqtt.conftest import TONE_S, link_of
from tests.mqtt.responder import DOWNLINK_RATE


async def test_hello_then_a_tone_from_a_file_reaches_the_device_over_udp(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device()
    await dev.connect()
    hello = await dev.open_audio_channel()
    assert hello["transport"] == "udp" and dev.rejected_hellos == []
    udp = hello["udp"]
    assert isinstance(udp, dict) and udp["port"] == node.udp.port and udp["encryption"] == "aes-128-ctr"
    await dev.send_text_request("tone")
    await dev.wait_json("tts", "stop")
    await dev.wait_audio(len(node.responder.tone))
    assert_tone(dev.audio, DOWNLINK_RATE, TONE_S)
    assert dev.udp_drops == {} and dev.sequence_gaps == 0
    assert dev.audio_timestamps[:3] == [0, 60, 120]
