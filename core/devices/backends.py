"""The device store a URL names: `sqlite:PATH` (the default), `memory:`, or `redis://...` (a fleet's shared store).

Its own module so that the stores import the interface (core/devices/store.py) and nothing imports back."""
from __future__ import annotations

from core.devices.redis_store import RedisStore
from core.devices.store import DeviceStore, MemoryStore, SqliteStore

__all__ = ["open_store"]


async def open_store(url: str) -> DeviceStore:
    """`sqlite:PATH` (default), `memory:`, or `redis://...` (a fleet's shared store)."""
    if url.startswith("redis://") or url.startswith("rediss://"):
        return await RedisStore.connect(url)
    if url in ("memory:", "memory"):
        return MemoryStore()
    path = url.split(":", 1)[1] if url.startswith("sqlite:") else url
    path = path[2:] if path.startswith("//") else path        # sqlite:///abs/path and sqlite:rel/path
    return await SqliteStore(path).open()
