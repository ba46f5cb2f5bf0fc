"""Who is calling: a device (no token: what any device may call), the household's parent token or the operator
token, in a header (never a cookie, so a page on another site cannot make the browser send it: CSRF-safe), compared
in constant time, with wrong tokens rate-limited per client address.

401: the token is missing or wrong (counted toward the limit). 403: a valid token of a role the route is not for, or
for a device it may not manage (not counted: the caller proved who it is). 429: too many wrong tokens lately.
"""
from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

__all__ = ["Role", "Roles", "ANYONE", "HOUSEHOLD", "OPERATOR", "Caller", "TokenGuard", "token_from", "CALLER",
           "DEVICE_ID"]

_MAX_CLIENTS = 10_000          # addresses remembered for the rate limit (the oldest are forgotten first)
_WINDOW_S = 60.0


class Role(StrEnum):
    DEVICE = "device"          # no token: a speaker asking for its configuration, a monitor, a browser page
    PARENT = "parent"
    OPERATOR = "operator"


Roles = frozenset[Role]
ANYONE: Roles = frozenset(Role)                           # open: no token needed
HOUSEHOLD: Roles = frozenset({Role.PARENT, Role.OPERATOR})
OPERATOR: Roles = frozenset({Role.OPERATOR})


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    devices: tuple[str, ...] = ()      # for a parent: the devices the token may manage (empty: every device)

    def may_manage(self, device_id: str) -> bool:
        if self.role is Role.OPERATOR:
            return True
        return self.role is Role.PARENT and (not self.devices or device_id in self.devices)


CALLER = web.RequestKey("caller", Caller)       # set by the middleware before any handler runs
DEVICE_ID = web.RequestKey("device_id", str)    # the URL's device, checked: usable, and one the caller may manage


def token_from(headers: Mapping[str, str]) -> str:
    """X-Operator-Token, X-Parent-Token or `Authorization: Bearer ...`."""
    given = headers.get("X-Operator-Token", "") or headers.get("X-Parent-Token", "")
    auth = headers.get("Authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return given[:512]


@dataclass(slots=True)
class TokenGuard:
    operator_token: str = ""
    parent_token: str = ""
    parent_devices: tuple[str, ...] = ()
    attempts_per_min: int = 10
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    @property
    def configured(self) -> Roles:
        """The token roles that can sign in at all (a role without a token is off)."""
        return frozenset(role for role, token in ((Role.OPERATOR, self.operator_token),
                                                  (Role.PARENT, self.parent_token)) if token)

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again (0: it may)."""
        now = self.clock()
        q = self._failures.get(client)
        if q is None:
            return 0.0
        while q and now - q[0] >= _WINDOW_S:
            q.popleft()
        if not q:
            del self._failures[client]
            return 0.0
        return _WINDOW_S - (now - q[0]) if len(q) >= self.attempts_per_min else 0.0

    def check(self, token: str, client: str) -> Caller | None:
        """The caller a token stands for, or None (counted against `client`)."""
        given = token.encode()
        if self.operator_token and hmac.compare_digest(given, self.operator_token.encode()):
            return Caller(Role.OPERATOR)
        if self.parent_token and hmac.compare_digest(given, self.parent_token.encode()):
            return Caller(Role.PARENT, self.parent_devices)
        self._fail(client)
        return None

    def _fail(self, client: str) -> None:
        if client not in self._failures and len(self._failures) >= _MAX_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(self.clock())
