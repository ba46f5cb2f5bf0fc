"""A fair semaphore: `slots` holders at once, handed out round-robin per key (device), low priority last.

Used in front of the shared speech engines (TTS workers, the whisper model) so that one device with many queued
jobs cannot starve another: when a slot frees, the waiting key that was served least recently gets it (a key never
served yet goes first), and a key with several waiters is served FIFO within itself. `per_key` caps the slots one named key may hold at once, so with two
or more slots there is always one left for another device; the shared key "" (callers that name no device) is
exempt, because it stands for many devices. Low-priority waiters (background pre-rendering) get a slot only when
no normal waiter could take it, and can be promoted while they wait (a device now needs the same phrase).
"""
from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["FairLimiter", "Waiter"]

SHARED_KEY = ""


class Waiter:
    """One pending acquisition. `key` and `low` may change while it waits (see `FairLimiter.promote`)."""

    __slots__ = ("key", "low", "future")

    def __init__(self, key: str, low: bool, future: asyncio.Future[None]) -> None:
        self.key = key
        self.low = low
        self.future = future


class _Level:
    """Waiters of one priority: a FIFO per key and a rotation of the keys that have any."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Waiter]] = {}
        self.rotation: OrderedDict[str, None] = OrderedDict()

    def add(self, w: Waiter) -> None:
        q = self.queues.get(w.key)
        if q is None:
            q = self.queues[w.key] = deque()
            self.rotation[w.key] = None
        q.append(w)

    def remove(self, w: Waiter) -> bool:
        q = self.queues.get(w.key)
        if q is None or w not in q:
            return False
        q.remove(w)
        if not q:
            del self.queues[w.key]
            self.rotation.pop(w.key, None)
        return True

    def pop_eligible(self, can_take: Callable[[str], bool], last: dict[str, int]) -> Waiter | None:
        """The next waiter of the least recently served key that may take a slot (ties: the key queued first)."""
        best: str | None = None
        for key in self.rotation:
            if can_take(key) and (best is None or last.get(key, -1) < last.get(best, -1)):
                best = key
        if best is None:
            return None
        q = self.queues[best]
        w = q.popleft()
        if not q:
            del self.queues[best]
            del self.rotation[best]
        return w

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())


class FairLimiter:
    def __init__(self, slots: int, *, per_key: int | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self.per_key = per_key if per_key is not None else max(1, slots - 1)
        self._free = slots
        self._held: Counter[str] = Counter()
        self._last: dict[str, int] = {}       # key -> sequence number of its latest grant (while it is active)
        self._normal = _Level()
        self._low = _Level()
        self.granted = 0                      # total acquisitions, for tests and health output

    @property
    def waiting(self) -> int:
        return len(self._normal) + len(self._low)

    @property
    def busy(self) -> int:
        return self.slots - self._free

    def _can_take(self, key: str) -> bool:
        return key == SHARED_KEY or self._held[key] < self.per_key

    def _dispatch(self) -> None:
        while self._free > 0:
            w = (self._normal.pop_eligible(self._can_take, self._last)
                 or self._low.pop_eligible(self._can_take, self._last))
            if w is None:
                return
            if w.future.done():               # cancelled while queued; its acquire() cleans up
                continue
            self._free -= 1
            self._held[w.key] += 1
            self.granted += 1
            self._last[w.key] = self.granted
            w.future.set_result(None)

    def _release(self, key: str) -> None:
        self._free += 1
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]
            if key not in self._normal.queues and key not in self._low.queues:
                self._last.pop(key, None)     # idle again: forget it, so the table holds only active keys
        self._dispatch()

    async def acquire(self, key: str = SHARED_KEY, *, low: bool = False, waiter: list[Waiter] | None = None) -> str:
        """Wait for a slot; returns the key it is held under (pass it to `release`). `waiter`, if given, receives
        the pending Waiter so the caller can promote it."""
        w = Waiter(key, low, asyncio.get_running_loop().create_future())
        (self._low if low else self._normal).add(w)
        if waiter is not None:
            waiter.append(w)
        self._dispatch()
        try:
            await w.future
        except asyncio.CancelledError:
            if w.future.done() and not w.future.cancelled():
                self._release(w.key)          # granted in the same tick as the cancel: hand it on
            else:
                self._normal.remove(w) or self._low.remove(w)
            raise
        finally:
            if waiter is not None and w in waiter:
                waiter.remove(w)
        return w.key

    def release(self, key: str) -> None:
        self._release(key)

    @asynccontextmanager
    async def slot(self, key: str = SHARED_KEY, *, low: bool = False,
                   waiter: list[Waiter] | None = None) -> AsyncIterator[None]:
        held = await self.acquire(key, low=low, waiter=waiter)
        try:
            yield
        finally:
            self._release(held)

    def promote(self, w: Waiter, key: str) -> None:
        """A waiting low-priority (or other-key) job is now wanted by `key` at normal priority."""
        if w.future.done():
            return
        if self._normal.remove(w) or self._low.remove(w):
            w.key = key
            w.low = False
            self._normal.add(w)
            self._dispatch()

