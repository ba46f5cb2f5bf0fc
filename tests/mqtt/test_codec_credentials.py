"""The MQTT codec's framing and refusals, and the credentials of the OTA `mqtt` object."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from core.mqtt.codec import (
    ConnackCode,
    Connect,
    MalformedPacket,
    PacketReader,
    PacketTooLarge,
    PingReq,
    Publish,
    Subscribe,
    encode_connack,
    encode_publish,
    encode_remaining_length,
)
from core.mqtt.credentials import CredentialsRefused, check_credentials, mqtt_credentials, parse_client_id
from tests.mqtt import raw


def test_packets_split_anywhere_are_framed_the_same() -> None:
    stream = (raw.connect("GID_b@@@a4_cf_12_0b_3e_90@@@u", "user", "pw", keepalive=240)
              + raw.publish("device-server", b'{"type":"hello"}') + raw.PINGREQ + raw.subscribe(3, "a/b"))
    for cut in range(1, len(stream)):
        reader = PacketReader(1024)
        got = []
        for part in (stream[:cut], stream[cut:]):
            reader.feed(part)
            while (pkt := reader.next_packet()) is not None:
                got.append(pkt)
        assert got == [Connect("MQTT", 4, True, 240, "GID_b@@@a4_cf_12_0b_3e_90@@@u", "user", b"pw", False),
                       Publish("device-server", b'{"type":"hello"}', 0, False, False, None), PingReq(),
                       Subscribe(3, (("a/b", 0),))]


@pytest.mark.parametrize(("data", "needle"), [
    (b"\x30\xff\xff\xff\xff\x7f", "more than four bytes"),
    (b"\x00\x00", "reserved type 0"),
    (b"\xf0\x00", "reserved type 15"),
    (b"\x20\x02\x00\x00", "CONNACK is not a packet a client sends"),
    (b"\x40\x02\x00\x01", "PUBACK"),
    (b"\x36\x04\x00\x01ax", "QoS 3"),
    (b"\x30\x03\x00\x05a", "cut short"),
    (raw.publish("a/#", b"x"), "wildcard"),
    (raw.packet(0x30, raw.string(b"\xff\xfe") + b"x"), "not UTF-8"),
    (b"\x80\x03\x00\x01\x00", "flags must be 0010"),
    (b"\x82\x02\x00\x01", "without a topic filter"),
    (b"\xc1\x00", "PINGREQ with flags"),
    (raw.connect("c")[:-1], None),       # a truncated packet is simply not complete yet
])
def test_malformed_packets_raise_a_log_safe_reason(data: bytes, needle: str | None) -> None:
    reader = PacketReader(1024)
    reader.feed(data)
    if needle is None:
        assert reader.next_packet() is None
        return
    with pytest.raises(MalformedPacket, match=needle):
        reader.next_packet()


def test_an_oversize_packet_is_refused_from_its_header_before_the_body_arrives() -> None:
    reader = PacketReader(100)
    reader.feed(b"\x30" + encode_remaining_length(10_000))
    with pytest.raises(PacketTooLarge) as err:
        reader.next_packet()
    assert err.value.size == 10_000 and err.value.limit == 100


def test_encoders() -> None:
    assert encode_connack(ConnackCode.NOT_AUTHORIZED) == b"\x20\x02\x00\x05"
    assert encode_remaining_length(0) == b"\x00" and encode_remaining_length(127) == b"\x7f"
    assert encode_remaining_length(128) == b"\x80\x01" and encode_remaining_length(16383) == b"\xff\x7f"
    big = b"x" * 200
    assert encode_publish("t", big) == raw.publish("t", big)


def test_ota_credentials_round_trip_and_the_password_is_the_documented_hmac() -> None:
    cred = mqtt_credentials(device_id="A4:CF:12:0B:3E:90", client_uuid="0b5e-uuid", board="bread-compact-wifi",
                            ip="192.0.2.7", endpoint="toys.example.com:1883", signature_key="k" * 32, keepalive_s=240)
    assert cred["client_id"] == "GID_bread-compact-wifi@@@a4_cf_12_0b_3e_90@@@0b5e-uuid"
    assert json.loads(base64.b64decode(str(cred["username"]))) == {"ip": "192.0.2.7"}
    expected = base64.b64encode(hmac.new(b"k" * 32, f"{cred['client_id']}|{cred['username']}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert cred["password"] == expected
    assert cred["publish_topic"] == "device-server" and cred["subscribe_topic"] == "devices/p2p/a4_cf_12_0b_3e_90"
    assert cred["endpoint"] == "toys.example.com:1883" and cred["keepalive"] == 240
    ident = check_credentials(str(cred["client_id"]), str(cred["username"]), str(cred["password"]).encode(),
                              "k" * 32)
    assert (ident.device_id, ident.board, ident.client_uuid) == ("a4:cf:12:0b:3e:90", "bread-compact-wifi",
                                                                 "0b5e-uuid")


def test_credentials_that_do_not_check_out() -> None:
    cred = mqtt_credentials(device_id="a4:cf:12:0b:3e:90", client_uuid="", board="b@@@x", ip="1.2.3.4",
                            endpoint="h:1883", signature_key="k" * 32, keepalive_s=240)
    assert cred["client_id"] == "GID_b___x@@@a4_cf_12_0b_3e_90@@@a4_cf_12_0b_3e_90"   # the MAC when no uuid
    cid, user, pw = str(cred["client_id"]), str(cred["username"]), str(cred["password"]).encode()
    for args, code in [((cid, user, pw, "another key 00000000"), ConnackCode.NOT_AUTHORIZED),
                       ((cid, user + "x", pw, "k" * 32), ConnackCode.NOT_AUTHORIZED),      # username is signed
                       ((cid, None, pw, "k" * 32), ConnackCode.BAD_USERNAME_OR_PASSWORD),
                       (("GID_b@@@a4cf120b3e90@@@x", user, pw, "k" * 32), ConnackCode.IDENTIFIER_REJECTED)]:
        with pytest.raises(CredentialsRefused) as err:
            check_credentials(*args)
        assert err.value.code == code and "k" * 32 not in err.value.reason
    with pytest.raises(ValueError, match="not a MAC"):
        mqtt_credentials(device_id="web-browser-1", client_uuid="", board="b", ip="", endpoint="h:1",
                         signature_key="k" * 32, keepalive_s=240)
    assert parse_client_id("GID_x@@@A4_CF_12_0B_3E_90@@@u").device_id == "a4:cf:12:0b:3e:90"
    assert parse_client_id("x" * 300) is None
