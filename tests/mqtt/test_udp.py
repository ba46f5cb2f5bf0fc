"""The UDP audio channel: AES-CTR against an independent keystream, the receive rules of server and device, spoofed
sources, unknown ids, a wrong key, and a flood that costs bounded work."""
from __future__ import annotations

import asyncio
import os
import struct
import time

import numpy as np
import opuslib_next
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core.mqtt.udp import RATE_BURST, RATE_PER_S, ctr, pack_header
from tests.audio_fixtures import peak_frequencies
from tests.mqtt.conftest import device_mac
from tests.mqtt.responder import DOWNLINK_RATE, Responder


def keystream_by_ecb(key: bytes, counter_block: bytes, size: int) -> bytes:
    """CTR keystream built block by block: AES-ECB of the counter, the counter incremented as a 128-bit integer."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    counter = int.from_bytes(counter_block, "big")
    out = b""
    while len(out) < size:
        out += ecb.update(counter.to_bytes(16, "big"))
        counter = (counter + 1) % (1 << 128)
    return out[:size]


def test_aes_ctr_matches_an_independent_keystream_including_the_counter_carry() -> None:
    key = bytes(range(16))
    for header in (pack_header(300, 0x11223344, 123456, 7),
                   bytes.fromhex("01000fa0deadbeefffffffffffffffff")):   # the low 64 bits carry into bytes 0-7
        payload = os.urandom(300)
        expected = bytes(a ^ b for a, b in zip(payload, keystream_by_ecb(key, header, len(payload)), strict=True))
        assert ctr(key, header, payload) == expected
        assert ctr(key, header, expected) == payload


class RawUdp(asyncio.DatagramProtocol):
    """A test-side UDP socket: sends crafted datagrams, keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport, whatever its class says

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        self.received.append((data, (str(addr[0]), int(str(addr[1])))))
        self.arrived.set()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)


async def raw_udp(port: int = 0) -> RawUdp:
    _, proto = await asyncio.get_running_loop().create_datagram_endpoint(RawUdp, local_addr=("127.0.0.1", port))
    return proto


async def _conversation(node, device_id: str):
    """A device with an open conversation that sends no UDP itself; the test crafts the datagrams."""
    dev = node.device(device_id)
    await dev.connect()
    hello = await dev.open_audio_channel()
    udp = hello["udp"]
    return dev, bytes.fromhex(udp["key"]), bytes.fromhex(udp["nonce"]), ("127.0.0.1", int(udp["port"]))


def datagram(key: bytes, nonce: bytes, payload: bytes, seq: int, *, ts: int = 0) -> bytes:
    conn_id = struct.unpack(">I", nonce[4:8])[0]
    header = pack_header(len(payload), conn_id, ts, seq)
    return header + ctr(key, header, payload)


async def _settle(node, before: int, count: int) -> None:
    """Until `count` more datagrams were handled (accepted or dropped) by the channel."""
    async with asyncio.timeout(5):
        while node.udp.accepted + sum(node.udp.drops.values()) < before + count:
            await asyncio.sleep(0.005)


def _handled(node) -> int:
    return node.udp.accepted + sum(node.udp.drops.values())


async def test_server_receive_rules_length_type_id_sequence_and_source(start_mqtt) -> None:
    node = await start_mqtt()
    dev, key, nonce, server = await _conversation(node, device_mac(1))
    rec = await node.responder.wait(device_mac(1), lambda r: r.hellos)
    a, b = await raw_udp(), await raw_udp()
    good1 = datagram(key, nonce, b"first", 1)
    cases = [
        (a, good1, None),
        (a, good1[:10], "short"),
        (a, b"\x02" + good1[1:], "bad_type"),
        (a, good1[:-1], "truncated"),
        (a, good1 + b"x", "too_long"),
        (a, datagram(key, nonce[:4] + b"\x00\x00\x00\x01" + nonce[8:], b"x", 2), "unknown_id"),
        (a, datagram(key, nonce, b"again", 1), "stale_sequence"),      # a duplicate sequence number
        (a, datagram(key, nonce, b"fifth", 5), None),                  # a gap is accepted
        (a, datagram(key, nonce, b"old", 3), "stale_sequence"),        # older than the last accepted
        (b, datagram(key, nonce, b"spoofed", 6), "wrong_source"),      # same id, another address
        (a, datagram(key, nonce, b"sixth", 6), None),
    ]
    for sock, data, reason in cases:
        before, drops = _handled(node), node.udp.drops.copy()
        sock.send(data, server)
        await _settle(node, before, 1)
        if reason is None:
            assert node.udp.drops == drops
        else:
            assert node.udp.drops - drops == {reason: 1}, (reason, node.udp.drops - drops)
    await node.responder.wait(device_mac(1), lambda r: len(r.audio) == 3)
    assert rec.audio == [b"first", b"fifth", b"sixth"]
    assert rec.link.udp_session is not None and rec.link.udp_session.peer == a.address


async def test_the_next_hello_forgets_the_old_id_and_learns_a_new_address(start_mqtt) -> None:
    node = await start_mqtt()
    dev, key, nonce, server = await _conversation(node, device_mac(2))
    a, b = await raw_udp(), await raw_udp()
    a.send(datagram(key, nonce, b"one", 1), server)
    rec = await node.responder.wait(device_mac(2), lambda r: r.audio)
    hello2 = await dev.open_audio_channel()                          # a second hello replaces the conversation
    await node.responder.wait(device_mac(2), lambda r: len(r.hellos) == 2)
    key2, nonce2 = bytes.fromhex(hello2["udp"]["key"]), bytes.fromhex(hello2["udp"]["nonce"])
    assert key2 != key and nonce2[4:8] != nonce[4:8] and nonce2[8:] == bytes(8)
    before = _handled(node)
    a.send(datagram(key, nonce, b"late", 2), server)                  # the old conversation's id
    b.send(datagram(key2, nonce2, b"new", 1), server)                 # sequence numbers start again
    await _settle(node, before, 2)
    assert node.udp.drops["unknown_id"] == 1
    await node.responder.wait(device_mac(2), lambda r: len(r.audio) == 2)
    assert rec.audio == [b"one", b"new"] and rec.link.udp_session.peer == b.address

    await dev.goodbye()                                               # goodbye ends the conversation too
    await node.responder.wait(device_mac(2), lambda r: r.link.udp_session is None)
    before = _handled(node)
    b.send(datagram(key2, nonce2, b"after goodbye", 2), server)
    await _settle(node, before, 1)
    assert node.udp.drops["unknown_id"] == 2 and len(rec.audio) == 2


async def test_ciphertext_under_a_wrong_key_reaches_the_session_as_bytes_and_decoding_survives(start_mqtt) -> None:
    node = await start_mqtt()
    dev, key, nonce, server = await _conversation(node, device_mac(3))
    enc = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP)
    t = np.arange(960) / 16000
    frame = enc.encode((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes(), 960)
    a = await raw_udp()
    for seq in range(1, 21):
        a.send(datagram(os.urandom(16), nonce, frame, seq), server)   # garbage after decryption
    a.send(datagram(key, nonce, frame, 21), server)
    rec = await node.responder.wait(device_mac(3), lambda r: len(r.audio) == 21)
    assert all(isinstance(p, bytes) and len(p) == len(frame) for p in rec.audio)
    assert rec.audio[-1] == frame and frame not in rec.audio[:-1]
    dec = opuslib_next.Decoder(16000, 1)
    for packet in rec.audio[:-1]:                                     # what the session's decoder meets
        try:
            dec.decode(packet, 1920)
        except opuslib_next.OpusError:
            pass
    assert len(dec.decode(rec.audio[-1], 1920)) == 1920               # the decoder still works afterwards
    assert not rec.link.closed


async def test_a_flood_from_one_address_is_bounded_and_another_device_keeps_its_audio(start_mqtt) -> None:
    node = await start_mqtt()
    _dev, key, nonce, server = await _conversation(node, device_mac(4))
    echo_dev = node.device(device_mac(5))
    await echo_dev.connect()
    await echo_dev.open_audio_channel()
    await echo_dev.send_text_request("echo")
    await node.responder.wait(device_mac(5), lambda r: r.echo)
    flood = await raw_udp()
    conn_id = struct.unpack(">I", nonce[4:8])[0]
    start = time.monotonic()
    sent = 0
    for seq in range(1, 3001):
        flood.send(pack_header(4, conn_id, 0, seq) + b"\x00" * 4, server)          # valid-looking, one session
        flood.send(pack_header(4, conn_id ^ 0xFFFF, 0, seq) + b"\x00" * 4, server)  # unknown id
        sent += 2
        if seq % 200 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    elapsed = time.monotonic() - start
    flooded = node.responder.devices[device_mac(4)]
    decrypted = len(flooded.audio) + flooded.link.audio_dropped_queue
    assert decrypted <= RATE_BURST + RATE_PER_S * elapsed + 1        # the rest was refused before decryption
    assert node.udp.drops["rate"] > 0 and node.udp.drops["unknown_id"] > 0
    # meanwhile and afterwards the other device's audio goes both ways
    t = np.arange(16000 * 1.2) / 16000
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * 660 * t)).astype("<i2").tobytes()
    await echo_dev.stream_microphone(pcm, realtime=False, trailing_silence_s=0)
    await echo_dev.wait_audio(20)
    f1, = peak_frequencies(echo_dev.decode_audio().astype(np.float64), DOWNLINK_RATE, count=1)
    assert abs(f1 - 660) < 10


async def test_device_receive_rules_on_real_sockets(start_mqtt) -> None:
    """The scripted device drops what the firmware drops: short, wrong type, wrong length, old sequence."""
    fake_server = await raw_udp()
    node = await start_mqtt(udp_public_port=fake_server.address[1])   # the hello points the device at the test
    dev = node.device(device_mac(6))
    await dev.connect()
    hello = await dev.open_audio_channel()
    key, nonce = bytes.fromhex(hello["udp"]["key"]), bytes.fromhex(hello["udp"]["nonce"])
    dev.send_audio(b"mic", 0)                                         # the device's first datagram
    async with asyncio.timeout(5):
        await fake_server.arrived.wait()
    data, device_addr = fake_server.received[0]
    assert ctr(key, data[:16], data[16:]) == b"mic" and data[4:8] == nonce[4:8]
    assert struct.unpack(">I", data[12:16])[0] == 1                   # the device's sequence starts at 1
    cases = [
        (datagram(key, nonce, b"a", 1), None),
        (datagram(key, nonce, b"a", 1)[:12], "short"),
        (b"\x02" + datagram(key, nonce, b"b", 2)[1:], "bad_type"),
        (datagram(key, nonce, b"b", 2) + b"\x00", "length"),
        (datagram(key, nonce, b"b", 2)[:-1], "length"),
        (datagram(key, nonce, b"b", 1), "stale_sequence"),            # sequence <= last
        (datagram(key, nonce, b"c", 4), None),                        # a gap is accepted
        (datagram(key, nonce, b"d", 3), "stale_sequence"),
    ]
    for packet, reason in cases:
        before = (len(dev.audio), sum(dev.udp_drops.values()))
        fake_server.send(packet, device_addr)
        async with asyncio.timeout(5):
            while (len(dev.audio), sum(dev.udp_drops.values())) == before:
                await asyncio.sleep(0.005)
        if reason is not None:
            assert dev.udp_drops[reason] >= 1 and len(dev.audio) == before[0], reason
    assert dev.audio == [b"a", b"c"] and dev.sequence_gaps == 1
    assert dev.udp_drops == {"short": 1, "bad_type": 1, "length": 2, "stale_sequence": 2}
    other = await raw_udp()                                           # the device's socket is connected: others
    other.send(datagram(key, nonce, b"e", 9), device_addr)            # never reach it
    fake_server.send(datagram(key, nonce, b"f", 10), device_addr)
    await dev.wait_audio(3)
    assert dev.audio == [b"a", b"c", b"f"]


async def test_audio_before_the_first_datagram_is_dropped_and_the_channel_reported_lost(start_mqtt,
                                                                                         captured_log) -> None:
    node = await start_mqtt(udp_first_packet_timeout_s=0.5, responder=Responder(wait_for_peer_s=0))
    node.responder.tone = [b"\x00" * 40] * 30
    dev = node.device(device_mac(7))
    await dev.connect()
    await dev.open_audio_channel()
    await dev.send_json({"type": "listen", "state": "detect", "text": "tone"})     # no UDP from the device
    rec = await node.responder.wait(device_mac(7), lambda r: r.events, timeout=5)
    assert [type(e).__name__ for e in rec.events] == ["AudioChannelLost"]
    assert "within 0.5 s of the hello" in rec.events[0].reason
    assert rec.link.audio_dropped_no_peer == 30 and node.udp.drops["no_peer"] == 30
    assert any("UDP never arrived" in line for line in captured_log)
    await rec.link.send_audio(b"\x00" * 40, 0)                       # reported once per conversation
    await asyncio.sleep(0.1)
    assert len(rec.events) == 1 and dev.audio == []
