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
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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


MELODY = "0.3*sin(2*PI*(440+110*floor(mod(t\\,4)))*t)+0.1*sin(2*PI*880*t)"


def make_titled_catalog(root: Path, titles: list[str], seconds: float, *, folder: str = "music/English",
                        expr: str = MELODY, master_name: str = "_master.mp3") -> None:
    """One generated MP3 (ffmpeg's aevalsrc `expr`, a melody by default) copied under every title in `folder`:
    each is a distinct object."""
    collection = root / folder
    collection.mkdir(parents=True, exist_ok=True)
    master = root / master_name
    if not master.exists():
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"aevalsrc={expr}:s=44100:d={seconds}", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k",
                        str(master)], check=True)
    meta = {}
    for title in titles:
        dst = collection / f"{title}.mp3"
        if not dst.exists():
            shutil.copyfile(master, dst)
        meta[title] = {"romanized": title, "filename": dst.name, "alternatives": []}
    (collection / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")


def stop_group(proc: subprocess.Popen[Any], wait_s: float) -> None:
    """SIGTERM the server's process group (it drains), SIGKILL it after `wait_s`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass(frozen=True, slots=True)
class ShippedServer:
    proc: subprocess.Popen[Any]
    ws_port: int
    http_port: int
    config: dict[str, Any]          # what it runs with: config.yaml as shipped plus the bench's changes
    log_path: Path


@contextlib.contextmanager
def shipped_server(work: Path, content: Path, overrides: dict[str, Any] | None = None,
                   ports: tuple[int, int] | None = None) -> Iterator[ShippedServer]:
    """`app.py serve` with config.yaml as shipped on loopback ports, serving `content` with fresh empty caches, plus
    `overrides` ({"dotted.key": value}, which the caller prints next to its figures). Ready once /health reports
    the catalog loaded; stopped (drained) afterwards. Given `ports` (ws, http) again, a new server reuses the caches
    of the one before on those ports (a restarted node)."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    ws_port, http_port = ports or (free_port(), free_port())
    cfg["server"].update(host="127.0.0.1", port=ws_port, http_port=http_port)
    cfg["content"].update(content_dir=str(content), generate_demo=False,
                          cache_dir=str(work / f"catalog-cache-{ws_port}"))
    cfg["audio"]["cache_dir"] = str(work / f"audio-cache-{ws_port}")    # fresh and empty: every song uncached
    for dotted, value in (overrides or {}).items():
        node = cfg
        *path, leaf = dotted.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = work / f"bench-{ws_port}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    log_path = work / f"server-{ws_port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--config", str(path)], cwd=ROOT,
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=1) as r:
                    if json.load(r).get("tracks"):
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 180 s")
            time.sleep(0.2)
        yield ShippedServer(proc, ws_port, http_port, cfg, log_path)
    finally:
        stop_group(proc, 15)
        log.close()


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
        stop_group(proc, 10)


def machine() -> str:
    import platform
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def load_note(before: float) -> str:
    """How busy the machine was apart from the bench: the 1-minute load average just before the run started.

    Tail latencies on a 2-core machine depend on it, so every figure printed is labelled with it."""
    state = "quiet: no other jobs" if before < 0.5 else "NOT quiet: other work ran within the last minute"
    return f"load average before the run {before:.2f} ({state})"
