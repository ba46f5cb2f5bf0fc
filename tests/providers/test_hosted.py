"""Hosted providers against local stand-ins on 127.0.0.1 that speak the OpenAI wire format:
/v1/audio/transcriptions, /v1/audio/speech, /v1/chat/completions (including 500s and timeouts)."""
from __future__ import annotations

import asyncio
import io
import json
import wave
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from core.audio.resample import wav_bytes
from core.config import config_from_dict
from core.lang.request import Request, RequestReader
from core.providers.asr.base import ASRError
from core.providers.asr.openai import OpenAIASR
from core.providers.intent.base import Intent, IntentContext
from core.providers.intent.factory import build_intent
from core.providers.intent.llm import LLMIntentProvider
from core.providers.tts.base import TTSError
from core.providers.tts.openai import OpenAITTS
from plugins_func.registry import PluginFunction, PluginRegistry, PluginResult
from tests.voice_fixtures import dominant_hz, rms

READ = RequestReader().read

pytestmark = pytest.mark.timeout(30)
KEY = "sk-test-secret-123"


class StandIn:
    """One aiohttp app with the three endpoints; `behaviour` switches between ok / 500 / slow."""

    def __init__(self) -> None:
        self.behaviour = "ok"
        self.requests: list[dict[str, Any]] = []
        self.chat_reply: dict[str, Any] = {}
        self.url = ""

    async def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append({"path": request.path, "auth": request.headers.get("Authorization")})
        if self.behaviour == "500":
            return web.json_response({"error": {"message": "internal"}}, status=500)
        if self.behaviour == "slow":
            await asyncio.sleep(5)
        return None

    async def transcriptions(self, request: web.Request) -> web.Response:
        if (r := await self._gate(request)) is not None:
            return r
        form = await request.post()
        with wave.open(io.BytesIO(form["file"].file.read())) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            rate = w.getframerate()
        self.requests[-1].update(model=form["model"], language=form.get("language"), prompt=form.get("prompt"))
        return web.json_response({"text": f" tone {dominant_hz(x.tobytes(), rate):.0f} hz at {rate} "})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate(request)) is not None:
            return r
        body = await request.json()
        self.requests[-1].update(body=body)
        t = np.arange(24000) / 24000                      # 1 s of 300 Hz at 24 kHz, like OpenAI's pcm
        pcm = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16).tobytes()
        if body["response_format"] == "wav" or self.behaviour == "wav-anyway":
            return web.Response(body=wav_bytes(pcm, 24000), content_type="audio/wav")
        resp = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await resp.prepare(request)
        for i in range(0, len(pcm), 4801):               # odd chunk sizes, like a real stream
            await resp.write(pcm[i:i + 4801])
        await resp.write_eof()
        return resp

    async def chat(self, request: web.Request) -> web.Response:
        if (r := await self._gate(request)) is not None:
            return r
        body = await request.json()
        self.requests[-1].update(body=body)
        return web.json_response(self.chat_reply)


@pytest.fixture
async def standin():
    s = StandIn()
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", s.transcriptions)
    app.router.add_post("/v1/audio/speech", s.speech)
    app.router.add_post("/v1/chat/completions", s.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started: the server is set
    s.url = f"http://127.0.0.1:{port}/v1"
    yield s
    await runner.cleanup()


def voice(section: str, **kw: Any):
    return getattr(config_from_dict({"voice": {section: kw}}).voice, section)


def tone(hz: float, seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 9000).astype(np.int16).tobytes()


# ----------------------------------------------------------------------------- ASR


async def test_asr_uploads_a_wav_and_returns_the_text(standin: StandIn) -> None:
    asr = OpenAIASR(voice("asr", provider="openai", base_url=standin.url, api_key=KEY, language="hi"))
    asr.set_vocabulary(["Hanuman Chalisa", "Bandar Mama", "Hanuman Chalisa"])
    try:
        assert await asr.transcribe(tone(440, 1.0)) == "tone 440 hz at 16000"
    finally:
        await asr.aclose()
    req = standin.requests[0]
    assert req["auth"] == f"Bearer {KEY}" and req["model"] == "whisper-1" and req["language"] == "hi"
    assert req["prompt"] == "Hanuman Chalisa, Bandar Mama"


@pytest.mark.parametrize(("behaviour", "message"), [("500", "HTTP 500"), ("slow", "timed out")])
async def test_asr_errors_are_asr_errors_without_the_key(standin: StandIn, behaviour: str, message: str,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    standin.behaviour = behaviour
    asr = OpenAIASR(voice("asr", provider="openai", base_url=standin.url, api_key=KEY, timeout_s=1))
    try:
        with pytest.raises(ASRError, match=message) as err:
            await asr.transcribe(tone(440, 0.5))
    finally:
        await asr.aclose()
    assert KEY not in str(err.value) and KEY not in capfd.readouterr().err


async def test_asr_unreachable_service() -> None:
    asr = OpenAIASR(voice("asr", provider="openai", base_url="http://127.0.0.1:9/v1", timeout_s=2))
    try:
        with pytest.raises(ASRError, match="unreachable"):
            await asr.transcribe(tone(440, 0.5))
    finally:
        await asr.aclose()


# ----------------------------------------------------------------------------- TTS


@pytest.mark.parametrize(("fmt", "behaviour"), [("pcm", "ok"), ("wav", "ok"), ("pcm", "wav-anyway")])
@pytest.mark.parametrize("rate", [16000, 24000])
async def test_tts_streams_pcm_or_wav_at_the_asked_rate(standin: StandIn, fmt: str, behaviour: str, rate: int) -> None:
    standin.behaviour = behaviour
    tts = OpenAITTS(voice("tts", provider="openai", base_url=standin.url, api_key=KEY, response_format=fmt,
                          voice="nova"))
    try:
        pcm = b"".join([c async for c in tts.synthesize("Now playing Baa Baa Black Sheep.", "en", rate)])
    finally:
        await tts.aclose()
    assert abs(len(pcm) / 2 - rate) <= 2                 # 1 s of audio
    assert abs(dominant_hz(pcm, rate) - 300) < 3 and rms(pcm) > 4000
    body = standin.requests[0]["body"]
    assert body == {"model": "tts-1", "input": "Now playing Baa Baa Black Sheep.", "voice": "nova",
                    "response_format": fmt}
    assert standin.requests[0]["auth"] == f"Bearer {KEY}"


@pytest.mark.parametrize(("behaviour", "message"), [("500", "HTTP 500"), ("slow", "timed out")])
async def test_tts_errors_are_tts_errors(standin: StandIn, behaviour: str, message: str) -> None:
    standin.behaviour = behaviour
    tts = OpenAITTS(voice("tts", provider="openai", base_url=standin.url, api_key=KEY, timeout_s=1))
    try:
        with pytest.raises(TTSError, match=message) as err:
            async for _ in tts.synthesize("Hello.", "en", 16000):
                pass
    finally:
        await tts.aclose()
    assert KEY not in str(err.value)


# ----------------------------------------------------------------------------- LLM intent


def play_music(conn: Any, user_request: str, song_type: str = "any",
               language_preference: str | None = None) -> PluginResult:
    return PluginResult(speech=f"playing {user_request}")


REGISTRY = PluginRegistry([PluginFunction(
    "play_music", "Play a song or rhyme", {"type": "object", "properties": {
        "user_request": {"type": "string"}, "song_type": {"type": "string"},
        "language_preference": {"type": "string"}}, "required": ["user_request"]}, play_music)])


class Rules:
    name = "rules"

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def recognize(self, request: Request, context: Any) -> Intent:
        self.seen.append(request.text)
        return Intent("play_music", {"user_request": request.text}, reply=None)


def Ctx() -> IntentContext:
    return IntentContext(device_tools={"self.audio_speaker.set_volume": {
        "description": "Set the speaker volume", "inputSchema": {"type": "object", "properties": {
            "volume": {"type": "integer"}}, "required": ["volume"]}}})


def tool_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}}]}


async def test_llm_tool_call_becomes_an_intent(standin: StandIn) -> None:
    rules = Rules()
    llm = LLMIntentProvider(voice("intent", provider="llm", base_url=standin.url, api_key=KEY),
                            REGISTRY.tool_schemas(), rules)
    standin.chat_reply = tool_call("play_music", {"user_request": "hanuman chalisa", "language_preference": "hindi"})
    try:
        intent = await llm.recognize(READ("हनुमान चालीसा सुनाओ"), Ctx())
        assert intent == Intent("play_music", {"user_request": "hanuman chalisa", "language_preference": "hindi"},
                                language="hi")
        standin.chat_reply = tool_call("self_audio_speaker_set_volume", {"volume": 30})
        vol = await llm.recognize(READ("make it quieter"), Ctx())
        assert vol.name == "self.audio_speaker.set_volume" and vol.arguments == {"volume": 30}
        standin.chat_reply = {"choices": [{"message": {"role": "assistant",
                                                        "content": "I can play songs and tell stories!"}}]}
        chat = await llm.recognize(READ("how far is the moon"), Ctx())
        assert chat.name == "" and chat.reply == "I can play songs and tell stories!"
    finally:
        await llm.aclose()
    assert rules.seen == []
    body = standin.requests[0]["body"]
    names = [t["function"]["name"] for t in body["tools"]]
    assert names == ["play_music", "self_audio_speaker_set_volume"]
    assert body["messages"][1] == {"role": "user", "content": "हनुमान चालीसा सुनाओ"}
    assert standin.requests[0]["auth"] == f"Bearer {KEY}"


@pytest.mark.parametrize("behaviour", ["500", "slow", "unknown-tool", "garbage"])
async def test_llm_failures_fall_back_to_rules(standin: StandIn, behaviour: str) -> None:
    rules = Rules()
    llm = LLMIntentProvider(voice("intent", provider="llm", base_url=standin.url, timeout_s=1),
                            REGISTRY.tool_schemas(), rules)
    standin.behaviour = behaviour if behaviour in ("500", "slow") else "ok"
    standin.chat_reply = tool_call("launch_rocket", {}) if behaviour == "unknown-tool" else {"nope": 1}
    try:
        intent = await llm.recognize(READ("play baa baa black sheep"), Ctx())
    finally:
        await llm.aclose()
    assert intent == Intent("play_music", {"user_request": "play baa baa black sheep"})
    assert rules.seen == ["play baa baa black sheep"]


def test_provider_follows_config() -> None:
    from core.providers.intent.rules import RulesIntentProvider
    assert isinstance(build_intent(voice("intent"), REGISTRY.tool_schemas()), RulesIntentProvider)
    llm = build_intent(voice("intent", provider="llm", base_url="http://127.0.0.1:9/v1"), REGISTRY.tool_schemas())
    assert isinstance(llm, LLMIntentProvider)
