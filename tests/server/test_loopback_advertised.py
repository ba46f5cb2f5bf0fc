"""A node listening on all interfaces while OTA hands devices a loopback URL (compose's PUBLIC_HOST left at
localhost) says so at start; a reachable advertised URL, or a node bound to loopback on purpose, does not."""
from __future__ import annotations

import pytest

from core.utils.net import is_loopback_host

WARNING = "no device on the network can reach"


@pytest.mark.parametrize("advertised", ["ws://localhost:8000/xiaozhi/v1/", "ws://127.0.0.1:8000/xiaozhi/v1/",
                                        "ws://[::1]:8000/xiaozhi/v1/"])
async def test_wildcard_node_advertising_loopback_warns_at_start(make_config, start_node, captured_log,
                                                                 advertised: str) -> None:
    await start_node(make_config(server={"host": "0.0.0.0", "advertised_url": advertised}))
    warnings = [line for line in captured_log if WARNING in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING") and advertised in warnings[0]
    assert "PUBLIC_HOST" in warnings[0]


@pytest.mark.parametrize(("host", "advertised"), [("0.0.0.0", "ws://192.168.1.20:8000/xiaozhi/v1/"),
                                                  ("0.0.0.0", ""),
                                                  ("127.0.0.1", "ws://localhost:8000/xiaozhi/v1/")])
async def test_reachable_or_deliberately_local_node_does_not_warn(make_config, start_node, captured_log,
                                                                  host: str, advertised: str) -> None:
    await start_node(make_config(server={"host": host, "advertised_url": advertised}))
    assert not [line for line in captured_log if WARNING in line]


def test_loopback_hosts() -> None:
    assert all(map(is_loopback_host, ["localhost", "LOCALHOST", "app.localhost", "127.0.0.1", "127.8.9.1", "::1",
                                      "[::1]"]))
    assert not any(map(is_loopback_host, ["192.168.1.20", "10.0.0.5", "example.com", "localhost.example.com",
                                          "0.0.0.0", ""]))
