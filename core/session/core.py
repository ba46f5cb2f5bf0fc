"""The session core: one device's session, sans I/O, as three small machines and the rules that join them.

`handle(event) -> list[Action]`. Events are what the device sent, timer ticks, the results of work the shell ran
(understanding a request, rendering a turn, a device tool) and commands from the operator or the parents. Actions
are what to send and what work to start. Nothing here awaits, reads a clock or touches a socket, so every transition
is testable by feeding events (tests/session/).

The machines, each with one state enum and one transition table:
- `Conversation` (conversation.py): hello, listen, request, answer;
- `PlaybackControl` (playback.py): the item in hand and whether it plays (the persisted `PlaybackState`);
- `HouseRules` (house.py): the parents' rules, the only place a refusal, a cap or the daily counter is computed.
What the answer to a request means for the device is one pure function, `plan_answer` (answer.py).

Interruptions are holds: an utterance, a wake-word abort, push-to-talk or a barge-in while a track plays suspends it
at the device's position; what the child says next decides. A question or a control is answered and the item
continues; "pause" keeps it paused; "stop" ends it (remembered for "continue"); a new request replaces it; a miss
gives it back. A wake word or silence alone resumes it after `resume_grace_s`. The device's button (an abort with no
reason) and the operator's stop are a stop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, assert_never

from loguru import logger

from core.content.types import Track
from core.devices.commands import PauseNow, PolicyUpdated, Reboot, SetVolume, StopNow, UpgradeFirmware
from core.devices.policy import PolicyRecord
from core.devices.state import DeviceState, PlaybackState
from core.devices.view import DeviceStatus, NowPlaying
from core.lang.replies import say
from core.lang.wake import WakeWords
from core.metrics import NullMetrics, SessionMetrics
from core.playback.player import ResumeRules, TrackLookup
from core.playback.turn import Segment, SpeechSeg, TrackSeg, Turn
from core.protocol import messages as m
from core.protocol.errors import CloseCode
from core.protocol.tools import REBOOT, SET_VOLUME, UPGRADE_FIRMWARE
from core.session.answer import plan_answer
from core.session.conversation import Conversation, ConversationState, RequestInfo
from core.session.events import (
    Action,
    BargeIn,
    BinaryIn,
    CancelTurn,
    CancelUnderstanding,
    ChannelLost,
    Close,
    Continue,
    Disconnected,
    EndConversation,
    Event,
    Evict,
    FadeOut,
    LoadPolicy,
    LoadState,
    McpDiscover,
    McpIn,
    SaveState,
    Send,
    SpeechStarted,
    StartTurn,
    StateLoaded,
    TextIn,
    Tick,
    ToolResult,
    ToolsDiscovered,
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
)
from core.session.house import HouseRules, RulesChange
from core.session.playback import PlaybackCommand, PlaybackControl
from core.session.tools import DeviceTools
from plugins_func.actions import SetTimer

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["SessionCore", "SessionSettings"]

C = ConversationState
P = PlaybackState
_MAX_PENDING = 1                 # utterances heard before the state loaded: only the newest is answered
# The firmware drops a conversation that has been silent for 120 s (anchors-mqtt-udp §1.3); over a persistent link
# the session ends an idle one itself, on purpose and with a goodbye, before that.
_PERSISTENT_IDLE_S = 90.0


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
    policy_refresh_s: float = 30.0       # the household's rules are re-read this often (a lost bus message heals)
    status_every_s: float = 300.0        # an idle speaker's status (volume, battery) is read this often
    default_volume: int = 60             # assumed when the speaker cannot say its volume
    player: ResumeRules = field(default_factory=ResumeRules)


@dataclass(slots=True)
class _Due:
    """When the periodic work is next due (monotonic seconds)."""
    save: float | None = None            # while a track is audible
    policy: float = 0.0
    status: float = 0.0
    fading: bool = False                 # the sleep timer's fade is under way


class SessionCore:
    def __init__(self, device_id: str, version: int, settings: SessionSettings, tracks: TrackLookup, *,
                 now: float, persistent: bool = False, log: Logger = logger,
                 metrics: SessionMetrics | None = None) -> None:
        self.device_id = device_id
        self.persistent = persistent     # the link outlives conversations (MQTT): goodbye, not close
        self.cfg = settings
        self.conversation = Conversation(now=now, framing=version, log=log, metrics=metrics)
        self.playback: PlaybackControl | None = None     # once the device's state is loaded
        self.rules = HouseRules(log=log)
        self.tools = DeviceTools(log=log, default_volume=settings.default_volume)
        self._tracks = tracks
        self._log = log
        self._metrics: SessionMetrics = metrics if metrics is not None else NullMetrics()
        self._wake = WakeWords(settings.wake_words)
        self._now, self._wall = now, 0.0
        self._due = _Due()
        self._loading = False

    # ------------------------------------------------------------------ public

    def start(self) -> list[Action]:
        """A persistent link (MQTT) is up: claim and load the device now, so it is reachable while idle."""
        if not self.persistent or self._loading:
            return []
        self._loading = True
        return [LoadState(self.device_id), McpDiscover()]

    def handle(self, event: Event, now: float | None = None, wall: float | None = None) -> list[Action]:
        """The actions `event` calls for. `now` (monotonic seconds) times requests and timeouts, `wall` (epoch
        seconds) stamps what is saved and is the household's clock; ticks carry their own."""
        if now is not None:
            self._now = now
        if wall is not None:
            self._wall = wall
        out: list[Action] = []
        if self.conversation.state is C.CLOSED and not isinstance(event, TurnEnded | Disconnected):
            return out
        match event:
            case TextIn(text):
                self._text(text, out)
            case BinaryIn(data):
                if (opus := self.conversation.audio(data, self._now)) is not None:
                    out.append(VoiceFeed(opus))
            case Tick():
                self._tick(event, out)
            case VoiceUtterance():
                self._utterance(event, out)
            case BargeIn():
                if self.conversation.turn is not None:
                    self._suspend("barge-in", out, grace=True)
            case StateLoaded(state, policy):
                self.rules.apply(policy)
                self._loaded(state, out)
            case Understood():
                self._understood(event, out)
            case UnderstandFailed(request_id):
                self._understand_failed(request_id, out)
            case SpeechStarted(turn_id):
                self._speech_started(turn_id)
            case TrackStarted():
                self._track_started(event, out)
            case TrackNearEnd(turn_id, _):
                self._near_end(turn_id, out)
            case TrackFinished():
                self._track_finished(event, out)
            case TrackFailed():
                self._track_failed(event, out)
            case TurnEnded():
                self._turn_ended(event, out)
            case ToolsDiscovered(names):
                self.tools.names = names
                out += self.tools.read_status()
            case ToolResult():
                self._tool_result(event, out)
            case ChannelLost(reason):
                self._log.warning("audio channel lost: {}", reason)
                self._end_conversation(reason, out, goodbye=True)
            case Evict(code, reason):
                self._close(code, reason, out)
            case Disconnected():
                self._disconnected(out)
            case StopNow():
                self._stop("stopped from the console", out)
            case PauseNow():
                self._pause_now(out)
            case SetVolume(level):
                out += self.tools.set(level, "operator", self._cap)
            case PolicyUpdated(record):
                self._policy_updated(record, out)
            case Reboot():
                out += self.tools.operator(REBOOT, {})
            case UpgradeFirmware(url):
                out += self.tools.operator(UPGRADE_FIRMWARE, {"url": url})
            case _:
                assert_never(event)
        return out

    def device_state(self) -> DeviceState:
        return self.playback.device if self.playback is not None else DeviceState(self.device_id)

    @property
    def state(self) -> ConversationState:
        return self.conversation.state

    @property
    def version(self) -> int:
        """The binary framing of the conversation (the shell packs downlink audio with it)."""
        return self.conversation.framing

    @property
    def busy(self) -> bool:
        """A request or a turn is in flight, or a held item waits out its grace (the idle timer does not run)."""
        pb = self.playback
        return self.conversation.state in (C.UNDERSTANDING, C.ANSWERING) or (
            pb is not None and pb.state is P.SUSPENDED and pb.suspended_until is not None)

    @property
    def speaking(self) -> bool:
        """Something is on the device's speaker (the VAD listens for barge-in then)."""
        return self.conversation.state is C.ANSWERING

    def position_needed(self) -> bool:
        """The shell measures where the device is in the track only while one is audible."""
        return self._audible()

    def summary(self) -> str:
        """One word for people (the operator view)."""
        conv, pb = self.conversation.state, self.playback.state if self.playback else P.IDLE
        if conv is C.AWAITING_HELLO:
            return "idle" if self.persistent else "connecting"
        if conv is C.CLOSED:
            return "closed"
        if self._audible():
            return "playing"
        if conv in (C.ANSWERING, C.UNDERSTANDING, C.LISTENING):
            return {C.ANSWERING: "speaking", C.UNDERSTANDING: "understanding", C.LISTENING: "listening"}[conv]
        return {P.PAUSED: "paused", P.SUSPENDED: "held"}.get(pb, "idle")

    def now_playing(self, position_ms: int | None) -> NowPlaying | None:
        item = self.device_state().item
        if item is None:
            return None
        return NowPlaying(item.uid, item.title, position_ms if position_ms is not None else item.position_ms)

    @property
    def status(self) -> DeviceStatus | None:
        return self.tools.status

    # ------------------------------------------------------------------ device input

    def _text(self, text: str, out: list[Action]) -> None:
        msg = m.parse_message(text)
        if isinstance(msg, m.Invalid):
            self.conversation.bad(f"bad message: {msg.reason}")    # junk neither floods the log nor keeps us open
            return
        self.conversation.last_activity = self._now
        if isinstance(msg, m.Hello):
            self._hello(msg, out)
        elif isinstance(msg, m.Mcp) and (self.conversation.open or self.persistent):
            out.append(McpIn(msg.payload))                 # an idle MQTT speaker answers tool calls too
        elif not self.conversation.open:
            self._log.warning("ignored {} outside a conversation", type(msg).__name__)
        elif isinstance(msg, m.Listen):
            self._listen(msg, out)
        elif isinstance(msg, m.Abort):
            self._abort(msg.reason, out)
        elif isinstance(msg, m.Goodbye):
            self._end_conversation("goodbye from the device", out, goodbye=False)
        elif isinstance(msg, m.Iot):
            self._log.debug("ignored legacy iot message")
        elif isinstance(msg, m.Unknown):
            self._log.debug("ignored unknown message type {!r}", msg.type)

    def _hello(self, hello: m.Hello, out: list[Action]) -> None:
        if self.conversation.open:                     # a second hello replaces the conversation
            self._end_conversation("a new hello", out, goodbye=False)
        self.conversation.hello(hello, downlink_rate=self.cfg.sample_rate)
        out.append(Send(m.ServerHello(self.cfg.sample_rate, self.cfg.frame_ms, udp=self.conversation.udp)))
        if not self._loading:
            self._loading = True
            out.append(LoadState(self.device_id))
            if hello.mcp:
                out.append(McpDiscover())

    def _listen(self, msg: m.Listen, out: list[Action]) -> None:
        out.append(VoiceListen(msg.state, msg.mode))
        conv = self.conversation
        if msg.state is m.ListenState.START:
            if msg.mode is m.ListenMode.MANUAL and conv.state in (C.UNDERSTANDING, C.ANSWERING):
                self._suspend("push-to-talk", out, grace=True)     # the child pressed the button to talk
            conv.listening(msg.mode)
        elif msg.state is m.ListenState.DETECT:
            text = (msg.text or "").strip()
            if msg.mode is not None:
                conv.listen_mode = msg.mode
            if text:
                self._heard(text, out)

    def _abort(self, reason: str | None, out: list[Action]) -> None:
        self._log.info("abort from device ({})", reason or "button")
        if reason:          # wake word: the child wants to talk; the item waits for what comes next
            self._suspend(f"abort: {reason}", out, grace=True)
            return
        self._stop("device abort", out)               # the button: a stop, still remembered

    def _stop(self, why: str, out: list[Action]) -> None:
        """Stop everything in flight: the request being understood, the turn, the item (remembered)."""
        self._log.info("stop: {}", why)
        if self.conversation.drop_request(why) is not None:
            out.append(CancelUnderstanding())
        self._halt(PlaybackCommand.STOP, why, out)

    # ------------------------------------------------------------------ what the child said

    def _utterance(self, ev: VoiceUtterance, out: list[Action]) -> None:
        conv = self.conversation
        if not conv.open:
            return
        conv.last_activity = self._now
        if ev.text.strip():
            self._heard(ev.text, out)
            return
        # Speech without words: a held item simply continues; otherwise ask again, unless busy.
        if conv.state in (C.UNDERSTANDING, C.ANSWERING):
            return
        pb = self.playback
        if pb is not None and pb.state is P.SUSPENDED:
            self._resume_held("nothing understood", out)
        else:
            conv.listen_over()
            out.append(Send(m.Stt("")))
            self._speak(say("busy" if ev.busy else "didnt_catch", "en"), "en", out)

    def _heard(self, text: str, out: list[Action], *, at: float | None = None) -> None:
        """`at`: when it was heard, for a request kept while the state loaded (its wait counts toward its stages)."""
        text = text.strip()          # the understanding path cuts it, once (core/lang/request.py)
        conv = self.conversation
        if self._wake.is_only_wake_word(text):
            self._log.info("wake word {!r}", text)
            held = self.playback is not None and self.playback.in_hand
            self._suspend("wake word", out, grace=True)
            if not held:
                self._speak(self.cfg.greeting, "en", out)
            return
        if self.playback is None:                   # hello just arrived; the state is loading
            conv.pending = [*conv.pending, (text, self._now)][-_MAX_PENDING:]
            return
        out.append(Send(m.Stt(text)))
        if conv.drop_request("superseded") is not None:
            out.append(CancelUnderstanding())
        self._halt(PlaybackCommand.SUSPEND, "new request", out)     # held for the answer to decide
        req = conv.heard(text, self._now if at is None else at)
        out.append(Understand(req.id, text))

    def _suspend(self, why: str, out: list[Action], *, grace: bool) -> None:
        """Hold what is on the device; with `grace` it resumes by itself unless the child asks for something, and
        a request in flight is dropped (the child wants to say something else)."""
        self._halt(PlaybackCommand.SUSPEND, why, out, grace=grace)
        if grace and self.conversation.drop_request(why) is not None:
            out.append(CancelUnderstanding())

    def _halt(self, command: PlaybackCommand, why: str, out: list[Action], *, grace: bool = False) -> None:
        """Cancel the turn on the device and apply `command` (SUSPEND, PAUSE or STOP) to the item in hand. The
        position lands when the cancelled turn reports where the device was (then the state is saved)."""
        conv = self.conversation
        saved_later = conv.turn is not None and conv.turn.tracks
        if conv.turn is not None:
            self._cancel_turn(why, out)
        pb = self.playback
        if pb is None or not pb.may(command) or (command is PlaybackCommand.PAUSE and pb.state is P.PAUSED):
            return
        if command is PlaybackCommand.SUSPEND:
            pb.suspend(self._wall + self.cfg.resume_grace_s if grace else None, why)
            return                                  # a hold is saved with the position the turn reports
        if command is PlaybackCommand.PAUSE:
            pb.pause(why)
        else:
            pb.stop(why)
        if not saved_later:
            out.append(SaveState())

    def _cancel_turn(self, why: str, out: list[Action]) -> None:
        turn = self.conversation.end_turn(why)
        assert turn is not None
        self.conversation.cancelled[turn.id] = turn.tracks      # its TurnEnded brings the device's position
        if self.playback is not None:
            self.playback.following = None
        self.rules.rest()
        self._due.fading = False
        out.append(CancelTurn(why))

    # ------------------------------------------------------------------ answers

    def _understood(self, ev: Understood, out: list[Action]) -> None:
        conv, pb = self.conversation, self.playback
        req = conv.request
        if req is None or ev.request_id != req.id or pb is None:
            return                                   # superseded by a newer request or an abort
        req.decided_at = self._now
        self._metrics.stage_latency("understand", self._now - req.at)
        r = ev.understanding.result
        intent = ev.understanding.intent.name
        match = r.match
        conv.last_match = (f"{match.match_type.value} {match.score:.0f} {match.track.uid}"
                           if match is not None and match.track is not None else
                           (match.match_type.value if match is not None else ""))
        req.summary = f"intent={intent or '-'} match={conv.last_match or '-'}"
        req.intent = intent or "none"
        req.match_type = match.match_type.value if match is not None else ""
        conv.language = r.language or "en"
        held = self._held_segment() if pb.state is P.SUSPENDED else None
        plan = plan_answer(r, held=held, refusal=self._refusal, item_etag=self._etag_of)
        for action in plan.player_actions:
            pb.player.apply(action, self._wall)
        if plan.volume is not None:
            out += self.tools.step(plan.volume.delta, plan.volume.tool, "asked", pb.device.volume, self._cap)
        out += [self.tools.named(tool.name, dict(tool.arguments), self._cap) for tool in plan.tools]
        if plan.refused is not None:
            self._log.info("parents' rules: {} not played ({})", plan.play or "request", plan.refused)
        match plan.playback:
            case PlaybackCommand.PLAY:
                assert plan.play is not None
                pb.play(plan.play, "request")
                if (minutes := self.rules.sleep_timer_min) and pb.device.timer is None:
                    pb.player.apply(SetTimer(minutes=minutes), self._wall)     # the parents' default sleep timer
                out.append(SaveState())
            case PlaybackCommand.PAUSE | PlaybackCommand.STOP:
                self._halt(plan.playback, "asked", out)
            case PlaybackCommand.RESUME:
                pb.resume("answered")
            case None:
                if r.actions:
                    out.append(SaveState())
            case _:
                raise AssertionError(f"the answer planner never asks for {plan.playback}")
        if pb.state is P.SUSPENDED:                  # held, but its track is gone from the catalog
            pb.stop("its track is gone")
            out.append(SaveState())
        if plan.segments:
            self._start_turn(list(plan.segments), out, request=req)
        else:
            out.append(Send(m.Tts(m.TtsState.STOP)))     # the answer is complete: nothing to say or play
            self.conversation.log_request(req, "done", None)
            conv.drop_request(intent or "no request")

    def _understand_failed(self, request_id: int, out: list[Action]) -> None:
        conv = self.conversation
        if conv.request is None or conv.request.id != request_id:
            return
        req = conv.drop_request("understanding failed")
        assert req is not None
        self.conversation.log_request(req, "error", None)
        segments: list[Segment] = [SpeechSeg(say("sorry_error", "en"), "en")]
        held = self._held_segment()
        if held is not None:
            assert self.playback is not None
            self.playback.resume("after an apology")
            segments.append(held)
        self._start_turn(segments, out)

    def _etag_of(self, track: Track) -> str | None:
        item = self.device_state().item
        return item.etag if item is not None and item.uid == track.uid else None

    def _held_segment(self) -> TrackSeg | None:
        """The held item as the segment that continues it (None when nothing is held or its track is gone)."""
        pb = self.playback
        if pb is None or pb.state is not P.SUSPENDED or (item := pb.device.item) is None:
            return None
        track = self._tracks(item.uid)
        return TrackSeg(track, item.position_ms, etag=item.etag) if track is not None else None

    def _resume_held(self, why: str, out: list[Action]) -> None:
        seg = self._held_segment()
        pb = self.playback
        assert pb is not None
        if seg is None:
            pb.stop(f"{why}; its track is gone")
            out.append(SaveState())
            return
        pb.resume(why)
        self._log.info("resuming {} at {:.1f} s ({})", seg.track.uid, seg.start_ms / 1000, why)
        self._start_turn([seg], out)

    def _speak(self, text: str, language: str, out: list[Action]) -> None:
        self._start_turn([SpeechSeg(text, language)], out)

    def _start_turn(self, segments: list[Segment], out: list[Action], *, request: RequestInfo | None = None
                    ) -> None:
        if self.conversation.turn is not None:
            self._halt(PlaybackCommand.SUSPEND, "superseded", out)
        tracks = any(isinstance(s, TrackSeg) for s in segments)
        turn = self.conversation.answer(tracks, request)
        self._due.fading = False
        if tracks:
            # The device's face follows `llm` emotion messages (protocol §3.3): smile while a song or story plays.
            out.append(Send(m.LlmEmotion("happy", "😊")))
        out.append(StartTurn(Turn(turn.id, tuple(segments))))

    # ------------------------------------------------------------------ turn progress

    def _speech_started(self, turn_id: int) -> None:
        turn = self.conversation.turn
        if turn is None or turn.id != turn_id or turn.spoke:
            return
        turn.spoke = True
        if turn.request is not None and turn.request.decided_at is not None:
            self._metrics.stage_latency("tts", self._now - turn.request.decided_at)

    def _track_started(self, ev: TrackStarted, out: list[Action]) -> None:
        conv, pb = self.conversation, self.playback
        if not conv.current(ev.turn_id) or pb is None or conv.turn is None:
            return
        pb.player.started(ev.track, ev.start_ms, ev.etag, self._wall)
        if pb.state is not P.PLAYING:        # the turn's track plays: the state says so (never expected otherwise)
            self._log.warning("a track started while playback was {}", pb.state.value)
        conv.turn.track_started = True
        self._metrics.stream_started()
        self._due.save = self._now + self.cfg.save_every_s
        out.append(SaveState())
        if (req := conv.turn.request) is not None:
            if req.decided_at is not None:
                self._metrics.stage_latency("song", self._now - req.decided_at)
            self.conversation.log_request(req, "playing", (self._now - req.at) * 1000)
            conv.turn.request = None
        self._log.info("playing {} from {:.1f} s", ev.track.uid, ev.start_ms / 1000)

    def _refusal(self, track: Track) -> str | None:
        return self.rules.refusal(track, self.device_state(), self._wall)

    def _near_end(self, turn_id: int, out: list[Action]) -> None:
        pb = self.playback
        nxt = pb.next_item(self._refusal) if self.conversation.current(turn_id) and pb is not None else None
        out.append(Continue(turn_id, TrackSeg(nxt) if nxt is not None else None))

    def _track_finished(self, ev: TrackFinished, out: list[Action]) -> None:
        pb = self.playback
        if not self.conversation.current(ev.turn_id) or pb is None:
            return
        if not pb.track_finished(ev.end_ms, self._wall):
            self.rules.rest()
        self._metrics.stream_ended()
        out.append(SaveState())

    def _track_failed(self, ev: TrackFailed, out: list[Action]) -> None:
        conv, pb = self.conversation, self.playback
        if not conv.current(ev.turn_id) or pb is None or conv.turn is None:
            out.append(Continue(ev.turn_id, None))
            return
        if conv.turn.request is not None:
            conv.log_request(conv.turn.request, "busy" if ev.busy else "unplayable", None)
            conv.turn.request = None
        nxt = pb.track_failed(ev.track, ev.busy, self._refusal)
        out.append(Continue(ev.turn_id, TrackSeg(nxt) if nxt is not None else None))
        out.append(SaveState())

    def _turn_ended(self, ev: TurnEnded, out: list[Action]) -> None:
        conv, pb = self.conversation, self.playback
        tracks = conv.cancelled.pop(ev.turn_id, None)
        if tracks is None:
            if not conv.current(ev.turn_id):
                return
            conv.end_turn("turn done")            # played to its end
            self.rules.rest()
            if pb is not None and pb.state is P.PLAYING:
                pb.stop("its turn ended early")      # (never expected: the track reports finished or failed)
                out.append(SaveState())
            return
        out.append(Send(m.Tts(m.TtsState.STOP)))   # at once: no frame follows (the turn task is over)
        if tracks and pb is not None:
            pb.settle(ev.position_ms)
            out.append(SaveState())

    # ------------------------------------------------------------------ device state, rules and tools

    def _loaded(self, state: DeviceState, out: list[Action]) -> None:
        pb = self.playback = PlaybackControl.restored(state, self.cfg.player, self._tracks, log=self._log)
        item = pb.device.item
        if item is not None:
            self._log.info("device state loaded: {} at {:.1f} s ({})", item.uid, item.position_ms / 1000,
                           pb.state.value)
        self.rules.update(pb.device, self._wall)          # where the household is now: no edge to act on yet
        self._due.policy = self._now + self.cfg.policy_refresh_s
        self._due.status = self._now + self.cfg.status_every_s
        pending, self.conversation.pending = self.conversation.pending, []
        for text, at in pending:
            self._heard(text, out, at=at)

    def _policy_updated(self, record: PolicyRecord, out: list[Action]) -> None:
        old = self.rules.apply(record)
        if old is None:
            return
        cap = self.rules.max_volume
        if cap is not None and (old.max_volume is None or cap < old.max_volume):
            # a lower cap turns the speaker down now (never up: a step of 0 within the cap)
            out += self.tools.step(0, SET_VOLUME, "cap", self.device_state().volume, self._cap)
        if self.playback is not None:
            self._rules_changed(self.rules.update(self.playback.device, self._wall), out)

    def _rules_changed(self, change: RulesChange | None, out: list[Action]) -> None:
        """Bedtime began or the day's time ran out: stop what plays (with the kind line); an idle speaker that
        can still be reached (MQTT) is shown the line as an alert."""
        if change not in (RulesChange.BEDTIME_BEGINS, RulesChange.LIMIT_REACHED):
            return
        why = self.rules.quiet_reply(self._wall) if change is RulesChange.BEDTIME_BEGINS else "policy_limit"
        if self._enforce(why):
            return
        self._alert(why, "sleepy" if why == "policy_bedtime" else "neutral", out)

    def _enforce(self, why: str) -> bool:
        """True when the item on the device is refused by the rules now (the tick stops it)."""
        pb = self.playback
        item = pb.device.item if pb is not None and self._audible() else None
        track = self._tracks(item.uid) if item is not None else None
        return track is not None and pb is not None and self.rules.refusal(track, pb.device, self._wall) is not None

    def _alert(self, key: str, emotion: str, out: list[Action]) -> None:
        lang = self.conversation.language
        if self.conversation.open or self.persistent:
            out.append(Send(m.Alert(say("alert_title", lang), say(key, lang), emotion)))

    def _pause_now(self, out: list[Action]) -> None:
        pb = self.playback
        if pb is not None and pb.in_hand:
            self._log.info("pause from the parents")
            self._halt(PlaybackCommand.PAUSE, "paused by the parents", out)
        self._alert("policy_pause", "neutral", out)

    def _cap(self, level: int) -> int:
        return self.rules.cap(level)

    def _tool_result(self, ev: ToolResult, out: list[Action]) -> None:
        outcome = self.tools.result(ev.call_id, ev.ok, ev.result, known=self.device_state().volume, cap=self._cap,
                                    wall=self._wall)
        out.extend(outcome.calls)
        if outcome.volume is not None:
            self._remember_volume(outcome.volume)
        if outcome.volume_failed and self.conversation.state in (C.IDLE, C.LISTENING):
            self._speak(say("volume_failed", "en"), "en", out)

    def _remember_volume(self, level: int) -> None:
        if self.playback is not None:
            self.playback.player.volume_is(level)

    # ------------------------------------------------------------------ time

    def _audible(self) -> bool:
        turn, pb = self.conversation.turn, self.playback
        return turn is not None and turn.track_started and pb is not None and pb.state is P.PLAYING

    def _tick(self, ev: Tick, out: list[Action]) -> None:
        self._now, self._wall = ev.mono, ev.wall
        conv = self.conversation
        if conv.state is C.AWAITING_HELLO and not self.persistent:
            if ev.mono - conv.connected_at > self.cfg.hello_timeout_s:   # junk does not count as a hello
                self._log.warning("no hello within {:.0f} s; closing", self.cfg.hello_timeout_s)
                self._close(CloseCode.POLICY, "hello expected", out)
            return
        if self.busy or not conv.open:
            conv.last_activity = ev.mono          # never time out while something plays or is prepared
        elif ev.mono - conv.last_activity > (limit := self._idle_limit()):
            self._log.info("idle for {:.0f} s", limit)
            if self.persistent:
                self._end_conversation("idle", out, goodbye=True)
            else:
                self._close(CloseCode.NORMAL, "idle", out)
            return
        pb = self.playback
        if pb is None:
            return
        if ev.mono >= self._due.policy:
            self._due.policy = ev.mono + self.cfg.policy_refresh_s
            out.append(LoadPolicy())
        audible = self._audible()
        if audible and self._rules_tick(pb, ev.wall, out):
            return
        if not audible:
            self.rules.rest()
            self._rules_changed(self.rules.update(pb.device, ev.wall), out)
            if self.persistent and not conv.open and ev.mono >= self._due.status:
                self._due.status = ev.mono + self.cfg.status_every_s
                out += self.tools.read_status()
        if audible and ev.position_ms is not None:
            pb.player.at(ev.position_ms)
            if self._due.save is not None and ev.mono >= self._due.save:
                self._due.save = ev.mono + self.cfg.save_every_s
                out.append(SaveState())
        if pb.state is P.SUSPENDED and (until := pb.suspended_until) is not None and ev.wall >= until \
                and conv.turn is None and conv.request is None:
            self._resume_held("resume grace over", out)
        self._sleep_timer(pb, ev.wall, audible, out)

    def _idle_limit(self) -> float:
        return min(self.cfg.idle_timeout_s, _PERSISTENT_IDLE_S) if self.persistent else self.cfg.idle_timeout_s

    def _rules_tick(self, pb: PlaybackControl, wall: float, out: list[Action]) -> bool:
        """While a track is audible: today's listening is counted, and a rule that now refuses the item stops it
        with a kind line. True when it stopped."""
        item = pb.device.item
        checked = self.rules.audible(pb.device, self._tracks(item.uid) if item is not None else None, wall)
        if checked is None:
            return False
        counted, why = checked
        pb.player.counted(counted.listened_day, counted.listened_s)
        if why is None:
            return False
        self._log.info("parents' rules: stopping {} ({})", item.uid if item else "?", why)
        self._halt(PlaybackCommand.STOP, why, out)
        lang = self.conversation.language
        self._speak(say(why, lang), lang, out)
        return True

    def _sleep_timer(self, pb: PlaybackControl, wall: float, audible: bool, out: list[Action]) -> None:
        due = pb.player.timer_due(wall, self.cfg.fade_s)
        if due == "fade" and audible and not self._due.fading:
            self._due.fading = True
            timer = pb.device.timer
            out.append(FadeOut(max(0.5, (timer.at or wall) - wall) if timer else self.cfg.fade_s))
        elif due == "stop":
            self._log.info("sleep timer: stopping")
            pb.player.timer_fired()
            if self.conversation.turn is not None:
                self._halt(PlaybackCommand.STOP, "sleep timer", out)
            else:
                out.append(SaveState())

    # ------------------------------------------------------------------ the end of a conversation or session

    def _end_conversation(self, why: str, out: list[Action], *, goodbye: bool) -> None:
        """The conversation ends (goodbye either way, a new hello, a lost channel, idle): what plays is stopped and
        remembered; a persistent link stays up for the next one."""
        self._halt(PlaybackCommand.STOP, why, out)
        if not self.persistent:
            if why != "a new hello":
                self._close(CloseCode.NORMAL, why, out)
            return
        if goodbye:
            out.append(Send(m.ServerGoodbye()))
        out.append(EndConversation())
        self.conversation.goodbye(why)

    def _close(self, code: CloseCode, reason: str, out: list[Action]) -> None:
        """Stop what plays (remembered: the device resumes it elsewhere or later), save, then close."""
        conv = self.conversation
        if conv.drop_request(reason) is not None:
            out.append(CancelUnderstanding())
        self._halt(PlaybackCommand.STOP, reason, out)
        if self.playback is not None:
            out.append(SaveState())          # after the cancelled turn's position landed, before the close
        out.append(Close(code, reason))
        conv.close(reason)

    def _disconnected(self, out: list[Action]) -> None:
        conv = self.conversation
        if conv.turn is not None:
            self._halt(PlaybackCommand.STOP, "disconnected", out)
        elif self.playback is not None and conv.state is not C.CLOSED:
            if self.playback.in_hand:
                self.playback.stop("disconnected")
            out.append(SaveState())
        conv.close("disconnected")

