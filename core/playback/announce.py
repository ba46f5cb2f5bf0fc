"""Announcements rendered ahead: every track's "Now playing <title>." is in the phrase cache before anyone asks.

The replies a loaded node gives most (`REPLIES_AHEAD`: "busy", "couldn't play that one", "didn't catch that") go
first: "busy" is said exactly when the node has the least CPU to spare for rendering it.

When the catalog loads or changes, `AnnouncementWarmer` walks the tracks and pre-renders each announcement at low
priority (a device's reply always goes first), in English and, when the title is written in a native script, also
in that language. The texts are exactly what the play plugins say (`core.lang.replies.say` with `spoken_title`), so
a later reply hits the cache whether it goes through `SpeechRenderer.announcement()` or `frames()`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from core.content.types import Kind, Track
from core.lang import registry
from core.lang.replies import say
from core.lang.script import native_language
from core.playback.speech import SpeechRenderer

__all__ = ["REPLIES_AHEAD", "AnnouncementWarmer", "announcement_phrases", "replies_ahead"]

Phrases = Callable[[Track], list[tuple[str, str]]]

REPLIES_AHEAD = ("busy", "cannot_play", "didnt_catch")      # replies with no slot, said under load


def replies_ahead() -> list[tuple[str, str]]:
    """(text, language) of `REPLIES_AHEAD` in every registered language."""
    return list(dict.fromkeys((say(key, lang.code), lang.code) for key in REPLIES_AHEAD
                              for lang in registry.languages()))


def announcement_phrases(track: Track) -> list[tuple[str, str]]:
    """(text, language) of the track's announcement as the play plugins word it."""
    from plugins_func.functions.play_music import spoken_title  # the plugins own the wording of a title
    key = "now_telling" if track.kind is Kind.STORY else "now_playing"
    out = [(say(key, "en", title=spoken_title(track, "en")), "en")]
    native = native_language(track.title)
    if native is not None and not track.title.strip().isascii():
        out.append((say(key, native, title=spoken_title(track, native)), native))
    return out


class AnnouncementWarmer:
    """`start()` once the catalog is loaded; it re-runs by itself after every catalog change."""

    def __init__(self, speech: SpeechRenderer, content: Any, *, phrases: Phrases = announcement_phrases,
                 ahead: Iterable[tuple[str, str]] = ()) -> None:
        self._speech = speech
        self._content = content           # ContentService: tracks() and on_change(callback)
        self._phrases = phrases
        self._ahead = list(ahead)         # rendered before the announcements, on every pass (cached: free)
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self.rendered = 0                 # phrases this process synthesised or fetched into the cache
        self.failed = 0
        self.passes = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._content.on_change(self.schedule)
        self.schedule()

    def schedule(self) -> None:
        """(Re)start a pass over the current tracks; a phrase already rendering finishes into the cache anyway."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.create_task(self._pass(list(self._content.tracks())), name="announce-warmer")

    async def wait_idle(self) -> None:
        """Until the current pass is over (tests, the benchmark, a start-up that wants a warm cache)."""
        while self._task is not None and not self._task.done():
            task = self._task
            await asyncio.wait({task})

    async def _pass(self, tracks: Iterable[Track]) -> None:
        seen: set[tuple[str, str]] = set(self._ahead)
        todo: list[tuple[str, str]] = list(self._ahead)
        for track in tracks:
            try:
                phrases = self._phrases(track)
            except Exception:   # noqa: BLE001 - background warm-up: skip this track, warm the rest
                logger.exception("announcement text for {} failed", track.uid)
                continue
            for phrase in phrases:
                if phrase not in seen:
                    seen.add(phrase)
                    todo.append(phrase)
        done = failed = 0
        for text, language in todo:
            if await self._speech.prerender(text, language):
                done += 1
            else:
                failed += 1
        self.rendered += done
        self.failed += failed
        self.passes += 1
        logger.info("announcements ready: {} of {} phrases{}", done, len(todo),
                    f" ({failed} could not be rendered)" if failed else "")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
