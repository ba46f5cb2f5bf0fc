"""`app.py client`: try a server without hardware, exactly as a device would talk to it: over WebSocket
(core/device_client.py), or over MQTT + UDP (`--transport mqtt`, core/simdevice/mqtt.py): the OTA request first,
then MQTT CONNECT with the credentials it handed out, hello, and audio as AES-CTR UDP datagrams."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from core.content.layout import APP
from core.device_client import DeviceClient, Received
from core.simdevice.mqtt import Event, MqttDevice, MqttSettings, ServerTimeout, ota_request

Client = DeviceClient | MqttDevice


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # generic only in typeshed
    p = sub.add_parser("client", help="act as a device: send requests, print the replies, save the audio",
                       description="Connect like a Xiaozhi device (headers + hello), send --text the way text "
                                   "clients do (listen start, then listen detect) or stream --wav as the "
                                   "microphone in auto mode; print every JSON message with a timestamp, decode the "
                                   "received Opus and write it to --out. A script (--then / --script) plays a "
                                   "conversation: each step is SECONDS:TEXT, seconds counted from the first request; "
                                   "TEXT is a request, or 'abort' (the device button), 'abort wake' (the child said "
                                   "the wake word over playback) or 'wake' (the wake word alone).")
    default_url = f"ws://127.0.0.1:{os.environ.get('SERVER_PORT', '8000')}/xiaozhi/v1/"
    p.add_argument("--url", default=default_url, help=f"server WebSocket URL (default {default_url}; env SERVER_PORT)")
    p.add_argument("--transport", choices=("websocket", "mqtt"), default="websocket",
                   help="websocket (default), or mqtt: the firmware's MQTT + UDP transport, configured by --ota")
    default_ota = f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8003')}/xiaozhi/ota/"
    p.add_argument("--ota", default=default_ota,
                   help=f"OTA URL the MQTT credentials come from (--transport mqtt; default {default_ota})")
    p.add_argument("--client-id", default="3b0e5c3a-8f0d-4c4e-9a55-3f1f0d9a2b71",
                   help="Client-Id header of the OTA request (the firmware's UUID)")
    p.add_argument("--token", default="", help="bearer token (if the server has auth on)")
    p.add_argument("--protocol-version", type=int, choices=(1, 2, 3), default=1, help="binary framing version")
    p.add_argument("--device-id", default="a4:cf:12:0b:3e:90", help="Device-Id header (a MAC address)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help='the request, e.g. "play baa baa black sheep"')
    src.add_argument("--wav", help="a WAV file streamed in real time as the device microphone (auto mode)")
    p.add_argument("--then", action="append", default=[], metavar="SECONDS:TEXT",
                   help='a later step, e.g. --then "8:pause" --then "12:resume" (repeatable)')
    p.add_argument("--script", metavar="FILE", help="steps from a file, one SECONDS:TEXT per line (# comments)")
    p.add_argument("--out", default="", help="write the received audio to this WAV file")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="send abort after this many seconds of audio (0 = wait for tts stop)")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    p.set_defaults(func=run)


# The end of a run: a tts stop after the last step ends it unless the server starts speaking again this soon (an
# interrupted song sends tts stop, then the answer to the step and the song's continuation as a new tts start).
END_GRACE_S = 1.0
MAKE_A_WAV = 'record one, or let espeak-ng say it: espeak-ng -w request.wav "play baa baa black sheep"'


def _load_wav_16k(path: str) -> bytes:
    """Any WAV -> 16 kHz mono s16le, via ffmpeg (handles every rate, width and channel count)."""
    if not Path(path).is_file():
        raise SystemExit(f"--wav {path}: no such file; {MAKE_A_WAV}")
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "s16le", "-ac", "1",
                           "-ar", "16000", "pipe:1"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"cannot read {path}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _closed(rec_message: dict[str, Any] | None) -> str:
    """How the server ended the connection, with what a user does about it."""
    if not rec_message or rec_message.get("code") is None:
        return "connection closed by server"
    code, reason = rec_message["code"], rec_message.get("reason") or ""
    text = f"connection closed by server: {code}" + (f" {reason}" if reason else "")
    if code in (1001, 1012):
        text += " (the node is stopping or draining; a device reconnects through OTA, to another node if there is one)"
    elif code == 4000:
        text += " (another connection with this --device-id took over)"
    return text


def _steps(args: argparse.Namespace) -> list[tuple[float, str]]:
    lines = list(args.then)
    if args.script:
        try:
            lines += [ln.strip() for ln in Path(args.script).read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise SystemExit(f"--script {args.script}: {exc.strerror or exc}") from None
    steps = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        at, sep, text = line.partition(":")
        try:
            seconds = float(at)
        except ValueError:
            seconds = -1.0
        if not sep or seconds < 0 or not text.strip():
            raise SystemExit(f"bad step {line!r}: write SECONDS:TEXT, e.g. 8:pause")
        steps.append((seconds, text.strip()))
    return sorted(steps, key=lambda s: s[0])


async def _step(client: Client, text: str) -> None:
    if text == "abort":
        await client.abort()
    elif text == "abort wake":
        await client.send_json({"type": "abort", "reason": "wake_word_detected"})
    elif text == "wake":
        await client.send_json({"type": "listen", "state": "detect", "text": "hey cheeko"})
    else:
        await client.send_text_request(text)


async def _drive(client: Client, steps: list[tuple[float, str]], t0: float) -> None:
    for at, text in steps:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        print(f"{time.monotonic() - t0:8.3f}  >>> {text}")
        await _step(client, text)


async def _run(args: argparse.Namespace) -> int:
    steps = _steps(args)
    if args.text:
        steps.insert(0, (0.0, args.text))
    if not steps and not args.wav:
        print("give a request: --text, --wav, --then or --script", file=sys.stderr)
        return 2
    problem = _out_problem(args.out)
    if problem:               # checked before connecting: a reply is never lost to a bad path at the end
        print(problem, file=sys.stderr)
        return 2
    microphone = _load_wav_16k(args.wav) if args.wav else b""   # a missing WAV is said before connecting
    connected = await (_connect_mqtt(args) if args.transport == "mqtt" else _connect_websocket(args))
    if connected is None:
        return 1
    client, hello = connected
    _print(0.0, _shown(hello))
    events = client.events()
    driver = asyncio.create_task(_drive(client, steps, time.monotonic()))
    if args.wav:
        mic = asyncio.create_task(client.stream_microphone(microphone))
        mic.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                              or print(f"microphone stream failed: {t.exception()}", file=sys.stderr))
    started = frames = 0
    aborted = False
    code = 0
    hello_seen = False
    ending: float | None = None          # when a tts stop after the last step ends the run, unless speech resumes
    it: AsyncIterator[Received | Event] = aiter(events)
    try:
        async with asyncio.timeout(args.timeout):
            while True:
                try:
                    rec = await asyncio.wait_for(anext(it), None if ending is None
                                                 else max(0.0, ending - time.monotonic()))
                except TimeoutError:
                    break                  # the last step's answer is complete (with or without audio)
                except StopAsyncIteration:
                    break
                if rec.kind == "closed":
                    print(f"{rec.t:8.3f}  {_closed(rec.message)}")
                    code = 1
                    break
                if rec.kind == "channel_closed":
                    print(f"{rec.t:8.3f}  audio channel closed")
                    continue
                if rec.kind == "audio":
                    frames += 1
                    if frames == 1 or frames % 100 == 0:
                        print(f"{rec.t:8.3f}  audio frame #{frames} ({rec.size} bytes)")
                    if args.max_seconds and not aborted and frames * 0.06 >= args.max_seconds:
                        aborted = True
                        print(f"{rec.t:8.3f}  sending abort")
                        await client.abort()
                    continue
                msg = rec.message or {}
                if msg.get("type") == "mcp":
                    continue
                if msg.get("type") == "hello" and msg == hello and not hello_seen:
                    hello_seen = True      # over MQTT the hello also comes as an event: printed once, above
                    continue
                _print(rec.t, _shown(msg))
                if msg.get("type") == "tts" and msg.get("state") == "start":
                    started += 1
                    ending = None
                if msg.get("type") == "tts" and msg.get("state") == "stop" and driver.done() \
                        and (started or not args.wav):
                    ending = time.monotonic() + END_GRACE_S
    except TimeoutError:
        print(f"no tts stop within {args.timeout:.0f} s", file=sys.stderr)
        code = 1
    driver.cancel()
    print(f"received {frames} audio frames ({frames * 0.06:.2f} s)")
    if args.out:
        seconds = client.write_wav(args.out)
        print(f"wrote {args.out}: {seconds:.2f} s at {client.downlink_rate} Hz")
    await client.close()
    return code


async def _connect_websocket(args: argparse.Namespace) -> tuple[Client, dict[str, Any]] | None:
    client = DeviceClient(args.url, token=args.token, protocol_version=args.protocol_version,
                          device_id=args.device_id)
    try:
        return client, await client.connect()
    except Exception as exc:   # noqa: BLE001 - print any connection failure plainly
        print(f"cannot connect to {args.url}: {exc}", file=sys.stderr)
        if isinstance(exc, ConnectionRefusedError):
            print(f"is the server running? start it with `make run` (or `{APP} serve`); on other "
                  "ports, give the client SERVER_PORT=... or --url", file=sys.stderr)
        if _status(exc) == 401:
            print("the server has auth on and refused this device: pass --token TOKEN (one of AUTH_TOKENS, or "
                  "the token the OTA endpoint minted), or add this --device-id to AUTH_ALLOWED_DEVICES"
                  + (" (the token given was refused)" if args.token else ""), file=sys.stderr)
        return None


async def _connect_mqtt(args: argparse.Namespace) -> tuple[Client, dict[str, Any]] | None:
    """As the firmware does: OTA, then MQTT with the credentials of its `mqtt` object, then hello (10 s)."""
    import aiohttp
    import aiomqtt
    try:
        answer = await ota_request(args.ota, args.device_id, args.client_id)
    except (aiohttp.ClientError, ValueError, OSError, TimeoutError) as exc:
        print(f"cannot fetch the OTA configuration from {args.ota}: {exc or type(exc).__name__}", file=sys.stderr)
        return None
    mqtt = answer.get("mqtt")
    if not isinstance(mqtt, dict):
        print("the OTA answer offers no mqtt object, so a device would use WebSocket: turn MQTT on in the server "
              "(mqtt.enabled / MQTT_ENABLED=1 with MQTT_SIGNATURE_KEY) and give a MAC address as --device-id",
              file=sys.stderr)
        return None
    try:
        device = MqttDevice(MqttSettings.from_ota(mqtt), device_id=args.device_id)
    except ValueError as exc:
        print(f"the OTA answer's mqtt object is not usable: {exc}", file=sys.stderr)
        return None
    try:
        await device.connect()
    except aiomqtt.MqttError as exc:
        print(f"cannot connect to MQTT at {device.settings.endpoint}: {exc}", file=sys.stderr)
        return None
    try:
        hello = await device.open_audio_channel()
    except (ServerTimeout, OSError) as exc:
        print(f"no usable server hello: {exc}", file=sys.stderr)
        await device.close()
        return None
    return device, dict(hello)


def _shown(hello: dict[str, Any]) -> dict[str, Any]:
    """The server hello as printed: the UDP key and nonce are the conversation's secrets."""
    udp = hello.get("udp")
    if isinstance(udp, dict):
        return {**hello, "udp": {**udp, **{k: "(hidden)" for k in ("key", "nonce") if k in udp}}}
    return hello


def _out_problem(out: str) -> str | None:
    if not out:
        return None
    path = Path(out)
    if path.is_dir():
        return f"--out {out}: is a folder; give a file name, e.g. {path / 'reply.wav'}"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"--out {out}: folder {parent} does not exist; create it first"
    if not os.access(parent, os.W_OK):
        return f"--out {out}: folder {parent} is not writable"
    return None


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket upgrade (websockets' InvalidStatus), if that is what `exc` is."""
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None) or getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _print(t: float, msg: dict[str, Any]) -> None:
    print(f"{t:8.3f}  {json.dumps(msg, ensure_ascii=False)}")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
