"""The parents' device list and device names on a real node on loopback, with the scripted device: a token lists the
devices it may manage (its own list, or every device the store knows plus the connected ones), a name is set,
audited with who set it, kept by later rule changes and reaches the live session's revision; bad names are 400."""
from __future__ import annotations

from typing import Any

import pytest

from core.device_client import DeviceClient
from tests.conftest import until, ws_url
from tests.web.test_console import OP, call, web_config

pytestmark = pytest.mark.timeout(90)
ASHA, KITCHEN, OTHER = "aa:bb:cc:00:00:81", "aa:bb:cc:00:00:82", "aa:bb:cc:00:00:83"


def listed(body: Any) -> list[tuple[str, str]]:
    return [(d["device_id"], d["name"]) for d in body["devices"]]


async def test_a_parent_names_the_devices_of_its_list(make_config, start_node) -> None:
    node = await start_node(web_config(make_config, parent_devices=[KITCHEN, ASHA]))
    status, body, _ = await call(node, "GET", "/api/household")
    assert status == 200 and body["role"] == "parent"
    assert listed(body) == [(ASHA, ""), (KITCHEN, "")]                 # never seen: listed all the same
    assert body["devices"][0]["live"] is False and body["devices"][0]["last_heard_at"] is None

    status, body, headers = await call(node, "PUT", f"/api/devices/{KITCHEN}/name", {"name": "Kitchen", "by": "Dad"})
    assert status == 200 and body == {"device_id": KITCHEN, "name": "Kitchen", "rev": 1} and headers["ETag"] == '"1"'
    status, body, _ = await call(node, "PUT", f"/api/devices/{ASHA}/name", {"name": " Asha's  room ", "by": "Mum"})
    assert status == 200 and body["name"] == "Asha's room"
    status, body, _ = await call(node, "GET", "/api/household")
    assert listed(body) == [(ASHA, "Asha's room"), (KITCHEN, "Kitchen")]      # by name

    # A rules change keeps the name, and says who made it
    status, body, _ = await call(node, "PUT", f"/api/devices/{ASHA}/policy", {"max_volume": 70, "by": "Mum"},
                                 **{"If-Match": '"1"'})
    assert status == 200 and body["rev"] == 2 and body["name"] == "Asha's room"
    status, got, _ = await call(node, "GET", f"/api/devices/{ASHA}/policy")
    assert got["name"] == "Asha's room" and got["policy"]["max_volume"] == 70
    assert [(a["who"], a.get("by"), a["changes"]) for a in got["audit"]][:2] == [
        ("parent", "Mum", {"max_volume": [None, 70]}), ("parent", "Mum", {"name": ["", "Asha's room"]})]
    status, _, _ = await call(node, "PUT", f"/api/devices/{ASHA}/policy", {"max_volume": 60}, token=OP)
    status, got, _ = await call(node, "GET", f"/api/devices/{ASHA}/policy")
    assert "by" not in got["audit"][0] and got["audit"][0]["who"] == "operator"  # nobody named: the role alone

    # The same name again changes nothing; clearing it is a change
    status, body, _ = await call(node, "PUT", f"/api/devices/{ASHA}/name", {"name": "Asha's room"})
    assert status == 200 and body["rev"] == 3
    status, body, _ = await call(node, "PUT", f"/api/devices/{KITCHEN}/name", {"name": ""})
    assert status == 200 and body == {"device_id": KITCHEN, "name": "", "rev": 2}

    for bad, field in (({"name": "x" * 41}, "name"), ({"name": 5}, "name"), ({"name": "a\nb"}, "name"),
                       ({}, "name"), ({"name": "ok", "colour": "red"}, "name"), ({"name": "ok", "by": "M\x00"}, "by"),
                       (["name"], "name")):
        status, body, _ = await call(node, "PUT", f"/api/devices/{ASHA}/name", bad)
        assert status == 400 and body["field"] == field, bad
    status, body, _ = await call(node, "PUT", f"/api/devices/{ASHA}/policy", {"max_volume": 50, "by": "x" * 60})
    assert status == 400 and body["field"] == "by"
    assert (await call(node, "PUT", f"/api/devices/{OTHER}/name", {"name": "Mine now"}))[0] == 403
    assert (await node.store.load_policy(OTHER)).name == ""


async def test_without_a_device_list_the_household_is_every_device_seen_and_connected(make_config,
                                                                                       start_node) -> None:
    node = await start_node(web_config(make_config))
    status, body, _ = await call(node, "GET", "/api/household")
    assert status == 200 and body["devices"] == []
    await call(node, "PUT", f"/api/devices/{KITCHEN}/name", {"name": "Kitchen"})      # named, never connected
    async with DeviceClient(ws_url(node), device_id=ASHA) as client:
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        status, body, _ = await call(node, "GET", "/api/household")
        assert listed(body) == [(KITCHEN, "Kitchen"), (ASHA, "")]          # named ones first, then the rest
        live = body["devices"][1]
        assert live["live"] is True and live["node"] == node.node_id and live["now_playing"] == "Long Lullaby"
        assert live["state"] == "playing" and body["devices"][0]["live"] is False
        # naming a connected device reaches its session (its rules revision follows the record)
        status, named, _ = await call(node, "PUT", f"/api/devices/{ASHA}/name", {"name": "Asha's room"})
        conn = next(c for c in node.connections() if c.device_id == ASHA)
        await until(lambda: conn.view().rules_rev == named["rev"])
        status, body, _ = await call(node, "GET", "/api/household", token=OP)
        assert body["role"] == "operator" and listed(body) == [(ASHA, "Asha's room"), (KITCHEN, "Kitchen")]
    status, history, _ = await call(node, "GET", f"/api/devices/{ASHA}/history")
    assert history["history"][0]["title"] == "Long Lullaby" and history["history"][0]["collection"] == "English"
    status, body, _ = await call(node, "GET", "/api/household")
    assert body["devices"][0]["last_heard_at"] is not None                  # its saved state, after it left
