"""Decode and encode steps run earliest-deadline-first on a few worker threads.

Why this and not the default thread pool: every cold stream decodes (PyAV) and encodes (Opus) in small steps off the
event loop. In the loop's default executor those steps queue first come, first served, behind everything else that
uses it, so a newcomer's lead-up burst (several seconds of audio decoded ahead at once) lands in front of the one
step a playing stream needs before its buffer runs out, and half a dozen busy threads fight the event loop for the
GIL. Here each step carries the time its first frame is needed (`Flight.deadline()`); the workers always take the
earliest, so a playing stream's next frames go before a newcomer's third second, and the newcomer's first frames
(needed now) go before everyone's decode-ahead. The burst is thereby paced by what the node can afford: it runs only
when nothing more urgent waits. Bounded parallelism (the workers) leaves the event loop a core for pacing and
sending. Admission (core/audio/budget.py) keeps the total within what the workers can do on time; ordering alone
cannot save an overloaded node.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["DeadlineWork"]

T = TypeVar("T")


class DeadlineWork:
    def __init__(self, workers: int, name: str = "audio-work") -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._name = name
        self._heap: list[tuple[float, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.done = 0                      # steps run (diagnostics)

    @property
    def queued(self) -> int:
        return len(self._heap)

    async def run(self, deadline: float, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker, before any queued step with a later `deadline` (time.monotonic seconds)."""
        fut: Future[T] = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("DeadlineWork is closed")
            if len(self._threads) < self.workers:
                self._spawn()
            heapq.heappush(self._heap, (deadline, next(self._seq), fut, fn, args))
            self._cv.notify()
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            fut.cancel()                   # still queued: it is skipped; already running: it finishes unobserved
            raise

    def _spawn(self) -> None:
        t = threading.Thread(target=self._worker, name=f"{self._name}-{len(self._threads)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _worker(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._closed:
                    self._cv.wait()
                if not self._heap:
                    return
                _, _, fut, fn, args = heapq.heappop(self._heap)
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:   # noqa: BLE001 - handed to the awaiting coroutine
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            self.done += 1

    def close(self) -> None:
        """Stop the workers once the queue is empty (queued steps still run)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
