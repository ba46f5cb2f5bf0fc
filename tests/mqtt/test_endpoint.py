"""The MQTT endpoint on loopback: CONNECT, refusals, keepalive, PINGREQ, SUBSCRIBE, takeover, delivery, bounds."""
from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from core.mqtt.credentials import p2p_topic
from core.mqtt.device_link import TEXT_HIGH_WATER, MqttLink
from core.protocol.errors import SendError
from tests.mqtt import raw
from tests.mqtt.conftest import SIGNATURE_KEY, device_mac, link_of
from tests.mqtt.responder import Responder


async def _raw_connected(node, device_id: str, *, keepalive: int = 240) -> raw.RawClient:
    cred = node.credentials(device_id)
    client = await raw.RawClient.open(node.port)
    await client.send(raw.connect(str(cred["client_id"]), str(cred["username"]), str(cred["password"]),
                                  keepalive=keepalive))
    assert await client.connack() == 0
    return client


async def test_connect_with_ota_credentials_gives_a_link_for_the_mac(start_mqtt) -> None:
    node = await start_mqtt()
    dev = node.device("a4:cf:12:0b:3e:90", client_uuid="5c1f-uuid")
    await dev.connect()
    rec = await node.responder.wait("a4:cf:12:0b:3e:90", lambda r: True)
    link = rec.link
    assert link.transport == "mqtt" and link.persistent and link.peer.startswith("127.0.0.1:")
    assert link.identity.device_id == "a4:cf:12:0b:3e:90" and link.identity.client_id == "5c1f-uuid"
    assert link.mqtt.board == "bread-compact-wifi"


async def test_wrong_password_is_refused_with_one_log_line_and_no_secret(start_mqtt, captured_log) -> None:
    node = await start_mqtt()
    dev = node.device(key="another-signature-key-000000000")     # a password signed with another key
    with pytest.raises(aiomqtt.MqttCodeError) as err:
        await dev.connect()
    assert str(err.value.rc) == "Not authorized"                 # paho's name for CONNACK return code 5
    refusals = [line for line in captured_log if "CONNECT refused" in line]
    assert len(refusals) == 1 and "not_authorized" in refusals[0]
    text = "\n".join(captured_log)
    assert SIGNATURE_KEY not in text and dev.settings.password not in text
    assert node.endpoint.links == {} and node.endpoint.refused["not_authorized"] == 1


async def test_unknown_client_id_shape_and_missing_password_are_refused(start_mqtt) -> None:
    node = await start_mqtt()
    cases = [
        (raw.connect("plain-client", "u", "p"), 2),                          # not GID_<board>@@@<mac>@@@<id>
        (raw.connect("GID_x@@@zz_zz_zz_zz_zz_zz@@@id", "u", "p"), 2),       # no MAC in it
        (raw.connect("GID_x@@@a4_cf_12_0b_3e_90@@@id"), 4),                  # no user name or password
        (raw.connect("GID_x@@@a4_cf_12_0b_3e_90@@@id", "u", "wrong"), 5),    # well-formed, wrong signature
        (raw.connect("GID_x@@@a4_cf_12_0b_3e_90@@@id", "u", "p", level=3, name="MQIsdp"), 1),   # MQTT 3.1
    ]
    for data, code in cases:
        client = await raw.RawClient.open(node.port)
        await client.send(data)
        assert await client.connack() == code
        assert await client.closed_by_server()
    assert node.endpoint.links == {}


async def test_pingreq_is_answered_and_keepalive_expiry_closes_a_silent_device(start_mqtt) -> None:
    node = await start_mqtt()
    client = await _raw_connected(node, device_mac(1), keepalive=1)
    for _ in range(3):
        await client.send(raw.PINGREQ)
        pkt = await client.read()
        assert pkt is not None and (pkt.kind, pkt.body) == (13, b"")
        await asyncio.sleep(0.5)                     # under the 1.5 s limit: the connection stays up
    assert node.endpoint.closes["keepalive"] == 0
    assert await client.closed_by_server(timeout=10)  # then silence: closed after 1.5x the keepalive
    assert node.endpoint.closes["keepalive"] == 1
    rec = await node.responder.wait(device_mac(1), lambda r: r.ended)
    assert rec.ended                                  # the link's incoming() ended with the connection


async def test_pingreq_is_answered_while_another_device_floods_and_this_session_is_stuck(start_mqtt) -> None:
    stuck = asyncio.Event()

    async def never_reads(link: MqttLink) -> None:
        await stuck.wait()                            # a session that does not read its link at all

    node = await start_mqtt(responder=Responder())
    node.endpoint._on_link = never_reads              # noqa: SLF001 - swap the session for this test only
    quiet = await _raw_connected(node, device_mac(1))
    noisy = await _raw_connected(node, device_mac(2))
    await quiet.send(b"".join(raw.publish("device-server", b'{"type":"listen","state":"start"}')
                              for _ in range(10)))
    flood = raw.publish("device-server", json.dumps({"type": "mcp", "payload": {"x": "y" * 500}}).encode())
    for _ in range(30):
        noisy.writer.write(flood * 5)
        await quiet.send(raw.PINGREQ)
        pkt = await quiet.read()
        assert pkt is not None and pkt.kind == 13
    stuck.set()


async def test_a_session_that_falls_behind_holds_back_its_device_and_loses_nothing(start_mqtt) -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def slow_session(link: MqttLink) -> None:
        await release.wait()
        async for item in link.incoming():
            assert isinstance(item, str)
            seen.append(json.loads(item)["n"])

    node = await start_mqtt(responder=Responder())
    node.endpoint._on_link = slow_session             # noqa: SLF001 - swap the session for this test only
    client = await _raw_connected(node, device_mac(15))
    await client.send(b"".join(raw.publish("device-server", json.dumps({"type": "x", "n": i}).encode())
                               for i in range(150)))  # one write: one read on the server side
    link = link_of(node, device_mac(15))
    async with asyncio.timeout(5):
        while link.texts_waiting < TEXT_HIGH_WATER:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert link.texts_waiting == TEXT_HIGH_WATER      # the rest waits unparsed; the socket is not read
    release.set()
    async with asyncio.timeout(5):
        while len(seen) < 150:
            await asyncio.sleep(0.01)
    assert seen == list(range(150)) and not link.closed


async def test_subscribe_is_acked_and_a_device_that_never_subscribed_gets_server_messages(start_mqtt) -> None:
    node = await start_mqtt()
    client = await _raw_connected(node, device_mac(3))
    await client.send(raw.subscribe(7, "devices/p2p/whatever", "#"))
    pkt = await client.read()
    assert pkt is not None and pkt.kind == 9 and pkt.body == b"\x00\x07\x00\x00"
    link = link_of(node, device_mac(3))
    await link.send_text('{"type":"alert","status":"Bedtime","message":"Sleep well","emotion":"sleepy"}')
    pkt = await client.read()
    assert pkt is not None and pkt.kind == 3 and pkt.flags == 0          # QoS 0, no retain
    topic, payload = raw.publish_topic_and_payload(pkt)
    assert topic == p2p_topic(device_mac(3)) == "devices/p2p/a4_cf_12_00_00_03"
    assert json.loads(payload)["message"] == "Sleep well"

    dev = node.device(device_mac(4))                  # paho, which never subscribes either
    await dev.connect()
    await link_of(node, device_mac(4)).send_text('{"type":"system","command":"reboot"}')
    await dev.wait_json("system")
    assert dev.reboots == 1


async def test_a_duplicate_client_id_takes_over_after_the_old_owner_saved(start_mqtt) -> None:
    order: list[str] = []

    async def on_takeover(old: MqttLink) -> None:
        order.append(f"hook saw the old link open={not old.closed}")
        await asyncio.sleep(0.2)                      # the owner saves the position
        order.append("owner saved")

    node = await start_mqtt(on_takeover=on_takeover)
    first = node.device(device_mac(5))
    await first.connect()
    old = await node.responder.wait(device_mac(5), lambda r: True)
    second = node.device(device_mac(5))
    await second.connect()                            # returns on CONNACK
    order.append("new CONNACK")
    await first.wait_closed()
    assert order == ["hook saw the old link open=True", "owner saved", "new CONNACK"]
    assert old.ended                                  # the old session finished before the new CONNACK
    assert node.endpoint.closes["replaced"] == 1
    new = link_of(node, device_mac(5))
    assert new is not old.link and not new.closed
    await new.send_text('{"type":"alert","status":"s","message":"m","emotion":"happy"}')
    await second.wait_json("alert")


async def test_qos1_publish_closes_only_that_connection(start_mqtt) -> None:
    node = await start_mqtt()
    bad = await _raw_connected(node, device_mac(6))
    good = await _raw_connected(node, device_mac(7))
    await bad.send(raw.publish("device-server", b'{"type":"listen"}', qos=1))
    assert await bad.closed_by_server()
    assert node.endpoint.closes["qos"] == 1
    await good.send(raw.PINGREQ)
    pkt = await good.read()
    assert pkt is not None and pkt.kind == 13


async def test_garbage_and_non_utf8_are_dropped_and_the_next_message_arrives(start_mqtt, captured_log) -> None:
    node = await start_mqtt()
    client = await _raw_connected(node, device_mac(8))
    for payload in (b"\xff\xfe\x00garbage", b"not json", b"[1,2,3]", b"{" * 100 + b"}" * 100):
        for _ in range(20):
            await client.send(raw.publish("device-server", payload))
    await client.send(raw.publish("device-server", b'{"type":"listen","state":"start","mode":"auto"}'))
    rec = await node.responder.wait(device_mac(8), lambda r: r.messages)
    assert rec.messages == [{"type": "listen", "state": "start", "mode": "auto"}]
    assert node.endpoint.dropped["unusable_json"] == 80
    assert len([line for line in captured_log if "a message dropped" in line]) < 5     # rate-limited
    assert not rec.link.closed


async def test_a_message_flood_closes_only_the_flooding_device(start_mqtt) -> None:
    node = await start_mqtt()
    flooder = await _raw_connected(node, device_mac(9))
    other = await _raw_connected(node, device_mac(10))
    await flooder.send(raw.publish("device-server", b"{}") * 1000)
    assert await flooder.closed_by_server()
    assert node.endpoint.closes["flood"] == 1
    await other.send(raw.publish("device-server", b'{"type":"abort"}'))
    rec = await node.responder.wait(device_mac(10), lambda r: r.messages)
    assert rec.messages == [{"type": "abort"}]


async def test_bounds_connect_deadline_pending_connections_total_connections_and_packet_size(start_mqtt,
                                                                                              captured_log) -> None:
    node = await start_mqtt(connect_timeout_s=1.0, max_pending=3, max_connections=2, max_payload_bytes=1024)
    silent = [await raw.RawClient.open(node.port) for _ in range(3)]
    cred = node.credentials(device_mac(16))
    waiting = await raw.RawClient.open(node.port)      # a fourth waits in the listen backlog, CONNECT sent
    await waiting.send(raw.connect(str(cred["client_id"]), str(cred["username"]), str(cred["password"])))
    for client in silent:                             # the silent ones are closed after the CONNECT deadline
        assert await client.closed_by_server()
    assert await waiting.connack() == 0               # and then the waiting one is served, not refused
    assert node.endpoint.closes["connect_timeout"] == 3
    assert any("mqtt.max_pending" in line for line in captured_log)
    assert any("mqtt.connect_timeout_s" in line for line in captured_log)
    waiting.close()
    async with asyncio.timeout(5):
        while node.endpoint.links:
            await asyncio.sleep(0.01)

    a = await _raw_connected(node, device_mac(11))
    b = await _raw_connected(node, device_mac(12))
    cred = node.credentials(device_mac(13))
    third = await raw.RawClient.open(node.port)
    await third.send(raw.connect(str(cred["client_id"]), str(cred["username"]), str(cred["password"])))
    assert await third.connack() == 3                 # server unavailable: mqtt.max_connections
    assert any("mqtt.max_connections" in line for line in captured_log)

    await a.send(raw.publish("device-server", b"{" + b" " * 2000 + b"}"))
    assert await a.closed_by_server()                 # over mqtt.max_payload_bytes
    assert node.endpoint.closes["oversize"] == 1
    assert any("mqtt.max_payload_bytes" in line for line in captured_log)
    b.close()


async def test_disconnect_ends_the_link(start_mqtt) -> None:
    node = await start_mqtt()
    client = await _raw_connected(node, device_mac(14))
    await client.send(raw.DISCONNECT)
    assert await client.closed_by_server()
    rec = await node.responder.wait(device_mac(14), lambda r: r.ended)
    assert rec.link.closed and node.endpoint.links == {}
    for send in (rec.link.send_text("{}"), rec.link.send_audio(b"\x00" * 10, 0)):
        with pytest.raises(SendError):
            await send
