"""Conversation: hello, listen, request, answer, for one device; sans-I/O.

One `ConversationState` and one transition table. A conversation opens with the device's hello and ends with the
connection (WebSocket) or with a goodbye either way (MQTT, where the connection stays up while the speaker is idle
and `AWAITING_HELLO` is that idle). It holds at most one request being understood and at most one turn on the device:
UNDERSTANDING exactly while a request is in flight, ANSWERING exactly while a turn renders.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from loguru import logger

from core.metrics import NullMetrics, SessionMetrics
from core.protocol import framing
from core.protocol import messages as m

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["ConversationState", "ConversationStep", "Conversation", "RequestInfo", "TurnInfo", "TRANSITIONS"]


class ConversationState(StrEnum):
    AWAITING_HELLO = "awaiting_hello"   # connected, no conversation open (an MQTT speaker idles here)
    IDLE = "idle"                       # open; nothing asked, nothing on the device
    LISTENING = "listening"             # the device streams its microphone
    UNDERSTANDING = "understanding"     # a request is being recognised and answered
    ANSWERING = "answering"             # a turn (spoken lines and/or a track) is on the device
    CLOSED = "closed"


class ConversationStep(StrEnum):
    HELLO = "hello"          # the device's hello opens (or replaces) the conversation
    LISTEN = "listen"        # listen start with nothing in flight
    REQUEST = "request"      # words to understand
    ANSWER = "answer"        # a turn starts on the device
    DONE = "done"            # the request or the turn is over (answered, cancelled or dropped)
    GOODBYE = "goodbye"      # the conversation ends; the connection stays (MQTT)
    CLOSE = "close"          # the connection ends


S = ConversationState
T = ConversationStep
_OPEN = (S.IDLE, S.LISTENING, S.UNDERSTANDING, S.ANSWERING)

TRANSITIONS: dict[tuple[ConversationState, ConversationStep], ConversationState] = {
    (S.AWAITING_HELLO, T.HELLO): S.IDLE,
    **{(s, T.HELLO): S.IDLE for s in _OPEN},
    (S.IDLE, T.LISTEN): S.LISTENING,
    (S.LISTENING, T.LISTEN): S.LISTENING,
    **{(s, T.REQUEST): S.UNDERSTANDING for s in _OPEN},
    **{(s, T.ANSWER): S.ANSWERING for s in _OPEN},
    (S.LISTENING, T.DONE): S.IDLE,
    (S.UNDERSTANDING, T.DONE): S.IDLE,
    (S.ANSWERING, T.DONE): S.IDLE,
    **{(s, T.GOODBYE): S.AWAITING_HELLO for s in _OPEN},
    **{(s, T.CLOSE): S.CLOSED for s in (S.AWAITING_HELLO, *_OPEN)},
}


@dataclass(slots=True)
class RequestInfo:
    id: int
    text: str
    at: float                    # monotonic time the request was heard (its transcript or typed text arrived)
    decided_at: float | None = None   # when its understanding came back: what to say and play is decided
    summary: str = ""            # intent + match, for the one log line per request
    intent: str = ""
    match_type: str = ""


@dataclass(slots=True)
class TurnInfo:
    id: int
    tracks: bool                 # has (or may get) a track segment
    request: RequestInfo | None = None     # logged when its track starts (first frame) or the turn fails
    track_started: bool = False  # a track's first frame of this turn is out: it is audible
    spoke: bool = False          # a spoken frame of this turn is out


class Conversation:
    def __init__(self, *, now: float, framing: int = 1, log: Logger = logger,
                 metrics: SessionMetrics | None = None) -> None:
        self.state = S.AWAITING_HELLO
        self.framing = framing if framing in (1, 2, 3) else 1   # binary framing; over UDP raw Opus (v1)
        self.udp = False                   # the device said transport "udp" (MQTT): answer as the gateway does
        self.request: RequestInfo | None = None
        self.turn: TurnInfo | None = None
        self.listen_mode: m.ListenMode | None = None
        self.last_request = ""
        self.last_match = ""
        self.language = "en"               # of the last answer: the parents' rules speak in it
        self.pending: list[tuple[str, float]] = []   # (text, when) heard before the device's state loaded
        self.cancelled: dict[int, bool] = {}   # cancelled turn id -> it carried a track (TurnEnded brings its position)
        self.bad_input = 0                 # junk from the device (logged at 1, 10, 100, then every 1000)
        self.connected_at = now
        self.last_activity = now
        self._log = log
        self._metrics: SessionMetrics = metrics if metrics is not None else NullMetrics()
        self._turn_ids = itertools.count(1)
        self._request_ids = itertools.count(1)

    @property
    def open(self) -> bool:
        return self.state in _OPEN

    def may(self, step: ConversationStep) -> bool:
        return (self.state, step) in TRANSITIONS

    # ------------------------------------------------------------------ steps

    def hello(self, hello: m.Hello | None = None, *, downlink_rate: int = 16000) -> None:
        """The device's hello opens the conversation; the framing and the transport follow what it says."""
        if hello is not None:
            self.udp = hello.transport == m.UDP_TRANSPORT
            framing = 1 if self.udp else hello.version     # over UDP the payload is raw Opus, whatever `version` says
            if framing != self.framing:
                self._log.info("hello says framing v{} (header said v{}); using v{}", framing, self.framing, framing)
                self.framing = framing
            if hello.audio_format != "opus" or hello.sample_rate not in (8000, 12000, 16000, 24000, 48000) \
                    or hello.frame_duration not in (10, 20, 40, 60, 80, 100, 120):
                self._log.warning("device uplink audio_params {}/{}/{} ms are unusual; downlink stays opus/{}/60 ms",
                                  hello.audio_format, hello.sample_rate, hello.frame_duration, downlink_rate)
        self._go(T.HELLO, "hello")

    def audio(self, data: bytes, now: float) -> bytes | None:
        """The Opus packet in one binary frame from the device (None: junk or outside a conversation, counted)."""
        if not self.open:
            self.bad("audio outside a conversation")
            return None
        try:
            packet = framing.unpack(self.framing, data)
        except framing.FramingError as exc:
            self.bad(str(exc))
            return None
        self.last_activity = now
        return packet.opus

    def bad(self, reason: str) -> None:
        """Junk from the device: counted, logged at 1, 10, 100 and every 1000 (a stream of junk never floods)."""
        self.bad_input += 1
        n = self.bad_input
        if n in (1, 10, 100) or n % 1000 == 0:
            self._log.warning("ignored bad input #{}: {}", n, reason)

    def log_request(self, req: RequestInfo, outcome: str, first_frame_ms: float | None) -> None:
        """The one log line (and the metrics) of a request: what was heard, understood, matched, and how it ended."""
        ttff = f" first_frame={first_frame_ms:.0f}ms" if first_frame_ms is not None else ""
        self._log.bind(utterance=req.text[:120], outcome=outcome, first_frame_ms=first_frame_ms).info(
            "request {!r} {} outcome={}{}", req.text[:120], req.summary, outcome, ttff)
        self._metrics.request(req.intent or "none", outcome)
        if req.match_type:
            self._metrics.match(req.match_type)
        if first_frame_ms is not None:
            self._metrics.first_frame(first_frame_ms / 1000, False)

    def listening(self, mode: m.ListenMode | None) -> None:
        if mode is not None:
            self.listen_mode = mode
        if self.may(T.LISTEN):
            self._go(T.LISTEN, "listen start")

    def heard(self, text: str, now: float) -> RequestInfo:
        """A request to understand (the turn on the device, if any, was cancelled first)."""
        assert self.turn is None, "a request starts only once the turn on the device is cancelled"
        self.request = RequestInfo(next(self._request_ids), text, now)
        self.last_request = text
        self._go(T.REQUEST, "request")
        return self.request

    def answer(self, tracks: bool, request: RequestInfo | None = None) -> TurnInfo:
        """A turn starts on the device (the previous one, if any, was cancelled first)."""
        assert self.turn is None, "one turn at a time: cancel the previous one first"
        self.request = None
        self.turn = TurnInfo(next(self._turn_ids), tracks, request)
        self._go(T.ANSWER, "turn")
        return self.turn

    def drop_request(self, why: str) -> RequestInfo | None:
        """The request is over without a turn (answered with nothing to render, failed, or cancelled)."""
        req, self.request = self.request, None
        if req is not None and self.state is S.UNDERSTANDING:
            self._go(T.DONE, why)
        return req

    def end_turn(self, why: str) -> TurnInfo | None:
        """The turn is over (played out or cancelled)."""
        turn, self.turn = self.turn, None
        if turn is not None and self.state is S.ANSWERING:
            self._go(T.DONE, why)
        return turn

    def listen_over(self) -> None:
        if self.state is S.LISTENING:
            self._go(T.DONE, "listen stop")

    def goodbye(self, why: str) -> None:
        self.request = self.turn = None
        self._go(T.GOODBYE, why)

    def close(self, why: str) -> None:
        self.request = self.turn = None
        if self.state is not S.CLOSED:
            self._go(T.CLOSE, why)

    def current(self, turn_id: int) -> bool:
        return self.turn is not None and self.turn.id == turn_id

    # ------------------------------------------------------------------ the table

    def _go(self, step: ConversationStep, why: str) -> None:
        old = self.state
        new = TRANSITIONS.get((old, step))
        if new is None:
            self._log.warning("conversation: {} refused in state {} ({})", step.value, old.value, why)
            return
        self.state = new
        if new is not old:
            self._log.info("conversation {} -> {} ({})", old.value, new.value, why)
