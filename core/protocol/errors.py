"""Close codes and transport errors of the device connection (RFC 6455 §7.4.1 codes; 4xxx are ours).

Every way a session ends maps to exactly one code here; the connection shell is the only place that closes.
"""
from __future__ import annotations

from enum import IntEnum

__all__ = ["CloseCode", "SendError"]


class CloseCode(IntEnum):
    NORMAL = 1000            # idle timeout, or the device's own close
    GOING_AWAY = 1001        # this node is shutting down or draining: reconnect (through OTA) elsewhere
    POLICY = 1008            # no hello in time, or a protocol rule broken
    TOO_BIG = 1009           # a message larger than server.max_message_bytes
    INTERNAL = 1011          # a bug or a failed send; logged with its traceback
    SERVICE_RESTART = 1012   # planned restart: the device should reconnect soon
    TRY_AGAIN = 1013         # the node is past its capacity
    REPLACED = 4000          # a newer connection with the same Device-Id took over this device


class SendError(Exception):
    """The connection can no longer take data (the device went away or the socket broke)."""
