"""Seeded fuzz of MQTT packets and UDP datagrams: the endpoint never crashes and another device's traffic goes on."""
from __future__ import annotations

import asyncio
import json
import random
import struct

import numpy as np

from core.mqtt.udp import pack_header
from tests.audio_fixtures import peak_frequencies
from tests.mqtt import raw
from tests.mqtt.conftest import device_mac
from tests.mqtt.responder import DOWNLINK_RATE
from tests.mqtt.test_udp import datagram, raw_udp

SEED = 20


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 1 and out:
            del out[rng.randrange(len(out)):]
        elif op == 2:
            pos = rng.randrange(len(out) + 1)
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        else:
            out += rng.randbytes(rng.randint(1, 32))
    return bytes(out)


def fuzz_mqtt(rng: random.Random, valid_connect: bytes) -> tuple[bool, bytes]:
    """(send a valid CONNECT first?, the fuzz bytes)."""
    samples = [raw.publish("device-server", b'{"type":"listen","state":"start"}'), raw.PINGREQ,
               raw.subscribe(1, "a/b"), valid_connect, raw.DISCONNECT]
    kind = rng.randrange(8)
    if kind == 7:                                     # a whole packet whose body is too short for its fields
        size = rng.randint(0, 4)
        data = bytes([rng.choice([0x10, 0x30, 0x32, 0x82, 0xA2]), size]) + rng.randbytes(size)
    elif kind == 0:                                     # a remaining length that never ends
        data = bytes([rng.choice([0x30, 0x10, 0x82])]) + b"\xff" * rng.randint(4, 8)
    elif kind == 1:                                   # oversize: over mqtt.max_payload_bytes
        data = raw.publish("device-server", b"{" + b" " * rng.randint(2000, 9000) + b"}")
    elif kind == 2:                                   # types a client never sends, reserved ones included
        data = bytes([rng.choice([0x00, 0x20, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0, 0xF0]),
                      0x02]) + rng.randbytes(2)
    elif kind == 3:                                   # truncated, then the connection just ends
        sample = rng.choice(samples)
        data = sample[:rng.randrange(1, len(sample))]
    elif kind == 4:
        data = rng.randbytes(rng.randint(1, 300))
    else:
        data = b"".join(_mutate(rng, rng.choice(samples)) for _ in range(rng.randint(1, 5)))
    return rng.random() < 0.6, data


async def _fuzz_connection(node, rng: random.Random, n: int) -> None:
    cred = node.credentials(device_mac(0x1000 + n))
    connect = raw.connect(str(cred["client_id"]), str(cred["username"]), str(cred["password"]))
    first, data = fuzz_mqtt(rng, connect)
    try:
        client = await raw.RawClient.open(node.port)
    except OSError:
        return
    try:
        if first:
            await client.send(connect)
        await client.send(data)
        async with asyncio.timeout(0.3):
            while await client.read(0.3) is not None:
                pass
    except (TimeoutError, OSError, AssertionError):
        pass
    finally:
        client.close()


async def _good_device_still_works(node, dev, freq: float) -> None:
    link = node.endpoint.link_of(dev.device_id)
    assert link is not None and not link.closed
    await link.send_text(json.dumps({"type": "alert", "status": "s", "message": f"still here {freq}",
                                     "emotion": "happy"}))
    msg = await dev.wait_json("alert")
    assert msg["message"] == f"still here {freq}"
    dev.audio.clear()
    t = np.arange(int(16000 * 0.9)) / 16000
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()
    await dev.stream_microphone(pcm, realtime=False, trailing_silence_s=0)
    await dev.wait_audio(15)
    (peak,) = peak_frequencies(dev.decode_audio().astype(np.float64), DOWNLINK_RATE, count=1)
    assert abs(peak - freq) < 10


async def test_mqtt_fuzz_never_crashes_the_endpoint_nor_stops_another_device(start_mqtt, loop_errors,
                                                                             captured_log) -> None:
    node = await start_mqtt(max_payload_bytes=1024, connect_timeout_s=2.0)
    dev = node.device(device_mac(1))
    await dev.connect()
    await dev.open_audio_channel()
    await dev.send_text_request("echo")
    await node.responder.wait(dev.device_id, lambda r: r.echo)
    rng = random.Random(SEED)
    for batch in range(30):
        await asyncio.gather(*(_fuzz_connection(node, rng, batch * 10 + i) for i in range(10)))
        if batch % 10 == 9:
            await _good_device_still_works(node, dev, 400.0 + batch * 10)
    assert loop_errors == []
    assert not [line for line in captured_log if line.startswith(("ERROR", "CRITICAL"))]
    closes = node.endpoint.closes
    assert closes["malformed"] > 0 and closes["oversize"] > 0 and closes["no_connect"] > 0
    assert node.endpoint.link_of(dev.device_id) is not None


async def test_udp_fuzz_never_crashes_the_channel_nor_stops_another_device(start_mqtt, loop_errors) -> None:
    node = await start_mqtt()
    dev = node.device(device_mac(2))
    await dev.connect()
    hello = await dev.open_audio_channel()
    await dev.send_text_request("echo")
    await node.responder.wait(dev.device_id, lambda r: r.echo)
    victim = node.device(device_mac(3))               # its session gets the fuzz under its own connection id
    await victim.connect()
    vhello = await victim.open_audio_channel()
    key, nonce = bytes.fromhex(vhello["udp"]["key"]), bytes.fromhex(vhello["udp"]["nonce"])
    server = ("127.0.0.1", int(hello["udp"]["port"]))
    conn_id = struct.unpack(">I", nonce[4:8])[0]
    rng = random.Random(SEED)
    fuzzer = await raw_udp()
    for i in range(3000):
        kind = rng.randrange(5)
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 64))
        elif kind == 1:
            data = _mutate(rng, datagram(key, nonce, rng.randbytes(rng.randint(0, 100)), rng.randint(0, 50)))
        elif kind == 2:
            size = rng.randint(0, 300)
            data = pack_header(rng.choice([size, rng.randrange(65536)]), conn_id, rng.randrange(1 << 32),
                               rng.randrange(1 << 32)) + rng.randbytes(size)
        elif kind == 3:
            data = bytes([rng.randrange(256)]) + rng.randbytes(rng.randint(15, 40))
        else:
            data = datagram(rng.randbytes(16), nonce, rng.randbytes(rng.randint(1, 200)), i + 1)
        fuzzer.send(data, server)
        if i % 300 == 299:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert loop_errors == []
    assert sum(node.udp.drops.values()) > 1000
    await _good_device_still_works(node, dev, 520.0)
