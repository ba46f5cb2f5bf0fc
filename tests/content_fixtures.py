"""Fixtures for the content tests: a moto S3 server on loopback, a generated demo library, log capture."""
from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from loguru import logger

from core.config import Config, ContentConfig, S3Config

ACCESS_KEY = "AKIAEXAMPLETESTKEY01"
SECRET_KEY = "s3cr3t/Example+Secret+Key+Never+Logged0"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_endpoint(moto_endpoint: str) -> str:
    """The shared moto server, wiped before each test."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return moto_endpoint


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.content.demo import generate_demo

    root = tmp_path_factory.mktemp("demo") / "library"
    generate_demo(root)
    return root


def s3_config(endpoint: str, bucket: str = "cheeko-test", **kw: Any) -> S3Config:
    base = dict(bucket=bucket, endpoint_url=endpoint, region="us-east-1", access_key_id=ACCESS_KEY,
                secret_access_key=SECRET_KEY, max_attempts=1, connect_timeout_s=2.0, read_timeout_s=5.0)
    base.update(kw)
    return S3Config(**base)


def content_config(s3: S3Config, cache_dir: Path | str = "", **kw: Any) -> ContentConfig:
    return ContentConfig(s3=s3, cache_dir=str(cache_dir), refresh_time_s=0, **kw)


def full_config(content: ContentConfig) -> Config:
    return dataclasses.replace(Config(), content=content)


def make_bucket(cfg: S3Config) -> Any:
    from core.content.storage import make_s3_client
    from core.content.upload import ensure_bucket

    client = make_s3_client(cfg)
    ensure_bucket(client, cfg.bucket, cfg.region)
    return client


def put_catalog(client: Any, bucket: str, folder: str, entries: dict[str, Any] | bytes,
                files: dict[str, bytes] | None = None) -> None:
    """Upload `folder/metadata.json` (a dict, or raw bytes for broken files) and the given audio files."""
    body = entries if isinstance(entries, bytes) else json.dumps(entries, ensure_ascii=False).encode()
    client.put_object(Bucket=bucket, Key=f"{folder}/metadata.json", Body=body)
    for name, data in (files or {}).items():
        client.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=data)


def dead_endpoint() -> str:
    """An http endpoint on loopback where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class LogCapture:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(str(message))

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture()
def captured_logs() -> Iterator[LogCapture]:
    cap = LogCapture()
    sink = logger.add(cap.write, level="TRACE", format="{level} {message}")
    try:
        yield cap
    finally:
        logger.remove(sink)
