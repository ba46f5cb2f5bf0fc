"""A tiny test-side stand-in for the session: drives each MqttLink the way the session shell will.

hello -> the server hello with `link.hello_fields()`; `listen detect` with the text "tone" -> `tts start`, the tone's
Opus packets through `send_audio`, `tts stop`; `listen detect` "echo" -> every later uplink packet is sent back;
goodbye -> `end_conversation()`. Everything seen is recorded per device for the tests to check.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path

from core.audio.encode import OpusEncoder
from core.audio.types import AudioParams
from core.mqtt.device_link import MqttLink
from core.session.link import LinkEvent

DOWNLINK_RATE = 16000


def tone_packets(path: Path, seconds: float, *, freqs: tuple[float, float] = (440.0, 880.0)) -> list[bytes]:
    """A two-tone WAV made by ffmpeg, encoded to 60 ms Opus packets at the downlink rate."""
    expr = f"0.35*sin(2*PI*{freqs[0]}*t)+0.35*sin(2*PI*{freqs[1]}*t):s={DOWNLINK_RATE}:d={seconds}"
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"aevalsrc={expr}",
                    "-ac", "1", "-c:a", "pcm_s16le", str(path)], check=True, timeout=60)
    with wave.open(str(path), "rb") as w:
        pcm = w.readframes(w.getnframes())
    params = AudioParams(sample_rate=DOWNLINK_RATE)
    enc = OpusEncoder(params)
    size = params.frame_bytes
    return [enc.encode(pcm[i:i + size]) for i in range(0, len(pcm) - size + 1, size)]


@dataclass
class DeviceRecord:
    link: MqttLink
    messages: list[dict[str, object]] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    events: list[LinkEvent] = field(default_factory=list)
    hellos: list[dict[str, object]] = field(default_factory=list)
    echo: bool = False
    ended: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Responder:
    tone: list[bytes] = field(default_factory=list)
    wait_for_peer_s: float = 3.0
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    async def __call__(self, link: MqttLink) -> None:
        rec = DeviceRecord(link)
        self.devices[link.device_id] = rec
        self.started.append(link.device_id)
        try:
            async for item in link.incoming():
                if isinstance(item, str):
                    await self._on_text(rec, json.loads(item))
                elif isinstance(item, bytes):
                    rec.audio.append(item)
                    if rec.echo:
                        await link.send_audio(item, 0)
                else:
                    rec.events.append(item)
                rec.changed.set()
        finally:
            rec.ended = True
            self.finished.append(link.device_id)
            rec.changed.set()

    async def _on_text(self, rec: DeviceRecord, msg: dict[str, object]) -> None:
        rec.messages.append(msg)
        link = rec.link
        kind = msg.get("type")
        if kind == "hello":
            fields = link.hello_fields()
            rec.hellos.append(fields)
            await link.send_text(json.dumps({
                "type": "hello", "version": 3, "session_id": str(uuid.uuid4()),
                "audio_params": {"format": "opus", "sample_rate": DOWNLINK_RATE, "channels": 1, "frame_duration": 60},
                **fields}))
        elif kind == "goodbye":
            link.end_conversation()
        elif kind == "listen" and msg.get("state") == "detect" and msg.get("text") == "echo":
            rec.echo = True
        elif kind == "listen" and msg.get("state") == "detect" and msg.get("text") == "tone":
            await self._wait_for_peer(link)
            await link.send_text(json.dumps({"type": "tts", "state": "start"}))
            for i, packet in enumerate(self.tone):
                await link.send_audio(packet, i * 60)
                if i % 20 == 19:
                    await asyncio.sleep(0.01)      # the device's socket buffer is small; pace a little
            await link.send_text(json.dumps({"type": "tts", "state": "stop"}))

    async def _wait_for_peer(self, link: MqttLink) -> None:
        """The device's first datagram may trail its listen message (two paths); a session sends anyway."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_for_peer_s
        while loop.time() < deadline:
            session = link.udp_session
            if session is None or session.peer is not None:
                return
            await asyncio.sleep(0.01)

    async def wait(self, device_id: str, predicate: object, timeout: float = 10.0) -> DeviceRecord:
        """Until `predicate(record)` holds for the device."""
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while True:
                rec = self.devices.get(device_id)
                if rec is not None:
                    if predicate(rec):
                        return rec
                    rec.changed.clear()
                    await rec.changed.wait()
                else:
                    await asyncio.sleep(0.01)
