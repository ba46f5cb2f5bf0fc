"""The `mqtt` config section: defaults, environment overrides, errors that name the key and the fix, the secret."""
from __future__ import annotations

import pytest

from core.config import ConfigError, config_from_dict, load_config, redacted


def test_defaults_keep_mqtt_off_and_match_the_firmware() -> None:
    m = load_config(None, env={}).mqtt
    assert m.enabled is False and m.port == 1883 and m.keepalive_s == 240 and m.udp_public_port == 0


@pytest.mark.parametrize(("raw", "needle"), [
    ({"enabled": True}, "mqtt.signature_key: MQTT is on but the signature key is missing"),
    ({"port": 70000}, "mqtt.port: 70000 is not a port"),
    ({"udp_port": -1}, "mqtt.udp_port: -1 is not a port"),
    ({"public_endpoint": "mqtt://toys.example.com:1883"}, "mqtt.public_endpoint: 'mqtt://toys.example.com:1883' "
                                                          "is not host:port"),
    ({"public_endpoint": "toys.example.com"}, "write e.g. toys.example.com:1883"),
    ({"keepalive_s": 5}, "mqtt.keepalive_s: use 10-3600"),
    ({"max_payload_bytes": 100}, "mqtt.max_payload_bytes: use 1024-1048576"),
    ({"max_connections": 0}, "mqtt.max_connections: use 1 or more"),
    ({"udp_first_packet_timeout_s": 0}, "mqtt.udp_first_packet_timeout_s: use 0.5-60"),
    ({"enabled": True, "signature_key": "k" * 16, "port": 8000}, "mqtt.port: 8000 is already the WebSocket"),
    ({"keepalive": 240}, "unknown key 'mqtt.keepalive': did you mean 'mqtt.keepalive_s'?"),
])
def test_errors_name_the_key_and_the_fix(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"mqtt": raw})
    assert needle in str(err.value)


@pytest.mark.parametrize(("raw", "needle"), [
    ({"server": {"workers": 2, "port": 8000, "http_port": 8003},
      "mqtt": {"enabled": True, "signature_key": "k" * 16}}, "set server.workers to 1 and run more nodes"),
    ({"mqtt": {"status_every_s": 0}}, "mqtt.status_every_s: use 1-3600"),
    ({"web": {"firmware_urls": ["bread-compact-wifi"]}}, "web.firmware_urls[0]: write <board>=<image URL>"),
    ({"web": {"firmware_urls": ["b=ftp://x/fw.bin"]}}, "web.firmware_urls[0]"),
])
def test_errors_of_the_node_wiring_name_the_key(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert needle in str(err.value)


def test_firmware_urls_by_board() -> None:
    from core.config import firmware_urls
    cfg = config_from_dict({"web": {"firmware_urls": ["esp-box-3 = https://fw.example.com/box.bin"]}})
    assert firmware_urls(cfg.web) == {"esp-box-3": "https://fw.example.com/box.bin"}


def test_environment_overrides_and_the_signature_key_is_never_shown() -> None:
    env = {"MQTT_ENABLED": "true", "MQTT_SIGNATURE_KEY": "a-very-secret-signature-key", "MQTT_PORT": "18830",
           "MQTT_PUBLIC_ENDPOINT": "toys.example.com:1883", "MQTT_UDP_PORT": "18884",
           "MQTT_UDP_PUBLIC_HOST": "203.0.113.9"}
    cfg = load_config(None, env=env)
    m = cfg.mqtt
    assert (m.enabled, m.port, m.public_endpoint, m.udp_port, m.udp_public_host) == (
        True, 18830, "toys.example.com:1883", 18884, "203.0.113.9")
    assert m.signature_key == "a-very-secret-signature-key"
    assert "a-very-secret-signature-key" not in str(redacted(cfg))
    with pytest.raises(ConfigError) as err:
        load_config(None, env={**env, "MQTT_SIGNATURE_KEY": "", "MQTT_PORT": "x"})
    assert "mqtt.port" in str(err.value)
