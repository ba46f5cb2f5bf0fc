"""Source bytes: an http(s) URL through the pooled aiohttp session, or a local file, in chunks.

A dropped connection (payload error, read timeout, 5xx) is resumed a bounded number of times with
`Range: bytes=<received>-` plus `If-Range: <etag>`, so a changed object is never spliced onto the old one; a 403
(an expired presigned URL) is re-signed through `source.refresh_url` and retried. Errors are `AudioError`s that name
`source.name`, never the URL (presigned query strings are credentials).
"""
from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

import aiohttp
from loguru import logger
from yarl import URL

from core.audio.types import AudioError, AudioSource
from core.config import AudioConfig

__all__ = ["Fetcher", "ByteStream", "looks_like_markup", "check_local", "redact_urls"]

_RETRYABLE = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError)
_URL_RE = re.compile(r"https?://\S+")


def redact_urls(text: str) -> str:
    """Replace every URL in a message (e.g. ffmpeg's stderr) by its path without the query string."""
    return _URL_RE.sub(lambda m: m.group(0).split("?", 1)[0] + ("?<redacted>" if "?" in m.group(0) else ""), text)


def looks_like_markup(head: bytes) -> bool:
    """HTML error pages, S3 XML errors and captive portals served with a 200 are not audio."""
    h = head[:256].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return h.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<error", b"{\"error"))


def check_local(source: AudioSource) -> None:
    """Fail early (before ffmpeg starts) for a missing, empty or markup local file."""
    try:
        size = os.stat(source.uri).st_size
    except FileNotFoundError:
        raise AudioError(f"{source.name}: file not found") from None
    except OSError as exc:
        raise AudioError(f"{source.name}: cannot open file ({exc.strerror})") from None
    if size == 0:
        raise AudioError(f"{source.name}: file is empty (0 bytes)")
    with open(source.uri, "rb") as f:
        if looks_like_markup(f.read(256)):
            raise AudioError(f"{source.name}: file is HTML/XML, not audio")


class _Retry(Exception):
    """A transient server answer (5xx) that a resume may fix."""


class ByteStream:
    """An opened source. Iterate `chunks()` once; `aclose()` releases the HTTP response (idempotent)."""

    def __init__(self, fetcher: Fetcher, source: AudioSource) -> None:
        self._f = fetcher
        self.source = source
        self._url = source.uri
        self._resp: aiohttp.ClientResponse | None = None
        self._file: BinaryIO | None = None
        self.etag: str | None = None
        self.total: int | None = None          # full object size when the server told us
        self.received = 0
        self.resumes = 0
        self._skip = 0
        self._first = b""

    # ------------------------------------------------------------------ opening

    async def open(self) -> None:
        if not self.source.is_url:
            await asyncio.to_thread(check_local, self.source)
            self._file = await asyncio.to_thread(_open_binary, self.source.uri)
            self._first = await asyncio.to_thread(self._file.read, self._f.chunk_bytes)
            return
        started = time.monotonic()
        try:
            await self._open_url()
        except AudioError:
            self._f.counts.first_byte(time.monotonic() - started, ok=False)
            raise
        self._f.counts.first_byte(time.monotonic() - started, ok=True)

    async def _open_url(self) -> None:
        await self._connect_with_retries(0)
        assert self._resp is not None
        ctype = self._resp.headers.get("Content-Type", "").lower()
        if ctype.startswith("text/html"):
            raise AudioError(f"{self.source.name}: server sent an HTML page, not audio")
        if self.total == 0:
            raise AudioError(f"{self.source.name}: object is empty (0 bytes)")
        # Read until the first bytes arrive so markup and empty bodies are refused before any decoding starts.
        while not self._first:
            chunk = await self._read_some()
            if chunk is None:
                break
            self._first = chunk
        if not self._first:
            raise AudioError(f"{self.source.name}: object is empty (0 bytes)")
        if looks_like_markup(self._first):
            raise AudioError(f"{self.source.name}: server sent HTML/XML, not audio")

    async def _read_some(self) -> bytes | None:
        """One chunk from the current response, resuming on transient errors; None at the end."""
        while True:
            try:
                assert self._resp is not None
                # read(n), not readany(): readany joins everything buffered (measured 0.75 MiB pieces on loopback)
                chunk = await self._resp.content.read(self._f.chunk_bytes)
                if not chunk:
                    if self.total is not None and self.received < self.total:
                        raise aiohttp.ClientPayloadError("body ended early")
                    return None
                if self._skip:  # a resume answered 200 with the same ETag: drop what we already have
                    drop = min(self._skip, len(chunk))
                    self._skip -= drop
                    chunk = chunk[drop:]
                    if not chunk:
                        continue
                self.received += len(chunk)
                return chunk
            except _RETRYABLE as exc:
                await self._resume(type(exc).__name__)

    async def _resume(self, why: str) -> None:
        self._release()
        if self.resumes >= self._f.max_resumes:
            self._f.counts.errors += 1
            raise AudioError(f"{self.source.name}: connection lost after {self.received} bytes ({why}); "
                             f"gave up after {self.resumes} resumes")
        self.resumes += 1
        self._f.counts.retries += 1
        logger.info("resuming {} at byte {} ({}, attempt {}/{})", self.source.name, self.received, why,
                    self.resumes, self._f.max_resumes)
        await asyncio.sleep(min(0.05 * 2 ** (self.resumes - 1), 1.0))
        await self._connect_with_retries(self.received)

    async def _connect_with_retries(self, start: int) -> None:
        try:
            await self._connect_retrying(start)
        except AudioError:
            self._f.counts.errors += 1
            raise

    async def _connect_retrying(self, start: int) -> None:
        refreshed = False
        while True:
            try:
                await self._connect(start)
                return
            except _Retry as exc:
                why = str(exc)
            except _RETRYABLE as exc:
                why = type(exc).__name__
            except (aiohttp.ClientError, ValueError) as exc:
                # Redirect loops, malformed responses...: their text holds the (signed) URL, so keep only the type.
                raise AudioError(f"{self.source.name}: HTTP request failed ({type(exc).__name__})") from None
            except _Expired:
                if refreshed or self.source.refresh_url is None:
                    raise AudioError(f"{self.source.name}: access denied (HTTP 403)") from None
                try:
                    self._url = await self.source.refresh_url()
                except Exception as exc:  # noqa: BLE001 - the signer's text may hold the URL: keep the type
                    raise AudioError(f"{self.source.name}: access denied and re-signing failed "
                                     f"({type(exc).__name__})") from None
                refreshed = True
                self._f.counts.retries += 1
                logger.info("re-signed the URL of {} after a 403 at byte {}", self.source.name, start)
                continue
            if self.resumes >= self._f.max_resumes:
                raise AudioError(f"{self.source.name}: server unavailable ({why}); gave up after "
                                 f"{self.resumes} retries")
            self.resumes += 1
            self._f.counts.retries += 1
            await asyncio.sleep(min(0.05 * 2 ** (self.resumes - 1), 1.0))

    async def _connect(self, start: int) -> None:
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
            if self.etag:
                headers["If-Range"] = self.etag
        resp = await self._f.session.get(URL(self._url, encoded=True), headers=headers)
        status = resp.status
        if status in (200, 206):
            etag = resp.headers.get("ETag")
            if start and status == 206:
                m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != start:
                    resp.release()
                    raise AudioError(f"{self.source.name}: server answered the resume with a wrong range")
            if start and self.etag and etag and etag != self.etag:
                resp.release()
                raise AudioError(f"{self.source.name}: the object changed during playback")
            if start and status == 200:
                self._skip = start  # the server ignored Range but the object is the same
            if not start:
                self.etag = etag
                if resp.content_length is not None:
                    self.total = resp.content_length
            self._resp = resp
            return
        resp.release()
        if status == 403:
            raise _Expired()
        if status in (404, 410):
            raise AudioError(f"{self.source.name}: not found (HTTP {status})")
        if status == 416 and self.total is not None and start >= self.total:
            raise AudioError(f"{self.source.name}: resume past the end of the object")
        if status >= 500 or status == 429:
            raise _Retry(f"HTTP {status}")
        raise AudioError(f"{self.source.name}: HTTP {status}")

    # ------------------------------------------------------------------ reading

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            if self._first:
                first, self._first = self._first, b""
                yield first
            if self._file is not None:
                while block := await asyncio.to_thread(self._file.read, self._f.chunk_bytes):
                    yield block
                return
            while (chunk := await self._read_some()) is not None:
                yield chunk
        finally:
            await self.aclose()

    def release(self) -> None:
        """Synchronous close of the response and file (safe from any cleanup path)."""
        self._release()
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def _release(self) -> None:
        if self._resp is not None:
            self._resp.release()
            self._resp.close()
            self._resp = None

    async def aclose(self) -> None:
        self._release()
        if self._file is not None:
            f, self._file = self._file, None
            f.close()


class _Expired(Exception):
    """HTTP 403: an expired (or wrong) presigned URL; re-sign once if the source can."""


@dataclass(slots=True)
class FetchCounts:
    """For /metrics: requests repeated after a transient failure (resume, 5xx, re-signed URL), and fetches that
    failed for good (the play was refused or cut short). Owned by the pipeline, so they outlive one session."""
    retries: int = 0
    errors: int = 0
    # request -> first body bytes of a URL source (S3, CDN or HTTP), retries included; `ok` False when it failed
    on_first_byte: Callable[[float, bool], None] | None = None

    def first_byte(self, seconds: float, *, ok: bool) -> None:
        if self.on_first_byte is not None:
            self.on_first_byte(seconds, ok)


class Fetcher:
    """Opens sources on one pooled aiohttp session (built by the pipeline in `start()`)."""

    def __init__(self, session: aiohttp.ClientSession, cfg: AudioConfig, counts: FetchCounts | None = None) -> None:
        self.session = session
        self.chunk_bytes = cfg.fetch_chunk_bytes
        self.max_resumes = cfg.max_resumes
        self.counts = counts or FetchCounts()

    async def open(self, source: AudioSource) -> ByteStream:
        stream = ByteStream(self, source)
        try:
            await stream.open()
        except BaseException:
            await stream.aclose()
            raise
        return stream

    @staticmethod
    def make_session(cfg: AudioConfig, limit: int = 256) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout_s, sock_read=cfg.read_timeout_s)
        # auto_decompress off: Range offsets count raw bytes, and audio is never worth gzip anyway.
        return aiohttp.ClientSession(timeout=timeout, auto_decompress=False, read_bufsize=cfg.fetch_chunk_bytes,
                                     connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit))


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")       # the fetcher owns the file and closes it in aclose()
