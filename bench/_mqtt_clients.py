"""Bench devices for the MQTT transport: light enough to hold thousands per process.

`LightDevice` is one firmware-like MQTT connection as an asyncio Protocol (no streams, no paho): CONNECT with the
OTA-style credentials, never subscribes, answers PINGREQ timing, answers the server's MCP requests the way the
firmware does (initialize, tools/list, self.get_device_status, self.audio_speaker.set_volume), and can publish a
hello and wait for the server's. Packets are built by tests/mqtt/raw.py (independent of the server's codec).

`device_worker` runs in a client process: it holds a share of the devices and obeys commands from the bench over a
pipe (connect, ping, hello, reconnect after a node restart, close), answering with raw figures in ms.
"""
from __future__ import annotations

import asyncio
import json
import random
import resource
import struct
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

from tests.mqtt import raw

SIGNATURE_KEY = "bench-signature-key-0123456789abcdef"
PUBLISH_TOPIC = "device-server"
CONNACK, PUBLISH, PINGRESP = 2, 3, 13


def mac_for(n: int) -> str:
    return "a4:cf:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def credentials(port: int, n: int, key: str = SIGNATURE_KEY) -> dict[str, object]:
    """The OTA `mqtt` object device `n` would be given (the server's own function, the same key)."""
    from core.mqtt.credentials import mqtt_credentials
    return mqtt_credentials(device_id=mac_for(n), client_uuid=f"bench-{n}", board="bench", ip="127.0.0.1",
                            endpoint=f"127.0.0.1:{port}", signature_key=key, keepalive_s=240)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def _mcp_result(method: object, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {"result": {"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                           "serverInfo": {"name": "bench-device", "version": "2.4.2"}}}
    if method == "tools/list":
        obj = {"type": "object", "properties": {}}
        return {"result": {"tools": [
            {"name": "self.get_device_status", "description": "device status", "inputSchema": obj},
            {"name": "self.audio_speaker.set_volume", "description": "set the volume",
             "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}},
                             "required": ["volume"]}}]}}
    if method == "tools/call":
        if params.get("name") == "self.get_device_status":
            text = json.dumps({"audio_speaker": {"volume": 60}, "battery": {"level": 80, "charging": False}})
        else:
            text = "true"
        return {"result": {"content": [{"type": "text", "text": text}], "isError": False}}
    return {"error": {"code": -32601, "message": f"Method not found: {method}"}}


class LightDevice(asyncio.Protocol):
    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        creds = credentials(port, n)
        self.connect_packet = raw.connect(str(creds["client_id"]), str(creds["username"]), str(creds["password"]),
                                          keepalive=240)
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.connack: asyncio.Future[int] | None = None
        self.pong: asyncio.Future[None] | None = None
        self.hello: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.session_id = ""
        self.mcp_answered = 0

    # ---------------------------------------------------------------------------------------------- protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for fut in (self.connack, self.pong, self.hello):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("closed by the server"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if len(self.buf) < 2:
                return
            mult, length, i = 1, 0, 1
            while True:
                if i >= len(self.buf):
                    return
                byte = self.buf[i]
                length += (byte & 0x7F) * mult
                mult *= 128
                i += 1
                if not byte & 0x80:
                    break
            if len(self.buf) < i + length:
                return
            first, body = self.buf[0], bytes(self.buf[i:i + length])
            del self.buf[:i + length]
            self._packet(first >> 4, first & 0x0F, body)

    def _packet(self, kind: int, flags: int, body: bytes) -> None:
        if kind == CONNACK and self.connack is not None and not self.connack.done():
            self.connack.set_result(body[1])
        elif kind == PINGRESP and self.pong is not None and not self.pong.done():
            self.pong.set_result(None)
        elif kind == PUBLISH:
            (n,) = struct.unpack(">H", body[:2])
            start = 2 + n + (2 if (flags >> 1) & 3 else 0)
            try:
                msg = json.loads(body[start:])
            except ValueError:
                return
            if not isinstance(msg, dict):
                return
            if msg.get("type") == "hello":
                self.session_id = str(msg.get("session_id", ""))
                if self.hello is not None and not self.hello.done():
                    self.hello.set_result(None)
            elif msg.get("type") == "mcp":
                self._answer_mcp(msg.get("payload"))

    def _answer_mcp(self, payload: object) -> None:
        if not isinstance(payload, dict) or payload.get("id") is None:
            return
        params = payload.get("params")
        reply = {"jsonrpc": "2.0", "id": payload["id"],
                 **_mcp_result(payload.get("method"), params if isinstance(params, dict) else {})}
        self.send_json({"session_id": self.session_id, "type": "mcp", "payload": reply})
        self.mcp_answered += 1

    # ---------------------------------------------------------------------------------------------- actions
    def send_json(self, msg: dict[str, Any]) -> None:
        if self.transport is not None:
            self.transport.write(raw.publish(PUBLISH_TOPIC, json.dumps(msg, separators=(",", ":")).encode()))

    async def connect(self, timeout: float = 30.0) -> float:
        """TCP connect + CONNECT; ms to the CONNACK. Raises on refusal, close or timeout."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        self.closed = loop.create_future()
        self.connack = loop.create_future()
        self.buf.clear()
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: self, "127.0.0.1", self.port)
            assert self.transport is not None
            self.transport.write(self.connect_packet)
            code = await self.connack
        if code != 0:
            self.close()
            raise ConnectionError(f"CONNACK {code}")
        return (time.perf_counter() - t0) * 1000

    async def ping(self, timeout: float = 10.0) -> float:
        assert self.transport is not None
        self.pong = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        self.transport.write(raw.PINGREQ)
        async with asyncio.timeout(timeout):
            await self.pong
        return (time.perf_counter() - t0) * 1000

    async def say_hello(self, timeout: float = 10.0) -> float:
        """The firmware's hello (version 3, udp); ms to the server's hello (the device gives up after 10 s)."""
        self.hello = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        self.send_json({"type": "hello", "version": 3, "transport": "udp", "features": {"mcp": True},
                        "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                         "frame_duration": 60}})
        async with asyncio.timeout(timeout):
            await self.hello
        return (time.perf_counter() - t0) * 1000

    def goodbye(self) -> None:
        self.send_json({"session_id": self.session_id, "type": "goodbye"})

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(raw.DISCONNECT)
            self.transport.close()

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.closed.done()


# -------------------------------------------------------------------------------------------------- client process


async def _connect_all(devices: list[LightDevice], concurrency: int) -> tuple[list[float], list[str]]:
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []
    errors: list[str] = []

    async def one(d: LightDevice) -> None:
        async with gate:
            try:
                times.append(await d.connect())
            except Exception as exc:  # noqa: BLE001 - a failed device is counted, not fatal
                errors.append(f"{type(exc).__name__}: {exc}"[:80])
    await asyncio.gather(*(one(d) for d in devices))
    return times, errors


async def _reconnect(d: LightDevice, at: float, retry_s: float, deadline: float) -> dict[str, Any]:
    """Reconnect at monotonic time `at`, retrying every `retry_s` until `deadline`; then hello and goodbye."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    t0 = time.perf_counter()
    attempts = 0
    out: dict[str, Any] = {"ok": False, "attempts": 0, "connack_ms": -1.0, "first_try_ms": -1.0, "hello_ms": -1.0,
                           "error": ""}
    while time.monotonic() < deadline:
        attempts += 1
        try:
            ms = await d.connect(timeout=max(1.0, deadline - time.monotonic()))
            out.update(ok=True, connack_ms=(time.perf_counter() - t0) * 1000, first_try_ms=ms)
            break
        except Exception as exc:  # noqa: BLE001 - refused or reset: the device tries again
            out["error"] = type(exc).__name__
            await asyncio.sleep(retry_s)
    out["attempts"] = attempts
    if out["ok"]:
        try:
            out["hello_ms"] = await d.say_hello()
            d.goodbye()
        except Exception as exc:  # noqa: BLE001 - a failed hello is reported in the result, not fatal
            out["error"] = f"hello: {type(exc).__name__}"
    return out


def device_worker(pipe: Pipe, port: int, first: int, count: int, seed: int) -> None:
    """A client process holding devices first..first+count-1; commands arrive on `pipe` (see mqtt_bench.py)."""
    raise_fd_limit()
    asyncio.run(_worker(pipe, port, first, count, seed))


async def _worker(pipe: Pipe, port: int, first: int, count: int, seed: int) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    devices = [LightDevice(port, first + i) for i in range(count)]
    while True:
        cmd, args = await loop.run_in_executor(None, pipe.recv)
        if cmd == "connect":
            times, errors = await _connect_all(devices, args.get("concurrency", 100))
            pipe.send({"connack_ms": times, "errors": errors[:5], "failed": len(errors),
                       "connected": sum(d.connected for d in devices)})
        elif cmd == "ping":
            held = [d for d in devices if d.connected]
            pings: list[float] = []
            gap = 1.0 / args["rate"]
            start = time.monotonic()
            for i in range(args["count"]):
                if held:
                    try:
                        pings.append(await rng.choice(held).ping())
                    except Exception:  # noqa: BLE001 - a lost connection shows in `connected`
                        pings.append(float("inf"))
                await asyncio.sleep(max(0.0, start + (i + 1) * gap - time.monotonic()))
            pipe.send({"ping_ms": pings, "connected": sum(d.connected for d in devices),
                       "mcp_answered": sum(d.mcp_answered for d in devices)})
        elif cmd == "count":
            pipe.send({"connected": sum(d.connected for d in devices)})
        elif cmd == "await_drop":
            # the node is restarting: every connection must be closed by the server within the timeout
            try:
                async with asyncio.timeout(args["timeout"]):
                    await asyncio.gather(*(d.closed for d in devices))
            except TimeoutError:
                pass
            pipe.send({"still_connected": sum(d.connected for d in devices)})
        elif cmd == "reconnect":
            base = time.monotonic()
            plan = [base + rng.random() * args["spread_s"] for _ in devices]
            results = await asyncio.gather(*(_reconnect(d, at, args["retry_s"], base + args["give_up_s"])
                                             for d, at in zip(devices, plan, strict=True)))
            await asyncio.sleep(0.5)
            pipe.send({"results": results, "connected": sum(d.connected for d in devices)})
        elif cmd == "close":
            for d in devices:
                d.close()
            await asyncio.sleep(0.2)
            pipe.send({"closed": True})
            return


# -------------------------------------------------------------------------------------------------- playing devices


async def one_mqtt_device(port: int, n: int, title: str, seconds: float, delay: float) -> dict[str, Any]:
    """The scripted firmware device (core/simdevice/mqtt.py: aiomqtt + its own UDP rules) asks for `title` by text
    and listens for `seconds` of it; the same record as load_bench.one_device (WebSocket) gives, from the same
    device model (load_bench.device_playback), plus hello and first-frame times."""
    from bench.load_bench import _fold, device_playback, song_stalls
    from core.simdevice.mqtt import MqttDevice, MqttSettings

    await asyncio.sleep(delay)
    out: dict[str, Any] = {"asked": title, "heard": False, "wrong": "", "busy": False, "busy_s": -1.0, "ttff": -1.0,
                           "first_any": -1.0, "hello_ms": -1.0, "frames": 0, "late": 0, "gaps": 0, "max_gap": 0.0,
                           "dry": 0, "pause": 0.0, "udp_gaps": 0, "error": ""}
    times: list[float] = []
    every: list[float] = []          # every frame after the request (the announcement, then the song)
    first_song = -1
    dev = MqttDevice(MqttSettings.from_ota(credentials(port, n)), device_id=mac_for(n))
    t0 = time.monotonic()              # the device's own clock starts here (its events are relative to connect)
    t_req = 0.0
    try:
        await dev.connect()
        h0 = time.perf_counter()
        await dev.open_audio_channel()
        out["hello_ms"] = (time.perf_counter() - h0) * 1000
        t_req = time.monotonic() - t0
        await dev.send_text_request(f"play {title.lower()}")
        in_song = False
        async with asyncio.timeout(seconds + 45):
            while True:
                e = await dev.wait_for(lambda _e: True, timeout=seconds + 45)
                if e.kind == "audio":
                    if out["first_any"] < 0:
                        out["first_any"] = e.t - t_req
                    every.append(e.t)
                    if in_song:
                        if not times:
                            first_song = len(every) - 1
                        times.append(e.t)
                        if times[-1] - times[0] >= seconds:
                            break
                    continue
                if e.kind == "channel_closed":
                    break
                m = e.message
                if e.kind != "json" or m is None or m.get("type") != "tts":
                    continue
                if m.get("state") == "sentence_start":
                    text = _fold(str(m.get("text", "")))
                    if text == _fold(title):
                        in_song = True
                    elif in_song and times:
                        break
                    elif "busy" in text or "couldnt play" in text:
                        in_song = False
                        out["busy"], out["busy_s"] = True, e.t - t_req
                    elif not text.startswith(("now playing", "playing")) and not out["wrong"]:
                        out["wrong"] = text[:40]
                elif m.get("state") == "stop" and (times or out["busy"]):
                    break
        await dev.send_json({"type": "abort"})
        await dev.goodbye()
    except Exception as exc:   # noqa: BLE001 - a failed device is reported, not fatal
        out["error"] = type(exc).__name__
    finally:
        await dev.close()
    out["udp_gaps"] = dev.sequence_gaps
    if times:
        out["heard"] = True
        out["ttff"] = times[0] - t_req
        out["frames"] = len(times)
        out.update(device_playback(times))
        out.update(song_stalls(every[:first_song + len(times)], first_song))
    return out


def mqtt_play_process(port: int, plan: list[tuple[int, str, float]], seconds: float) -> list[dict[str, Any]]:
    """A client process: devices (number, title, start delay) playing over MQTT + UDP."""
    raise_fd_limit()

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one_mqtt_device(port, n, t, seconds, d) for n, t, d in plan))
    return asyncio.run(run())
