"""A light WebSocket listening device for cached-listener loads: an asyncio Protocol speaking just enough RFC 6455
(client upgrade, unmasked server frames, pings answered) to ask for a song and time every frame it receives.

The `websockets` client costs tens of microseconds per received frame; 1,500 listeners receive 25,000 frames a
second, which on the node's own cores would measure the client. This one records an arrival time per frame and
parses JSON only for `tts` messages. Its result record is load_bench.one_device's, judged by the same device model.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any

_ZERO_MASK = b"\x00\x00\x00\x00"     # masking with a zero key leaves the payload as it is (the bit must be set)


def _client_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _ZERO_MASK + payload


class LightDevice(asyncio.Protocol):
    def __init__(self, host: str, path: str, device_id: str, title: str, seconds: float,
                 done: asyncio.Future[None]) -> None:
        self.host, self.path, self.device_id, self.title, self.seconds = host, path, device_id, title, seconds
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.t_req = 0.0
        self.every: list[float] = []
        self.first_song = -1
        self.in_song = False
        self.wrong = ""
        self.busy_s = -1.0
        self.error = ""

    # ------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         f"Device-Id: {self.device_id}\r\nClient-Id: {self.device_id}\r\nProtocol-Version: 1\r\n"
                         "\r\n").encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in bytes(self.buf[:end]):
                self._finish(f"upgrade refused: {bytes(self.buf[:40])!r}")
                return
            del self.buf[:end + 4]
            self.upgraded = True
            self._send_text({"type": "hello", "version": 1, "features": {}, "transport": "websocket",
                             "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1,
                                              "frame_duration": 60}})
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish("" if self.every else "closed")

    # ------------------------------------------------------------------ frames

    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + n:
                break
            start = pos + head
            pos = start + n
            if opcode == 2:
                self._audio()
            elif opcode == 1:
                self._text(bytes(buf[start:pos]))
            elif opcode == 9 and self.transport is not None:
                self.transport.write(_client_frame(10, bytes(buf[start:pos])))
            elif opcode == 8:
                self._finish("" if self.every else "closed")
        del buf[:pos]

    def _audio(self) -> None:
        now = time.monotonic()
        self.every.append(now)
        if self.in_song:
            if self.first_song < 0:
                self.first_song = len(self.every) - 1
            elif now - self.every[self.first_song] >= self.seconds:
                self._close()

    def _text(self, payload: bytes) -> None:
        if b'"hello"' in payload and not self.t_req:
            self._send_text({"type": "listen", "state": "start", "mode": "auto"})
            self.t_req = time.monotonic()
            self._send_text({"type": "listen", "state": "detect", "text": f"play {self.title.lower()}"})
            return
        if b'"tts"' not in payload:
            return
        msg = json.loads(payload)
        if msg.get("state") == "sentence_start":
            text = str(msg.get("text", ""))
            if text == self.title:
                self.in_song = True
            elif self.in_song and self.first_song >= 0:
                self._close()
            elif "busy" in text.lower():
                self.busy_s = time.monotonic() - self.t_req
            elif not text.lower().startswith(("now playing", "playing")) and not self.wrong:
                self.wrong = text[:40]
        elif msg.get("state") == "stop" and (self.first_song >= 0 or self.busy_s >= 0 or self.wrong):
            self._close()

    def _send_text(self, msg: dict[str, Any]) -> None:
        if self.transport is not None:
            self.transport.write(_client_frame(1, json.dumps(msg).encode()))

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(8, struct.pack("!H", 1000)))
            self.transport.close()
        self._finish("")

    def _finish(self, error: str) -> None:
        if not self.done.done():
            self.error = error
            self.done.set_result(None)


async def light_device(host: str, port: int, path: str, device_id: str, title: str, seconds: float,
                       delay: float) -> dict[str, Any]:
    """load_bench.one_device's record for one light device asking (text) for `title`."""
    from bench.load_bench import device_playback, song_stalls
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    out: dict[str, Any] = {"asked": title, "heard": False, "wrong": "", "busy": False, "busy_s": -1.0, "ttff": -1.0,
                           "first_audio": -1.0, "frames": 0, "late": 0, "gaps": 0, "max_gap": 0.0, "dry": 0,
                           "pause": 0.0, "stalls": 0, "longest": 0.0, "silence": 0.0, "error": ""}
    try:
        transport, dev = await loop.create_connection(
            lambda: LightDevice(f"{host}:{port}", path, device_id, title, seconds, done), host, port)
        async with asyncio.timeout(seconds + 60):
            await done
        transport.close()
    except Exception as exc:   # noqa: BLE001 - a failed device is reported, not fatal
        out["error"] = type(exc).__name__
        return out
    out["error"], out["wrong"] = dev.error, dev.wrong
    if dev.busy_s >= 0 and dev.first_song < 0:
        out["busy"], out["busy_s"] = True, dev.busy_s
    if dev.every:
        out["first_audio"] = dev.every[0] - dev.t_req
    if dev.first_song >= 0:
        song = dev.every[dev.first_song:]
        out["heard"] = not out["wrong"]
        out["ttff"] = song[0] - dev.t_req
        out["frames"] = len(song)
        out.update(device_playback(song))
        out.update(song_stalls(dev.every, dev.first_song))
    return out


def light_process(host: str, port: int, plan: list[tuple[str, str, float]], seconds: float
                  ) -> tuple[list[dict[str, Any]], float]:
    """One client process: (device id, title, join delay) each. Returns the records and the process's CPU seconds."""
    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(light_device(host, port, "/xiaozhi/v1/", dev, title, seconds, delay)
                                      for dev, title, delay in plan))
    cpu0 = time.process_time()
    rows = asyncio.run(run())
    return rows, time.process_time() - cpu0
