"""Shared fixtures: a small local catalog of generated tones and a real server node on loopback."""
from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from core.config import Config, config_from_dict

TONES = {  # catalog title -> (frequency Hz, seconds)
    "Baa Baa Black Sheep": (440.0, 2.4),
    "Twinkle Twinkle Little Star": (660.0, 1.8),
    "Long Lullaby": (330.0, 20.0),
}


def write_tone(path: Path, freq: float, seconds: float) -> Path:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:sample_rate=44100:duration={seconds}", "-ac", "2", "-c:a", "libmp3lame",
                    "-b:a", "128k", str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="session")
def tone_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """music/English with three tone 'songs' and stories/Bedtime with one, in the bucket layout."""
    root = tmp_path_factory.mktemp("catalog")
    english = root / "music" / "English"
    english.mkdir(parents=True)
    meta: dict[str, Any] = {}
    for title, (freq, secs) in TONES.items():
        write_tone(english / f"{title}.mp3", freq, secs)
        meta[title] = {"romanized": title, "filename": f"{title}.mp3", "alternatives": [], "tags": ["calm"]}
    (english / "metadata.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    bedtime = root / "stories" / "Bedtime"
    bedtime.mkdir(parents=True)
    write_tone(bedtime / "The Sleepy Moon.mp3", 550.0, 1.2)
    (bedtime / "metadata.json").write_text(json.dumps({"The Sleepy Moon": {
        "romanized": "The Sleepy Moon", "filename": "The Sleepy Moon.mp3", "alternatives": ["moon story"]}}),
        encoding="utf-8")
    return root


@pytest.fixture
def make_config(tone_catalog: Path, tmp_path: Path) -> Callable[..., Config]:
    """A test config: loopback, free ports, the tone catalog, silent TTS, no ASR, caches in tmp_path."""
    def build(**sections: Any) -> Config:
        raw: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": 0, "http_port": 0},
            "content": {"content_dir": str(tone_catalog), "generate_demo": False,
                        "cache_dir": str(tmp_path / "catalog-cache")},
            "audio": {"cache_dir": str(tmp_path / "audio-cache")},
            "state": {"url": f"sqlite:{tmp_path / 'devices.db'}"},
            "voice": {"tts": {"provider": "none", "phrase_cache_dir": str(tmp_path / "phrase-cache")},
                      "asr": {"provider": "none"}, "vad": {"provider": "none"}},
            "log": {"level": "DEBUG"},
        }
        for section, values in sections.items():
            _merge(raw.setdefault(section, {}), values)
        return config_from_dict(raw)
    return build


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for k, v in values.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


@pytest.fixture
async def start_node() -> AsyncIterator[Callable[[Config], Any]]:
    """Start real nodes (WebSocket + HTTP on 127.0.0.1, free ports); all are closed after the test."""
    from core.node import Node  # imported here so unit tests run without the whole server stack
    nodes: list[Node] = []

    async def start(cfg: Config) -> Node:
        node = await Node.start(cfg)
        nodes.append(node)
        return node
    yield start
    for node in nodes:
        await node.close()


@pytest.fixture
def captured_log() -> Any:
    """Every log line written during the test (loguru, DEBUG and up), as one growing list of "LEVEL message"."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)


async def until(check: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> None:
    """Wait for a condition the test cannot be told about by an event (a server-side effect), with a deadline."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(step)


def ws_url(node: Any, path: str = "/xiaozhi/v1/") -> str:
    return f"ws://127.0.0.1:{node.ws_port}{path}"


# Fixture modules shared by several test modules (their fixtures are found by name; nothing is imported for them).
pytest_plugins = ["tests.audio_fixtures", "tests.content_fixtures", "tests.fleet_fixtures", "tests.player_fixtures"]
