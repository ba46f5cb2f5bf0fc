"""Bench helpers: make a catalog of generated songs and run the real server as a subprocess."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_catalog(root: Path, count: int, seconds: float, *, prefix: str = "Song") -> list[str]:
    """`count` songs in music/English: one generated MP3 (a melody) copied under distinct names, so every
    stream decodes its own object (no shared cache entries) at the cost of one encode here."""
    titles = [f"{prefix} Number {i}" for i in range(count)]
    make_titled_catalog(root, titles, seconds)
    return titles


def make_titled_catalog(root: Path, titles: list[str], seconds: float) -> None:
    """One generated MP3 (a melody) copied under every title in music/English: each is a distinct object."""
    english = root / "music" / "English"
    english.mkdir(parents=True, exist_ok=True)
    master = root / "_master.mp3"
    if not master.exists():
        expr = "0.3*sin(2*PI*(440+110*floor(mod(t\\,4)))*t)+0.1*sin(2*PI*880*t)"
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"aevalsrc={expr}:s=44100:d={seconds}", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k",
                        str(master)], check=True)
    meta = {}
    for title in titles:
        dst = english / f"{title}.mp3"
        if not dst.exists():
            shutil.copyfile(master, dst)
        meta[title] = {"romanized": title, "filename": dst.name, "alternatives": []}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")


@contextlib.contextmanager
def run_server(workdir: Path, content_dir: Path, *, workers: int = 1, cache_dir: str = "",
               extra: dict[str, Any] | None = None, log_level: str = "WARNING") -> Iterator[tuple[int, int]]:
    """Start `app.py serve` with a bench config; yields (ws_port, http_port); stops it afterwards."""
    ws_port, http_port = free_port(), free_port()
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": ws_port, "http_port": http_port, "workers": workers,
                   "max_message_bytes": 65536},
        "content": {"content_dir": str(content_dir), "generate_demo": False, "refresh_time_s": 0,
                    "cache_dir": str(workdir / "catalog-cache")},
        "audio": {"cache_dir": cache_dir},
        "voice": {"tts": {"provider": "none"}, "asr": {"provider": "none"}, "vad": {"provider": "none"}},
        "log": {"level": log_level},
    }
    for section, values in (extra or {}).items():
        cfg.setdefault(section, {}).update(values)
    path = workdir / f"bench-{ws_port}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--config", str(path)], cwd=ROOT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ws_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.1)
        time.sleep(0.5 if workers > 1 else 0.1)   # let every worker bind
        yield ws_port, http_port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def machine() -> str:
    import platform
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def load_note(before: float) -> str:
    """How busy the machine was apart from the bench: the 1-minute load average just before the run started.

    Tail latencies on a 2-core machine depend on it, so every figure printed is labelled with it."""
    state = "quiet: no other jobs" if before < 0.5 else "NOT quiet: other work ran within the last minute"
    return f"load average before the run {before:.2f} ({state})"
