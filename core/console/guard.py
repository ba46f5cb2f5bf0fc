"""Who is calling the console API: the operator token or the household's parent token, in a header (never a
cookie, so a page on another site cannot make the browser send it: CSRF-safe), compared in constant time, with
wrong tokens rate-limited per client address."""
from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Role", "Caller", "TokenGuard", "token_from"]

_MAX_CLIENTS = 10_000          # addresses remembered for the rate limit (the oldest are forgotten first)
_WINDOW_S = 60.0


class Role(StrEnum):
    OPERATOR = "operator"
    PARENT = "parent"


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    devices: tuple[str, ...] = ()      # for a parent: the devices the token may manage (empty: every device)

    def may_manage(self, device_id: str) -> bool:
        return self.role is Role.OPERATOR or not self.devices or device_id in self.devices


def token_from(headers: dict[str, str] | object) -> str:
    """X-Operator-Token, X-Parent-Token or `Authorization: Bearer ...`."""
    get = headers.get
    given = get("X-Operator-Token", "") or get("X-Parent-Token", "")
    auth = get("Authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return str(given)[:512]


@dataclass(slots=True)
class TokenGuard:
    operator_token: str = ""
    parent_token: str = ""
    parent_devices: tuple[str, ...] = ()
    attempts_per_min: int = 10
    clock: object = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.operator_token or self.parent_token)

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again (0: it may)."""
        now = self.clock()  # type: ignore[operator]  # clock is callable (typed object: not read as a method)
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
        self._failures.setdefault(client, deque()).append(self.clock())  # type: ignore[operator]  # clock is callable
