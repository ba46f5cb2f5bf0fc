"""Log lines that a flood cannot multiply: at most one line per key per interval, with the count it stood for."""
from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """`warning(key, message)` writes the first line for `key`, then at most one per `interval_s`, each saying how
    many were held back since the last one. Keys are bounded: past `max_keys` the table starts over."""

    __slots__ = ("_interval", "_clock", "_last", "_held", "_max_keys")

    def __init__(self, interval_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._max_keys = max_keys

    def warning(self, key: str, message: str) -> bool:
        """True when the line was written."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) >= self._max_keys:
            self._last.clear()
            self._held.clear()
        held = self._held.pop(key, 0)
        self._last[key] = now
        suffix = f" ({held} more like this in the last {self._interval:g} s)" if held else ""
        logger.opt(depth=1).warning("{}{}", message, suffix)
        return True
