"""The default plugin functions, and a headless PluginContext for running them without a device."""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.content.types import Track
from plugins_func.registry import PluginFunction

__all__ = ["default_functions", "HeadlessContext"]


def default_functions() -> list[PluginFunction]:
    """play_music, play_story and the transport controls, as registered PluginFunctions."""
    from plugins_func.functions.controls import CONTROL_FUNCTIONS
    from plugins_func.functions.play_music import play_music
    from plugins_func.functions.play_story import play_story
    return [play_music, play_story, *CONTROL_FUNCTIONS]


@dataclass
class HeadlessContext:
    """A PluginContext with no device: nothing playing, no MCP tools (used by `app.py match` and tests)."""
    content: Any                                    # ContentService (catalog + matcher)
    device_id: str = "headless"
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    now_playing: Track | None = None
    mcp_tools: Mapping[str, Any] = field(default_factory=dict)
