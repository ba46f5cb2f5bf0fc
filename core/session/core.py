"""The session core: one device conversation as a state machine, sans I/O.

`handle(event) -> list[Action]`. Events are what the device sent, timer ticks and the results of work the shell
ran (understanding a request, rendering a turn). Actions are what to send and what work to start. Nothing here
awaits, reads a clock or touches a socket, so every transition is testable by feeding events
(tests/test_session_core.py).

Interruptions are pauses: an utterance, a wake-word abort, push-to-talk or a barge-in while a track plays suspends
it at the device's position; what the child says next decides. A question or a control is answered and the item
continues where it was; "pause" keeps it paused; "stop" ends it (remembered for "continue"); a new request
replaces it. A wake word or silence alone resumes it after `resume_grace_s`. The device's button (abort without a
reason) is a stop.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from loguru import logger

from core.content.types import Track
from core.devices import policy as rules
from core.devices.state import DeviceState
from core.lang.replies import say
from core.lang.wake import WakeWords
from core.playback.player import Player, ResumeRules
from core.playback.turn import Segment, SpeechSeg, TrackSeg, Turn
from core.protocol import framing
from core.protocol import messages as m
from core.protocol.errors import CloseCode
from core.session.events import (
    Action,
    BargeIn,
    BinaryIn,
    CallTool,
    CancelTurn,
    CancelUnderstanding,
    Close,
    Continue,
    Disconnected,
    Event,
    Evict,
    FadeOut,
    LoadState,
    McpDiscover,
    McpIn,
    SaveState,
    Send,
    SessionState,
    StartTurn,
    StateLoaded,
    TextIn,
    Tick,
    ToolDone,
    TrackFailed,
    TrackFinished,
    TrackNearEnd,
    TrackStarted,
    TurnEnded,
    Understand,
    UnderstandFailed,
    Understood,
    VoiceFeed,
    VoiceListen,
    VoiceUtterance,
    VolumeChange,
)
from plugins_func.actions import ChangeVolume, DeviceTool, Pause, PlayTrack, SetTimer, Stop

__all__ = ["SessionCore", "SessionSettings"]

TrackLookup = Any      # Callable[[str], Track | None]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    sample_rate: int = 16000
    frame_ms: int = 60
    hello_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0
    wake_words: tuple[str, ...] = ()
    greeting: str = "Hi! What would you like to hear?"
    resume_grace_s: float = 8.0          # a wake word or silence alone resumes an interrupted item after this
    save_every_s: float = 10.0           # position saves while playing
    fade_s: float = 5.0                  # fade before a timed stop
    player: ResumeRules = field(default_factory=ResumeRules)


@dataclass(slots=True)
class _TurnInfo:
    id: int
    tracks: bool                 # has (or may get) a track segment
    request: _Request | None = None


@dataclass(slots=True)
class _Request:
    id: int
    text: str
    at: float                    # monotonic time the request was heard
    summary: str = ""            # intent + match, for the one log line per request
    intent: str = ""
    match_type: str = ""


class SessionCore:
    def __init__(self, device_id: str, version: int, settings: SessionSettings, tracks: TrackLookup, *,
                 now: float, log: Any = logger, report: Any = None) -> None:
        self.device_id = device_id
        self.version = version if version in (1, 2, 3) else 1
        self.cfg = settings
        self._tracks = tracks
        self._log = log
        self._report = report or (lambda what, **fields: None)      # metrics: the shell records them
        self._wake = WakeWords(settings.wake_words)
        self.state = SessionState.AWAITING_HELLO
        self.player: Player | None = None
        self.listen_mode: m.ListenMode | None = None
        self._connected_at = now
        self._last_activity = now
        self._now = now
        self._wall = 0.0
        self._turn: _TurnInfo | None = None
        self._turn_ids = itertools.count(1)
        self._request: _Request | None = None
        self._request_ids = itertools.count(1)
        self._cancelling: dict[int, str] = {}      # cancelled turn id -> what its last position is for
        self._interrupted = False                   # an item was suspended: it continues after the answer
        self._grace_until: float | None = None      # ...or by itself at this time
        self._next_save: float | None = None
        self._fading = False
        self._pending: list[str] = []               # utterances heard before the device state was loaded
        self._bad_frames = 0
        self.last_request: str = ""
        self.last_match: str = ""
        self._language = "en"                       # of the last answer: the parents' rules speak in it
        self._policy_raw: Any = None
        self._policy = rules.Policy()
        self._counted_at: float | None = None       # wall time listening was last counted up to
        self._pending_policy: dict[str, Any] | None = None   # changed while the state was loading

    # ------------------------------------------------------------------ public

    def handle(self, event: Event, now: float | None = None, wall: float | None = None) -> list[Action]:
        """The actions `event` calls for. `now` (monotonic seconds) times requests and timeouts, `wall` (epoch
        seconds) stamps what is saved (timers, history); ticks carry their own."""
        if now is not None:
            self._now = now
        if wall is not None:
            self._wall = wall
        out: list[Action] = []
        if self.state is SessionState.CLOSED and not isinstance(event, (TurnEnded, Disconnected)):
            return out
        handler = getattr(self, f"_on_{type(event).__name__}")
        handler(event, out)
        return out

    def device_state(self) -> DeviceState:
        return self.player.state if self.player is not None else DeviceState(self.device_id)

    @property
    def busy(self) -> bool:
        """A turn is on the device or a request is being answered (the idle timer does not run)."""
        return self._turn is not None or self._request is not None or self._grace_until is not None

    @property
    def speaking(self) -> bool:
        return self.state in (SessionState.SPEAKING, SessionState.PLAYING)

    # ------------------------------------------------------------------ state

    def _set(self, new: SessionState, why: str) -> None:
        if new is not self.state:
            self._log.info("state {} -> {} ({})", self.state.value, new.value, why)
            self.state = new

    def _settle(self, why: str) -> None:
        """The state once nothing is in flight."""
        if self._turn is not None or self._request is not None:
            return
        held = self.player is not None and self.player.state.item is not None and (
            self.player.state.paused or self._interrupted)
        self._set(SessionState.PAUSED if held else SessionState.IDLE, why)

    # ------------------------------------------------------------------ device input

    def _on_TextIn(self, ev: TextIn, out: list[Action]) -> None:
        msg = m.parse_message(ev.text)
        if isinstance(msg, m.Invalid):
            self._count_bad(f"bad message: {msg.reason}")    # junk neither floods the log nor keeps us open
            return
        self._last_activity = self._now
        if isinstance(msg, m.Hello):
            self._hello(msg, out)
        elif self.state is SessionState.AWAITING_HELLO:
            self._log.warning("ignored {} before hello", type(msg).__name__)
        elif isinstance(msg, m.Listen):
            self._listen(msg, out)
        elif isinstance(msg, m.Abort):
            self._abort(msg.reason, out)
        elif isinstance(msg, m.Mcp):
            out.append(McpIn(msg.payload))
        elif isinstance(msg, m.Iot):
            self._log.debug("ignored legacy iot message")
        else:
            self._log.debug("ignored unknown message type {!r}", msg.type)

    def _on_BinaryIn(self, ev: BinaryIn, out: list[Action]) -> None:
        if self.state is SessionState.AWAITING_HELLO:
            self._count_bad("audio before hello")
            return
        try:
            packet = framing.unpack(self.version, ev.data)
        except framing.FramingError as exc:
            self._count_bad(str(exc))
            return
        self._last_activity = self._now
        out.append(VoiceFeed(packet.opus))

    def _count_bad(self, reason: str) -> None:
        self._bad_frames += 1
        if self._bad_frames in (1, 10, 100) or self._bad_frames % 1000 == 0:   # rate-limited: a stream of junk
            self._log.warning("ignored bad input #{}: {}", self._bad_frames, reason)

    def _hello(self, hello: m.Hello, out: list[Action]) -> None:
        if hello.version != self.version:
            self._log.info("hello says protocol v{} (header said v{}); using v{}", hello.version, self.version,
                           hello.version)
            self.version = hello.version
        if hello.audio_format != "opus" or hello.sample_rate not in (8000, 12000, 16000, 24000, 48000) \
                or hello.frame_duration not in (10, 20, 40, 60, 80, 100, 120):
            self._log.warning("device uplink audio_params {}/{}/{} ms are unusual; downlink stays opus/{}/60 ms",
                              hello.audio_format, hello.sample_rate, hello.frame_duration, self.cfg.sample_rate)
        first = self.state is SessionState.AWAITING_HELLO
        out.append(Send(m.ServerHello(self.cfg.sample_rate, self.cfg.frame_ms)))
        if first:
            self._set(SessionState.IDLE, "hello")
            out.append(LoadState(self.device_id))
            if hello.mcp:
                out.append(McpDiscover())

    def _listen(self, msg: m.Listen, out: list[Action]) -> None:
        if msg.mode is not None:
            self.listen_mode = msg.mode
        out.append(VoiceListen(msg.state, msg.mode))
        if msg.state is m.ListenState.START:
            if msg.mode is m.ListenMode.MANUAL and (self._turn is not None or self._request is not None):
                self._interrupt("push-to-talk", out, grace=True)     # the child pressed the button to talk
            if self._turn is None and self._request is None and self.state is not SessionState.PAUSED:
                self._set(SessionState.LISTENING, "listen start")
        elif msg.state is m.ListenState.DETECT:
            text = (msg.text or "").strip()
            if text:
                self._heard(text, out)

    def _abort(self, reason: str | None, out: list[Action]) -> None:
        self._log.info("abort from device ({})", reason or "button")
        if reason:          # wake word: the child wants to talk; the item waits for what comes next
            self._interrupt(f"abort: {reason}", out, grace=True)
            return
        # The button: a stop, still remembered for "continue".
        if self._request is not None:
            self._request = None
            out.append(CancelUnderstanding())
        if self._turn is not None:
            self._cancel("stop", "device abort", out)
        elif self._interrupted and self.player is not None:
            self._interrupted = False
            self._grace_until = None
            self.player.stop(None)
            out.append(SaveState())
            self._settle("abort")

    # ------------------------------------------------------------------ what the child said

    def _on_VoiceUtterance(self, ev: VoiceUtterance, out: list[Action]) -> None:
        if self.state is SessionState.AWAITING_HELLO:
            return
        self._last_activity = self._now
        if ev.text.strip():
            self._heard(ev.text, out)
            return
        # Speech without words: an interrupted item simply continues; otherwise ask again, unless busy.
        if self._interrupted and self._turn is None and self._request is None:
            self._resume_interrupted("nothing understood", out)
        elif self._turn is None and self._request is None:
            out.append(Send(m.Stt("")))
            self._speak(say("busy" if ev.busy else "didnt_catch", "en"), "en", out)

    def _on_BargeIn(self, ev: BargeIn, out: list[Action]) -> None:
        if self._turn is not None:
            self._interrupt("barge-in", out, grace=True)

    def _heard(self, text: str, out: list[Action]) -> None:
        text = text.strip()[:4096]
        if self._wake.is_only_wake_word(text):
            self._log.info("wake word {!r}", text)
            held = self._interrupted or (self._turn is not None and self._turn.tracks)
            self._interrupt("wake word", out, grace=True)
            if not held:
                self._speak(self.cfg.greeting, "en", out)
            return
        if self.player is None:                    # hello just arrived; the state is loading
            self._pending.append(text)
            return
        out.append(Send(m.Stt(text)))
        if self._turn is not None:
            self._interrupt("new request", out, grace=False)
        if self._request is not None:
            out.append(CancelUnderstanding())
        self._grace_until = None
        self._request = _Request(next(self._request_ids), text, self._now)
        self.last_request = text
        out.append(Understand(self._request.id, text))
        self._set(SessionState.UNDERSTANDING, "request")

    def _interrupt(self, why: str, out: list[Action], *, grace: bool) -> None:
        """Suspend what is on the device; a track in it is kept at the device's position."""
        held = self._interrupted
        if self._turn is not None:
            held = held or self._turn.tracks
            self._cancel("interrupt", why, out)
        if grace and held:
            self._grace_until = self._now + self.cfg.resume_grace_s
        if self._request is not None and grace:
            self._request = None
            out.append(CancelUnderstanding())
        self._settle(why)

    def _cancel(self, purpose: str, why: str, out: list[Action]) -> None:
        """Stop the current turn; its TurnEnded brings the device's position, used for `purpose`."""
        assert self._turn is not None
        self._cancelling[self._turn.id] = purpose if self._turn.tracks else "discard"
        self._turn = None
        out.append(CancelTurn(why))

    # ------------------------------------------------------------------ answers

    def _on_Understood(self, ev: Understood, out: list[Action]) -> None:
        req = self._request
        if req is None or ev.request_id != req.id or self.player is None:
            return                                   # superseded by a newer request or an abort
        u = ev.understanding
        r = u.result
        match = r.match
        self.last_match = (f"{match.match_type.value} {match.score:.0f} {match.track.uid}"
                           if match is not None and match.track is not None else
                           (match.match_type.value if match is not None else ""))
        req.summary = f"intent={u.intent.name or '-'} match={self.last_match or '-'}"
        req.intent = u.intent.name or "none"
        req.match_type = match.match_type.value if match is not None else ""
        player = self.player
        wall = self._wall
        segments: list[Segment] = []
        if r.speech:
            segments.append(SpeechSeg(r.speech, r.language, announces=r.announces))
        playback = None
        for action in r.actions:
            if isinstance(action, (PlayTrack, Pause, Stop)):
                playback = playback or action
            elif isinstance(action, ChangeVolume):
                out.append(VolumeChange(action.delta, action.tool, self._rules().max_volume))
            elif isinstance(action, DeviceTool):
                out.append(CallTool(action.name, self._capped(action.arguments)))
            else:
                player.apply(action, wall)
        self._request = None
        self._language = r.language or "en"
        if isinstance(playback, PlayTrack) and (why := self._refusal(playback.track)) is not None:
            self._log.info("parents' rules: {} not played ({})", playback.track.uid, why)
            segments = [SpeechSeg(say(why, self._language), self._language)]     # a kind line instead
            playback = None
        if isinstance(playback, PlayTrack):
            self._interrupted = False
            self._grace_until = None
            player.play(playback)
            if (minutes := self._rules().sleep_timer_min) and player.state.timer is None:
                player.apply(SetTimer(minutes=minutes), wall)          # the parents' default sleep timer
            segments.append(TrackSeg(playback.track, playback.start_ms, etag=self._etag_for(playback),
                                     language=r.language))
            out.append(SaveState())
        elif isinstance(playback, Pause):
            self._interrupted = False
            self._grace_until = None
            player.pause(None)
            out.append(SaveState())
        elif isinstance(playback, Stop):
            self._interrupted = False
            self._grace_until = None
            player.stop(None)
            out.append(SaveState())
        elif self._interrupted and player.state.item is not None:
            resume = self._resume_segment()
            if resume is not None:
                segments.append(resume)
            self._interrupted = False
        elif r.actions:
            out.append(SaveState())
        if segments:
            self._start_turn(segments, out, request=req)
        else:
            out.append(Send(m.Tts(m.TtsState.STOP)))     # the answer is complete: nothing to say or play
            self._log_request(req, "done", None)
            self._settle(u.intent.name or "no request")

    def _on_UnderstandFailed(self, ev: UnderstandFailed, out: list[Action]) -> None:
        if self._request is None or ev.request_id != self._request.id:
            return
        req, self._request = self._request, None
        self._log_request(req, "error", None)
        segments: list[Segment] = [SpeechSeg(say("sorry_error", "en"), "en")]
        if self._interrupted:
            resume = self._resume_segment()
            if resume is not None:
                segments.append(resume)
            self._interrupted = False
        self._start_turn(segments, out)

    def _etag_for(self, action: PlayTrack) -> str | None:
        item = self.player.state.item if self.player else None
        return item.etag if item is not None and item.uid == action.track.uid else None

    def _resume_segment(self) -> TrackSeg | None:
        assert self.player is not None
        item = self.player.state.item
        track = self._tracks(item.uid) if item is not None else None
        if item is None or track is None:
            return None
        return TrackSeg(track, item.position_ms, etag=item.etag)

    def _resume_interrupted(self, why: str, out: list[Action]) -> None:
        self._grace_until = None
        self._interrupted = False
        seg = self._resume_segment()
        if seg is None:
            self._settle(why)
            return
        self._log.info("resuming {} at {:.1f} s ({})", seg.track.uid, seg.start_ms / 1000, why)
        self._start_turn([seg], out)

    def _speak(self, text: str, language: str, out: list[Action]) -> None:
        self._start_turn([SpeechSeg(text, language)], out)

    def _start_turn(self, segments: list[Segment], out: list[Action], *, request: _Request | None = None) -> None:
        if self._turn is not None:
            self._cancel("interrupt" if self._turn.tracks else "discard", "superseded", out)
        turn = Turn(next(self._turn_ids), tuple(segments))
        tracks = any(isinstance(s, TrackSeg) for s in segments)
        self._turn = _TurnInfo(turn.id, tracks, request)
        self._fading = False
        if tracks:
            # The device's face follows `llm` emotion messages (protocol §3.3): smile while a song or story plays.
            out.append(Send(m.LlmEmotion("happy", "😊")))
        out.append(StartTurn(turn))
        self._set(SessionState.SPEAKING, "turn")

    def _log_request(self, req: _Request, outcome: str, first_frame_ms: float | None) -> None:
        ttff = f" first_frame={first_frame_ms:.0f}ms" if first_frame_ms is not None else ""
        self._log.bind(utterance=req.text[:120], outcome=outcome, first_frame_ms=first_frame_ms).info(
            "request {!r} {} outcome={}{}", req.text[:120], req.summary, outcome, ttff)
        self._report("request", intent=req.intent or "none", outcome=outcome, match=req.match_type,
                     first_frame_s=first_frame_ms / 1000 if first_frame_ms is not None else None)

    # ------------------------------------------------------------------ turn progress

    def _current(self, turn_id: int) -> bool:
        return self._turn is not None and self._turn.id == turn_id

    def _on_TrackStarted(self, ev: TrackStarted, out: list[Action]) -> None:
        if not self._current(ev.turn_id) or self.player is None:
            return
        self.player.started(ev.track, ev.start_ms, ev.etag, self._wall)
        self._report("stream_started")
        self._next_save = self._now + self.cfg.save_every_s
        out.append(SaveState())
        assert self._turn is not None
        if self._turn.request is not None:
            self._log_request(self._turn.request, "playing", (self._now - self._turn.request.at) * 1000)
            self._turn.request = None
        self._set(SessionState.PLAYING, f"playing {ev.track.uid} from {ev.start_ms / 1000:.1f} s")

    def _on_TrackNearEnd(self, ev: TrackNearEnd, out: list[Action]) -> None:
        if not self._current(ev.turn_id) or self.player is None:
            out.append(Continue(ev.turn_id, None))
            return
        nxt = self.player.peek_next()
        if nxt is not None and self._refusal(nxt) is not None:
            nxt = None                                 # the parents' rules: the queue stops before it
        out.append(Continue(ev.turn_id, TrackSeg(nxt) if nxt is not None else None))

    def _on_TrackFinished(self, ev: TrackFinished, out: list[Action]) -> None:
        if not self._current(ev.turn_id) or self.player is None:
            return
        self.player.finished(ev.end_ms, self._wall)
        self._report("stream_ended")
        out.append(SaveState())

    def _on_TrackFailed(self, ev: TrackFailed, out: list[Action]) -> None:
        if not self._current(ev.turn_id) or self.player is None:
            out.append(Continue(ev.turn_id, None))
            return
        assert self._turn is not None
        if self._turn.request is not None:
            self._log_request(self._turn.request, "busy" if ev.busy else "unplayable", None)
            self._turn.request = None
        item = self.player.state.item
        if item is not None and item.uid == ev.track.uid:
            self.player.failed()
        nxt = None if ev.busy else self.player.peek_next()
        if nxt is not None and self._refusal(nxt) is not None:
            nxt = None
        out.append(Continue(ev.turn_id, TrackSeg(nxt) if nxt is not None else None))
        out.append(SaveState())

    def _on_TurnEnded(self, ev: TurnEnded, out: list[Action]) -> None:
        purpose = self._cancelling.pop(ev.turn_id, None)
        if purpose is None:
            if not self._current(ev.turn_id):
                return
            self._turn = None                         # played to its end
        else:
            out.append(Send(m.Tts(m.TtsState.STOP)))     # at once: no frame follows (the turn task is over)
            player = self.player
            if player is not None and purpose != "discard":
                pos = ev.position_ms
                if purpose in ("stop", "timer"):
                    player.stop(pos)
                    if purpose == "timer":
                        player.timer_fired()
                    self._interrupted = False
                    self._grace_until = None
                else:                                  # interrupt / evict: held where the device was
                    player.interrupted(pos)
                    if purpose == "interrupt":
                        self._interrupted = self._interrupted or pos is not None or player.state.playing
                out.append(SaveState())
        if self.state is SessionState.CLOSED:
            return
        self._settle("turn cancelled" if purpose is not None else "turn done")

    # ------------------------------------------------------------------ device state and tools

    def _on_StateLoaded(self, ev: StateLoaded, out: list[Action]) -> None:
        self.player = Player.restored(ev.state, self.cfg.player, self._tracks)
        if self._pending_policy is not None:
            out.extend(self.set_policy(self._pending_policy))
            self._pending_policy = None
        item = self.player.state.item
        if item is not None:
            self._log.info("device state loaded: {} at {:.1f} s{}", item.uid, item.position_ms / 1000,
                           " (paused)" if self.player.state.paused else "")
        self._settle("state loaded")
        pending, self._pending = self._pending, []
        for text in pending[-1:]:          # only the newest: older ones were superseded anyway
            self._heard(text, out)

    def _on_ToolDone(self, ev: ToolDone, out: list[Action]) -> None:
        if self.player is not None and ev.volume is not None:
            from dataclasses import replace
            self.player.state = replace(self.player.state, volume=ev.volume)
        if not ev.ok and self._turn is None and not self._interrupted:
            self._speak(say("volume_failed", "en"), "en", out)

    # ------------------------------------------------------------------ time

    def _on_Tick(self, ev: Tick, out: list[Action]) -> None:
        self._now, self._wall = ev.mono, ev.wall
        if self.state is SessionState.AWAITING_HELLO:
            if ev.mono - self._connected_at > self.cfg.hello_timeout_s:   # junk does not count as a hello
                self._log.warning("no hello within {:.0f} s; closing", self.cfg.hello_timeout_s)
                self._close(CloseCode.POLICY, "hello expected", out)
            return
        if self.busy:
            self._last_activity = ev.mono          # never time out while something plays or is prepared
        elif ev.mono - self._last_activity > self.cfg.idle_timeout_s:
            self._log.info("idle for {:.0f} s; closing", self.cfg.idle_timeout_s)
            self._close(CloseCode.NORMAL, "idle", out)
            return
        player = self.player
        if player is None:
            return
        playing = self.state is SessionState.PLAYING and self._turn is not None
        if playing and self._enforce(ev.wall, out):
            return
        if not playing:
            self._counted_at = None
        if playing and ev.position_ms is not None:
            player.progress(ev.position_ms)
            if self._next_save is not None and ev.mono >= self._next_save:
                self._next_save = ev.mono + self.cfg.save_every_s
                out.append(SaveState())
        if self._grace_until is not None and ev.mono >= self._grace_until and self._turn is None \
                and self._request is None:
            self._resume_interrupted("resume grace over", out)
        due = player.timer_due(ev.wall, self.cfg.fade_s)
        if due == "fade" and playing and not self._fading:
            self._fading = True
            timer = player.state.timer
            out.append(FadeOut(max(0.5, (timer.at or ev.wall) - ev.wall) if timer else self.cfg.fade_s))
        elif due == "stop":
            self._log.info("sleep timer: stopping")
            if self._turn is not None:
                self._cancel("timer", "sleep timer", out)
            else:
                player.timer_fired()
                out.append(SaveState())

    def _close(self, code: CloseCode, reason: str, out: list[Action]) -> None:
        if self._turn is not None:
            self._cancel("evict", reason, out)
        if self.player is not None:
            out.append(SaveState())
        out.append(Close(code, reason))
        self._set(SessionState.CLOSED, reason)

    def _on_Evict(self, ev: Evict, out: list[Action]) -> None:
        self._close(ev.code, ev.reason, out)

    def _on_Disconnected(self, ev: Disconnected, out: list[Action]) -> None:
        if self._turn is not None:
            self._cancel("evict", "disconnected", out)
        if self.player is not None and self.state is not SessionState.CLOSED:
            out.append(SaveState())
        self._set(SessionState.CLOSED, "disconnected")

    # ------------------------------------------------------------------ the parents' rules

    def set_policy(self, policy: dict[str, Any]) -> list[Action]:
        """A policy changed on the parents' page: it applies from now on (the next tick, the next request), or
        once the device's state is loaded."""
        if self.player is None:
            self._pending_policy = dict(policy)
            return []
        self.player.state = replace(self.player.state, policy=dict(policy))
        return [SaveState()]

    def _rules(self) -> rules.Policy:
        raw = self.player.state.policy if self.player is not None else None
        if raw is not self._policy_raw:
            self._policy_raw, self._policy = raw, rules.load(raw)
        return self._policy

    def _listened(self, wall: float) -> float:
        st = self.device_state()
        return rules.listened_today(st.listened_day, st.listened_s, self._rules(), wall)

    def _refusal(self, track: Track) -> str | None:
        p = self._rules()
        return None if p.empty else rules.refusal(p, track, self._wall, self._listened(self._wall))

    def _capped(self, arguments: dict[str, Any]) -> dict[str, Any]:
        cap, level = self._rules().max_volume, arguments.get("volume")
        if cap is not None and isinstance(level, int) and level > cap:
            return {**arguments, "volume": cap}
        return arguments

    def _enforce(self, wall: float, out: list[Action]) -> bool:
        """While a track plays: count today's listening; stop with a kind line when a rule says so (the daily limit
        reached, bedtime begun, a policy changed). Once a second: finer adds cost, not fairness.
        True when it stopped."""
        assert self.player is not None
        if self._counted_at is not None and 0.0 <= wall - self._counted_at < 1.0:
            return False
        p = self._rules()
        self.player.state = rules.count(self.player.state, p, wall, self._counted_at)
        self._counted_at = wall
        item = self.player.state.item
        track = self._tracks(item.uid) if item is not None and not p.empty else None
        why = rules.refusal(p, track, wall, self.player.state.listened_s) if track is not None else None
        if why is None:
            return False
        self._log.info("parents' rules: stopping {} ({})", track.uid if track else "?", why)
        self._cancel("stop", why, out)
        self._counted_at = None
        self._speak(say(why, self._language), self._language, out)
        return True

    # ------------------------------------------------------------------ for the shell

    def position_needed(self) -> bool:
        return self.state is SessionState.PLAYING

    def track_of(self, uid: str) -> Track | None:
        return self._tracks(uid)
