"""Transcode-once cache: the Opus frames of a played object, stored as p3 records on disk (and optionally in S3).

- Key: sha256 of the object key + ETag + every output parameter (rate, bitrate, complexity, loudnorm), so a changed
  object or a config change never serves stale audio.
- Atomic: frames go to a temp file in the cache directory; only a complete transcode is fsynced and `os.replace`d
  into `<key>.p3`. An aborted or failed play discards the temp file; a crash leaves only a temp file, which is never
  served and is swept later.
- LRU by mtime: a hit touches the entry; after each commit the oldest entries go until the total fits `max_bytes`.
- S3 sharing: after a commit the entry is uploaded to `<prefix>/<key>.p3`; a local miss tries that copy first, so a
  song transcoded on one node is never decoded again on another.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from core.audio.p3 import P3FormatError, P3Parser, pack_record
from core.audio.types import AudioError, AudioParams, AudioSource

__all__ = ["FrameCache", "CacheWriter", "S3Share", "skip_records"]

_TMP_MARK = ".tmp-"
_STALE_TMP_S = 3600.0
_FLUSH_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class S3Share:
    """Where cache entries are shared: a boto3 S3 client (built by the caller), a bucket and a key prefix."""
    client: Any
    bucket: str
    prefix: str

    def key(self, entry: str) -> str:
        return f"{self.prefix.strip('/')}/{entry}.p3" if self.prefix.strip("/") else f"{entry}.p3"


class FrameCache:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, s3: S3Share | None = None) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.s3 = s3
        self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key_for(source: AudioSource, params: AudioParams, bitrate: int, complexity: int,
                loudnorm: bool) -> str | None:
        """None when the source cannot be cached (no stable object identity)."""
        if not source.cache_key or not source.etag:
            return None
        ident = "\0".join(["p3v1", source.cache_key, source.etag, str(params.sample_rate), str(params.frame_ms),
                           str(bitrate), str(complexity), "loudnorm" if loudnorm else "raw"])
        return hashlib.sha256(ident.encode("utf-8")).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.dir / f"{key}.p3"

    # ------------------------------------------------------------------ reading

    async def lookup(self, key: str) -> Path | None:
        """The local entry (touched for LRU), else the S3 copy downloaded into the local cache, else None."""
        path = self.path_for(key)
        if await asyncio.to_thread(_touch, path):
            return path
        if self.s3 is not None:
            return await asyncio.to_thread(self._download, key)
        return None

    def _download(self, key: str) -> Path | None:
        assert self.s3 is not None
        tmp = self.dir / f"{key}.p3{_TMP_MARK}{uuid.uuid4().hex}"
        try:
            resp = self.s3.client.get_object(Bucket=self.s3.bucket, Key=self.s3.key(key))
            with open(tmp, "wb") as f:
                for chunk in resp["Body"].iter_chunks(1 << 16):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            _validate_p3_file(tmp)
            os.replace(tmp, self.path_for(key))
            logger.debug("audio cache: fetched shared entry {} from S3", key[:12])
            self._evict()        # shared entries count against max_bytes like local ones
            return self.path_for(key)
        except Exception as exc:  # noqa: BLE001 - the shared copy is optional: on any failure, decode here
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
            if code not in ("NoSuchKey", "404"):
                logger.warning("audio cache: shared copy of {} unusable ({} {})", key[:12], type(exc).__name__, code)
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    async def read(self, path: Path, chunk_bytes: int = 1 << 16,
                   start_frame: int = 0) -> AsyncGenerator[bytes, None]:
        """Stream an entry's Opus packets from record `start_frame` on, reading the file incrementally (no decode).
        Records before the start are skipped by their headers alone, in 1 MiB reads; a start past the end gives
        nothing."""
        try:
            f, rest = await asyncio.to_thread(_open_at_record, path, start_frame)
        except FileNotFoundError:  # evicted between lookup and read
            raise AudioError("cache entry vanished") from None
        except P3FormatError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise AudioError(f"damaged cache entry {path.name[:12]}: {exc}") from None
        parser = P3Parser()
        try:
            chunk = rest
            while True:
                for packet in parser.feed(chunk):
                    yield packet
                chunk = await asyncio.to_thread(f.read, chunk_bytes)
                if not chunk:
                    break
            parser.finish()
        except P3FormatError as exc:
            with contextlib.suppress(OSError):
                path.unlink()        # never serve it again: the next play transcodes afresh
            raise AudioError(f"damaged cache entry {path.name[:12]}: {exc}") from None
        finally:
            f.close()

    # ------------------------------------------------------------------ writing

    def writer(self, key: str) -> CacheWriter:
        return CacheWriter(self, key)

    async def publish(self, key: str) -> None:
        """Upload a committed entry to the shared S3 prefix (no-op without S3)."""
        if self.s3 is None:
            return
        try:
            await asyncio.to_thread(self.s3.client.upload_file, str(self.path_for(key)), self.s3.bucket,
                                    self.s3.key(key))
        except Exception as exc:  # noqa: BLE001 - optional: a failed upload only costs another node a decode
            logger.warning("audio cache: upload of {} failed ({})", key[:12], type(exc).__name__)

    async def evict(self) -> int:
        return await asyncio.to_thread(self._evict)

    def _evict(self) -> int:
        entries: list[tuple[float, int, Path]] = []
        now = time.time()
        for entry in os.scandir(self.dir):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if _TMP_MARK in entry.name:
                if now - st.st_mtime > _STALE_TMP_S:  # left by a crash; a live writer touches its file often
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                continue
            if entry.name.endswith(".p3"):
                entries.append((st.st_mtime, st.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
            total -= size
        return removed

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*.p3"))


class CacheWriter:
    """Collects one stream's packets; `commit()` makes them an entry, `discard()` leaves no trace."""

    def __init__(self, cache: FrameCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.tmp = cache.dir / f"{key}.p3{_TMP_MARK}{uuid.uuid4().hex}"
        self._buf = bytearray()
        self._file: Any = None
        self.frames = 0
        self.written = 0         # bytes on disk in the temp file (readers of a growing entry stay below this)
        self.closed = False

    async def open(self) -> None:
        """Create the temp file now (a shared transcode's listeners read it while it grows)."""
        if self._file is None:
            self._file = await asyncio.to_thread(open, self.tmp, "wb", buffering=0)

    async def add(self, packets: list[bytes]) -> None:
        for p in packets:
            self._buf += pack_record(p)
        self.frames += len(packets)
        if len(self._buf) >= _FLUSH_BYTES:
            await self._flush()

    async def flush(self) -> None:
        """Write what `add` buffered to the temp file (unbuffered, so other readers see it at once)."""
        await self._flush()

    async def _flush(self) -> None:
        data, self._buf = bytes(self._buf), bytearray()
        if self._file is None:
            self._file = await asyncio.to_thread(open, self.tmp, "wb", buffering=0)
        if data:
            await asyncio.to_thread(_write_all, self._file, data)
            self.written += len(data)

    async def commit(self) -> Path:
        if self.closed:
            raise RuntimeError("cache writer already closed")
        if self.frames == 0:
            await self.discard()
            raise AudioError("no audio frames to cache")
        await self._flush()
        self.closed = True
        f, self._file = self._file, None
        await asyncio.to_thread(_fsync_close_replace, f, self.tmp, self.cache.path_for(self.key))
        await self.cache.evict()
        return self.cache.path_for(self.key)

    async def discard(self) -> None:
        self.closed = True
        f, self._file = self._file, None
        self._buf = bytearray()
        await asyncio.to_thread(_close_unlink, f, self.tmp)

    def discard_sync(self) -> None:
        """For cleanup paths that cannot await (already cancelled)."""
        self.closed = True
        f, self._file = self._file, None
        _close_unlink(f, self.tmp)


def skip_records(f: Any, count: int, chunk_bytes: int = 1 << 20) -> tuple[bytes, int]:
    """Read past `count` p3 records from `f` by their 4-byte headers only. Returns the bytes read beyond the last
    skipped record (the start of the next one) and how many records were skipped (fewer at the end of the file)."""
    buf = b""
    pos = skipped = 0
    while skipped < count:
        if len(buf) - pos < 4:
            more = f.read(chunk_bytes)
            if not more:
                if len(buf) > pos:
                    raise P3FormatError(f"truncated p3 stream after record {skipped}")
                return b"", skipped
            buf = buf[pos:] + more
            pos = 0
            continue
        kind = buf[pos]
        if kind != 0:
            raise P3FormatError(f"record {skipped}: type byte {kind} is not 0 (not a p3 stream)")
        nxt = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
        if nxt > len(buf):
            # The record runs past what we have: seek over its payload instead of reading it.
            f.seek(nxt - len(buf), os.SEEK_CUR)
            buf, pos = b"", 0
        else:
            pos = nxt
        skipped += 1
    return buf[pos:], skipped


def _open_at_record(path: Path, start: int) -> tuple[Any, bytes]:
    f = open(path, "rb")
    if start <= 0:
        return f, b""
    try:
        rest, _ = skip_records(f, start)
        # Hand back only the first record's worth: the rest of a 1 MiB skip read (minutes of audio) would be parsed
        # on the event loop in one go, per resume; a reconnect storm resumes hundreds at once.
        keep = 4 + ((rest[2] << 8) | rest[3]) if len(rest) >= 4 else len(rest)
        if len(rest) > keep:
            f.seek(keep - len(rest), os.SEEK_CUR)
            rest = rest[:keep]
    except BaseException:
        f.close()
        raise
    return f, rest


def _write_all(f: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = f.write(view)
        view = view[n:]


def _touch(path: Path) -> bool:
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:          # read-only volume or another owner: still usable, just not LRU-touched
        return path.exists()


def _fsync_close_replace(f: Any, tmp: Path, final: Path) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()
    os.replace(tmp, final)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _close_unlink(f: Any, tmp: Path) -> None:
    if f is not None:
        with contextlib.suppress(Exception):
            f.close()
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def _validate_p3_file(path: Path) -> None:
    parser = P3Parser()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            parser.feed(chunk)
    parser.finish()
    if parser.records == 0:
        raise P3FormatError("empty entry")
