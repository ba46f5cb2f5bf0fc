"""MQTT credentials: the OTA reply's `mqtt` object and the CONNECT check that is its inverse.

client_id = GID_<board>@@@<mac_with_underscores>@@@<client uuid, or the MAC again>
username  = Base64 of a small JSON object ({"ip": <address the device used for OTA>, "fw": <its firmware version>,
            "ota": <Unix time of that OTA request>}; "fw" and "ota" are ours: the console shows them for a device
            on any node, and they are signed with the rest)
password  = Base64(HMAC-SHA256(signature key, client_id + "|" + username))

The scheme of the reference gateway (docs/protocol.md, "MQTT + UDP"), so devices it provisioned can connect here. The
signature key never leaves this module in any form but the HMAC, and no message here contains it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace

from core.mqtt.codec import ConnackCode

__all__ = ["MqttIdentity", "CredentialsRefused", "mqtt_credentials", "sign_password", "parse_client_id",
           "check_credentials", "p2p_topic", "PUBLISH_TOPIC", "mac_of"]

PUBLISH_TOPIC = "device-server"
_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")
_MAC_UNDERSCORED = re.compile(r"^[0-9A-Fa-f]{2}(?:_[0-9A-Fa-f]{2}){5}$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_CLIENT_ID = 256


@dataclass(frozen=True, slots=True)
class MqttIdentity:
    client_id: str          # the whole MQTT client identifier
    device_id: str          # the MAC, lower case with colons (the Device-Id of the WebSocket transport)
    board: str              # from GID_<board>
    client_uuid: str        # the third part (the firmware's Client-Id, or the MAC again)
    firmware: str = ""      # the firmware version of the OTA request that issued these credentials ("" unknown)
    ota_at: float = 0.0     # when that OTA request came (Unix time; 0 unknown)


class CredentialsRefused(Exception):
    """CONNECT refused; `code` goes into the CONNACK, `reason` into one log line (it never holds a secret)."""

    def __init__(self, code: ConnackCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def mac_of(device_id: str) -> str | None:
    """The canonical MAC (lower case, colons) of a Device-Id, or None if it is not a MAC."""
    mac = device_id.strip().lower().replace("-", ":")
    return mac if _MAC.match(mac) else None


def p2p_topic(device_id: str) -> str:
    """The topic the server publishes to for a device: devices/p2p/<mac_with_underscores>."""
    return "devices/p2p/" + device_id.replace(":", "_")


def sign_password(client_id: str, username: str, signature_key: str) -> str:
    mac = hmac.new(signature_key.encode(), f"{client_id}|{username}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def _safe_part(text: str, fallback: str) -> str:
    cleaned = _SAFE.sub("_", text.strip())[:64]
    return cleaned or fallback


def mqtt_credentials(*, device_id: str, client_uuid: str, board: str, ip: str, endpoint: str, signature_key: str,
                     keepalive_s: int, firmware: str = "", issued_at: float | None = None) -> dict[str, object]:
    """The OTA reply's `mqtt` object for one device. Raises ValueError when `device_id` is not a MAC (the device
    then gets no `mqtt` object and stays on WebSocket)."""
    mac = mac_of(device_id)
    if mac is None:
        raise ValueError("the Device-Id is not a MAC address")
    underscored = mac.replace(":", "_")
    client_id = f"GID_{_safe_part(board, 'xiaozhi')}@@@{underscored}@@@{_safe_part(client_uuid, underscored)}"
    fields: dict[str, object] = {"ip": ip}
    if firmware:
        fields["fw"] = firmware[:32]
    if issued_at is not None:
        fields["ota"] = int(issued_at)
    username = base64.b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode("ascii")
    return {
        "endpoint": endpoint,
        "client_id": client_id,
        "username": username,
        "password": sign_password(client_id, username, signature_key),
        "publish_topic": PUBLISH_TOPIC,
        "subscribe_topic": p2p_topic(mac),     # ignored by current firmware; older builds insist on it
        "keepalive": keepalive_s,
    }


def parse_client_id(client_id: str) -> MqttIdentity | None:
    """The identity a client id names, or None if it does not have the GID_<board>@@@<mac>@@@<uuid> shape."""
    if len(client_id) > MAX_CLIENT_ID:
        return None
    parts = client_id.split("@@@")
    if len(parts) != 3 or not parts[0].startswith("GID_") or not _MAC_UNDERSCORED.match(parts[1]) or not parts[2]:
        return None
    return MqttIdentity(client_id, parts[1].lower().replace("_", ":"), parts[0][4:], parts[2])


def check_credentials(client_id: str, username: str | None, password: bytes | None,
                      signature_key: str) -> MqttIdentity:
    """The identity of an accepted CONNECT; raises CredentialsRefused otherwise."""
    ident = parse_client_id(client_id)
    if ident is None:
        raise CredentialsRefused(ConnackCode.IDENTIFIER_REJECTED,
                                 "client id is not GID_<board>@@@<mac_with_underscores>@@@<id>")
    if not username or not password:
        raise CredentialsRefused(ConnackCode.BAD_USERNAME_OR_PASSWORD, "no user name or password")
    expected = sign_password(client_id, username, signature_key).encode("ascii")
    if not hmac.compare_digest(password, expected):
        raise CredentialsRefused(ConnackCode.NOT_AUTHORIZED, "password does not match the signature key")
    firmware, ota_at = _issued(username)
    return replace(ident, firmware=firmware, ota_at=ota_at)


def _issued(username: str) -> tuple[str, float]:
    """The firmware version and OTA time a signed username carries (credentials of another issuer have none)."""
    try:
        fields = json.loads(base64.b64decode(username, validate=True)) if len(username) <= 1024 else None
    except (ValueError, UnicodeDecodeError):
        return "", 0.0
    if not isinstance(fields, dict):
        return "", 0.0
    fw, at = fields.get("fw"), fields.get("ota")
    return (fw[:32] if isinstance(fw, str) and fw.isprintable() else "",
            float(at) if isinstance(at, int) and not isinstance(at, bool) and at > 0 else 0.0)
