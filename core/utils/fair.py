"""A fair semaphore: `slots` holders at once, shared per key (device) in turn, urgent work first, low priority last.

Used in front of the shared speech engines (TTS workers, the whisper model) so that one device with many queued
jobs cannot starve another. Each waiter has a deadline, when its result is needed: now for a reply nobody hears yet,
later for the next part of a reply that is already playing (its audio so far still covers the time). When a slot
frees: among waiters due within `urgent_s`, the key served least recently goes first (a key never served yet before
all others); when nothing is that urgent, the earliest deadline. So a short new reply waits for at most the one unit
in progress, and a playing reply's next part still arrives before its audio runs out.
`per_key` caps the slots one named key may hold at once, so with two or more slots there is always one left for
another device; the shared key "" (callers that name no device) is exempt, because it stands for many devices.
Low-priority waiters (background pre-rendering) get a slot only when no normal waiter could take it, and can be
promoted while they wait (a device now needs the same phrase).
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["FairLimiter", "Waiter"]

SHARED_KEY = ""


class Waiter:
    """One pending acquisition. `key` and `low` may change while it waits (see `FairLimiter.promote`).
    `deadline` (monotonic seconds) is when its result is needed: now for a reply nobody hears yet, later for the
    next part of a reply that is already playing."""

    __slots__ = ("key", "low", "future", "deadline", "seq")

    def __init__(self, key: str, low: bool, future: asyncio.Future[None], deadline: float, seq: int) -> None:
        self.key = key
        self.low = low
        self.future = future
        self.deadline = deadline
        self.seq = seq

    def order(self) -> tuple[float, int]:
        return (self.deadline, self.seq)


class _Level:
    """Waiters of one priority: the waiters of each key, and the keys in the order they started waiting."""

    def __init__(self) -> None:
        self.queues: dict[str, list[Waiter]] = {}

    def add(self, w: Waiter) -> None:
        self.queues.setdefault(w.key, []).append(w)

    def remove(self, w: Waiter) -> bool:
        q = self.queues.get(w.key)
        if q is None or w not in q:
            return False
        q.remove(w)
        if not q:
            del self.queues[w.key]
        return True

    def pop_eligible(self, can_take: Callable[[str], bool], last: dict[str, int], urgent_by: float) -> Waiter | None:
        """Among keys that may take a slot, each offering its most urgent waiter: if any is due by `urgent_by`, the
        least recently served such key (ties: the key waiting longest); otherwise the earliest deadline."""
        best: Waiter | None = None
        best_rank: tuple[int, float, int] | None = None
        for key, q in self.queues.items():
            if not can_take(key):
                continue
            head = min(q, key=Waiter.order)
            rank = ((0, float(last.get(key, -1)), head.seq) if head.deadline <= urgent_by
                    else (1, head.deadline, head.seq))
            if best_rank is None or rank < best_rank:
                best, best_rank = head, rank
        if best is not None:
            self.remove(best)
        return best

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())


class FairLimiter:
    def __init__(self, slots: int, *, per_key: int | None = None, urgent_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self._urgent_s = urgent_s            # a waiter due within this is served round-robin before later work
        self._clock = clock
        self._seq = 0
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
            by = self._clock() + self._urgent_s
            w = (self._normal.pop_eligible(self._can_take, self._last, by)
                 or self._low.pop_eligible(self._can_take, self._last, by))
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

    async def acquire(self, key: str = SHARED_KEY, *, low: bool = False, deadline: float | None = None,
                      waiter: list[Waiter] | None = None) -> str:
        """Wait for a slot; returns the key it is held under (pass it to `release`). `deadline`: when the work is
        needed (default: now). `waiter`, if given, receives the pending Waiter so the caller can promote it."""
        self._seq += 1
        w = Waiter(key, low, asyncio.get_running_loop().create_future(),
                   self._clock() if deadline is None else deadline, self._seq)
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
    async def slot(self, key: str = SHARED_KEY, *, low: bool = False, deadline: float | None = None,
                   waiter: list[Waiter] | None = None) -> AsyncIterator[None]:
        held = await self.acquire(key, low=low, deadline=deadline, waiter=waiter)
        try:
            yield
        finally:
            self._release(held)

    def demote(self, w: Waiter) -> None:
        """A waiting job that nobody waits for any more (it only fills a cache) goes behind every wanted one."""
        if not w.future.done() and self._normal.remove(w):
            w.low = True
            self._low.add(w)
            self._dispatch()

    def promote(self, w: Waiter, key: str) -> None:
        """A waiting low-priority (or other-key) job is now wanted by `key` at normal priority."""
        if w.future.done():
            return
        if self._normal.remove(w) or self._low.remove(w):
            w.key = key
            w.low = False
            w.deadline = min(w.deadline, self._clock())
            self._normal.add(w)
            self._dispatch()

