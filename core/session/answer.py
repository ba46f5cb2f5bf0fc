"""From a plugin's result to what the device does next: a pure function, no state of its own.

`plan_answer` takes what the plugin decided (speech and typed actions), whether an item is held for the device (a
request suspends what plays), and the parents' rules, and returns the segments to render and the playback command.
The session core carries the plan out; this module only decides.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.content.types import Track
from core.lang.replies import say
from core.playback.turn import Segment, SpeechSeg, TrackSeg
from core.session.playback import PlaybackCommand
from plugins_func.actions import Action, ChangeVolume, DeviceTool, Pause, PlayTrack, Stop
from plugins_func.registry import PluginResult

__all__ = ["Plan", "plan_answer"]


@dataclass(frozen=True, slots=True)
class Plan:
    segments: tuple[Segment, ...]            # what the device says and plays, in order
    playback: PlaybackCommand | None         # PLAY (`play`), PAUSE, STOP, RESUME (the held item goes on), or None
    play: PlayTrack | None = None
    volume: ChangeVolume | None = None       # a change asked for ("a lot louder"), applied within the parents' cap
    tools: tuple[DeviceTool, ...] = ()       # the device's own MCP tools an intent named
    player_actions: tuple[Action, ...] = ()  # queue, modes, timer, favourites: the Player applies them
    refused: str | None = None               # the parents' rules refused the request (a reply key)
    language: str = "en"


def plan_answer(result: PluginResult, *, held: TrackSeg | None, refusal: Callable[[Track], str | None],
                item_etag: Callable[[Track], str | None]) -> Plan:
    """`held`: the suspended item as a segment that continues it (None when nothing is held).
    `refusal(track)`: why the rules refuse a track now, or None. `item_etag(track)`: the object version the device's
    position in `track` belongs to (None when the track is not the item in hand)."""
    language = result.language or "en"
    segments: list[Segment] = [SpeechSeg(result.speech, language, announces=result.announces)] if result.speech \
        else []
    playback: PlayTrack | Pause | Stop | None = None
    volume: ChangeVolume | None = None
    tools: list[DeviceTool] = []
    others: list[Action] = []
    for action in result.actions:
        if isinstance(action, PlayTrack | Pause | Stop):
            playback = playback or action
        elif isinstance(action, ChangeVolume):
            volume = action if volume is None else ChangeVolume(volume.delta + action.delta, volume.tool)
        elif isinstance(action, DeviceTool):
            tools.append(action)
        else:
            others.append(action)
    refused = refusal(playback.track) if isinstance(playback, PlayTrack) else None

    def plan(said: list[Segment], command: PlaybackCommand | None, play: PlayTrack | None = None) -> Plan:
        return Plan(tuple(said), command, play, volume, tuple(tools), tuple(others), refused, language)

    if isinstance(playback, PlayTrack) and held is not None and result.miss_speech is not None:
        # A miss while something was held: say so (the alternative offered in words) and give the child back what
        # was playing, instead of replacing it with a random alternative.
        refused = None
        return plan([SpeechSeg(result.miss_speech, language), held], PlaybackCommand.RESUME)
    if refused is not None:
        segments = [SpeechSeg(say(refused, language), language)]          # a kind line instead
        playback = None
    if isinstance(playback, PlayTrack):
        segments.append(TrackSeg(playback.track, playback.start_ms, etag=item_etag(playback.track),
                                 language=language))
        return plan(segments, PlaybackCommand.PLAY, playback)
    if isinstance(playback, Pause):
        return plan(segments, PlaybackCommand.PAUSE)
    if isinstance(playback, Stop):
        return plan(segments, PlaybackCommand.STOP)
    if held is not None:                     # a question or a control: the held item continues after the answer
        segments.append(held)
        return plan(segments, PlaybackCommand.RESUME)
    return plan(segments, None)
