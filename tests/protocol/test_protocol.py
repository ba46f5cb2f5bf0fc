"""Sans-I/O units: message parsing, binary framing, pacing (injected clock), auth tokens."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.auth import NO_TOKEN, Authenticator, identity_from
from core.config import AuthConfig
from core.playback.pacer import Pacer
from core.protocol import framing
from core.protocol import messages as m


def test_parse_hello_listen_abort_mcp_and_bad_input() -> None:
    hello = m.parse_message('{"type":"hello","version":3,"features":{"mcp":true},"transport":"websocket",'
                            '"audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":20}}')
    assert isinstance(hello, m.Hello) and hello.version == 3 and hello.mcp and hello.frame_duration == 20
    listen = m.parse_message('{"session_id":"","type":"listen","state":"detect","text":"play baa baa"}')
    assert listen == m.Listen(m.ListenState.DETECT, None, "play baa baa")
    assert m.parse_message('{"type":"listen","state":"start","mode":"realtime"}') == \
        m.Listen(m.ListenState.START, m.ListenMode.REALTIME)
    assert m.parse_message('{"type":"abort","reason":"wake_word_detected"}') == m.Abort("wake_word_detected")
    assert isinstance(m.parse_message('{"type":"mcp","payload":{"jsonrpc":"2.0","id":1,"result":{}}}'), m.Mcp)
    assert m.parse_message("{not json") == m.Invalid(
        "not JSON (malformed JSON at line 1, column 2: Expecting property name enclosed in double quotes)")
    assert m.parse_message("[1,2]") == m.Invalid("JSON is not an object")
    assert m.parse_message('{"state":"start"}') == m.Invalid("missing message type")
    assert m.parse_message('{"type":"goodbye","session_id":"s1"}') == m.Goodbye("s1")
    assert m.parse_message('{"type":"weather"}') == m.Unknown("weather")
    assert isinstance(m.parse_message('{"type":"hello","version":7}'), m.Invalid)
    assert isinstance(m.parse_message('{"type":"listen","state":"dance"}'), m.Invalid)
    assert isinstance(m.parse_message('{"type":"mcp","payload":"x"}'), m.Invalid)
    long = m.parse_message('{"type":"listen","state":"detect","text":"' + "a" * 10000 + '"}')
    assert isinstance(long, m.Listen) and len(long.text or "") == 4096


def test_server_hello_has_what_firmware_requires() -> None:
    hello = json.loads(m.encode(m.ServerHello(24000), "sid"))
    assert hello["type"] == "hello" and hello["transport"] == "websocket" and hello["session_id"] == "sid"
    assert hello["audio_params"] == {"format": "opus", "sample_rate": 24000, "channels": 1, "frame_duration": 60}


def test_text_that_cannot_be_utf8_is_cleaned_at_the_edge() -> None:
    msg = m.parse_message('{"type":"listen","state":"detect","text":"play \\ud800 song"}')
    assert isinstance(msg, m.Listen) and msg.text == "play \ufffd song"
    json.loads(m.encode(m.Stt(msg.text), "sid")).get("text").encode("utf-8")


@pytest.mark.parametrize("version", [1, 2, 3])
def test_framing_round_trip(version: int) -> None:
    opus = bytes(range(200))
    data = framing.pack(version, opus, timestamp_ms=1234)
    assert len(data) == len(opus) + {1: 0, 2: 16, 3: 4}[version]
    packet = framing.unpack(version, data)
    assert packet.opus == opus
    assert packet.timestamp_ms == (1234 if version == 2 else 0)


def test_framing_byte_layout_v2_v3() -> None:
    assert framing.pack(3, b"\x01\x02") == b"\x00\x00\x00\x02\x01\x02"
    assert framing.pack(2, b"\xff", 7) == bytes([0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0xFF])


def test_framing_rejects_bad_headers() -> None:
    with pytest.raises(framing.FramingError):
        framing.unpack(2, b"\x00" * 10)
    with pytest.raises(framing.FramingError):
        framing.unpack(3, b"\x00\x00\x01\x00abc")           # claims 256 bytes, has 3
    with pytest.raises(framing.FramingError):
        framing.unpack(2, framing.V2_HEADER.pack(2, 0, 0, 0, 50) + b"x")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s

    async def send(self, frame: bytes) -> None:
        self.sent.append(self.now)


async def test_pacer_lead_then_real_time() -> None:
    clock = FakeClock()
    pacer = Pacer(clock.send, frame_s=0.06, lead=3, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await pacer.send(b"x")
    rel = [round(t - 100.0, 3) for t in clock.sent]
    assert rel[:4] == [0.0, 0.0, 0.0, 0.0]                  # lead + 1 frames at once
    assert rel[4:] == [0.06, 0.12, 0.18, 0.24, 0.3, 0.36]    # then one per 60 ms on an absolute clock
    assert pacer.playout_remaining() == pytest.approx(0.6 - 0.36)


async def test_pacer_reanchors_after_a_stall_instead_of_bursting() -> None:
    clock = FakeClock()
    pacer = Pacer(clock.send, frame_s=0.06, lead=2, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await pacer.send(b"x")
    clock.now += 1.0                                         # the source stalled for a second
    for _ in range(6):
        await pacer.send(b"x")
    after = [round(t - clock.sent[5], 3) for t in clock.sent[5:]]
    assert after == [0.0, 0.0, 0.0, 0.06, 0.12, 0.18]        # fresh lead, then real time: no catch-up burst
    assert pacer.reanchors == 1


def test_identity_headers_case_insensitive_and_query_fallback() -> None:
    ident = identity_from({"AUTHORIZATION": "Bearer abc", "protocol-version": "3", "Device-ID": "AA:BB",
                           "client-id": "c1"}, {})
    assert (ident.token, ident.protocol_version, ident.device_id, ident.client_id) == ("abc", 3, "aa:bb", "c1")
    q = identity_from({}, {"device-id": "aa:cc", "client-id": "c2", "authorization": "Bearer t2"})
    assert (q.device_id, q.client_id, q.token) == ("aa:cc", "c2", "t2")


def test_the_no_token_reason_survives_the_log_scrubber() -> None:
    """The refusal is logged through the secret scrubber; its reason must still read as what happened (not as a
    redacted token: "no bearer ***")."""
    from core.logs import scrub
    auth = Authenticator(AuthConfig(enabled=True, tokens=("tok",)))
    reason = auth.check(identity_from({"device-id": "aa:bb"}, {}))
    assert reason == NO_TOKEN and scrub(f"refused device 'aa:bb' from 127.0.0.1:5: {reason}").endswith(reason)


def test_auth_static_allowlist_and_hmac() -> None:
    now = [1_000_000.0]
    auth = Authenticator(AuthConfig(enabled=True, tokens=("tok",), allowed_devices=("AA:BB",), hmac_key="k",
                                    token_ttl_s=60), clock=lambda: now[0])
    ident = lambda token, dev="11:22", client="c": identity_from(  # noqa: E731 - a local shorthand with defaults
        {"Authorization": f"Bearer {token}", "Device-Id": dev, "Client-Id": client}, {})
    assert auth.check(ident("tok")) is None
    assert auth.check(ident("", dev="aa:bb")) is None
    assert auth.check(ident("nope")) == "token not accepted"
    minted = auth.mint("c", "11:22")
    assert auth.check(ident(minted)) is None
    assert auth.check(ident(minted, client="other")) == "token not accepted"    # bound to the device identity
    now[0] += 61
    assert auth.check(ident(minted)) == "token not accepted"                     # expired
    assert Authenticator(AuthConfig()).check(ident("")) is None                  # off by default


def test_unicode_digits_never_raise() -> None:
    assert isinstance(m.parse_message('{"type":"hello","version":"²"}'), m.Invalid)
    ident = identity_from({"Protocol-Version": "²", "Authorization": "Bearer é.²"}, {})
    assert ident.protocol_version == 1
    auth = Authenticator(AuthConfig(enabled=True, tokens=("tok",), hmac_key="k"))
    assert auth.check(ident) == "token not accepted"


def test_registry_drops_arguments_of_the_wrong_json_type() -> None:
    from plugins_func.registry import PluginFunction, PluginRegistry, PluginResult

    seen: list[dict] = []

    def handler(conn, user_request: str, count: int = 1, lang: str | None = None) -> PluginResult:
        seen.append({"user_request": user_request, "count": count, "lang": lang})
        return PluginResult(speech="ok")
    reg = PluginRegistry([PluginFunction("f", "d", {"type": "object", "properties": {
        "user_request": {"type": "string"}, "count": {"type": "integer"},
        "lang": {"type": "string", "enum": ["en", "hi"]}}}, handler)])
    assert reg.call("f", None, {"user_request": "x", "count": True, "lang": 5, "junk": 1}).speech == "ok"
    assert seen == [{"user_request": "x", "count": 1, "lang": None}]
    assert reg.call("f", None, {"user_request": 7}).speech == "Sorry, I didn't understand that request."
    assert reg.call("nope", None, {}).speech == "Sorry, I can't do that yet."


async def test_mcp_client_survives_malformed_device_replies() -> None:
    from core.mcp import McpClient, McpError

    sent: list[dict] = []

    async def send(payload: dict) -> None:
        sent.append(payload)
    client = McpClient(send, timeout_s=1.0)

    async def reply(result: dict) -> None:
        while not sent:
            await asyncio.sleep(0)
        client.on_message({"jsonrpc": "2.0", "id": sent.pop()["id"], "result": result})
    for bad in ({"tools": 5}, {"tools": None}):
        task = asyncio.create_task(client.discover())
        await reply({})                     # initialize
        await reply(bad)                    # tools/list
        await task                          # logged, not raised
        assert client.tools == {}
    call = asyncio.create_task(client.call("self.get_device_status", {}))
    await reply({"content": None})
    with pytest.raises(McpError):
        await call


async def _render_song_turn(files: Any, speech: Any, announce: Any, *,
                            report_spoken: bool = False) -> tuple[list[str], list[str]]:
    """One turn ("<announce>", then a song that `files` decodes) through a real TurnRenderer with recording stand-ins
    for the socket and the session: (what the device was sent, what the session was told)."""
    from core.audio.types import AudioParams, AudioSource
    from core.content.types import Kind, Track
    from core.playback.turn import EndOfTurn, TrackSeg, Turn, TurnCallbacks, TurnRenderer

    out: list[str] = []
    reports: list[str] = []

    async def send_json(msg: Any) -> None:
        f = msg.fields()
        out.append(f"{f['type']}:{f['state']}" + (f":{f['text']}" if "text" in f else ""))

    async def send_audio(frame: bytes, ts: int) -> None:
        out.append(f"frame{frame[0]}")

    async def open_source(track: Any, start_ms: int) -> AudioSource:
        return AudioSource("x.mp3", "x")

    def failed(tid: int, track: Any, busy: bool) -> None:
        reports.append(f"failed:{track.title}:{busy}")
        renderer.inbox.put_nowait(EndOfTurn())          # the session's answer: nothing follows

    song = Track(Kind.MUSIC, "English", "Song", "song.mp3")
    renderer = TurnRenderer(send_json=send_json, send_audio=send_audio, files=files, speech=speech,
                            open_source=open_source, params=AudioParams(), first_frame_gap_s=0, stop_grace_s=0,
                            callbacks=TurnCallbacks(started=lambda *a: reports.append("started"),
                                                    near_end=lambda *a: reports.append("near_end"),
                                                    finished=lambda *a: reports.append("finished"), failed=failed,
                                                    spoke=(lambda tid: out.append(f"spoke{tid}")) if report_spoken
                                                    else None))
    renderer.reset(1)
    await asyncio.wait_for(renderer.render(Turn(1, (announce, TrackSeg(song)))), 5)
    return out, reports


async def test_a_failing_track_is_apologised_for_once_and_the_turn_closes() -> None:
    from core.audio.types import AudioError
    from core.playback.turn import SpeechSeg

    class Files:
        async def frames(self, source, holder=None):
            yield b"\x01"
            raise AudioError("decoder bug")

    class Speech:
        async def frames(self, text, language, device=""):
            yield b"\x02"

    out, reports = await _render_song_turn(Files(), Speech(), SpeechSeg("Now playing"), report_spoken=True)
    # the turn's first spoken frame is reported once it is out; the apology later is not reported again
    assert out == ["tts:start", "tts:sentence_start:Now playing", "frame2", "spoke1", "tts:sentence_start:Song",
                   "frame1", "tts:sentence_start:Sorry, I couldn't play that one.", "frame2", "tts:stop"]
    assert reports == ["started", "failed:Song:False"]


async def test_a_track_refused_as_busy_cuts_its_announcement_and_says_busy_before_anything_of_itself() -> None:
    from core.audio.types import AudioBusy
    from core.lang.replies import say
    from core.playback.turn import SpeechSeg

    class Files:
        async def frames(self, source, holder=None):
            raise AudioBusy("the node's audio budget is full")
            yield b"\x01"                                # an async generator that refuses on its first frame

    class Speech:
        async def frames(self, text, language, device=""):
            yield b"\x02"

        async def announcement(self, text, language, device=""):
            await asyncio.sleep(0.01)                    # a cache lookup: the track's opening is refused meanwhile
            return (b"\x03",) * 40                       # 2.4 s of "Now playing ..."

    out, reports = await _render_song_turn(Files(), Speech(), SpeechSeg("Now playing Song", announces=True))
    assert out == ["tts:start", f"tts:sentence_start:{say('busy', 'en')}", "frame2", "tts:stop"]
    assert reports == ["failed:Song:True"]
