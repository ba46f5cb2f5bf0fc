"""`app.py client`: try a server without hardware, exactly as a device would talk to it."""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys

from core.device_client import DeviceClient


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("client", help="act as a device: send a request, print the replies, save the audio",
                       description="Connect like a Xiaozhi device (headers + hello), send --text the way text "
                                   "clients do (listen start, then listen detect) or stream --wav as the "
                                   "microphone in auto mode; print every JSON message with a timestamp, decode the "
                                   "received Opus and write it to --out.")
    p.add_argument("--url", default="ws://127.0.0.1:8000/xiaozhi/v1/", help="server WebSocket URL")
    p.add_argument("--token", default="", help="bearer token (if the server has auth on)")
    p.add_argument("--protocol-version", type=int, choices=(1, 2, 3), default=1, help="binary framing version")
    p.add_argument("--device-id", default="a4:cf:12:0b:3e:90", help="Device-Id header (a MAC address)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help='the request, e.g. "play baa baa black sheep"')
    src.add_argument("--wav", help="a WAV file streamed in real time as the device microphone (auto mode)")
    p.add_argument("--out", default="", help="write the received audio to this WAV file")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="send abort after this many seconds of audio (0 = wait for tts stop)")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    p.set_defaults(func=run)


def _load_wav_16k(path: str) -> bytes:
    """Any WAV -> 16 kHz mono s16le, via ffmpeg (handles every rate, width and channel count)."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "s16le", "-ac", "1",
                           "-ar", "16000", "pipe:1"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"cannot read {path}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


async def _run(args: argparse.Namespace) -> int:
    client = DeviceClient(args.url, token=args.token, protocol_version=args.protocol_version,
                          device_id=args.device_id)
    try:
        hello = await client.connect()
    except Exception as exc:   # noqa: BLE001 - print any connection failure plainly
        print(f"cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    _print(0.0, hello)
    events = client.events()
    if args.text:
        await client.send_text_request(args.text)
    else:
        mic = asyncio.create_task(client.stream_microphone(_load_wav_16k(args.wav)))
        mic.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                              or print(f"microphone stream failed: {t.exception()}", file=sys.stderr))
    started = frames = 0
    aborted = False
    code = 0
    try:
        async with asyncio.timeout(args.timeout):
            async for rec in events:
                if rec.kind == "closed":
                    print(f"{rec.t:8.3f}  connection closed by server")
                    code = 1
                    break
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
                _print(rec.t, msg)
                if msg.get("type") == "tts" and msg.get("state") == "start":
                    started += 1
                if msg.get("type") == "tts" and msg.get("state") == "stop" and started:
                    break
    except TimeoutError:
        print(f"no tts stop within {args.timeout:.0f} s", file=sys.stderr)
        code = 1
    print(f"received {frames} audio frames ({frames * 0.06:.2f} s)")
    if args.out:
        seconds = client.write_wav(args.out)
        print(f"wrote {args.out}: {seconds:.2f} s at {client.downlink_rate} Hz")
    await client.close()
    return code


def _print(t: float, msg: dict) -> None:
    print(f"{t:8.3f}  {json.dumps(msg, ensure_ascii=False)}")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
