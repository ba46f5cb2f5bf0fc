"""What the end-to-end MQTT tests share: a node config with MQTT on loopback, the firmware's OTA request, and a
scripted MQTT + UDP device built from the OTA answer (core/simdevice/mqtt.py), as the firmware builds its own."""
from __future__ import annotations

from typing import Any

import aiohttp

from core.simdevice.mqtt import MqttDevice, MqttSettings

SIGNATURE_KEY = "e2e-signature-key-0123456789abcdef"
OP = "operator-token-for-e2e-0123456789"
PARENT = "parent-token-for-e2e-0123456789"
MQTT_ON = {"enabled": True, "host": "127.0.0.1", "port": 0, "udp_host": "127.0.0.1", "udp_port": 0,
           "signature_key": SIGNATURE_KEY}


def mqtt_section(**overrides: Any) -> dict[str, Any]:
    return {**MQTT_ON, **overrides}


async def ota(http_port: int, device_id: str, *, client_id: str = "3b0e5c3a-8f0d-4c4e-9a55-3f1f0d9a2b71",
              board: str = "bread-compact-wifi", version: str = "2.4.2") -> dict[str, Any]:
    """The firmware's OTA request (headers and the body's board and application), the JSON answer."""
    headers = {"Device-Id": device_id, "Client-Id": client_id, "User-Agent": f"{board}/{version}",
               "Accept-Language": "en-US"}
    body = {"version": 2, "mac_address": device_id, "uuid": client_id, "application": {"version": version},
            "board": {"type": board, "name": board, "ssid": "home", "rssi": -55}}
    async with aiohttp.ClientSession() as http, \
            http.post(f"http://127.0.0.1:{http_port}/xiaozhi/ota/", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def mqtt_device(http_port: int, device_id: str, **kw: Any) -> MqttDevice:
    """OTA, then a device configured from its `mqtt` object (not connected yet)."""
    answer = await ota(http_port, device_id, **kw)
    assert "mqtt" in answer, answer
    return MqttDevice(MqttSettings.from_ota(answer["mqtt"]), device_id=device_id)


async def api(http_port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, \
            http.request(method, f"http://127.0.0.1:{http_port}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()
