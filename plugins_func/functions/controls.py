"""The player's controls: pause, resume, stop, next, previous, play again, repeat and shuffle modes, the queue,
the sleep timer, what is playing, history and favourites, and the volume.

Each reads the device's state from the context (frozen when the request was understood: playback is suspended
while a request is understood, so it is exact) and returns typed actions for the player. Replies follow the
language the child spoke.
"""
from __future__ import annotations

from collections.abc import Callable

from core.content.types import Kind, MatchResult, MatchType, Track
from core.devices.state import PlaybackState, Repeat
from core.lang.controls import MAX_STEPS
from core.lang.replies import NOUNS, duration_words, join_titles, say
from core.protocol.tools import SET_VOLUME
from core.providers.intent.contract import PLAYER_FUNCTIONS
from plugins_func.actions import (
    CancelTimer,
    ChangeVolume,
    Enqueue,
    Favourite,
    Pause,
    PlayTrack,
    SetModes,
    SetTimer,
    Stop,
)
from plugins_func.functions.play_music import TITLE_LEVELS, spoken_title
from plugins_func.registry import Handler, PluginContext, PluginFunction, PluginResult, register_function

__all__ = ["CONTROL_FUNCTIONS", "VOLUME_STEP"]

VOLUME_STEP = 10                      # percent per "louder" / "softer"; "a lot louder" is MAX_STEPS of them


def player(name: str) -> Callable[[Handler], PluginFunction]:
    """Register a player function under the schema the intent recognisers are built against (one contract)."""
    spec = PLAYER_FUNCTIONS[name]
    return register_function(name, spec.description, spec.parameters)

_PREFERRED_VOLUME_TOOL = SET_VOLUME


def _reply(ctx: PluginContext, key: str, *actions: object, **slots: str) -> PluginResult:
    text = say(key, ctx.language, **slots)
    return PluginResult(speech=text or None, language=ctx.language,
                        actions=tuple(actions))   # type: ignore[arg-type]  # callers pass Action values only


def _noun(ctx: PluginContext, kind: str) -> str:
    return NOUNS.get(kind, NOUNS["music"]).get(ctx.language, NOUNS.get(kind, NOUNS["music"])["en"])


def _title(ctx: PluginContext, track: Track) -> str:
    return spoken_title(track, ctx.language)


def _last_track(ctx: PluginContext) -> Track | None:
    """The item in hand, else the most recent play the catalog still has."""
    if ctx.now_playing is not None:
        return ctx.now_playing
    for p in ctx.device.history:
        t = ctx.catalog.track(p.uid)
        if t is not None:
            return t
    return None


# ------------------------------------------------------------------------------------------- transport

@player("stop")
def stop(ctx: PluginContext) -> PluginResult:
    return PluginResult(language=ctx.language, actions=(Stop(),))


@player("pause")
def pause(ctx: PluginContext) -> PluginResult:
    if ctx.device.item is None:
        return _reply(ctx, "nothing_playing")
    return _reply(ctx, "paused", Pause())


@player("resume")
def resume(ctx: PluginContext, target: str = "any") -> PluginResult:
    kind = {"story": "story", "song": "music"}.get(target)
    item = ctx.device.item
    if item is not None and (kind is None or item.kind == kind):
        track = ctx.catalog.track(item.uid)
        if track is None:
            return _reply(ctx, "cannot_find_any_more", title=item.title)
        # A pause the child asked for resumes silently; anything else says what continues.
        action = PlayTrack(track, start_ms=item.position_ms, keep_queue=True)
        if ctx.device.playback is PlaybackState.PAUSED:
            return PluginResult(language=ctx.language, actions=(action,))
        return _resumed(ctx, action, track)
    played = ctx.device.last_unfinished(kind)
    if played is None:
        return _reply(ctx, "nothing_to_resume")
    track = ctx.catalog.track(played.uid)
    if track is None:
        return _reply(ctx, "cannot_find_any_more", title=played.title)
    return _resumed(ctx, PlayTrack(track, start_ms=played.position_ms), track)


def _resumed(ctx: PluginContext, action: PlayTrack, track: Track) -> PluginResult:
    """"Carrying on with <title>" only announces: after a node restart hundreds of devices resume at once, each
    title needs its own line, and the story must not wait behind the renders (a line not ready in time is skipped
    and lands in the phrase cache for the next time)."""
    r = _reply(ctx, "resumed", action, title=_title(ctx, track))
    return PluginResult(speech=r.speech, language=r.language, actions=r.actions, announces=True)


@player("next")
def next_item(ctx: PluginContext) -> PluginResult:
    dev = ctx.device
    for i in range(dev.index + 1, len(dev.queue)):
        track = ctx.catalog.track(dev.queue[i])
        if track is not None:
            return _announce_next(ctx, PlayTrack(track, queue=dev.queue, index=i, continuous=dev.continuous,
                                                 keep_queue=True))
    cur = _last_track(ctx)
    if cur is None:
        return _reply(ctx, "nothing_playing")
    avoid = set(ctx.recent) | {cur.uid}
    nxt = ctx.catalog.pick(kind=cur.kind, collection=cur.collection, avoid=avoid)
    if nxt is None or nxt.uid == cur.uid:
        nxt = ctx.catalog.pick(kind=cur.kind, avoid=avoid)
    if nxt is None or nxt.uid == cur.uid:
        return _reply(ctx, "only_one")
    return _announce_next(ctx, PlayTrack(nxt, queue=(*dev.queue, nxt.uid) if dev.queue else (nxt.uid,),
                                         index=len(dev.queue) if dev.queue else 0, continuous=dev.continuous))


def _announce_next(ctx: PluginContext, action: PlayTrack) -> PluginResult:
    r = _reply(ctx, "next_item", action, what=_noun(ctx, action.track.kind.value), title=_title(ctx, action.track))
    return PluginResult(speech=r.speech, language=r.language, actions=r.actions, announces=True,
                        match=MatchResult(action.track, MatchType.COLLECTION, notes=("next",)))


@player("previous")
def previous(ctx: PluginContext) -> PluginResult:
    dev = ctx.device
    for i in range(min(dev.index, len(dev.queue)) - 1, -1, -1):
        track = ctx.catalog.track(dev.queue[i])
        if track is not None:
            return _reply(ctx, "previous_item", PlayTrack(track, queue=dev.queue, index=i, continuous=dev.continuous,
                                                          keep_queue=True), title=_title(ctx, track))
    current = dev.item.uid if dev.item else None
    for p in dev.history:
        if p.uid == current:
            continue
        track = ctx.catalog.track(p.uid)
        if track is not None:
            return _reply(ctx, "previous_item", PlayTrack(track), title=_title(ctx, track))
    return _reply(ctx, "nothing_before")


@player("play_again")
def play_again(ctx: PluginContext) -> PluginResult:
    cur = _last_track(ctx)
    if cur is None:
        return _reply(ctx, "nothing_played")
    keep = ctx.device.item is not None and ctx.device.item.uid == cur.uid
    return _reply(ctx, "once_more", PlayTrack(cur, keep_queue=keep), title=_title(ctx, cur))


@player("set_repeat")
def set_repeat(ctx: PluginContext, mode: str = "one") -> PluginResult:
    repeat = Repeat(mode) if mode in ("one", "all", "off") else Repeat.ONE
    return _reply(ctx, f"repeat_{repeat.value}", SetModes(repeat=repeat))


@player("shuffle")
def shuffle(ctx: PluginContext, on: bool = True) -> PluginResult:
    return _reply(ctx, "shuffle_on" if on else "shuffle_off", SetModes(shuffle=bool(on)))


# ------------------------------------------------------------------------------------------- the queue

@player("enqueue")
def enqueue(ctx: PluginContext, user_request: str, position: str = "next") -> PluginResult:
    found = ctx.catalog.find_content_match(user_request if isinstance(user_request, str) else "")
    if found.track is None or found.match_type not in TITLE_LEVELS:
        return PluginResult(speech=say("not_found", ctx.language, requested=found.requested or user_request[:60]),
                            language=ctx.language, match=found)
    track = found.track
    if ctx.device.item is None:                        # nothing to queue behind: play it now
        key = "now_telling" if track.kind is Kind.STORY else "now_playing"
        return PluginResult(speech=say(key, ctx.language, title=_title(ctx, track)), language=ctx.language,
                            actions=(PlayTrack(track),), match=found, announces=True)
    nxt = position != "end"
    r = _reply(ctx, "queued_next" if nxt else "queued_end", Enqueue(track, next=nxt), title=_title(ctx, track))
    return PluginResult(speech=r.speech, language=r.language, actions=r.actions, match=found)


@player("whats_next")
def whats_next(ctx: PluginContext) -> PluginResult:
    uid = ctx.device.upcoming()
    track = ctx.catalog.track(uid) if uid else None
    if track is None or ctx.device.timer is not None and ctx.device.timer.after_item:
        return _reply(ctx, "nothing_next")
    return _reply(ctx, "up_next", title=_title(ctx, track))


# ------------------------------------------------------------------------------------------- sleep timer

@player("sleep_timer")
def sleep_timer(ctx: PluginContext, minutes: float | None = None, after: str | None = None) -> PluginResult:
    if after == "item" or minutes is None:
        item = ctx.device.item
        what = _noun(ctx, item.kind if item else "music")
        return _reply(ctx, "timer_set_after_item", SetTimer(after_item=True), what=what)
    minutes = max(1.0, min(720.0, float(minutes)))
    return _reply(ctx, "timer_set_minutes", SetTimer(minutes=minutes),
                  minutes=duration_words(round(minutes), ctx.language))


@player("cancel_timer")
def cancel_timer(ctx: PluginContext) -> PluginResult:
    if ctx.device.timer is None:
        return _reply(ctx, "no_timer")
    return _reply(ctx, "timer_cancelled", CancelTimer())


# ------------------------------------------------------------------------------------------- questions

@player("what_playing")
def what_playing(ctx: PluginContext) -> PluginResult:
    item = ctx.device.item
    if item is None:
        return _reply(ctx, "nothing_playing")
    track = ctx.catalog.track(item.uid)
    title = _title(ctx, track) if track is not None else item.title
    return _reply(ctx, "now_is", what=_what_kind(ctx, item.kind), title=title)


def _what_kind(ctx: PluginContext, kind: str) -> str:
    noun = _noun(ctx, kind)
    return f"the {noun}" if ctx.language == "en" else noun


@player("what_was_that")
def what_was_that(ctx: PluginContext) -> PluginResult:
    played = ctx.device.history[0] if ctx.device.history else None
    if played is None:
        return _reply(ctx, "nothing_played")
    track = ctx.catalog.track(played.uid)
    return _reply(ctx, "was_that", what=_noun(ctx, played.kind),
                  title=_title(ctx, track) if track is not None else played.title)


@player("history")
def history(ctx: PluginContext) -> PluginResult:
    titles: list[str] = []
    for p in ctx.device.history:
        track = ctx.catalog.track(p.uid)
        t = _title(ctx, track) if track is not None else p.title
        if t not in titles:
            titles.append(t)
        if len(titles) == 4:
            break
    if not titles:
        return _reply(ctx, "history_empty")
    return _reply(ctx, "history_intro", titles=join_titles(titles, ctx.language))


# ------------------------------------------------------------------------------------------- favourites

@player("favourite")
def favourite(ctx: PluginContext, add: bool = True) -> PluginResult:
    cur = _last_track(ctx)
    if cur is None:
        return _reply(ctx, "nothing_played")
    return _reply(ctx, "favourite_added" if add else "favourite_removed", Favourite(cur.uid, add=bool(add)),
                  title=_title(ctx, cur))


@player("play_favourites")
def play_favourites(ctx: PluginContext) -> PluginResult:
    uids = tuple(u for u in ctx.device.favourites if ctx.catalog.track(u) is not None)
    if not uids:
        return _reply(ctx, "no_favourites")
    first = ctx.catalog.track(uids[0])
    assert first is not None
    return PluginResult(speech=say("now_playing", ctx.language, title=_title(ctx, first)), language=ctx.language,
                        actions=(PlayTrack(first, queue=uids, continuous=True),), announces=True,
                        match=MatchResult(first, MatchType.COLLECTION, notes=("favourites",), group=uids))


# ------------------------------------------------------------------------------------------- volume

def _volume(ctx: PluginContext, delta: int) -> PluginResult:
    tools = ctx.tools
    name = _PREFERRED_VOLUME_TOOL if _PREFERRED_VOLUME_TOOL in tools else next(
        (n for n in tools if "volume" in n.lower() and "set" in n.lower()), None)
    if name is None:
        return _reply(ctx, "no_volume")
    # While something plays, the change itself is the answer; otherwise say it.
    key = "louder" if delta > 0 else "quieter"
    speech = None if ctx.device.playback in (PlaybackState.PLAYING, PlaybackState.SUSPENDED) else \
        say(key, ctx.language)
    return PluginResult(speech=speech, language=ctx.language, actions=(ChangeVolume(delta, name),))


def _steps(steps: int) -> int:
    """1..MAX_STEPS (the registry already dropped a value that is not a JSON integer)."""
    return max(1, min(MAX_STEPS, steps)) if isinstance(steps, int) else 1


@player("volume_up")
def volume_up(ctx: PluginContext, steps: int = 1) -> PluginResult:
    return _volume(ctx, VOLUME_STEP * _steps(steps))


@player("volume_down")
def volume_down(ctx: PluginContext, steps: int = 1) -> PluginResult:
    return _volume(ctx, -VOLUME_STEP * _steps(steps))


CONTROL_FUNCTIONS: tuple[PluginFunction, ...] = (
    stop, pause, resume, next_item, previous, play_again, set_repeat, shuffle, enqueue, whats_next, sleep_timer,
    cancel_timer, what_playing, what_was_that, history, favourite, play_favourites, volume_up, volume_down)
