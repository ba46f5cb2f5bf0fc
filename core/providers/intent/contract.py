"""The player functions an intent recogniser may call, with their JSON-schema arguments (OpenAI tools shape).

The rule recogniser emits exactly these names and arguments; the plugin functions that implement them can register
with these schemas (`register_function(name, spec.description, spec.parameters)`), so an LLM provider offered the
same tools asks for the same things.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FunctionSpec", "PLAYER_FUNCTIONS", "SLEEP_MINUTES"]

SLEEP_MINUTES = (1, 720)          # a sleep timer's bounds: one minute to twelve hours


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    description: str
    parameters: dict[str, Any]


def _obj(properties: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties or {}, "required": list(required)}


_VOLUME_STEPS = {"type": "integer", "minimum": 1, "maximum": 3,
                 "description": "1 for 'a little' or a plain request, 3 for 'a lot' / 'much'."}

PLAYER_FUNCTIONS: dict[str, FunctionSpec] = {
    "pause": FunctionSpec("Pause what is playing and keep its place (wait, hold on, one minute).", _obj()),
    "resume": FunctionSpec(
        "Continue what was paused or stopped, from where it stopped.",
        _obj({"target": {"type": "string", "enum": ["any", "story", "song"],
                         "description": "'story' for 'continue my story', 'song' for 'continue the song'."}})),
    "stop": FunctionSpec("Stop the song or story that is playing now.", _obj()),
    "next": FunctionSpec("Skip to the next item.", _obj()),
    "previous": FunctionSpec("Go back to the item played before this one.", _obj()),
    "play_again": FunctionSpec("Play the current (or last) item again from the beginning.", _obj()),
    "set_repeat": FunctionSpec(
        "Repeat this item, repeat the whole queue, or stop repeating.",
        _obj({"mode": {"type": "string", "enum": ["one", "all", "off"]}}, ("mode",))),
    "shuffle": FunctionSpec("Turn shuffle on or off.", _obj({"on": {"type": "boolean"}}, ("on",))),
    "enqueue": FunctionSpec(
        "Queue a song or story: 'play X next' (position next) or 'add X' (position end).",
        _obj({"user_request": {"type": "string", "description": "Only the title words, e.g. 'baby shark'."},
              "position": {"type": "string", "enum": ["next", "end"]}}, ("user_request",))),
    "whats_next": FunctionSpec("Say what plays after the current item.", _obj()),
    "sleep_timer": FunctionSpec(
        "Stop playing later: after a number of minutes, or at the end of the current item. Give one of the two.",
        _obj({"minutes": {"type": "integer", "minimum": SLEEP_MINUTES[0], "maximum": SLEEP_MINUTES[1]},
              "after": {"type": "string", "enum": ["item"]}})),
    "cancel_timer": FunctionSpec("Cancel the sleep timer.", _obj()),
    "what_playing": FunctionSpec("Say what is playing (title, singer, song or story).", _obj()),
    "what_was_that": FunctionSpec("Say what the last item was.", _obj()),
    "history": FunctionSpec("Say what was listened to recently.", _obj()),
    "favourite": FunctionSpec("Add the current item to favourites, or remove it.",
                              _obj({"add": {"type": "boolean"}}, ("add",))),
    "play_favourites": FunctionSpec("Play the favourites.", _obj()),
    "volume_up": FunctionSpec("Make the speaker louder.", _obj({"steps": _VOLUME_STEPS})),
    "volume_down": FunctionSpec("Make the speaker quieter.", _obj({"steps": _VOLUME_STEPS})),
}
