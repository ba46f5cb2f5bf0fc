"""The decoder cap on its own: FIFO hand-over, bounded waits, cancelled waiters, holders' overdraft, try_acquire."""
from __future__ import annotations

import asyncio

import pytest

from core.audio.slots import DecoderSlots
from core.audio.types import AudioBusy

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]


async def _queued(slots: DecoderSlots, n: int) -> None:
    while slots.waiting < n:
        await asyncio.sleep(0)


async def test_a_released_slot_goes_to_the_first_waiter_not_to_a_newcomer() -> None:
    slots = DecoderSlots(1, wait_s=10)
    held = await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    await _queued(slots, 1)
    held.release()
    assert slots.try_acquire() is None          # the slot was handed over, not freed
    got = await first
    assert slots.in_use == 1
    got.release()
    assert slots.in_use == 0


async def test_waits_are_bounded_and_a_cancelled_waiter_costs_nothing() -> None:
    slots = DecoderSlots(1, wait_s=0.05)
    held = await slots.acquire()
    with pytest.raises(AudioBusy):
        await slots.acquire()
    assert slots.busy_count == 1 and slots.overloaded
    slots.wait_s = 10
    waiter = asyncio.create_task(slots.acquire())
    await _queued(slots, 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.waiting == 0
    held.release()
    held.release()                               # idempotent
    assert slots.in_use == 0
    again = slots.try_acquire()
    assert again is not None and slots.in_use == 1


async def test_a_holder_gets_one_overdraft_never_two() -> None:
    slots = DecoderSlots(1, wait_s=0.05)
    current = await slots.acquire("dev-1")
    nxt = await slots.acquire("dev-1")          # the next item, opened while the current one still decodes
    assert nxt.overdraft and slots.in_use == 1
    with pytest.raises(AudioBusy):
        await slots.acquire("dev-1")            # a third is capped like anyone else
    with pytest.raises(AudioBusy):
        await slots.acquire("dev-2")
    current.release()
    nxt.release()
    assert slots.in_use == 0
    assert not slots.try_acquire("dev-2").overdraft  # type: ignore[union-attr]  # a slot is free here
