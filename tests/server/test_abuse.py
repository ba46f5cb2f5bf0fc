"""Fault-and-abuse: a seeded protocol fuzzer against the real server over WebSocket on loopback.

>= 5,000 mutated frames per run (hello/listen/abort/mcp JSON, lying binary headers for v1/v2/v3, deep nesting, huge
strings, escaped surrogates, oversize and non-UTF-8 frames): no crash (no 1011, no close without a close frame, no
error logged), every connection answered or closed with a proper code, nothing in a reply that looks like a traceback
or a filesystem path, and meanwhile a second device hears its song (decoded and checked).
Set FUZZ_SEED to replay another run; bench/abuse_bench.py runs the long versions.
"""
from __future__ import annotations

import asyncio
import os

import pytest
from loguru import logger

from tests.abuse import Mutator, ProbeDevice, fuzz, leak_in
from tests.conftest import TONES, until, ws_url

pytestmark = pytest.mark.timeout(180)
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
MESSAGES = 6000


@pytest.fixture
def server_errors():
    """Every log record at ERROR or above, and every logged traceback, while the test runs."""
    found: list[str] = []

    def sink(message) -> None:  # noqa: ANN001 - loguru Message
        record = message.record
        if record["level"].no >= 40 or record["exception"] is not None:
            found.append(f"{record['level'].name} {record['message']}")
    sink_id = logger.add(sink, level="DEBUG")
    yield found
    logger.remove(sink_id)


async def test_fuzzed_devices_never_crash_the_server_and_another_device_still_plays(
        make_config, start_node, server_errors: list[str]) -> None:
    node = await start_node(make_config(server={"hello_timeout_s": 3.0}))
    url = ws_url(node)
    probe = ProbeDevice(url, version=2)

    async def probe_later() -> None:
        await asyncio.sleep(0)                     # start once the fuzzers are sending
        await probe.play("play baa baa black sheep", timeout=90)

    stats, _ = await asyncio.gather(fuzz(url, seed=SEED, messages=MESSAGES, connections=4), probe_later())
    detail = f"seed {SEED}: {stats.sent} sent, closes {dict(stats.closes)}"
    assert stats.sent >= 5000, detail
    assert stats.crashes == [], detail
    assert stats.leaks == [], detail
    assert server_errors == [], detail
    assert stats.received_text > 0 and stats.connections >= 4
    # The well-behaved device was served in full while the others were fuzzing.
    freq, secs = TONES["Baa Baa Black Sheep"]
    assert abs(probe.peak_hz() - freq) < 5
    assert abs(probe.seconds() - secs) <= 0.12
    assert not [leak_in(str(t)) for t in probe.texts if leak_in(str(t))]
    # Nothing is left behind: every fuzzed connection (and the probe's) was cleaned up by the server.
    await until(lambda: not node.ws.connections, timeout=15)


def test_the_mutator_is_seeded_and_covers_every_kind_of_abuse() -> None:
    import random
    a, b = Mutator(random.Random(7)), Mutator(random.Random(7))
    frames = [a.frame(2) for _ in range(6000)]
    assert frames == [b.frame(2) for _ in range(6000)]              # same seed, same run
    kinds = {k for k, _ in frames}
    assert kinds == {"text", "binary", "oversize", "raw-text"}
    texts = [t for k, t in frames if k == "text"]
    assert any("\\ud800" in t for t in texts)                        # escaped lone surrogates
    assert any(t.startswith("[" * 1000) for t in texts)              # deep nesting
    assert any(len(t) > 15000 for t in texts)                        # huge strings
    assert any('"type": "mcp"' in t or '"type":"mcp"' in t for t in texts)
    assert all(len(t.encode("utf-8")) <= 65536 for t in texts)
    lying = [d for k, d in frames if k == "binary" and len(d) >= 16 and int.from_bytes(d[12:16]) > len(d) - 16]
    assert lying                                                      # v2 headers whose payload_size lies
