"""Real-time pacing of Opus frames to a device (docs/xiaozhi-protocol.md §4.4, §6.3).

Devices buffer at most 40 frames (2.4 s) and drop what overflows, so frames go out on an absolute 60 ms
schedule with a small lead (2-3 frames; a 5-frame burst cuts off ESP32-C3 playback). After a stall (slow fetch,
TTS gap) the schedule is re-anchored instead of bursting to catch up.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Pacer"]

Clock = Callable[[], float]


class Pacer:
    """One per turn. `await send(frame)` waits until the frame is due, then sends it.

    Frame n (counted since the last anchor) is due at anchor + max(0, n - lead) * frame_s, so the first
    lead + 1 frames leave at once and the device then stays `lead` frames ahead of real time.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]], *, frame_s: float = 0.06, lead: int = 3,
                 clock: Clock = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_reanchor: Callable[[float], None] | None = None,
                 on_late: Callable[[], None] | None = None) -> None:
        self._send = send
        self._frame_s = frame_s
        self._lead = lead
        self._clock = clock
        self._sleep = sleep
        self._on_reanchor = on_reanchor    # metrics: how often and how late the device ran dry
        self._on_late = on_late            # metrics: a frame left more than half a frame after its slot
        self._anchor: float | None = None
        self._n = 0
        self.frames_sent = 0
        self.reanchors = 0
        self.max_late_s = 0.0

    async def send(self, frame: bytes) -> None:
        now = self._clock()
        if self._anchor is None:
            self._anchor, self._n = now, 0
        due = self._anchor + max(0, self._n - self._lead) * self._frame_s
        late = now - due
        if late > self._frame_s / 2 and self._on_late is not None:
            self._on_late()
        if late > self._frame_s:
            # Stalled for more than a frame: the device has drained its lead; restart the schedule from now
            # (with a fresh lead) rather than bursting the backlog into a buffer that drops overflow.
            self.max_late_s = max(self.max_late_s, late)
            self.reanchors += 1
            self._anchor, self._n, due = now, 0, now
            if self._on_reanchor is not None:
                self._on_reanchor(late)
        elif due > now:
            await self._sleep(due - now)
        await self._send(frame)
        self._n += 1
        self.frames_sent += 1

    def playout_remaining(self) -> float:
        """Seconds until the device has played everything sent so far."""
        if self._anchor is None:
            return 0.0
        end = self._anchor + self._n * self._frame_s
        return max(0.0, end - self._clock())
