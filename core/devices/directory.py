"""Which live connection owns a device: one live session per Device-Id.

A device that reconnects (a half-open TCP connection after Wi-Fi trouble is common) must not have two sessions
writing its state. `claim()` makes the caller the owner; an older owner is asked to save its state and close first,
so the new session loads the state only after that save (no lost or stale position). The local directory covers one
process; a fleet uses the Redis directory (leases plus a takeover message to the owning node), same interface.
"""
from __future__ import annotations

import asyncio
from typing import Protocol

from loguru import logger

from core.devices.commands import Command
from core.devices.view import SessionView

__all__ = ["Owner", "DeviceDirectory", "LocalDirectory"]


class Owner(Protocol):
    """A live connection as the directory sees it."""
    device_id: str

    async def evict(self, reason: str) -> None:
        """Save the device's state, then close the connection (a newer one took over). Must not raise."""
        ...

    def command(self, cmd: Command) -> bool:
        """Hand a command to the device's session, which decides what it means; False when the session can no
        longer take it (it is closing). Must not raise."""
        ...

    def view(self) -> SessionView:
        """What the operator may see of the session now."""
        ...


class DeviceDirectory(Protocol):
    async def claim(self, owner: Owner) -> None:
        """Make `owner` the device's only live session; returns once any older owner has saved and closed."""
        ...

    async def release(self, owner: Owner) -> None:
        """`owner` is gone (it saved its state already)."""
        ...


class LocalDirectory:
    """Owners within this process."""

    def __init__(self, *, evict_timeout_s: float = 5.0) -> None:
        self._owners: dict[str, Owner] = {}
        self._timeout = evict_timeout_s

    async def claim(self, owner: Owner) -> None:
        old = self._owners.get(owner.device_id)
        self._owners[owner.device_id] = owner
        if old is None or old is owner:
            return
        logger.info("device {} connected again; closing its older session after saving it", owner.device_id)
        try:
            async with asyncio.timeout(self._timeout):
                await old.evict("replaced by a newer connection")
        except TimeoutError:
            logger.error("older session of {} did not close within {:.0f} s", owner.device_id, self._timeout)

    async def release(self, owner: Owner) -> None:
        if self._owners.get(owner.device_id) is owner:
            del self._owners[owner.device_id]

    def owner(self, device_id: str) -> Owner | None:
        return self._owners.get(device_id)
