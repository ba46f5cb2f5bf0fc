"""A scripted firmware device on the MQTT + UDP transport (firmware 2.4.x rules, docs/protocol.md "MQTT + UDP").

It speaks MQTT through aiomqtt/paho-mqtt, an implementation independent of the server's codec, so a server bug
shows up here instead of being shared. What it reproduces, as the firmware does it:
- CONNECT with the OTA `mqtt` object's client id, username, password and keepalive; it never subscribes.
- hello `{"type":"hello","version":3,"transport":"udp",...}` on the publish topic, then at most `hello_timeout_s`
  (10 s) for a server hello that passes `ParseServerHello`'s checks: `transport` "udp"; `udp` an object with a string
  `server` and a `port` of 1-65535; `key` and `nonce` hex strings of exactly 16 bytes. A hello that fails them is
  ignored (and noted in `rejected_hellos`), so the wait ends in `ServerTimeout`, as on the device.
- UDP receive rules: shorter than 16 bytes, `type != 1`, or a length other than 16 + payload_len: dropped;
  `sequence <= last`: dropped; gaps accepted (counted); the header is the AES-CTR counter block.
- the channel is dead after `channel_timeout_s` (120 s) without a JSON message with a string `type` or a valid
  datagram from the server.
- a server `goodbye` without a session id or with the current one closes the UDP channel without an answer.
- MCP: `initialize`, `tools/list` (`withUserTools: true` adds the user-only tools), `tools/call` of
  self.get_device_status, self.audio_speaker.set_volume, self.reboot, self.upgrade_firmware, self.get_system_info.
It records every JSON message and the decrypted Opus it receives, and decodes it like DeviceClient does.
"""
from __future__ import annotations

import asyncio
import json
import struct
import time
import wave
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiomqtt
import numpy as np
import opuslib_next
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["MqttDevice", "MqttSettings", "ServerTimeout", "Event", "JsonObject", "USER_ONLY_TOOLS", "ota_request",
           "NoMqttOffered"]

JsonObject = dict[str, object]
_HEADER = struct.Struct(">BBHIII")
USER_ONLY_TOOLS = ("self.get_system_info", "self.reboot", "self.upgrade_firmware")


class NoMqttOffered(Exception):
    """The OTA answer has no `mqtt` object: the firmware would use WebSocket (the server's mqtt.enabled is off)."""


async def ota_request(url: str, device_id: str, client_id: str, *, board: str = "bread-compact-wifi",
                      version: str = "2.4.2") -> JsonObject:
    """The firmware's OTA request (Device-Id, Client-Id, User-Agent; the body's application and board); the answer.
    Raises aiohttp.ClientError when the server cannot be reached or answers with an error."""
    import aiohttp
    headers = {"Device-Id": device_id, "Client-Id": client_id, "User-Agent": f"{board}/{version}"}
    body = {"version": 2, "mac_address": device_id, "uuid": client_id, "application": {"version": version},
            "board": {"type": board, "name": board}}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
            http.post(url, json=body, headers=headers) as resp:
        resp.raise_for_status()
        answer = await resp.json(content_type=None)
    if not isinstance(answer, dict):
        raise ValueError("the OTA answer is not a JSON object")
    return answer


class ServerTimeout(Exception):
    """No acceptable server hello within the device's hello timeout (the firmware shows SERVER_TIMEOUT)."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The OTA reply's `mqtt` object as the firmware keeps it in NVS."""
    endpoint: str
    client_id: str
    username: str
    password: str
    publish_topic: str
    keepalive: int = 240

    @classmethod
    def from_ota(cls, obj: Mapping[str, object]) -> MqttSettings:
        def text(name: str) -> str:
            value = obj.get(name)
            if not isinstance(value, str):
                raise ValueError(f"OTA mqtt object: {name!r} is missing or not text")
            return value
        keepalive = obj.get("keepalive", 240)
        return cls(text("endpoint"), text("client_id"), text("username"), text("password"), text("publish_topic"),
                   keepalive if isinstance(keepalive, int) and not isinstance(keepalive, bool) else 240)

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.endpoint.rpartition(":")
        return (host, int(port)) if sep else (self.endpoint, 8883)


@dataclass(slots=True)
class Event:
    t: float                        # seconds since connect
    kind: str                       # "json", "audio", "channel_closed" or "closed"
    message: JsonObject | None = None
    size: int = 0


def _hex16(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) != 32:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


class _DeviceUdp(asyncio.DatagramProtocol):
    def __init__(self, device: MqttDevice) -> None:
        self.device = device

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        self.device._udp_received(data)


@dataclass(eq=False)
class MqttDevice:
    settings: MqttSettings
    device_id: str = "a4:cf:12:0b:3e:90"
    volume: int = 60
    battery: int = 87
    hello_timeout_s: float = 10.0
    channel_timeout_s: float = 120.0
    log: list[Event] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)          # decrypted downlink Opus packets, in order
    audio_times: list[float] = field(default_factory=list)
    audio_timestamps: list[int] = field(default_factory=list)  # header timestamps of the accepted packets
    server_hello: JsonObject | None = None
    session_id: str = ""
    rejected_hellos: list[str] = field(default_factory=list)
    udp_drops: Counter[str] = field(default_factory=Counter)
    sequence_gaps: int = 0
    reboots: int = 0
    upgrade_urls: list[str] = field(default_factory=list)
    tools_listed: asyncio.Event = field(default_factory=asyncio.Event)
    _client: aiomqtt.Client | None = None
    _reader: asyncio.Task[None] | None = None
    _events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _hello_seen: asyncio.Event = field(default_factory=asyncio.Event)
    _t0: float = 0.0
    _udp: asyncio.DatagramTransport | None = None
    _key: bytes = b""
    _nonce: bytes = b""
    _local_seq: int = 0
    _remote_seq: int = 0
    _last_incoming: float = 0.0
    _channel_t0: float = 0.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # ---------------------------------------------------------------------------------------------- MQTT
    async def connect(self) -> None:
        """CONNECT with the stored credentials; raises aiomqtt.MqttError if the server refuses."""
        host, port = self.settings.host_port
        self._t0 = time.monotonic()
        client = aiomqtt.Client(host, port, identifier=self.settings.client_id, username=self.settings.username,
                                password=self.settings.password, keepalive=self.settings.keepalive,
                                protocol=aiomqtt.ProtocolVersion.V311, clean_session=True, timeout=10)
        await client.__aenter__()
        self._client = client
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self._close_udp()
        for task in list(self._tasks):
            task.cancel()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                pass                # already disconnected by the server
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> MqttDevice:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def publish(self, payload: str | bytes) -> None:
        assert self._client is not None, "connect() first"
        await self._client.publish(self.settings.publish_topic, payload, qos=0)

    async def send_json(self, msg: JsonObject) -> None:
        """What the firmware sends: every message but hello carries the session id."""
        if msg.get("type") != "hello":
            msg = {"session_id": self.session_id, **msg}
        await self.publish(json.dumps(msg, ensure_ascii=False, separators=(",", ":")))

    async def _read(self) -> None:
        assert self._client is not None
        try:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, bytes | bytearray):
                    self._on_json(bytes(payload))
        except aiomqtt.MqttError:
            pass
        finally:
            self._close_udp()
            self._emit(Event(self._now(), "closed"))

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _emit(self, event: Event) -> None:
        self.log.append(event)
        self._events.put_nowait(event)

    def _on_json(self, payload: bytes) -> None:
        try:
            root = json.loads(payload)
        except ValueError:
            return                              # the firmware logs "Failed to parse json message"
        if not isinstance(root, dict) or not isinstance(root.get("type"), str):
            return                              # "Message type is invalid"
        kind = root["type"]
        if kind == "hello":
            self._parse_server_hello(root)
        elif kind == "goodbye":
            sid = root.get("session_id")
            if sid is None or sid == self.session_id:
                self._close_udp()
        elif kind == "mcp":
            task = asyncio.get_running_loop().create_task(self._answer_mcp(root.get("payload")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "system" and root.get("command") == "reboot":
            self.reboots += 1
        self._last_incoming = time.monotonic()
        self._emit(Event(self._now(), "json", root))

    def _parse_server_hello(self, root: JsonObject) -> None:
        if root.get("transport") != "udp":
            self.rejected_hellos.append("transport is not 'udp'")
            return
        udp = root.get("udp")
        if not isinstance(udp, dict):
            self.rejected_hellos.append("udp is not an object")
            return
        server, port = udp.get("server"), udp.get("port")
        if not isinstance(server, str) or not isinstance(port, int) or isinstance(port, bool) \
                or not 1 <= port <= 65535:
            self.rejected_hellos.append("udp server/port invalid")
            return
        key, nonce = _hex16(udp.get("key")), _hex16(udp.get("nonce"))
        if key is None or nonce is None:
            self.rejected_hellos.append("key or nonce is not 16 bytes of hex")
            return
        sid = root.get("session_id")
        if isinstance(sid, str):
            self.session_id = sid
        self.server_hello = root
        self._key, self._nonce = key, nonce
        self._local_seq = self._remote_seq = 0
        self._udp_target = (server, port)
        self._hello_seen.set()

    # ---------------------------------------------------------------------------------------------- conversation
    async def open_audio_channel(self) -> JsonObject:
        """Publish hello and wait for an acceptable server hello; then open the UDP channel. Raises ServerTimeout."""
        self.session_id = ""
        self._hello_seen.clear()
        await self.send_json({"type": "hello", "version": 3, "transport": "udp",
                              "features": {"mcp": True},
                              "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                               "frame_duration": 60}})
        try:
            async with asyncio.timeout(self.hello_timeout_s):
                await self._hello_seen.wait()
        except TimeoutError:
            raise ServerTimeout(f"no acceptable server hello within {self.hello_timeout_s:g} s "
                                f"(rejected: {self.rejected_hellos or 'none arrived'})") from None
        self._close_udp()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _DeviceUdp(self), remote_addr=self._udp_target)
        self._udp = transport
        self._channel_t0 = self._last_incoming = time.monotonic()
        assert self.server_hello is not None
        return self.server_hello

    @property
    def channel_open(self) -> bool:
        """The firmware's IsAudioChannelOpened: UDP open and something arrived within the channel timeout."""
        return self._udp is not None and time.monotonic() - self._last_incoming < self.channel_timeout_s

    async def abort(self, reason: str | None = None) -> None:
        """The device's button (no reason) or the wake word over playback (reason "wake_word_detected")."""
        await self.send_json({"type": "abort", **({"reason": reason} if reason else {})})

    async def events(self) -> AsyncIterator[Event]:
        """Every event as it comes, ending after the MQTT connection closed (one reader; not with wait_for)."""
        while True:
            event = await self._events.get()
            yield event
            if event.kind == "closed":
                return

    async def goodbye(self) -> None:
        """The device closes its channel: UDP goes, then goodbye with the session id."""
        self._close_udp()
        await self.send_json({"type": "goodbye"})

    def _close_udp(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            if self._t0:
                self._emit(Event(self._now(), "channel_closed"))

    async def send_text_request(self, text: str, mode: str = "auto") -> None:
        """listen start, the microphone's first frame (the firmware streams the mic while listening, which is also
        what tells the server the device's UDP address), then listen detect carrying the text."""
        await self.send_json({"type": "listen", "state": "start", "mode": mode})
        self.send_audio(self.silence_frame())
        await self.send_json({"type": "listen", "state": "detect", "text": text})

    def silence_frame(self) -> bytes:
        enc = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP)
        return bytes(enc.encode(b"\0" * 1920, 960))

    def send_audio(self, opus: bytes, timestamp_ms: int | None = None) -> None:
        """One uplink datagram: the server's nonce with payload_len, timestamp and ++sequence, then AES-CTR."""
        if self._udp is None:
            raise ConnectionError("the audio channel is not open")
        self._local_seq += 1
        ts = int((time.monotonic() - self._channel_t0) * 1000) if timestamp_ms is None else timestamp_ms
        header = bytearray(self._nonce)
        struct.pack_into(">H", header, 2, len(opus))
        struct.pack_into(">II", header, 8, ts & 0xFFFFFFFF, self._local_seq & 0xFFFFFFFF)
        iv = bytes(header)
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(iv)).encryptor()
        self._udp.sendto(iv + cipher.update(opus))

    async def stream_microphone(self, pcm16k: bytes, *, realtime: bool = True, trailing_silence_s: float = 1.5,
                                mode: str = "auto") -> None:
        """16 kHz mono PCM as 60 ms Opus frames over UDP, then silence, after listen start."""
        await self.send_json({"type": "listen", "state": "start", "mode": mode})
        enc = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP)
        frame = 960 * 2
        pcm = pcm16k + b"\0" * ((-len(pcm16k)) % frame)
        chunks = [pcm[i:i + frame] for i in range(0, len(pcm), frame)]
        chunks += [b"\0" * frame] * int(trailing_silence_s / 0.06)
        start = time.monotonic()
        for i, chunk in enumerate(chunks):
            self.send_audio(bytes(enc.encode(chunk, 960)), i * 60)
            if realtime:
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.06 - time.monotonic()))
        if mode == "manual":
            await self.send_json({"type": "listen", "state": "stop"})

    def _udp_received(self, data: bytes) -> None:
        if len(data) < _HEADER.size:
            self.udp_drops["short"] += 1
            return
        kind, _flags, payload_len, _conn, timestamp, seq = _HEADER.unpack_from(data)
        if kind != 0x01:
            self.udp_drops["bad_type"] += 1
            return
        if len(data) != _HEADER.size + payload_len:
            self.udp_drops["length"] += 1
            return
        if seq <= self._remote_seq:
            self.udp_drops["stale_sequence"] += 1
            return
        if seq != self._remote_seq + 1:
            self.sequence_gaps += 1
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(data[:_HEADER.size])).decryptor()
        opus = cipher.update(data[_HEADER.size:])
        self._remote_seq = seq
        self._last_incoming = time.monotonic()
        now = self._now()
        self.audio.append(opus)
        self.audio_times.append(now)
        self.audio_timestamps.append(timestamp)
        self._emit(Event(now, "audio", size=len(opus)))

    # ---------------------------------------------------------------------------------------------- waiting
    async def wait_for(self, predicate: Callable[[Event], bool], *, timeout: float = 10.0) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                event = await self._events.get()
                if event.kind == "closed":
                    self._events.put_nowait(event)
                    raise ConnectionError("the MQTT connection closed while waiting")
                if predicate(event):
                    return event

    async def wait_json(self, type_: str, state: str | None = None, *, timeout: float = 10.0) -> JsonObject:
        def match(e: Event) -> bool:
            return (e.kind == "json" and e.message is not None and e.message.get("type") == type_
                    and (state is None or e.message.get("state") == state))
        event = await self.wait_for(match, timeout=timeout)
        assert event.message is not None
        return event.message

    async def wait_audio(self, count: int, *, timeout: float = 10.0) -> None:
        """Until at least `count` audio packets were accepted (UDP can trail the JSON that announced it)."""
        async with asyncio.timeout(timeout):
            while len(self.audio) < count:
                await self.wait_for(lambda e: e.kind == "audio", timeout=timeout)

    async def wait_closed(self, *, timeout: float = 10.0) -> None:
        """Until the server closes the MQTT connection."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._events.get()
                if event.kind == "closed":
                    self._events.put_nowait(event)
                    return

    # ---------------------------------------------------------------------------------------------- MCP
    def _tools(self, user: bool) -> list[JsonObject]:
        obj: JsonObject = {"type": "object", "properties": {}}
        tools: list[JsonObject] = [
            {"name": "self.get_device_status", "description": "device status", "inputSchema": obj},
            {"name": "self.audio_speaker.set_volume", "description": "set the volume",
             "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer", "minimum": 0,
                                                                          "maximum": 100}},
                             "required": ["volume"]}},
        ]
        if user:
            tools += [
                {"name": "self.get_system_info", "description": "system info", "inputSchema": obj},
                {"name": "self.reboot", "description": "reboot", "inputSchema": obj},
                {"name": "self.upgrade_firmware", "description": "upgrade",
                 "inputSchema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}},
            ]
        return tools

    def _call(self, name: object, arguments: object) -> tuple[bool, str]:
        args = arguments if isinstance(arguments, dict) else {}
        if name == "self.get_device_status":
            return True, json.dumps({"audio_speaker": {"volume": self.volume},
                                     "battery": {"level": self.battery, "charging": False},
                                     "network": {"type": "wifi", "ssid": "home", "signal": "strong"}})
        if name == "self.audio_speaker.set_volume":
            level = args.get("volume")
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
                return False, "volume must be an integer 0-100"
            self.volume = level
            return True, "true"
        if name == "self.reboot":
            self.reboots += 1
            return True, "true"
        if name == "self.upgrade_firmware":
            url = args.get("url")
            if not isinstance(url, str) or not url:
                return False, "url is required"
            self.upgrade_urls.append(url)
            return True, "true"
        if name == "self.get_system_info":
            return True, json.dumps({"mac_address": self.device_id, "board": {"type": "scripted"}})
        return False, f"Unknown tool: {name}"

    async def _answer_mcp(self, payload: object) -> None:
        if not isinstance(payload, dict):
            return
        method, msg_id, params = payload.get("method"), payload.get("id"), payload.get("params")
        params = params if isinstance(params, dict) else {}
        if msg_id is None:
            return
        reply: JsonObject = {"jsonrpc": "2.0", "id": msg_id}
        if method == "initialize":
            reply["result"] = {"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                               "serverInfo": {"name": "scripted-mqtt-device", "version": "2.4.2"}}
        elif method == "tools/list":
            reply["result"] = {"tools": self._tools(params.get("withUserTools") is True)}
        elif method == "tools/call":
            ok, text = self._call(params.get("name"), params.get("arguments"))
            if ok:
                reply["result"] = {"content": [{"type": "text", "text": text}], "isError": False}
            else:
                reply["error"] = {"code": -32602, "message": text}
        else:
            reply["error"] = {"code": -32601, "message": f"Method not found: {method}"}
        if self._client is None:
            return                              # closed meanwhile: nobody to answer
        try:
            await self.send_json({"type": "mcp", "payload": reply})
        except aiomqtt.MqttError:
            return
        if method == "tools/list":
            self.tools_listed.set()

    # ---------------------------------------------------------------------------------------------- audio
    @property
    def downlink_rate(self) -> int:
        params = (self.server_hello or {}).get("audio_params")
        rate = params.get("sample_rate") if isinstance(params, dict) else None
        return rate if isinstance(rate, int) else 24000

    def decode_audio(self, packets: list[bytes] | None = None) -> np.ndarray:
        """Decode received Opus packets to int16 PCM at the advertised downlink rate."""
        rate = self.downlink_rate
        dec = opuslib_next.Decoder(rate, 1)
        out = [np.frombuffer(dec.decode(p, rate * 120 // 1000), dtype=np.int16)
               for p in (self.audio if packets is None else packets)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

    def write_wav(self, path: str) -> float:
        pcm = self.decode_audio()
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.downlink_rate)
            w.writeframes(pcm.tobytes())
        return len(pcm) / self.downlink_rate
