"""Transport controls: stop, pause, resume, next, previous, repeat, what_playing, volume_up, volume_down.

Each returns PluginResult(control=...). The session applies the control to the current playback; next, previous
and repeat already carry the item to play (`play`), so the session only has to play it. Pause and resume are
not supported by playback yet and say so instead of doing nothing silently.
"""
from __future__ import annotations

from core.content.types import Kind, MatchResult, MatchType, Track
from plugins_func.functions.play_music import spoken_title
from plugins_func.registry import Control, PluginContext, PluginFunction, PluginResult, register_function

__all__ = ["CONTROL_FUNCTIONS", "VOLUME_STEP"]

VOLUME_STEP = 10                      # percent per "louder" / "softer"
_NO_PARAMS = {"type": "object", "properties": {}, "required": []}
_PREFERRED_VOLUME_TOOL = "self.audio_speaker.set_volume"


def _recent(conn: PluginContext) -> list[str]:
    return [u for u in (conn.recent or ()) if isinstance(u, str)]


def _lookup(conn: PluginContext, uid: str) -> Track | None:
    return conn.content.matcher.track(uid)


def _current(conn: PluginContext) -> Track | None:
    """What is playing, else what played last (a finished song can still be repeated or skipped)."""
    if conn.now_playing is not None:
        return conn.now_playing
    for uid in reversed(_recent(conn)):
        t = _lookup(conn, uid)
        if t is not None:
            return t
    return None


def _nothing(text: str = "Nothing is playing right now. Ask me for a song or a story!") -> PluginResult:
    return PluginResult(speech=text, language="en")


@register_function("stop", "Stop the song or story that is playing now.", _NO_PARAMS)
def stop(conn: PluginContext) -> PluginResult:
    return PluginResult(speech=None, control=Control.STOP)


@register_function("pause", "Pause what is playing.", _NO_PARAMS)
def pause(conn: PluginContext) -> PluginResult:
    return PluginResult(speech="I can't pause yet. Say stop to stop, and ask again to hear it from the start.",
                        language="en", data={"unsupported": Control.PAUSE.value})


@register_function("resume", "Continue what was paused.", _NO_PARAMS)
def resume(conn: PluginContext) -> PluginResult:
    t = _current(conn)
    hint = f" Say: play {t.display_title}." if t is not None else ""
    return PluginResult(speech=f"I can't continue from where we stopped yet.{hint}", language="en",
                        data={"unsupported": Control.RESUME.value})


@register_function("next", "Play another item from the same collection as the current one.", _NO_PARAMS)
def next_item(conn: PluginContext) -> PluginResult:
    cur = _current(conn)
    if cur is None:
        return _nothing()
    matcher = conn.content.matcher
    avoid = set(_recent(conn)) | {cur.uid}
    nxt = matcher.pick(kind=cur.kind, collection=cur.collection, avoid=avoid)
    if nxt is None or nxt.uid == cur.uid:
        nxt = matcher.pick(kind=cur.kind, avoid=avoid)
    if nxt is None or nxt.uid == cur.uid:
        return PluginResult(speech="That's the only one I have.", language="en", control=Control.NEXT)
    noun = "story" if nxt.kind is Kind.STORY else "song"
    return PluginResult(speech=f"Next {noun}: {spoken_title(nxt, 'en')}.", language="en", control=Control.NEXT,
                        play=nxt, match=MatchResult(nxt, MatchType.COLLECTION, notes=("next",)))


@register_function("previous", "Play the item that was played before the current one.", _NO_PARAMS)
def previous(conn: PluginContext) -> PluginResult:
    recent = _recent(conn)
    cur = _current(conn)
    for uid in reversed(recent):
        if cur is not None and uid == cur.uid:
            continue
        t = _lookup(conn, uid)
        if t is not None:
            return PluginResult(speech=f"Going back to {spoken_title(t, 'en')}.", language="en",
                                control=Control.PREVIOUS, play=t,
                                match=MatchResult(t, MatchType.COLLECTION, notes=("previous",)))
    return _nothing("There's nothing before this one.")


@register_function("repeat", "Play the current (or last) item again from the start.", _NO_PARAMS)
def repeat(conn: PluginContext) -> PluginResult:
    cur = _current(conn)
    if cur is None:
        return _nothing("Nothing has played yet. Ask me for a song or a story!")
    return PluginResult(speech=f"Once more: {spoken_title(cur, 'en')}.", language="en", control=Control.REPEAT,
                        play=cur, match=MatchResult(cur, MatchType.COLLECTION, notes=("repeat",)))


@register_function("what_playing", "Say the title of what is playing.", _NO_PARAMS)
def what_playing(conn: PluginContext) -> PluginResult:
    cur = conn.now_playing
    if cur is None:
        return PluginResult(speech="Nothing is playing right now.", language="en", control=Control.WHAT_PLAYING)
    what = "the story" if cur.kind is Kind.STORY else "the song"
    return PluginResult(speech=f"This is {what} {spoken_title(cur, 'en')}.", language="en",
                        control=Control.WHAT_PLAYING, data={"uid": cur.uid})


def _volume(conn: PluginContext, control: Control, delta: int) -> PluginResult:
    tools = conn.mcp_tools or {}
    name = _PREFERRED_VOLUME_TOOL if _PREFERRED_VOLUME_TOOL in tools else next(
        (n for n in tools if "volume" in n.lower() and "set" in n.lower()), None)
    if name is None:
        return PluginResult(speech="I can't change the volume on this speaker. Please use its buttons.",
                            language="en", data={"unsupported": control.value})
    return PluginResult(speech=None, control=control, data={"tool": name, "delta": delta})


@register_function("volume_up", "Make the speaker louder.", _NO_PARAMS)
def volume_up(conn: PluginContext) -> PluginResult:
    return _volume(conn, Control.VOLUME_UP, VOLUME_STEP)


@register_function("volume_down", "Make the speaker quieter.", _NO_PARAMS)
def volume_down(conn: PluginContext) -> PluginResult:
    return _volume(conn, Control.VOLUME_DOWN, -VOLUME_STEP)


CONTROL_FUNCTIONS: tuple[PluginFunction, ...] = (stop, pause, resume, next_item, previous, repeat, what_playing,
                                                 volume_up, volume_down)
