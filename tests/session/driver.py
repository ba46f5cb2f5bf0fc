"""A driver for the session core without a socket: it plays the connection shell's part.

It answers `Understand` with the real understanding path over the fixture catalog, turns `CancelTurn` into
`TurnEnded` with the device's position (as core/session/connection.py does), answers the device's MCP tools like the
firmware (`self.get_device_status`, `self.audio_speaker.set_volume`), and records what the core sent and saved.
Time is the driver's: `tick(seconds)` moves both clocks.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState
from core.playback.turn import TrackSeg
from core.protocol import messages as m
from core.protocol.tools import GET_DEVICE_STATUS, SET_VOLUME
from core.providers.intent.rules import RuleIntentRecognizer, RulesIntentProvider
from core.session import events as ev
from core.session.core import SessionCore, SessionSettings
from core.understand import Understander
from plugins_func.loader import default_functions
from plugins_func.registry import PluginContext, PluginRegistry
from tests.match_fixtures import make_matcher

__all__ = ["Driver", "MATCHER", "UNDERSTAND", "STORY", "SONG", "rules"]

MATCHER = make_matcher()
UNDERSTAND = Understander(RulesIntentProvider(RuleIntentRecognizer(wake_words=("hey cheeko",))),
                          PluginRegistry(default_functions()), wake_words=("hey cheeko",))
STORY = next(t for t in MATCHER.tracks if t.title == "The Little Dragon")
SONG = next(t for t in MATCHER.tracks if t.title == "Humpty Dumpty")


def rules(rev: int = 1, **values: Any) -> PolicyRecord:
    """A stored policy record with these rules."""
    return PolicyRecord(rev, values)


class Driver:
    """Feeds the core like the connection shell does and records what it asks for."""

    def __init__(self, state: DeviceState | None = None, *, policy: PolicyRecord | None = None,
                 persistent: bool = False, hello: dict[str, Any] | None = None, volume: int = 50,
                 tools: bool = True, on_miss: str = "say", metrics: Any = None, **settings: Any) -> None:
        self.now = 100.0
        self.wall = 1_700_000_000.0
        self.core = SessionCore("aa:bb", 1, SessionSettings(wake_words=("hey cheeko",), **settings), MATCHER.track,
                                now=self.now, persistent=persistent, metrics=metrics)
        self.thinking_s = 0.0                    # how long understanding takes (the clocks move by it)
        self.sent: list[dict[str, Any]] = []
        self.actions: list[ev.Action] = []
        self.saved: list[DeviceState] = []
        self.calls: list[ev.CallTool] = []
        self.turn: ev.StartTurn | None = None
        self.position = 0
        self.volume = volume                     # the speaker's own volume (its buttons may change it)
        self.tool_names = frozenset({GET_DEVICE_STATUS, SET_VOLUME}) if tools else frozenset()
        self.state = state or DeviceState("aa:bb")
        self.policy = policy or PolicyRecord()
        self.playing_track = False
        self.on_miss = on_miss                   # matching.on_miss, as the connection passes it to the plugins
        for a in self.core.start():
            self._act(a, [])
        if hello is not False:
            self.feed(ev.TextIn(json.dumps(hello or {"type": "hello", "version": 1, "features": {"mcp": True}})))

    def feed(self, event: ev.Event) -> list[ev.Action]:
        out = self.core.handle(event, self.now, self.wall)
        for a in out:
            self._act(a, out)
        return out

    def _act(self, a: ev.Action, out: list[ev.Action]) -> None:
        self.actions.append(a)
        if isinstance(a, ev.Send):
            self.sent.append(json.loads(m.encode(a.message, "s")))
        elif isinstance(a, ev.SaveState):
            self.saved.append(self.core.device_state())
        elif isinstance(a, ev.LoadState):
            self.feed(ev.StateLoaded(self.state, self.policy))
        elif isinstance(a, ev.McpDiscover):
            self.feed(ev.ToolsDiscovered(self.tool_names))
        elif isinstance(a, ev.StartTurn):
            self.turn = a
        elif isinstance(a, ev.CancelTurn):
            assert self.turn is not None
            tid, self.turn = self.turn.turn.id, None
            self.feed(ev.TurnEnded(tid, True, self.position if self.playing_track else None))
            self.playing_track = False
        elif isinstance(a, ev.CallTool):
            self.calls.append(a)
            if a.name == SET_VOLUME:
                level = a.arguments.get("volume")
                assert isinstance(level, int)
                self.volume = level
                self.feed(ev.ToolResult(a.call_id, True, True))
            elif a.name == GET_DEVICE_STATUS:
                self.feed(ev.ToolResult(a.call_id, True, {"audio_speaker": {"volume": self.volume},
                                                          "battery": {"level": 80, "charging": False},
                                                          "network": {"type": "wifi", "signal": "strong"}}))
            else:
                self.feed(ev.ToolResult(a.call_id, True, True))
        elif isinstance(a, ev.Understand):
            self.now += self.thinking_s
            self.wall += self.thinking_s
            u = asyncio.run(UNDERSTAND(a.text, PluginContext(catalog=MATCHER, device=self.core.device_state(),
                                                               tools={SET_VOLUME: {}}, on_miss=self.on_miss)))
            self.feed(ev.Understood(a.request_id, u))

    def say(self, text: str) -> None:
        self.feed(ev.TextIn(json.dumps({"type": "listen", "state": "detect", "text": text})))

    def start_track(self, start_ms: int | None = None) -> TrackSeg:
        assert self.turn is not None
        seg = next(s for s in self.turn.turn.segments if isinstance(s, TrackSeg))
        self.playing_track = True
        self.position = seg.start_ms if start_ms is None else start_ms
        self.feed(ev.TrackStarted(self.turn.turn.id, seg.track, self.position, "etag-1"))
        return seg

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds
        if self.playing_track:
            self.position += int(seconds * 1000)
        self.feed(ev.Tick(self.now, self.wall, self.position if self.playing_track else None))

    def end_turn(self) -> None:
        assert self.turn is not None
        tid, self.turn = self.turn.turn.id, None
        self.playing_track = False
        self.feed(ev.TurnEnded(tid, False, None))

    def texts(self) -> list[str]:
        return [s["text"] for s in self.sent if s.get("state") == "sentence_start" or s["type"] == "stt"]

    def spoken(self) -> list[str]:
        """The spoken lines of the current turn."""
        from core.playback.turn import SpeechSeg
        return [s.text for s in self.turn.turn.segments if isinstance(s, SpeechSeg)] if self.turn else []
