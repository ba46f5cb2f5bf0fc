#!/usr/bin/env python3
"""Refresh cost of an unchanged 1,000-entry catalog against a real HTTP S3 endpoint (moto server on loopback).

    .venv/bin/python bench/catalog_bench.py [--entries 1000] [--collections 9] [--rounds 20]

Prints the requests and bytes (response headers + bodies, as counted by botocore event hooks) of: the cold load,
a warm restart from the disk cache (conditional GETs), and an unchanged periodic refresh.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from core.config import ContentConfig, S3Config
from core.content.service import ContentService
from core.content.storage import S3Storage, make_s3_client
from core.content.upload import ensure_bucket
from core.content.urls import UrlBuilder

MUSIC = ("English", "Hindi", "Telugu", "Kannada", "Phonics")
STORIES = ("Bedtime", "Fantasy", "Adventure", "Educational", "Fairy Tales", "Slokas")


class Meter:
    def __init__(self, client) -> None:
        self.requests = 0
        self.body = 0
        self.headers = 0
        self.by_status: dict[int, int] = {}
        client.meta.events.register("before-send.s3", self._send)
        client.meta.events.register("after-call.s3", self._after)

    def _send(self, request, **_):
        self.requests += 1
        # Request line + headers sent (bodies are empty for GET/LIST).
        self.headers += len(request.method) + len(request.url) + sum(len(k) + len(v) + 4
                                                                     for k, v in request.headers.items())

    def _after(self, http_response, **_):
        self.by_status[http_response.status_code] = self.by_status.get(http_response.status_code, 0) + 1
        self.body += int(http_response.headers.get("content-length", 0))
        self.headers += sum(len(k) + len(v) + 4 for k, v in http_response.headers.items())

    def take(self) -> dict[str, object]:
        out = {"requests": self.requests, "body_bytes": self.body, "header_bytes": self.headers,
               "statuses": dict(sorted(self.by_status.items()))}
        self.requests = self.body = self.headers = 0
        self.by_status = {}
        return out


def seed(cfg: S3Config, entries: int, collections: int) -> None:
    client = make_s3_client(cfg)
    ensure_bucket(client, cfg.bucket, cfg.region)
    names = [("music", n) for n in MUSIC] + [("stories", n) for n in STORIES]
    names = names[:collections]
    per = entries // len(names)
    for ci, (top, name) in enumerate(names):
        n = per + (1 if ci < entries % len(names) else 0)
        meta = {}
        for i in range(n):
            title = f"{name} song number {i}"
            meta[title] = {"romanized": title, "filename": f"{title}.mp3",
                           "alternatives": [f"{name.lower()} {i}", f"track {i} of {name}"], "tags": ["calm"]}
            client.put_object(Bucket=cfg.bucket, Key=f"{top}/{name}/{title}.mp3", Body=b"\xff\xfb" + b"0" * 1024)
        client.put_object(Bucket=cfg.bucket, Key=f"{top}/{name}/metadata.json",
                          Body=json.dumps(meta, ensure_ascii=False, indent=2).encode())


async def measure(cfg: S3Config, cache_dir: str, rounds: int) -> None:
    content = ContentConfig(s3=cfg, cache_dir=cache_dir, refresh_time_s=0)

    def build() -> tuple[ContentService, Meter]:
        storage = S3Storage(cfg)
        return ContentService(storage, content, urls=UrlBuilder(cfg, storage.client)), Meter(storage.client)

    svc, meter = build()
    t0 = time.perf_counter()
    await svc.start()
    cold_ms = (time.perf_counter() - t0) * 1000
    cold = meter.take()
    n_entries, n_cols = len(svc.tracks()), len(svc.catalog.metadata_keys())
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        changed = await svc.refresh()
        times.append((time.perf_counter() - t0) * 1000)
        assert not changed
    refresh = meter.take()
    await svc.close()

    svc2, meter2 = build()                       # restart: disk cache ETags make the first load conditional
    t0 = time.perf_counter()
    await svc2.start()
    warm_ms = (time.perf_counter() - t0) * 1000
    warm = meter2.take()
    await svc2.close()

    per_round = {k: (v / rounds if isinstance(v, int) else v) for k, v in refresh.items()}
    print(f"catalog: {n_entries} entries in {n_cols} collections ({cfg.endpoint_url}, bucket {cfg.bucket})")
    print(f"cold load (no cache):            {cold['requests']} requests, {cold['body_bytes']:,} body bytes, "
          f"{cold['header_bytes']:,} header bytes, {cold_ms:.0f} ms  {cold['statuses']}")
    print(f"restart from disk cache:         {warm['requests']} requests, {warm['body_bytes']:,} body bytes, "
          f"{warm['header_bytes']:,} header bytes, {warm_ms:.0f} ms  {warm['statuses']}")
    print(f"unchanged refresh (per round):   {per_round['requests']:.0f} requests, "
          f"{per_round['body_bytes']:,.0f} body bytes, {per_round['header_bytes']:,.0f} header bytes, "
          f"median {statistics.median(times):.1f} ms (n={rounds})  statuses over all rounds {refresh['statuses']}")
    print(f"  = 2 prefix listings + {n_cols} conditional GETs answered 304 (no catalog body transferred)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--collections", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)      # moto's per-request access log
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        cfg = S3Config(bucket="cheeko-bench", endpoint_url=f"http://{host}:{port}", access_key_id="testing",
                       secret_access_key="testing", url_mode="presigned", max_attempts=1)
        seed(cfg, args.entries, max(1, min(args.collections, len(MUSIC) + len(STORIES))))
        with tempfile.TemporaryDirectory() as cache:
            asyncio.run(measure(cfg, cache, args.rounds))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
