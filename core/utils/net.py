"""The address this machine is reached by: one answer for the ready line and for the URL a fleet node advertises."""
from __future__ import annotations

import ipaddress
import socket

__all__ = ["lan_address", "is_wildcard", "is_loopback_host"]


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "", "::")


def is_loopback_host(host: str) -> bool:
    """localhost, *.localhost, 127.x or ::1: an address no other machine reaches this one by."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lan_address(host: str) -> str:
    """The address a device on the LAN should use: the bind address, or for 0.0.0.0 this machine's outward one
    (a UDP connect sends nothing; it only asks the kernel for the route's source address); 127.0.0.1 when no
    route exists."""
    if not is_wildcard(host):
        return host
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))              # TEST-NET-1: never routed anywhere, no packet is sent
            addr = str(s.getsockname()[0])
        if not addr.startswith("0."):
            return addr
    except OSError:
        pass
    return "127.0.0.1"
