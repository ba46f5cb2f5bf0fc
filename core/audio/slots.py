"""The node-wide cap on decoders: `max` slots, a FIFO queue whose wait is bounded, `AudioBusy` past it.

A slot is held by whatever runs ffmpeg + Opus for a stream: a shared transcode (one per object however many
listen), a seeking decode for a resume, or a background cache fill. Cached plays take none. When every slot is
taken a request queues; if none frees within `wait_s`, it gets `AudioBusy` (the device hears "busy, try again")
instead of everyone's audio degrading.

The budget (core/audio/budget.py): past `budget` slots in use (how many cold streams the node's CPU budget holds),
a new request is refused at once, without queueing: no stream is going to end within a wait worth having, and the
device should hear "busy" in well under a second. `max` stays a hard cap: set explicitly (`audio.max_decoders`) it
keeps its bounded queue; the default one (`audio.decoders_per_core` x cores, `queue_at_cap=False`) is a backstop
above the budget and refuses at once like it.

Holders: a caller may name who it acts for (e.g. a device session). A holder that already has a slot gets one
more at once without queueing, so a renderer that opens the next item ~2 s before the current one ends never
waits on itself (at most one such overdraft per holder).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Hashable

from core.audio.types import AudioBusy

__all__ = ["DecoderSlots", "Slot"]


class Slot:
    """One acquired slot; `release()` is idempotent and synchronous (safe in any cleanup path)."""

    __slots__ = ("_owner", "holder", "overdraft", "released")

    def __init__(self, owner: DecoderSlots, holder: Hashable | None, overdraft: bool) -> None:
        self._owner = owner
        self.holder = holder
        self.overdraft = overdraft
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._owner._release(self)


class DecoderSlots:
    def __init__(self, max_slots: int, wait_s: float, budget: int | None = None,
                 near_full: int | None = None, *, queue_at_cap: bool = True) -> None:
        if max_slots < 1:
            raise ValueError("max_slots must be >= 1")
        self.max = max_slots
        self.budget = budget                 # cold streams the CPU budget holds (None: only the hard cap)
        self.near_full = near_full           # from this many in use the node reports itself overloaded
        self.queue_at_cap = queue_at_cap     # False: a request at `max` is refused at once instead of queueing
        self.wait_s = wait_s
        self.in_use = 0                      # slots counted against `max` (overdrafts are not)
        self.overdrafts = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._held: dict[Hashable, int] = {}
        self._overdrawn: set[Hashable] = set()
        self.busy_count = 0                  # AudioBusy raised so far
        self._busy_until = 0.0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def limit(self) -> int:
        """Slots that may be in use: the hard cap or the budget, whichever is lower."""
        return self.max if self.budget is None else min(self.max, self.budget)

    @property
    def overloaded(self) -> bool:
        """True while requests queue behind a full cap, from `near_full` slots in use (new devices should go to
        another node before anyone here is refused), and for one wait period after a request was refused."""
        return ((self.in_use >= self.max and bool(self._waiters))
                or (self.near_full is not None and self.in_use >= self.near_full)
                or time.monotonic() < self._busy_until)

    def check(self, holder: Hashable | None = None) -> None:
        """Raise AudioBusy now if `acquire(holder)` would be refused by the budget (before any work is set up)."""
        if self._over_budget() and not self._may_overdraw(holder):
            self._refused()
            raise AudioBusy(f"the node's audio budget is full ({self.in_use} cold streams)")

    def _over_budget(self) -> bool:
        if not self.queue_at_cap:
            return self.in_use >= self.limit
        return self.budget is not None and self.budget < self.max and self.in_use >= self.budget

    def _may_overdraw(self, holder: Hashable | None) -> bool:
        return holder is not None and self._held.get(holder, 0) > 0 and holder not in self._overdrawn

    def _refused(self) -> None:
        self.busy_count += 1
        self._busy_until = time.monotonic() + max(self.wait_s, 1.0)

    async def acquire(self, holder: Hashable | None = None, *, wait: bool = True) -> Slot:
        """A slot, waiting at most `wait_s` (raises AudioBusy after that, or at once when `wait` is False)."""
        if self._may_overdraw(holder) and self.in_use >= self.limit:
            # the holder's next item, opened while its current one drains: a hand-over, not a new stream
            self._overdrawn.add(holder)
            self.overdrafts += 1
            return self._grant(holder, overdraft=True)
        self.check(holder)
        if self.in_use < self.max and not self._waiters:
            self.in_use += 1
            return self._grant(holder, overdraft=False)
        if not wait:
            raise AudioBusy("every decoder is busy")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.wait_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if fut.done() and not fut.cancelled():
                self._release_count()    # a slot was handed to us just as we gave up: pass it on
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            if isinstance(exc, asyncio.CancelledError):
                raise
            self._refused()
            raise AudioBusy(f"every decoder is busy (waited {self.wait_s * 1000:.0f} ms)") from None
        return self._grant(holder, overdraft=False)  # the releaser handed its slot over: in_use is unchanged

    def try_acquire(self, holder: Hashable | None = None) -> Slot | None:
        """A free slot now, or None (never queues, never overdraws): for optional work such as cache fills."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return self._grant(holder, overdraft=False)
        return None

    def _grant(self, holder: Hashable | None, overdraft: bool) -> Slot:
        if holder is not None:
            self._held[holder] = self._held.get(holder, 0) + 1
        return Slot(self, holder, overdraft)

    def _release(self, slot: Slot) -> None:
        if slot.holder is not None:
            left = self._held.get(slot.holder, 0) - 1
            if left > 0:
                self._held[slot.holder] = left
            else:
                self._held.pop(slot.holder, None)
            if slot.overdraft:
                self._overdrawn.discard(slot.holder)
        if slot.overdraft:
            return
        self._release_count()

    def _release_count(self) -> None:
        # Hand the slot straight to the first live waiter (so no newcomer can slip in between), else free it.
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.in_use -= 1
