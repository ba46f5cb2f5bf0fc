#!/usr/bin/env python3
"""What the parents' rules cost: the tick of a playing device (0.25 s apart) with no policy and with a full one
(bedtime every day, sleep collections, daily limit, volume cap, allowed collections, blocked tags, sleep timer), the
check of a request that plays, and a device-state save with the full policy and a 20-entry audit trail in the
session's memory.
Ticks and requests are sans I/O: the session core alone, fed events as the connection shell feeds them, so those
figures are the rules' CPU cost, not the network's. Saves go through the real stores: SQLite (the default, on a
temporary file) and Redis (a redis-server on loopback, when installed), one device after another, each device saved
once before the measured pass (a periodic save updates an existing record).
Run: .venv/bin/python bench/policy_bench.py [--ticks 200000] [--saves 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from bench._server import machine
from bench.player_bench import pct, realistic_state
from core.content.types import Kind, Track
from core.devices.policy import PolicyRecord
from core.devices.redis_store import RedisStore
from core.devices.state import DeviceState, PlaybackState
from core.devices.store import DeviceStore, SqliteStore
from core.providers.intent.base import Intent
from core.session import events as ev
from core.session.core import SessionCore, SessionSettings
from core.understand import Understanding
from plugins_func.actions import PlayTrack
from plugins_func.registry import PluginResult

SONG = Track(kind=Kind.MUSIC, collection="English", title="Baa Baa Black Sheep", filename="Baa.mp3", tags=("calm",))
FULL = {"bedtime": {d: {"start": "03:00", "end": "03:01"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "sleep_collections": ["Bedtime"], "daily_limit_min": 1440, "max_volume": 70,
        "allowed_collections": ["English", "Bedtime", "Hindi"], "blocked_tags": ["scary", "loud"],
        "sleep_timer_min": 720, "utc_offset_min": 330}


class _Quiet:
    def info(self, *a: Any, **k: Any) -> None: ...
    def warning(self, *a: Any, **k: Any) -> None: ...
    def debug(self, *a: Any, **k: Any) -> None: ...
    def bind(self, **k: Any) -> _Quiet: return self


def playing_core(policy: dict[str, Any]) -> tuple[SessionCore, float]:
    wall = 1_800_000_000.0 + 12 * 3600
    core = SessionCore("aa:bb", 1, SessionSettings(), lambda uid: SONG if uid == SONG.uid else None, now=0.0,
                       log=_Quiet())
    core.handle(ev.TextIn(json.dumps({"type": "hello", "version": 1})), 0.0, wall)
    core.handle(ev.StateLoaded(DeviceState("aa:bb"), PolicyRecord(1, policy)), 0.0, wall)
    out = core.handle(ev.TextIn(json.dumps({"type": "listen", "state": "detect", "text": "play baa baa"})), 0.0, wall)
    req = next(a for a in out if isinstance(a, ev.Understand))
    u = Understanding("play baa baa", Intent("play_music"), PluginResult("Now playing.", actions=(PlayTrack(SONG),)))
    out = core.handle(ev.Understood(req.request_id, u), 0.0, wall)
    turn = next(a for a in out if isinstance(a, ev.StartTurn)).turn
    core.handle(ev.TrackStarted(turn.id, SONG, 0, None), 0.0, wall)
    assert core.playback is not None and core.playback.state is PlaybackState.PLAYING, core.playback
    return core, wall


def per_tick_us(policy: dict[str, Any], ticks: int) -> float:
    core, wall = playing_core(policy)
    t0 = time.perf_counter()
    for i in range(1, ticks + 1):
        core.handle(ev.Tick(i * 0.25, wall + i * 0.0001, i * 250))
    took = time.perf_counter() - t0
    # nothing refused: the whole loop measured a playing device
    assert core.playback is not None and core.playback.state is PlaybackState.PLAYING
    return took / ticks * 1e6


def per_request_us(policy: dict[str, Any], rounds: int) -> float:
    t0 = time.perf_counter()
    for _ in range(rounds):
        playing_core(policy)
    return (time.perf_counter() - t0) / rounds * 1e6


async def save_latencies(store: DeviceStore, saves: int) -> list[float]:
    """A session's periodic saves: the device state alone (the rules are their own record, never in a save)."""
    states = [realistic_state(i) for i in range(saves)]
    for st in states:
        await store.save(st)                      # the records exist: what follows are periodic saves
    out: list[float] = []
    for st in states:
        t = time.perf_counter()
        await store.save(st)
        out.append((time.perf_counter() - t) * 1000)
    await store.close()
    return out


async def bench_saves(saves: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[tuple[str, Any]] = [("SQLite", lambda: SqliteStore(Path(tmp) / "devices.db").open())]
        if shutil.which("redis-server"):
            from bench.fleet_bench import start_redis
            proc, url = start_redis(Path(tmp))
            stores.append(("Redis", lambda: RedisStore.connect(url)))
        else:
            proc = None
            print("redis-server not installed: Redis saves not measured")
        try:
            for name, open_store in stores:
                lat = await save_latencies(await open_store(), saves)
                print(f"{'state save, ' + name + ' (ms)':34}{pct(lat, 50):12.3f}{pct(lat, 99):14.3f}")
        finally:
            if proc is not None:
                proc.kill()
                proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ticks", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=5_000)
    ap.add_argument("--saves", type=int, default=2_000)
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")          # the stores' start-up lines would interleave with the table
    print(f"machine: {machine()} (shared: other jobs may run)")
    print(f"{'':34}{'p50':>12}{'p99':>14}")
    asyncio.run(bench_saves(args.saves))
    none_tick, full_tick = per_tick_us({}, args.ticks), per_tick_us(FULL, args.ticks)
    none_req, full_req = per_request_us({}, args.requests), per_request_us(FULL, args.requests)
    print(f"{'':34}{'no policy':>12}{'full policy':>14}")
    print(f"{'tick of a playing device (us)':34}{none_tick:12.2f}{full_tick:14.2f}")
    print(f"{'connect + request + start (us)':34}{none_req:12.1f}{full_req:14.1f}")
    share = 1000 * 4 * full_tick / 1e6
    print(f"1,000 playing devices ticking 4x/s with the full policy: {share * 100:.2f}% of one core")


if __name__ == "__main__":
    main()
