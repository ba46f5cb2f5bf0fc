"""The default plugin functions."""
from __future__ import annotations

from plugins_func.registry import PluginFunction

__all__ = ["default_functions"]


def default_functions() -> list[PluginFunction]:
    """play_music, play_story and the player's controls, as registered PluginFunctions."""
    from plugins_func.functions.controls import CONTROL_FUNCTIONS
    from plugins_func.functions.play_music import play_music
    from plugins_func.functions.play_story import play_story
    return [play_music, play_story, *CONTROL_FUNCTIONS]
