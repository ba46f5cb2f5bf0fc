"""A scripted Xiaozhi device: connects exactly as the firmware does (headers, hello), sends text or microphone
audio, records every message and decodes the Opus it receives. Used by `app.py client`, the tests and benches.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import opuslib_next
from websockets.asyncio.client import ClientConnection, connect

from core.protocol import framing

__all__ = ["DeviceClient", "Received"]


@dataclass(slots=True)
class Received:
    t: float                        # seconds since connect
    kind: str                       # "json" or "audio"
    message: dict[str, Any] | None = None
    size: int = 0


@dataclass(slots=True)
class DeviceClient:
    url: str
    token: str = ""
    protocol_version: int = 1
    device_id: str = "a4:cf:12:0b:3e:90"
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    mcp: bool = True
    volume: int = 60
    ws: ClientConnection | None = None
    log: list[Received] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)          # received Opus packets (header stripped)
    audio_times: list[float] = field(default_factory=list)
    server_hello: dict[str, Any] | None = None
    session_id: str = ""
    _t0: float = 0.0
    _events: asyncio.Queue[Received] | None = None
    _reader: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    tools_listed: asyncio.Event = field(default_factory=asyncio.Event)   # the server has our MCP tool list

    # ---------------------------------------------------------------------------------------------- connection
    async def connect(self, *, hello_timeout: float = 10.0) -> dict[str, Any]:
        headers = {"Protocol-Version": str(self.protocol_version), "Device-Id": self.device_id,
                   "Client-Id": self.client_id}
        if self.token:
            headers["Authorization"] = self.token if " " in self.token else f"Bearer {self.token}"
        self._t0 = time.monotonic()
        self.ws = await connect(self.url, additional_headers=headers, max_size=2**20, open_timeout=10)
        self._events = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        await self.send_json({"type": "hello", "version": self.protocol_version, "transport": "websocket",
                              "features": {"mcp": self.mcp},
                              "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                               "frame_duration": 60}})
        hello = await self.wait_for(lambda r: r.kind == "json" and r.message.get("type") == "hello",
                                    timeout=hello_timeout)
        assert hello.message is not None
        self.server_hello = hello.message
        self.session_id = hello.message.get("session_id", "")
        return hello.message

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> DeviceClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------------------------------------- sending
    async def send_json(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        msg.setdefault("session_id", self.session_id)
        await self.ws.send(json.dumps(msg, ensure_ascii=False))

    async def send_text_request(self, text: str, mode: str = "auto") -> None:
        """What text clients do: `listen start`, then `listen detect` carrying the utterance."""
        await self.send_json({"type": "listen", "state": "start", "mode": mode})
        await self.send_json({"type": "listen", "state": "detect", "text": text})

    async def abort(self) -> None:
        await self.send_json({"type": "abort"})

    async def stream_microphone(self, pcm16k: bytes, *, realtime: bool = True, trailing_silence_s: float = 1.5,
                                mode: str = "auto") -> None:
        """Send 16 kHz mono PCM as 60 ms Opus frames (as the firmware's mic does), then silence as DTX packets."""
        assert self.ws is not None
        await self.send_json({"type": "listen", "state": "start", "mode": mode})
        enc = opuslib_next.Encoder(16000, 1, opuslib_next.APPLICATION_VOIP)
        frame = 960 * 2
        pcm = pcm16k + b"\0" * ((-len(pcm16k)) % frame)
        silence = b"\0" * frame
        chunks = [pcm[i:i + frame] for i in range(0, len(pcm), frame)]
        chunks += [silence] * int(trailing_silence_s / 0.06)
        start = time.monotonic()
        for i, chunk in enumerate(chunks):
            packet = enc.encode(chunk, 960)
            await self.ws.send(framing.pack(self.protocol_version, packet, i * 60))
            if realtime:
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.06 - time.monotonic()))
        if mode == "manual":
            await self.send_json({"type": "listen", "state": "stop"})

    # ---------------------------------------------------------------------------------------------- receiving
    async def _read(self) -> None:
        assert self.ws is not None and self._events is not None
        try:
            async for raw in self.ws:
                now = time.monotonic() - self._t0
                if isinstance(raw, str):
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        msg = {"type": "(not json)", "text": raw[:200]}
                    rec = Received(now, "json", msg if isinstance(msg, dict) else {"type": "(not object)"})
                    if rec.message and rec.message.get("type") == "mcp":
                        task = asyncio.create_task(self._answer_mcp(rec.message.get("payload") or {}))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                else:
                    packet = framing.unpack(self.protocol_version, raw)
                    self.audio.append(packet.opus)
                    self.audio_times.append(now)
                    rec = Received(now, "audio", size=len(packet.opus))
                self.log.append(rec)
                self._events.put_nowait(rec)
        except Exception:   # noqa: BLE001 - connection closed either way; callers see it through wait_for
            pass
        finally:
            # The close code and reason, when the server sent them (1012: the node is draining).
            code = self.ws.close_code if self.ws is not None else None
            why = {"code": code, "reason": self.ws.close_reason or ""} if code is not None and self.ws else None
            self._events.put_nowait(Received(time.monotonic() - self._t0, "closed", why))

    async def wait_for(self, predicate: Any, *, timeout: float = 10.0) -> Received:
        assert self._events is not None
        async with asyncio.timeout(timeout):
            while True:
                rec = await self._events.get()
                if rec.kind == "closed":
                    self._events.put_nowait(rec)
                    raise ConnectionError("connection closed while waiting")
                if predicate(rec):
                    return rec

    async def wait_json(self, type_: str, state: str | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
        rec = await self.wait_for(lambda r: r.kind == "json" and r.message.get("type") == type_
                                  and (state is None or r.message.get("state") == state), timeout=timeout)
        assert rec.message is not None
        return rec.message

    async def events(self) -> AsyncIterator[Received]:
        assert self._events is not None
        while True:
            rec = await self._events.get()
            yield rec
            if rec.kind == "closed":
                return

    async def _answer_mcp(self, payload: dict[str, Any]) -> None:
        """Behave like the firmware's MCP server: initialize, tools/list, and the volume tool."""
        method, msg_id = payload.get("method"), payload.get("id")
        if msg_id is None:
            return
        if method == "initialize":
            result: dict[str, Any] = {"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                                      "serverInfo": {"name": "device-client", "version": "1.0"}}
        elif method == "tools/list":
            result = {"tools": [
                {"name": "self.get_device_status", "description": "status", "inputSchema": {"type": "object"}},
                {"name": "self.audio_speaker.set_volume", "description": "volume",
                 "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}}}}]}
        elif method == "tools/call":
            params = payload.get("params") or {}
            if params.get("name") == "self.audio_speaker.set_volume":
                self.volume = int((params.get("arguments") or {}).get("volume", self.volume))
                text = "true"
            else:
                text = json.dumps({"audio_speaker": {"volume": self.volume}})
            result = {"content": [{"type": "text", "text": text}], "isError": False}
        else:
            return
        try:
            await self.send_json({"type": "mcp", "payload": {"jsonrpc": "2.0", "id": msg_id, "result": result}})
        except Exception:   # noqa: BLE001 - closed meanwhile
            return
        if method == "tools/list":
            self.tools_listed.set()     # our next message reaches the server after this answer

    # ---------------------------------------------------------------------------------------------- audio
    @property
    def downlink_rate(self) -> int:
        params = (self.server_hello or {}).get("audio_params") or {}
        return int(params.get("sample_rate", 24000))

    def decode_audio(self, packets: list[bytes] | None = None) -> np.ndarray:
        """Decode received Opus packets to int16 PCM at the advertised downlink rate."""
        rate = self.downlink_rate
        dec = opuslib_next.Decoder(rate, 1)
        out = [np.frombuffer(dec.decode(p, rate * 120 // 1000), dtype=np.int16) for p in (packets or self.audio)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

    def write_wav(self, path: str) -> float:
        pcm = self.decode_audio()
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.downlink_rate)
            w.writeframes(pcm.tobytes())
        return len(pcm) / self.downlink_rate
