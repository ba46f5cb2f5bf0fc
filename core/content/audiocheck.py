"""`catalog validate` opens every audio file: probe the container and decode its first second with ffmpeg.

Catches what a listing cannot: 0-byte files, an HTML error page saved as .mp3, random bytes, and (local folders)
symlinks that point outside their collection folder. Each check is one ffmpeg child with a timeout; nothing here
runs in the server.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.content.catalog import Issue
from core.content.storage import LocalStorage, StorageError
from core.logs import scrub

if TYPE_CHECKING:
    from core.content.service import ContentService
    from core.content.types import Track

__all__ = ["probe_audio", "probe_local", "local_file_problem", "leaves_folder", "check_audio_files", "PROBE_SECONDS",
           "MIN_DECODED_S"]

PROBE_SECONDS = 1.0        # decode this much of each file
MIN_DECODED_S = 0.05       # less than this from the first second is not a playable file
_RATE = 16000


def probe_audio(source: str, *, local: bool, timeout_s: float = 30.0) -> str | None:
    """Why `source` (a path or URL) is not playable, or None. Never raises; never prints the URL."""
    whitelist = "file" if local else "http,https,tcp,tls,crypto"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-protocol_whitelist", whitelist,
           "-t", str(PROBE_SECONDS), "-i", ("file:" + source) if local else source,
           "-map", "0:a:0", "-ac", "1", "-ar", str(_RATE), "-f", "s16le", "pipe:1"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"decoding its first second took over {timeout_s:.0f} s"
    except OSError as exc:
        return f"cannot run ffmpeg ({exc.strerror})"
    decoded_s = len(out.stdout) / 2 / _RATE
    if out.returncode == 0 and decoded_s >= MIN_DECODED_S:
        return None
    lines = [ln.strip() for ln in out.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    detail = lines[-1] if lines else f"ffmpeg exit status {out.returncode}"
    detail = scrub(detail.replace(source, "<file>"))[:200]
    if out.returncode == 0:
        return f"no audio in its first second ({decoded_s:.2f} s decoded)"
    return f"not a playable audio file ({detail})"


def probe_local(path: str) -> str | None:
    """Why the local file at `path` is not playable, or None: `probe_audio`'s rule (audio decodes from the start)
    in-process with PyAV, a few ms per file instead of an ffmpeg child, so a server can check a whole local library
    when it loads. A decode error before the first 50 ms fails, as it stops the server's own decoder."""
    try:
        import av
    except ImportError:
        return probe_audio(path, local=True)
    decoded = 0.0
    try:
        with av.open(path, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                return "not a playable audio file (no audio stream)"
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                for frame in packet.decode():
                    decoded += frame.samples / (frame.sample_rate or _RATE)
                if decoded >= MIN_DECODED_S:
                    return None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        detail = (getattr(exc, "strerror", None) or type(exc).__name__).strip()
        return f"not a playable audio file ({scrub(detail.replace(path, '<file>'))[:200]})"
    return f"no audio in its first second ({decoded:.2f} s decoded)"


def local_file_problem(path: Path, folder: Path) -> str | None:
    """What `catalog validate` would reject in one local entry's file (symlink out of its folder, unreadable,
    empty, undecodable), as '<filename> ...' text, or None when it plays."""
    name = repr(path.name)
    where = leaves_folder(path, folder)
    if where is not None:
        return f"audio file {name} is a symlink that leaves its catalog folder (to {where})"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"audio file {name} cannot be opened ({exc.strerror})"
    if size == 0:
        return f"audio file {name} is empty (0 bytes)"
    why = probe_local(str(path))
    if why is None:
        return None
    return f"audio file {name} is {why}" if why.startswith("not ") else f"audio file {name}: {why}"


def leaves_folder(path: Path, folder: Path) -> str | None:
    """Where `path` really points when a symlink takes it outside `folder` (itself possibly a symlink)."""
    try:
        real = path.resolve(strict=False)
        home = folder.resolve(strict=False)
    except (OSError, RuntimeError):                     # a symlink loop
        return "a symlink loop"
    if real == home or home in real.parents:
        return None
    return str(real)


@dataclass(frozen=True, slots=True)
class _Job:
    track: Track
    key: str
    source: str
    local: bool


async def check_audio_files(svc: ContentService, *, workers: int | None = None) -> list[Issue]:
    """One error per served track whose audio file is unplayable or escapes its folder."""
    issues: list[Issue] = []
    jobs: list[_Job] = []
    local = isinstance(svc.storage, LocalStorage)
    for track in svc.tracks():
        key = svc.object_key(track)
        meta = key[: -len(track.filename)] + "metadata.json"

        def error(message: str, t: Track = track, m: str = meta) -> None:
            issues.append(Issue("error", m, message, t.title))

        if isinstance(svc.storage, LocalStorage):
            try:
                path = svc.storage.path_for(key)
            except StorageError as exc:
                error(str(exc))
                continue
            folder = svc.storage.path_for(key[: -len(track.filename)].rstrip("/"))
            where = leaves_folder(path, folder)
            if where is not None:
                error(f"audio file {track.filename!r} is a symlink that leaves its catalog folder (to {where}); "
                      "copy the file into the folder instead")
                continue
            try:
                size = path.stat().st_size
            except OSError as exc:
                error(f"audio file {track.filename!r} cannot be opened ({exc.strerror})")
                continue
            source = str(path)
        else:
            info = svc.catalog.object_info(key)
            size = info.size if info else -1
            try:
                source = (await svc.audio_source(track)).uri
            except Exception as exc:  # noqa: BLE001 - AudioError or a store failure: report it, check the rest
                error(f"audio file {track.filename!r} cannot be opened ({str(exc)[:200]})")
                continue
        if size == 0:
            error(f"audio file {track.filename!r} is empty (0 bytes)")
            continue
        jobs.append(_Job(track, meta, source, local))

    sem = asyncio.Semaphore(workers or max(1, min(4, os.cpu_count() or 1)))

    async def run(job: _Job) -> None:
        async with sem:
            why = await asyncio.to_thread(probe_audio, job.source, local=job.local)
        if why is not None:
            issues.append(Issue("error", job.key, f"audio file {job.track.filename!r} is {why}"
                                if why.startswith("not ") else f"audio file {job.track.filename!r}: {why}",
                                job.track.title))

    await asyncio.gather(*(run(j) for j in jobs))
    return sorted(issues, key=lambda i: (i.source, i.title))
