"""An MQTT endpoint and UDP channel on loopback with the test responder, and scripted devices for it."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.config import MqttConfig, config_from_dict
from core.mqtt.credentials import mqtt_credentials
from core.mqtt.device_link import MqttLink
from core.mqtt.endpoint import MqttEndpoint, OnTakeover
from core.mqtt.udp import UdpAudioChannel
from core.simdevice.mqtt import MqttDevice, MqttSettings
from tests.mqtt.responder import Responder, tone_packets

SIGNATURE_KEY = "test-signature-key-0123456789abcdef"
TONE_S = 1.8


def mqtt_config(**overrides: Any) -> MqttConfig:
    raw = {"enabled": True, "host": "127.0.0.1", "port": 0, "udp_host": "127.0.0.1", "udp_port": 0,
           "udp_public_host": "127.0.0.1", "signature_key": SIGNATURE_KEY, **overrides}
    return config_from_dict({"mqtt": raw}).mqtt


def device_mac(n: int) -> str:
    return "a4:cf:12:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (16, 8, 0))


@dataclass
class MqttNode:
    endpoint: MqttEndpoint
    udp: UdpAudioChannel
    responder: Responder
    devices: list[MqttDevice] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.endpoint.port

    def credentials(self, device_id: str, **kw: Any) -> dict[str, object]:
        return mqtt_credentials(device_id=device_id, client_uuid=kw.get("client_uuid", "0b5e0c1a-uuid"),
                                board=kw.get("board", "bread-compact-wifi"), ip="127.0.0.1",
                                endpoint=f"127.0.0.1:{self.port}", signature_key=kw.get("key", SIGNATURE_KEY),
                                keepalive_s=kw.get("keepalive", 240))

    def device(self, device_id: str = "a4:cf:12:0b:3e:90", **kw: Any) -> MqttDevice:
        settings = MqttSettings.from_ota(self.credentials(device_id, **kw))
        dev = MqttDevice(settings, device_id=device_id)
        self.devices.append(dev)
        return dev


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return tone_packets(tmp_path_factory.mktemp("tone") / "tone.wav", TONE_S)


@pytest.fixture
async def start_mqtt(tone: list[bytes]) -> AsyncIterator[Callable[..., Any]]:
    """start(**config overrides, on_takeover=..., responder=...) -> a running MqttNode; all closed after the test."""
    nodes: list[MqttNode] = []

    async def start(*, on_takeover: OnTakeover | None = None, responder: Responder | None = None,
                    **overrides: Any) -> MqttNode:
        cfg = mqtt_config(**overrides)
        udp = UdpAudioChannel()
        await udp.start(cfg.udp_host, cfg.udp_port)
        responder = responder or Responder(tone=tone)
        endpoint = MqttEndpoint(cfg, udp=udp, on_link=responder, on_takeover=on_takeover)
        await endpoint.start()
        node = MqttNode(endpoint, udp, responder)
        nodes.append(node)
        return node
    yield start
    for node in nodes:
        for dev in node.devices:
            await dev.close()
        await node.endpoint.close()
        node.udp.close()


@pytest.fixture
async def loop_errors() -> list[dict[str, Any]]:
    """Exceptions that escaped to the event loop (a protocol callback that raised): must stay empty."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


def link_of(node: MqttNode, device_id: str) -> MqttLink:
    link = node.endpoint.link_of(device_id)
    assert link is not None, f"{device_id} has no link"
    return link
