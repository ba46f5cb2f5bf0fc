"""A seeded protocol fuzzer and a probe device, driving a server only over the wire (WebSocket on loopback).

Shared by tests/server/test_abuse.py (5,000+ messages, a few seconds) and bench/abuse_bench.py (100k messages, 1,000
sockets, slowloris). Mutations: hello/listen/abort/mcp/iot JSON with dropped keys, wrong types, huge strings and
numbers, escaped lone surrogates and deep nesting; truncated and garbled text; binary frames with lying v1/v2/v3
headers; now and then a frame over the size limit or a text frame that is not UTF-8.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import opuslib_next
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from core.protocol import framing

__all__ = ["Mutator", "FuzzStats", "fuzz_connection", "fuzz", "ProbeDevice", "PROPER_CLOSE", "leak_in"]

# Close codes a well-behaved server may use on a misbehaving device. 1011 (internal error) and 1006 (no close frame)
# are crashes.
PROPER_CLOSE = {1000, 1001, 1007, 1008, 1009, 1012, 1013, 4000}

_JUNK = "abcxyz 0123456789-_.,:;!?'\"{}[]ÄéßΩЖअआ你好🎵\t\n\\"   # no '/': a path in replies must come from the server
_LEAK = re.compile(r"Traceback|File \"|site-packages|(?:/[\w.-]+){2,}")


def leak_in(text: str) -> str | None:
    """What in a server text frame looks like a traceback or a filesystem path, if anything."""
    m = _LEAK.search(text)
    return m.group(0) if m else None


class Mutator:
    """Seeded generator of device messages, most of them broken in some way."""

    def __init__(self, rng: random.Random, *, max_bytes: int = 65536) -> None:
        self.rng = rng
        self.max_bytes = max_bytes
        self._silence = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP).encode(b"\0" * 1920, 960)

    # ------------------------------------------------------------------------------------------ values
    def junk(self, n: int | None = None) -> str:
        r = self.rng
        n = r.choice((0, 1, 3, 10, 40, 200)) if n is None else n
        block = "".join(r.choices(_JUNK, k=min(n, 256)))
        return (block * (n // 256 + 1))[:n] if n > 256 else block     # long strings repeat a random block

    def value(self, depth: int = 0) -> Any:
        r = self.rng
        pick = r.randrange(16)
        if pick == 0:
            return None
        if pick == 1:
            return r.choice((True, False))
        if pick == 2:
            return r.choice((0, -1, 1, 2, 3, 4, 2**31, -(2**63), 2**64 + 7))
        if pick == 3:
            return r.choice((0.5, -1e308, 1e308, 3.0))
        if pick == 4:
            return self.junk()
        if pick == 5:
            return "\ud800" + self.junk(3) + "\udfff"                     # lone surrogates (sent as JSON escapes)
        if pick == 6:
            return self.junk(r.choice((4000, 20000)))                    # a huge string
        if pick == 7 and depth < 3:
            return [self.value(depth + 1) for _ in range(r.randrange(4))]
        if pick == 8 and depth < 3:
            return {self.junk(4): self.value(depth + 1) for _ in range(r.randrange(4))}
        if pick == 9:
            n = r.choice((20, 33, 40, 200))
            return json.loads("[" * n + "]" * n) if n < 500 else []      # nested lists
        if pick == 10:
            return r.choice(("start", "stop", "detect", "auto", "manual", "realtime", "hello", "listen"))
        if pick == 11:
            return r.choice(("1", "²", "١", " 2 ", "3", "-1", "1e3"))
        return self.junk(8)

    # ------------------------------------------------------------------------------------------ messages
    def template(self) -> dict[str, Any]:
        r = self.rng
        kind = r.randrange(6)
        if kind == 0:
            v = r.choice((1, 2, 3))
            return {"type": "hello", "version": v, "transport": "websocket", "features": {"mcp": r.random() < 0.5},
                    "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}}
        if kind == 1:
            msg: dict[str, Any] = {"type": "listen", "state": r.choice(("start", "stop", "detect")),
                                   "mode": r.choice(("auto", "manual", "realtime"))}
            if r.random() < 0.3:
                msg["text"] = r.choice(("cheeko", "hi cheeko", "", self.junk(), "play " + self.junk(6)))
            return msg
        if kind == 2:
            return {"type": "abort", "reason": r.choice(("wake_word_detected", self.junk()))}
        if kind == 3:
            result = r.choice(({"tools": [{"name": self.junk(10), "inputSchema": self.value()}] * r.randrange(3)},
                               {"content": [{"type": "text", "text": self.junk()}]}, {}, self.value()))
            payload = {"jsonrpc": "2.0", "id": r.choice((1, 2, 3, -1, "1", None, 2**70)), "result": result}
            if r.random() < 0.2:
                payload = {"jsonrpc": "2.0", "id": r.randrange(5), "error": {"message": self.value()}}
            return {"type": "mcp", "payload": payload}
        if kind == 4:
            return {"type": "iot", "descriptors": [self.value()]}
        return {"type": self.junk(5), "state": self.value()}

    def mutate(self, msg: dict[str, Any]) -> dict[str, Any]:
        r = self.rng
        for _ in range(r.randrange(4)):
            op = r.randrange(4)
            if op == 0 and msg:
                msg.pop(r.choice(list(msg)))
            elif op == 1 and msg:
                msg[r.choice(list(msg))] = self.value()
            elif op == 2:
                msg[r.choice(("type", "state", "text", "version", "payload", "mode", self.junk(3)))] = self.value()
            else:
                msg["session_id"] = self.value()
        return msg

    def text(self) -> str:
        r = self.rng
        obj = self.mutate(self.template()) if r.random() < 0.9 else self.template()
        text = json.dumps(obj, ensure_ascii=True) if r.random() < 0.5 else _dumps_keep_unicode(obj)
        op = r.randrange(20)
        if op == 0:
            text = text[: r.randrange(len(text) + 1)]                      # truncated
        elif op == 1:
            i = r.randrange(len(text) + 1)
            text = text[:i] + self.junk(r.randrange(1, 5)) + text[i:]     # garbled
        elif op == 2:
            n = r.choice((33, 1000, 20000, 30000))
            text = r.choice(("[" * n + "]" * n, "{\"a\":" * n + "1" + "}" * n, "[" * n, "{" * n))
        elif op == 3:
            text = r.choice(("", " ", "null", "[]", "1", "\"hello\"", "NaN", "{}", "{\"type\":null}"))
        elif op == 4:
            text = "{\"type\":\"hello\",\"version\":" + "9" * r.choice((50, 4300, 5000)) + "}"
        return text[: self.max_bytes - 16]

    def binary(self, version: int) -> bytes:
        r = self.rng
        op = r.randrange(7)
        payload = r.randbytes(r.randrange(0, 400)) if r.random() < 0.7 else self._silence
        if op == 0:
            return r.randbytes(r.randrange(0, 1500))
        if op == 1:                                                        # v2 header that lies about its size
            size = r.choice((0, len(payload) + 1, 0xFFFFFFFF, framing.MAX_OPUS_PACKET + 1, len(payload)))
            return struct.pack(">HHIII", r.choice((2, 0, 65535)), r.randrange(65536), 0, r.randrange(2**32),
                               size) + payload
        if op == 2:                                                        # v3 header that lies about its size
            size = r.choice((0, len(payload) + 1, 0xFFFF, len(payload)))
            return struct.pack(">BBH", r.randrange(256), r.randrange(256), size) + payload
        if op == 3:
            return framing.pack(version, self._silence, r.randrange(2**32))
        if op == 4:
            return r.randbytes(r.randrange(0, 16))                         # shorter than any header
        return framing.pack(version, payload, r.randrange(2**32))

    def frame(self, version: int) -> tuple[str, str | bytes]:
        """('text', str) | ('binary', bytes) | ('raw-text', bytes: not UTF-8) | ('oversize', bytes)."""
        r = self.rng
        x = r.random()
        if x < 0.0008:
            return "oversize", b"\0" * (self.max_bytes + 1)
        if x < 0.0016:
            return "raw-text", b'{"type":"listen","text":"\xff\xfe"}'
        if x < 0.3:
            return "binary", self.binary(version)
        return "text", self.text()


def _dumps_keep_unicode(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:                   # lone surrogates must travel as \\uXXXX escapes
        return json.dumps(obj, ensure_ascii=True)


@dataclass
class FuzzStats:
    sent: int = 0
    connections: int = 0
    received_text: int = 0
    received_audio: int = 0
    closes: Counter[Any] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)        # 1011, 1006 or an unanswered open connection
    leaks: list[str] = field(default_factory=list)
    refused: int = 0                                        # handshakes the server turned down

    def merge(self, other: FuzzStats) -> None:
        self.sent += other.sent
        self.connections += other.connections
        self.received_text += other.received_text
        self.received_audio += other.received_audio
        self.closes.update(other.closes)
        self.crashes += other.crashes
        self.leaks += other.leaks
        self.refused += other.refused


async def _reader(ws: ClientConnection, stats: FuzzStats, hellos: asyncio.Queue[None]) -> None:
    try:
        async for raw in ws:
            if isinstance(raw, bytes):
                stats.received_audio += 1
                continue
            stats.received_text += 1
            found = leak_in(raw)
            if found:
                stats.leaks.append(f"{found!r} in {raw[:200]!r}")
            try:
                msg = json.loads(raw)
            except ValueError:
                stats.leaks.append(f"non-JSON text frame {raw[:200]!r}")
                continue
            if isinstance(msg, dict) and msg.get("type") == "hello":
                hellos.put_nowait(None)
    except ConnectionClosed:
        pass


async def fuzz_connection(url: str, mutator: Mutator, count: int, *, version: int = 1,
                          answer_timeout: float = 10.0, deadline: float = float("inf"),
                          stats: FuzzStats | None = None) -> FuzzStats:
    """One device connection sending `count` fuzzed frames (or until `deadline`, a monotonic time), then a valid
    hello that must be answered (or the connection must have been closed with a proper code). Reconnects after
    each close."""
    stats = FuzzStats() if stats is None else stats
    remaining = count
    while remaining > 0 and time.monotonic() < deadline:
        headers = {"Protocol-Version": str(version), "Device-Id": f"fu:zz:00:00:00:{mutator.rng.randrange(256):02x}",
                   "Client-Id": f"fuzz-{mutator.rng.randrange(10**6)}"}
        try:
            ws = await connect(url, additional_headers=headers, max_size=2**22, open_timeout=10, close_timeout=5,
                               ping_interval=None)
        except InvalidHandshake:
            stats.refused += 1
            remaining -= 1
            continue
        stats.connections += 1
        hellos: asyncio.Queue[None] = asyncio.Queue()
        reader = asyncio.create_task(_reader(ws, stats, hellos))
        try:
            if mutator.rng.random() < 0.8:                     # mostly after a real hello, as a device would
                await ws.send(json.dumps({"type": "hello", "version": version, "transport": "websocket"}))
            batch = min(remaining, mutator.rng.choice((50, 300, 1000)))
            for _ in range(batch):
                if time.monotonic() > deadline:
                    remaining = 0
                    break
                kind, data = mutator.frame(version)
                if kind == "raw-text":
                    await ws.send(data, text=True)
                else:
                    await ws.send(data)
                stats.sent += 1
                remaining -= 1
            # Still alive? Then it must answer a proper hello.
            await ws.send(json.dumps({"type": "hello", "version": version, "transport": "websocket"}))
            while not hellos.empty():
                hellos.get_nowait()
            try:
                async with asyncio.timeout(answer_timeout):
                    while True:
                        await hellos.get()
                        break
            except TimeoutError:
                if ws.close_code is None:
                    stats.crashes.append(f"open connection did not answer a hello within {answer_timeout:.0f} s")
            await ws.close()
        except ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            await asyncio.gather(reader, return_exceptions=True)
        code = ws.close_code
        # Our own close (1000) after the final hello is the normal end.
        stats.closes[code] += 1
        if ws.close_reason and leak_in(ws.close_reason):
            stats.leaks.append(f"close reason {ws.close_reason!r}")
        if code not in PROPER_CLOSE:
            stats.crashes.append(f"connection closed with {code} ({ws.close_reason!r})")
    return stats


async def fuzz(url: str, *, seed: int, messages: int, connections: int = 4,
               deadline: float = float("inf")) -> FuzzStats:
    """`messages` fuzzed frames over `connections` concurrent device connections (v1, v2, v3 in turn)."""
    per = -(-messages // connections)
    jobs = [fuzz_connection(url, Mutator(random.Random(seed * 1000 + i)), per, version=1 + i % 3, deadline=deadline)
            for i in range(connections)]
    total = FuzzStats()
    for part in await asyncio.gather(*jobs):
        total.merge(part)
    return total


@dataclass
class ProbeDevice:
    """A well-behaved device: hello, ask for a song by text, collect the Opus frames until `tts stop`."""
    url: str
    version: int = 1
    frames: list[bytes] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    rate: int = 16000
    asked_at: float = 0.0

    async def play(self, request: str, *, timeout: float = 60.0) -> None:
        headers = {"Protocol-Version": str(self.version), "Device-Id": "a4:cf:12:0b:3e:91", "Client-Id": "probe"}
        async with connect(self.url, additional_headers=headers, max_size=2**22, open_timeout=timeout) as ws:
            await ws.send(json.dumps({"type": "hello", "version": self.version, "transport": "websocket",
                                      "features": {"mcp": False}}))
            async with asyncio.timeout(timeout):
                hello = await self._next_json(ws, "hello")
                self.rate = int(hello.get("audio_params", {}).get("sample_rate", 16000))
                await ws.send(json.dumps({"type": "listen", "state": "detect", "text": request}))
                self.asked_at = time.monotonic()
                while True:
                    raw = await ws.recv()
                    if isinstance(raw, bytes):
                        self.frames.append(framing.unpack(self.version, raw).opus)
                        self.frame_times.append(time.monotonic())
                        continue
                    msg = json.loads(raw)
                    self.texts.append(msg)
                    if msg.get("type") == "tts" and msg.get("state") == "stop" and self.frames:
                        return

    async def _next_json(self, ws: ClientConnection, type_: str) -> dict[str, Any]:
        while True:
            raw = await ws.recv()
            if isinstance(raw, str):
                msg = json.loads(raw)
                self.texts.append(msg)
                if msg.get("type") == type_:
                    return msg

    def pcm(self) -> np.ndarray:
        dec = opuslib_next.Decoder(self.rate, 1)
        out = [np.frombuffer(dec.decode(p, self.rate * 120 // 1000), dtype=np.int16) for p in self.frames]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def peak_hz(self) -> float:
        pcm = self.pcm()
        mid = pcm[len(pcm) // 4: 3 * len(pcm) // 4]
        spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
        return float(np.fft.rfftfreq(len(mid), 1 / self.rate)[int(np.argmax(spec))])

    def seconds(self) -> float:
        return len(self.pcm()) / self.rate
