"""Spoken phrases kept on disk (and shared in S3): each is a short p3 entry, like a transcoded track.

- Key: sha256 of the text, its language, the voice that speaks it and every output parameter (rate, frame, bitrate,
  complexity), so a new voice or encoder setting never serves stale speech.
- Atomic: written to a temp file, fsynced, then renamed; a crash leaves only a temp file (swept later).
- Bounded: LRU by mtime down to `max_bytes`; the directory is scanned only when the running total passes the bound.
- Shared: with an S3Share, a committed phrase is uploaded and a local miss tries the S3 copy, so a title announced
  on one node is never synthesised again on another.
Reading and writing reuse `core.audio.cache.FrameCache` (same temp-file, validation and S3 conventions).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from pathlib import Path

from loguru import logger

from core.audio.cache import FrameCache, S3Share, _fsync_close_replace
from core.audio.p3 import P3FormatError, iter_records, pack_records

__all__ = ["PhraseCache", "phrase_key"]

_TMP_MARK = ".tmp-"


def phrase_key(text: str, language: str, voice: str, output: str) -> str:
    ident = "\0".join(["phrase-v1", text, language, voice, output])
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()


class PhraseCache:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, s3: S3Share | None = None) -> None:
        self._frames = FrameCache(directory, max_bytes, s3)
        self.dir = self._frames.dir
        self.max_bytes = max_bytes
        self._approx: int | None = None       # running total since the last scan
        self._background: set[asyncio.Task[None]] = set()
        self.hits = 0
        self.stores = 0

    @property
    def s3(self) -> S3Share | None:
        return self._frames.s3

    async def get(self, key: str) -> tuple[bytes, ...] | None:
        """The phrase's frames from disk (or S3, downloaded into the local cache), else None."""
        path = await self._frames.lookup(key)
        if path is None:
            return None
        try:
            frames = await asyncio.to_thread(_read_frames, path)
        except (OSError, P3FormatError) as exc:
            logger.warning("phrase cache: entry {} unusable ({}); rendering it again", key[:12], type(exc).__name__)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        self.hits += 1
        return frames

    async def has(self, key: str) -> bool:
        return await asyncio.to_thread(self._frames.path_for(key).is_file)

    async def put(self, key: str, frames: tuple[bytes, ...]) -> None:
        """Store atomically; a full or read-only disk costs only the caching."""
        if not frames:
            return
        try:
            size = await asyncio.to_thread(self._write, key, pack_records(frames))
        except (OSError, P3FormatError) as exc:
            logger.warning("phrase cache: store of {} failed ({})", key[:12], getattr(exc, "strerror", None) or exc)
            return
        self.stores += 1
        if self._approx is None:
            self._approx = await asyncio.to_thread(self.total_bytes)
        else:
            self._approx += size
        if self._approx > self.max_bytes:
            await self._frames.evict()
            self._approx = await asyncio.to_thread(self.total_bytes)
        if self._frames.s3 is not None:
            task = asyncio.create_task(self._frames.publish(key))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _write(self, key: str, data: bytes) -> int:
        tmp = self.dir / f"{key}.p3{_TMP_MARK}{uuid.uuid4().hex}"
        f = open(tmp, "wb")
        try:
            f.write(data)
            _fsync_close_replace(f, tmp, self._frames.path_for(key))   # closes f
        except BaseException:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return len(data)

    def total_bytes(self) -> int:
        """Bytes in committed entries (tolerates entries evicted by a concurrent store while it counts)."""
        total = 0
        for entry in os.scandir(self.dir):
            if entry.name.endswith(".p3"):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
        return total

    async def aclose(self) -> None:
        """Let pending S3 uploads finish (bounded), so a phrase rendered just before shutdown is still shared."""
        if self._background:
            await asyncio.wait(self._background, timeout=10)
            for task in self._background:
                task.cancel()


def _read_frames(path: Path) -> tuple[bytes, ...]:
    frames = tuple(iter_records(path.read_bytes()))
    if not frames:
        raise P3FormatError("empty entry")
    return frames
