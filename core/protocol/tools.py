"""The firmware's own MCP tools this server calls (docs/xiaozhi-protocol.md §3.6; anchors-mqtt-udp.md §1.6).

The device is the MCP server. Tools marked user-only are listed only when `tools/list` asks with
`withUserTools: true`, and only the operator may have them called.
"""
from __future__ import annotations

__all__ = ["GET_DEVICE_STATUS", "SET_VOLUME", "REBOOT", "UPGRADE_FIRMWARE", "USER_ONLY"]

GET_DEVICE_STATUS = "self.get_device_status"      # {audio_speaker: {volume}, battery: {level, charging}, network...}
SET_VOLUME = "self.audio_speaker.set_volume"       # {"volume": 0-100}
REBOOT = "self.reboot"                             # user-only
UPGRADE_FIRMWARE = "self.upgrade_firmware"         # user-only, {"url": ...}
USER_ONLY = frozenset({REBOOT, UPGRADE_FIRMWARE})
