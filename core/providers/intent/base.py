"""Intent provider interface: an utterance in, the plugin function to call out."""
from __future__ import annotations

from typing import Any, Protocol

from plugins_func.registry import Intent

__all__ = ["IntentProvider"]


class IntentProvider(Protocol):
    name: str

    async def recognize(self, text: str, context: Any) -> Intent:
        """Decide what `text` asks for. `context` is the PluginContext (now_playing, mcp_tools, ...)."""
        ...
