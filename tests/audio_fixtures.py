"""Fixtures for the audio tests: generated tone files, a moto S3 server, a fault-injecting proxy, and checks that
decode what a client would receive (real Opus decoding + FFT)."""
from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import numpy as np
import opuslib_next
import pytest
from aiohttp import ClientSession, web
from botocore.config import Config as BotoConfig

TONE_S = 5.0
BUCKET = "audio-test-bucket"

# name -> (extension, ffmpeg output options)
FORMATS: dict[str, tuple[str, list[str]]] = {
    "mp3": (".mp3", ["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"]),
    "wav16": (".wav", ["-ac", "1", "-c:a", "pcm_s16le"]),
    "wav48_stereo_float": (".wav", ["-ac", "2", "-ar", "48000", "-c:a", "pcm_f32le"]),
    "ogg_opus": (".ogg", ["-ac", "2", "-ar", "48000", "-c:a", "libopus", "-b:a", "96k"]),
    "m4a_aac": (".m4a", ["-ac", "2", "-c:a", "aac", "-b:a", "128k"]),  # moov at the end (no faststart)
    "flac": (".flac", ["-ac", "2", "-c:a", "flac"]),
}


def make_tone(path: Path, fmt: str, seconds: float = TONE_S, rate: int = 44100) -> Path:
    """A 440 Hz + 880 Hz tone in the given format."""
    _ext, opts = FORMATS[fmt]
    expr = f"0.35*sin(2*PI*440*t)+0.35*sin(2*PI*880*t):s={rate}:d={seconds}"
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"aevalsrc={expr}",
                    *opts, str(path)], check=True, timeout=60)
    return path


def decode_packets(packets: list[bytes], rate: int) -> np.ndarray:
    dec = opuslib_next.Decoder(rate, 1)
    pcm = b"".join(dec.decode(p, rate * 60 // 1000) for p in packets)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def peak_frequencies(samples: np.ndarray, rate: int, count: int = 2) -> list[float]:
    """The `count` strongest spectral peaks (at least 100 Hz apart) of the middle of the signal."""
    mid = samples[len(samples) // 4: 3 * len(samples) // 4]
    spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freqs = np.fft.rfftfreq(len(mid), 1 / rate)
    peaks: list[float] = []
    for idx in np.argsort(spec)[::-1]:
        f = float(freqs[idx])
        if all(abs(f - p) > 100 for p in peaks):
            peaks.append(f)
        if len(peaks) == count:
            break
    return sorted(peaks)


def assert_tone(packets: list[bytes], rate: int, seconds: float = TONE_S) -> None:
    """What the device would hear: the two tones at the right pitch, for the right duration (±1 frame)."""
    expected = seconds / 0.06
    assert abs(len(packets) - expected) <= 1.0 + 1e-9, f"{len(packets)} frames for {seconds} s"
    samples = decode_packets(packets, rate)
    assert np.sqrt(np.mean(samples ** 2)) > 1000, "decoded audio is (near) silent"
    f1, f2 = peak_frequencies(samples, rate)
    assert abs(f1 - 440) < 5 and abs(f2 - 880) < 5, (f1, f2)


# --------------------------------------------------------------------------- moto S3


@dataclass
class S3Env:
    endpoint: str
    client: object

    def put(self, key: str, data: bytes, **extra: object) -> str:
        """Upload and return the object's ETag."""
        self.client.put_object(  # type: ignore[attr-defined]  # boto3 client: no stubs
            Bucket=BUCKET, Key=key, Body=data, **extra)
        return self.client.head_object(  # type: ignore[attr-defined]  # boto3 client: no stubs
            Bucket=BUCKET, Key=key)["ETag"]

    def url(self, key: str) -> str:
        return self.client.generate_presigned_url(  # type: ignore[attr-defined]  # boto3 client: no stubs
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=600)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[S3Env]:
    """A moto S3 server with the bucket, per test module: moto keeps its buckets in process-wide state, and the
    content tests reset it (content_fixtures.s3_endpoint), so a server shared by the whole session would lose them."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log would print presigned query strings

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing",
                          config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=BUCKET)
    try:
        yield S3Env(endpoint, client)
    finally:
        server.stop()


# --------------------------------------------------------------------------- fault proxy


@dataclass
class FaultProxy:
    """Reverse proxy on 127.0.0.1 in front of moto. `faults` is consumed one entry per request:
    ("drop", n[, hook]): send n body bytes, cut the connection, then call hook() (e.g. expire the URL);
    ("status", code): answer that status;
    ("slow", n, delay): send the body in n-byte pieces with `delay` s pauses (bounded by the object size);
    ("stall", n, seconds): send n bytes, then go silent for `seconds` (longer than the client's read timeout);
    None: forward normally. `forbid_marker`: any request whose query contains it gets a 403 (an expired URL)."""
    upstream: str
    base: str = ""
    faults: list = field(default_factory=list)
    forbid_marker: str = ""
    log: list = field(default_factory=list)  # (status, Range header) per request

    def url_for(self, upstream_url: str) -> str:
        return self.base + upstream_url[len(self.upstream):]


async def _proxy_handler(proxy: FaultProxy, session: ClientSession, request: web.Request) -> web.StreamResponse:
    fault = proxy.faults.pop(0) if proxy.faults else None
    rng = request.headers.get("Range", "")
    if proxy.forbid_marker and proxy.forbid_marker in request.query_string:
        proxy.log.append((403, rng))
        return web.Response(status=403, body=b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
                                             b"<Message>Request has expired</Message></Error>")
    if fault and fault[0] == "status":
        proxy.log.append((fault[1], rng))
        return web.Response(status=fault[1], text="upstream trouble")
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("range", "if-range", "accept-encoding")}
    async with session.get(proxy.upstream + request.path_qs, headers=headers) as up:
        proxy.log.append((up.status, rng))
        resp = web.StreamResponse(status=up.status)
        for name in ("Content-Type", "ETag", "Content-Range", "Accept-Ranges", "Last-Modified"):
            if name in up.headers:
                resp.headers[name] = up.headers[name]
        if up.content_length is not None:
            resp.content_length = up.content_length
        await resp.prepare(request)
        body = await up.read()
        if fault and fault[0] == "drop":
            await resp.write(body[: fault[1]])
            await asyncio.sleep(0.02)
            request.transport.close()  # type: ignore[union-attr]  # open while the handler runs
            if len(fault) > 2:
                await asyncio.to_thread(fault[2])
            return resp
        if fault and fault[0] == "stall":
            await resp.write(body[: fault[1]])
            await asyncio.sleep(fault[2])
            request.transport.close()  # type: ignore[union-attr]  # open while the handler runs
            return resp
        if fault and fault[0] == "slow":
            step, delay = fault[1], fault[2]
            for i in range(0, len(body), step):  # bounded by the body length
                await resp.write(body[i:i + step])
                await asyncio.sleep(delay)
        else:
            await resp.write(body)
        await resp.write_eof()
        return resp


@pytest.fixture()
def fault_proxy(moto_s3: S3Env) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=moto_s3.endpoint)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def serve() -> None:
        session = ClientSession(auto_decompress=False)
        app = web.Application()

        async def handle(request: web.Request) -> web.StreamResponse:
            return await _proxy_handler(proxy, session, request)

        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started: the server is set
        proxy.base = f"http://127.0.0.1:{port}"
        state.update(runner=runner, session=session)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    ready.wait(10)
    try:
        yield proxy
    finally:
        async def stop() -> None:
            await state["runner"].cleanup()  # type: ignore[attr-defined]  # set by the fixture above
            await state["session"].close()  # type: ignore[attr-defined]  # set by the fixture above
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def pid_alive(pid: int) -> bool:
    """True while /proc/<pid> exists (a zombie counts: it has not been reaped)."""
    return Path(f"/proc/{pid}").exists()


def child_ffmpeg_pids() -> set[int]:
    """ffmpeg processes whose parent is this test process (zombies included), read from /proc."""
    import os

    from core.metrics import processes
    me = os.getpid()
    return {pid for pid, comm, ppid in processes() if ppid == me and comm == "ffmpeg"}
