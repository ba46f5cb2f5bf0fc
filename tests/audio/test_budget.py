"""Admission by CPU budget: the arithmetic on known inputs, the slots refusing at once past it (the hard cap still
queueing below it), the start-up measurement, the config keys' ranges, and the earliest-deadline-first workers."""
from __future__ import annotations

import asyncio
import threading

import pytest

from core.audio.budget import ColdBudget, measure_transcode_cost
from core.audio.slots import DecoderSlots
from core.audio.types import AudioBusy, AudioParams
from core.audio.work import DeadlineWork
from core.config import ConfigError, config_from_dict

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- arithmetic


def test_the_budget_holds_share_times_cores_over_the_cost() -> None:
    b = ColdBudget(cost_s=0.004, cores=2, share=0.4)
    assert b.cpu_s == pytest.approx(0.8)
    assert b.streams == 200                       # 0.8 / 0.004, not 199 from 199.99999...
    assert b.admits(199) and not b.admits(200)
    assert b.load(100) == pytest.approx(0.5) and b.load(200) == pytest.approx(1.0)
    assert b.near_full_at == 180                  # routing steers away from 90 % on


@pytest.mark.parametrize("cost, cores, share, streams", [
    (0.005, 8, 0.5, 800),
    (0.0038, 2, 0.4, 210),                        # floor(210.5)
    (0.03, 1, 0.4, 13),
    (1.0, 2, 0.05, 1),                            # a node that can afford none still plays one (not "full")
])
def test_streams_on_known_inputs(cost: float, cores: int, share: float, streams: int) -> None:
    b = ColdBudget(cost, cores, share)
    assert b.streams == streams
    assert b.admits(streams - 1) and not b.admits(streams)


def test_the_start_up_measurement_is_a_plausible_cost() -> None:
    cost = measure_transcode_cost(AudioParams(), 32000, 5, seconds=2.0)
    assert 1e-4 <= cost < 0.5                     # far faster than real time, yet not free


# --------------------------------------------------------------------------- the slots


async def test_past_the_budget_a_cold_stream_is_refused_at_once_without_queueing() -> None:
    slots = DecoderSlots(10, wait_s=30, budget=2, near_full=2)
    a, _b = await slots.acquire("d1"), await slots.acquire("d2")
    assert slots.overloaded                       # near full: /ready and the router say so
    third = asyncio.create_task(slots.acquire("d3"))
    await asyncio.sleep(0)
    assert third.done() and isinstance(third.exception(), AudioBusy)    # not queued for the 30 s wait
    assert slots.waiting == 0 and slots.busy_count == 1
    with pytest.raises(AudioBusy):
        slots.check("d3")                         # the synchronous pre-check agrees
    assert slots.try_acquire() is None            # optional work (cache fills) never overdraws the budget
    nxt = await slots.acquire("d1")               # a holder's next item is a hand-over, not a new stream
    assert nxt.overdraft
    a.release()
    slots.check("d3")                             # room again
    assert (await slots.acquire("d3")).holder == "d3"


async def test_a_hard_cap_below_the_budget_still_queues() -> None:
    slots = DecoderSlots(1, wait_s=30, budget=5)
    assert slots.limit == 1
    held = await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    while slots.waiting == 0:
        await asyncio.sleep(0)
    held.release()
    got = await waiter                            # handed over within the wait, as before the budget
    assert slots.in_use == 1 and slots.busy_count == 0
    got.release()


async def test_the_default_cap_is_a_backstop_that_refuses_at_once() -> None:
    slots = DecoderSlots(2, wait_s=30, budget=5, queue_at_cap=False)      # the budget above the per-core cap
    assert slots.limit == 2
    await slots.acquire(), await slots.acquire()
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert third.done() and isinstance(third.exception(), AudioBusy) and slots.waiting == 0


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("key, value", [("transcode_cost", 0.0001), ("transcode_cost", 2.0),
                                        ("cold_cpu_share", 0.0), ("cold_cpu_share", 1.5)])
def test_out_of_range_budget_keys_are_named(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"audio.{key}:.*use"):
        config_from_dict({"audio": {key: value}})


def test_budget_keys_in_range_load() -> None:
    cfg = config_from_dict({"audio": {"transcode_cost": 0.004, "cold_cpu_share": 0.3}})
    assert cfg.audio.transcode_cost == 0.004 and cfg.audio.cold_cpu_share == 0.3


# --------------------------------------------------------------------------- earliest deadline first


async def test_the_workers_take_the_earliest_deadline_first_and_skip_cancelled_steps() -> None:
    work = DeadlineWork(1)
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = asyncio.create_task(work.run(0.0, gate.wait, 10))
        while work.queued:                         # the only worker is inside the blocker
            await asyncio.sleep(0.01)
        late = asyncio.create_task(work.run(30.0, ran.append, "burst"))
        soon = asyncio.create_task(work.run(10.0, ran.append, "playing"))
        dropped = asyncio.create_task(work.run(5.0, ran.append, "gone"))
        first = asyncio.create_task(work.run(1.0, ran.append, "first frame"))
        while work.queued < 4:
            await asyncio.sleep(0)
        dropped.cancel()
        gate.set()
        await asyncio.gather(blocker, late, soon, first)
        assert ran == ["first frame", "playing", "burst"]
        with pytest.raises(asyncio.CancelledError):
            await dropped
    finally:
        gate.set()
        work.close()


async def test_a_failing_step_raises_in_its_caller_and_the_worker_goes_on() -> None:
    work = DeadlineWork(1)
    try:
        with pytest.raises(ZeroDivisionError):
            await work.run(0.0, lambda: 1 / 0)
        assert await work.run(0.0, sum, [1, 2]) == 3
    finally:
        work.close()
