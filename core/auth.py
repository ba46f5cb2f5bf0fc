"""Device authentication (docs/xiaozhi-protocol.md §1.3-1.4).

Off by default. When on, a device is accepted if its Device-Id is allow-listed, or its bearer token is in the
static list, or it is an HMAC token minted by our OTA endpoint for this Client-Id/Device-Id and not expired.
HMAC token = "<sig>.<ts>", sig = urlsafe-b64(HMAC-SHA256(key, "{client_id}|{device_id}|{ts}")) without padding --
the scheme of the reference server, so devices provisioned by it keep working.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.config import AuthConfig

__all__ = ["Authenticator", "DeviceIdentity", "identity_from", "NO_TOKEN"]

NO_TOKEN = "no token sent"        # check()'s reason when the device sent none (/metrics tells it from a wrong one)


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    client_id: str
    token: str                 # bearer token without the "Bearer " prefix ("" if none)
    protocol_version: int


def identity_from(headers: Mapping[str, str], query: Mapping[str, str]) -> DeviceIdentity:
    """Read identity from handshake headers (case-insensitive), falling back to the query string for browsers."""
    lower = {k.lower(): v for k, v in headers.items()}

    def pick(header: str, *params: str) -> str:
        if lower.get(header):
            return lower[header].strip()
        for p in params:
            if query.get(p):
                return query[p].strip()
        return ""

    auth = pick("authorization", "authorization", "token")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth
    raw_version = pick("protocol-version", "protocol-version", "protocol_version", "version")
    version = int(raw_version) if raw_version.isascii() and raw_version.isdigit() else 1
    return DeviceIdentity(
        device_id=pick("device-id", "device-id", "device_id").lower(),
        client_id=pick("client-id", "client-id", "client_id"),
        token=token,
        protocol_version=version,
    )


class Authenticator:
    def __init__(self, cfg: AuthConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._cfg = cfg
        self._tokens = frozenset(cfg.tokens)
        self._devices = frozenset(d.lower() for d in cfg.allowed_devices)
        self._key = cfg.hmac_key.encode()
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._cfg.enabled

    def check(self, ident: DeviceIdentity) -> str | None:
        """None if accepted, else a log-safe reason."""
        if not self._cfg.enabled:
            return None
        if ident.device_id and ident.device_id in self._devices:
            return None
        if not ident.token:
            return NO_TOKEN
        token = ident.token.encode()      # bytes: compare_digest refuses non-ASCII str
        if any(hmac.compare_digest(token, t.encode()) for t in self._tokens):
            return None
        if self._key and self._verify_hmac(ident):
            return None
        return "token not accepted"

    def mint(self, client_id: str, device_id: str) -> str:
        """A token for the OTA response ("" when no HMAC key is configured)."""
        if not self._key:
            return ""
        ts = int(self._clock())
        return f"{self._sign(client_id, device_id.lower(), ts)}.{ts}"

    def _sign(self, client_id: str, device_id: str, ts: int) -> str:
        mac = hmac.new(self._key, f"{client_id}|{device_id}|{ts}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def _verify_hmac(self, ident: DeviceIdentity) -> bool:
        sig, _, ts_text = ident.token.rpartition(".")
        if not sig or not (ts_text.isascii() and ts_text.isdigit()):
            return False
        ts = int(ts_text)
        if self._clock() - ts > self._cfg.token_ttl_s:
            return False
        return hmac.compare_digest(sig.encode(), self._sign(ident.client_id, ident.device_id, ts).encode())
