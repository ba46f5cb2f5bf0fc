"""The per-connection listener end to end at the provider level: device-like Opus uplink -> VAD -> ASR -> text.

Speech is synthesised locally with piper (the English voice the server speaks with), encoded into 60 ms
Opus frames with DTX (1-3 byte packets in silence) and a few garbage packets, and streamed into
`ListenerFactory(...).open(...).feed()`. Whisper runs for real (about 1 s per utterance on 2 cores).
"""
from __future__ import annotations

import asyncio
import io
import wave

import pytest
from aiohttp import web

from core.config import config_from_dict
from core.listener import ListenerFactory
from core.protocol.messages import ListenMode, ListenState
from core.providers.asr.openai import OpenAIASR
from core.providers.asr.whisper import WhisperASR
from core.providers.tts.piper import PiperTTS
from core.providers.vad.silero import SileroVAD
from tests.voice_fixtures import Recorder, device_stream, noise, silence, stream_packets, voice_cfg

PHRASES = {
    "play twinkle twinkle little star": ("twinkle", "little star"),
    "tell me a bedtime story": ("bedtime", "story"),
    "stop": ("stop",),
}
# Said as a child says it. A flat piper "stop" through complexity-0 Opus is heard as "Star" ~1 time in 8.
SPOKEN = {"stop": "Stop!"}


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    async def synth() -> dict[str, bytes]:
        tts = PiperTTS()
        try:
            return {p: b"".join([c async for c in tts.synthesize(SPOKEN.get(p, p), "en", 16000)]) for p in PHRASES}
        finally:
            await tts.aclose()
    return asyncio.run(synth())


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    v = SileroVAD()
    v.load()
    return v


@pytest.fixture(scope="module")
def whisper_model() -> object:
    return WhisperASR(voice_cfg().asr).load()


@pytest.fixture
def whisper(whisper_model: object) -> WhisperASR:
    asr = WhisperASR(voice_cfg().asr, model=whisper_model)
    asr.set_vocabulary(["Twinkle Twinkle Little Star", "Baa Baa Black Sheep", "Hanuman Chalisa", "Bandar Mama"])
    return asr


async def wait_for_text(rec: Recorder, timeout: float = 30.0) -> str:
    await asyncio.wait_for(rec.got.wait(), timeout)
    rec.got.clear()
    return rec.utterances[-1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("phrase", list(PHRASES))
async def test_auto_mode_hears_one_utterance_with_the_right_words(phrase: str, speech: dict[str, bytes],
                                                                   vad: SileroVAD, whisper: WhisperASR) -> None:
    rec = Recorder()
    listener = ListenerFactory(voice_cfg(), whisper, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.AUTO)
    packets = device_stream(silence(1.0) + speech[phrase] + silence(2.0), garbage_every=5,
                            app="audio" if phrase == "stop" else "voip")
    assert sum(len(p) <= 3 for p in packets) >= 10            # DTX packets are really in the stream
    await stream_packets(listener, packets, realtime=0.25)
    text = (await wait_for_text(rec)).lower()
    for word in PHRASES[phrase]:
        assert word in text, text
    await listener.drained()
    assert listener.processed == len(packets)                 # every packet was seen ...
    assert len(rec.utterances) == 1                           # ... and the trailing silence added nothing
    await listener.aclose()


@pytest.mark.timeout(120)
async def test_manual_mode_ends_on_listen_stop(speech: dict[str, bytes], vad: SileroVAD, whisper: WhisperASR) -> None:
    rec = Recorder()
    listener = ListenerFactory(voice_cfg(), whisper, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.MANUAL)
    packets = device_stream(speech["play twinkle twinkle little star"] + silence(1.5))
    await stream_packets(listener, packets)
    await listener.drained()
    assert listener.processed == len(packets)
    assert rec.utterances == []                              # silence alone doesn't end push-to-talk
    listener.listen(ListenState.STOP, None)
    text = (await wait_for_text(rec)).lower()
    assert "twinkle" in text
    await listener.aclose()


# ----------------------------------------------------------------------------- without whisper (fast)


@pytest.fixture
async def asr_standin():
    """A local OpenAI-compatible /v1/audio/transcriptions that records uploads and answers by their length."""
    uploads: list[tuple[str, float]] = []
    mode = {"status": 200}

    async def transcriptions(request: web.Request) -> web.Response:
        form = await request.post()
        with wave.open(io.BytesIO(form["file"].file.read())) as w:
            seconds = w.getnframes() / w.getframerate()
        uploads.append((str(form["model"]), seconds))
        if mode["status"] != 200:
            return web.json_response({"error": {"message": "boom"}}, status=mode["status"])
        return web.json_response({"text": f"heard {seconds:.1f} seconds"})

    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started: the server is set
    cfg = config_from_dict({"voice": {"asr": {"provider": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                              "timeout_s": 3}}}).voice
    asr = OpenAIASR(cfg.asr)
    yield asr, cfg, uploads, mode
    await asr.aclose()
    await runner.cleanup()


@pytest.mark.timeout(30)
async def test_silence_dtx_and_garbage_give_nothing_and_never_raise(vad: SileroVAD, asr_standin) -> None:
    asr, cfg, uploads, _ = asr_standin
    rec = Recorder()
    listener = ListenerFactory(cfg, asr, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.feed(b"\x01\x02")                                   # before listen start: ignored
    listener.listen(ListenState.START, ListenMode.AUTO)
    packets = device_stream(silence(3.0), garbage_every=2)
    packets += [bytes([i]) * n for i, n in ((0xFF, 1), (0x7F, 2), (0x00, 3), (0xFC, 1275), (0x4B, 4000))]
    packets += [bytes((i * 37) % 256 for i in range(j, j + 90)) for j in range(60)]
    await stream_packets(listener, packets)
    await listener.drained()
    assert listener.processed == len(packets) + 1             # all of it was looked at, none of it was speech
    assert rec.utterances == [] and uploads == []
    await listener.aclose()


@pytest.mark.timeout(30)
async def test_hosted_asr_500_becomes_sorry_and_listening_continues(speech: dict[str, bytes], vad: SileroVAD,
                                                                     asr_standin) -> None:
    asr, cfg, uploads, mode = asr_standin
    rec = Recorder()
    listener = ListenerFactory(cfg, asr, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.AUTO)
    mode["status"] = 500
    await stream_packets(listener, device_stream(silence(0.5) + speech["stop"] + silence(1.2)))
    assert await wait_for_text(rec) == ""                         # the session says "sorry, I didn't catch that"
    assert rec.busy == 0
    mode["status"] = 429                                          # rate-limited: busy, not "didn't catch that"
    await stream_packets(listener, device_stream(speech["stop"] + silence(1.2)))
    async with asyncio.timeout(10):
        while rec.busy == 0:
            await asyncio.sleep(0.02)
    rec.got.clear()
    assert rec.utterances == [""]
    mode["status"] = 200
    await stream_packets(listener, device_stream(speech["tell me a bedtime story"] + silence(1.2)))
    text = await wait_for_text(rec)
    assert text.startswith("heard ")
    seconds = float(text.split()[1])
    # the upload is the utterance: speech + the silence that ended it (+ pre-roll), as a 16 kHz WAV
    said = len(speech["tell me a bedtime story"]) / 32000
    assert said + 0.3 <= seconds <= said + 1.4
    assert [m for m, _ in uploads] == ["whisper-1"] * 3
    await listener.aclose()


@pytest.mark.timeout(30)
async def test_realtime_barge_in_then_the_interruption_is_transcribed(speech: dict[str, bytes], vad: SileroVAD,
                                                                      asr_standin) -> None:
    asr, cfg, uploads, _ = asr_standin
    rec = Recorder(speaking=True)
    listener = ListenerFactory(cfg, asr, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.AUTO)
    first = device_stream(silence(0.5) + speech["stop"] + silence(1.2))
    await stream_packets(listener, first)
    await listener.drained()
    assert listener.processed == len(first)
    assert rec.barge_ins == 0 and rec.utterances == []            # auto mode: the device's own output, ignored
    listener.listen(ListenState.START, ListenMode.REALTIME)
    await stream_packets(listener, device_stream(silence(0.5) + speech["stop"] + silence(1.2)))
    assert (await wait_for_text(rec)).startswith("heard ")
    assert rec.barge_ins == 1 and len(uploads) == 1
    await listener.aclose()


@pytest.mark.timeout(30)
async def test_too_long_monologue_and_device_that_stops_sending(speech: dict[str, bytes], vad: SileroVAD,
                                                               asr_standin) -> None:
    asr, _, uploads, _ = asr_standin
    cfg = config_from_dict({"voice": {"vad": {"max_utterance_s": 3}}}).voice
    rec = Recorder()
    listener = ListenerFactory(cfg, asr, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.AUTO)
    ramble = b"".join([speech["tell me a bedtime story"]] * 4)
    await stream_packets(listener, device_stream(ramble + silence(1.0)))
    assert await wait_for_text(rec) == ""                         # over the limit: "sorry", no ASR spent
    assert uploads == []
    # speech, then the device goes quiet without sending silence: the wall clock ends the utterance
    await stream_packets(listener, device_stream(speech["play twinkle twinkle little star"])[:-2])
    assert (await wait_for_text(rec, timeout=5)).startswith("heard ")
    await listener.aclose()


@pytest.mark.timeout(30)
async def test_noise_is_not_speech(vad: SileroVAD, asr_standin) -> None:
    asr, cfg, uploads, _ = asr_standin
    rec = Recorder()
    listener = ListenerFactory(cfg, asr, vad).open(rec.callbacks(), device_id="aa:bb")
    listener.listen(ListenState.START, ListenMode.AUTO)
    packets = device_stream(noise(4.0, rms=2500) + silence(1.0))
    await stream_packets(listener, packets)
    await listener.drained()
    assert listener.processed == len(packets)
    assert rec.utterances == [] and uploads == []
    await listener.aclose()
