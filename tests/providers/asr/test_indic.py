"""Offline voice in Hindi, Telugu and Kannada (issue 14).

Unit tests for the catalog bias (romanized prompt, phonetic title snapping, script guard), then end to end over the
real WebSocket server in auto mode: espeak-ng speaks a Hindi and a Kannada request, the device streams it as Opus
in real time, whisper-base hears it, and the right tone plays (checked by decoding the Opus the server sends);
a spoken request for a title the catalog lacks gets an honest "couldn't find" and no audio.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import ConfigError, config_from_dict
from core.device_client import DeviceClient
from core.protocol import framing
from core.providers.asr.catalog import TitleSnapper, prompt_phrases, readable
from core.providers.asr.whisper import WhisperASR, build_prompt
from tests.audio_fixtures import peak_frequencies
from tests.conftest import write_tone, ws_url
from tests.voice_fixtures import device_stream, espeak_16k, silence

ROOT = Path(__file__).resolve().parents[3]
DEMO_TITLES = ["Baa Baa Black Sheep", "Twinkle Twinkle Little Star", "Jack and Jill", "The Wheels on the Bus",
               "हनुमान चालीसा", "बंदर मामा", "मछली जल की रानी है", "చిట్టి చిలకమ్మ", "చందమామ రావే",
               "ಆನೆ ಬಂತೊಂದು ಆನೆ", "Kothi Mattu Bale Hannu Haadu ", "Indu maṅgaḷavāra", "Phonics Song",
               "Letter Sounds A to E", "The Sleepy Moon", "The Little Dragon", "जादुई पेड़", "Jack & the Beanstalk+1",
               "అడవిలో సాహసం", "The Water Cycle", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"]


# ----------------------------------------------------------------------------- catalog bias (fast)


def test_native_titles_are_romanized_with_their_languages_request_words() -> None:
    assert readable("हनुमान चालीसा") == "Hanuman Chalisa"
    assert readable("ಆನೆ ಬಂತೊಂದು ಆನೆ") == "Aane Bantondu Aane"
    assert prompt_phrases(["हनुमान चालीसा", "చందమామ రావే", "ಆನೆ ಬಂತೊಂದು ಆನೆ", "Jack and Jill", "jack and jill"]) == [
        "Hanuman Chalisa sunao", "Chandamama Rave paata pettu", "Aane Bantondu Aane haadu haaku", "Play Jack And Jill"]


def test_prompt_carries_indic_titles_and_stays_within_whispers_budget() -> None:
    prompt = build_prompt(DEMO_TITLES)
    assert prompt.isascii()                      # the decode is English: no native script in the prompt
    for item in ('"Hanuman Chalisa sunao."', '"Chandamama Rave paata pettu."', '"Aane Bantondu Aane haadu haaku."',
                 '"Play Baa Baa Black Sheep."', '"Stop."'):
        assert item in prompt, item
    assert len(prompt) <= 700
    assert build_prompt(DEMO_TITLES * 20).endswith('"Stop."')   # a huge catalog is cut, the commands stay


def test_snapper_reaches_the_title_from_a_misheard_transcript() -> None:
    snap = TitleSnapper(DEMO_TITLES)
    # heard by whisper-base from espeak-ng speech (tuning voices)
    assert snap.snap("Anuman Chalisa Madhau.").text == "हनुमान चालीसा"
    assert snap.snap("Bandar Mama Suhao.").text == "बंदर मामा"
    assert snap.snap("Chandamama Rave Petu.").title == "చందమామ రావే"
    assert snap.snap("Surya Mattu Chandra Hai Rho.").title == "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"
    # known request words after the title stay (a verb, a negation); only unknown ones go
    assert snap.snap("Chandamama Rave paata pettu").text == "చందమామ రావే paata pettu"
    assert snap.snap("Hanuman Chalisa nahi").text == "हनुमान चालीसा nahi"
    assert snap.snap("play baa baa black sheep please").text == "play Baa Baa Black Sheep please"
    # ... and before it: "मुझे हनुमान चालीसा सुनना है" heard as "Mugetta Hanuman Chalisa Song", "Move the ..."
    assert snap.snap("Mugetta Hanuman Chalisa Song").text == "हनुमान चालीसा Song"
    # words before a title with no verb, "story" or language in them say nothing (whisper's "Okay, then, I'll go"
    # for मुझे would otherwise keep the matcher from the title); a request lead before it is kept
    assert snap.snap("Move the Hanuman Chalisa Song").text == "हनुमान चालीसा Song"
    assert snap.snap("Okay, then, I'll go Hanuman Chalisa Song Haadu.").text == "हनुमान चालीसा Song Haadu."
    assert snap.snap("Okay, continue Hanuman Chalisa").text == "Okay, continue हनुमान चालीसा"
    assert snap.snap("then play the Hindi Hanuman Chalisa").text == "then play the Hindi हनुमान चालीसा"
    assert snap.snap("Gun Bandar Mama Gana").text == "बंदर मामा Gana"
    assert snap.snap("can you play baa baa black sheep").text == "can you play Baa Baa Black Sheep"


@pytest.mark.parametrize("text", ["play jingle bells", "play humpty dumpty", "tell me a bedtime story", "next song",
                                  "play a song", "stop", "what is your name", "play something calm", ""])
def test_snapper_leaves_requests_for_other_things_alone(text: str) -> None:
    result = TitleSnapper(DEMO_TITLES).snap(text)
    assert result.title is None and result.text == text


def test_snapper_needs_a_clear_winner_and_skips_short_titles() -> None:
    twins = TitleSnapper(["Chanda Mama", "Chanda Mami"])
    r = twins.snap("Chanda Mamu")
    assert r.title is None and r.score >= 80 and r.score - r.runner_up < twins.margin
    assert len(TitleSnapper(["Ek", "Moon"])) == 0          # too short to tell by sound
    assert TitleSnapper(["Chanda Mama"], min_score=100).snap("Chanda Mamu").title is None


def test_whisper_snap_drops_scripts_the_catalog_does_not_use() -> None:
    cfg = config_from_dict({}).voice.asr
    asr = WhisperASR(cfg, model=object())
    asr.set_vocabulary(DEMO_TITLES)
    assert asr.snap("بھنுமھن چلی سا مداؤ") == ""            # Urdu/Tamil mix: nothing heard, not a wrong item
    assert asr.snap("ยินดีต้อนรับ") == ""
    assert asr.snap("Anuman Chalisa Madhau.") == "हनुमान चालीसा"
    assert asr.snap("हनुमान चालीसा सुनाओ") == "हनुमान चालीसा सुनाओ"
    off = WhisperASR(config_from_dict({"voice": {"asr": {"snap_min_score": 0}}}).voice.asr, model=object())
    off.set_vocabulary(DEMO_TITLES)
    assert off.snap("Anuman Chalisa Madhau.") == "Anuman Chalisa Madhau."


@pytest.mark.parametrize("value", [30, 101, -1])
def test_snap_min_score_out_of_range_names_the_key(value: float) -> None:
    with pytest.raises(ConfigError, match="voice.asr.snap_min_score"):
        config_from_dict({"voice": {"asr": {"snap_min_score": value}}})


# ----------------------------------------------------------------------------- end to end (whisper)

INDIC_TONES = {  # title -> (collection, romanized, Hz, seconds)
    "हनुमान चालीसा": ("Hindi", "Hanuman Chalisa", 520.0, 1.5),
    "बंदर मामा": ("Hindi", "Bandar Mama", 700.0, 1.5),
    "ಆನೆ ಬಂತೊಂದು ಆನೆ": ("Kannada", "Aane Bantondu Aane", 880.0, 1.5),
    "Kothi Mattu Bale Hannu Haadu": ("Kannada", "Kothi Mattu Bale Hannu Haadu", 990.0, 1.5),
    "Baa Baa Black Sheep": ("English", "Baa Baa Black Sheep", 440.0, 1.5),
    "Twinkle Twinkle Little Star": ("English", "Twinkle Twinkle Little Star", 660.0, 1.5),
}


@pytest.fixture(scope="module")
def indic_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("indic-catalog")
    meta: dict[str, dict[str, dict[str, object]]] = {}
    for title, (collection, romanized, hz, secs) in INDIC_TONES.items():
        folder = root / "music" / collection
        folder.mkdir(parents=True, exist_ok=True)
        write_tone(folder / f"{romanized}.mp3", hz, secs)
        meta.setdefault(collection, {})[title] = {"romanized": romanized, "filename": f"{romanized}.mp3",
                                                   "alternatives": []}
    for collection, entries in meta.items():
        (root / "music" / collection / "metadata.json").write_text(json.dumps(entries, ensure_ascii=False),
                                                                   encoding="utf-8")
    return root


def indic_config(make_config, catalog: Path):
    return make_config(content={"content_dir": str(catalog)}, matching={"on_miss": "say"},
                       voice={"asr": {"provider": "whisper",
                                      "model_dir": str(ROOT / "metadata" / "models" / "whisper-base")},
                              "vad": {"provider": "silero"}})


async def speak(client: DeviceClient, pcm: bytes) -> None:
    """Stream speech like the firmware's mic in real time, auto mode."""
    assert client.ws is not None
    await client.send_json({"type": "listen", "state": "start", "mode": "auto"})
    packets = device_stream(silence(0.6) + pcm + silence(1.5), garbage_every=6)
    start = time.monotonic()
    for i, packet in enumerate(packets):
        await client.ws.send(framing.pack(client.protocol_version, packet, i * 60))
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.06 - time.monotonic()))


@pytest.mark.timeout(240)
async def test_spoken_hindi_and_kannada_requests_play_the_right_items(make_config, start_node,
                                                                       indic_catalog: Path) -> None:
    node = await start_node(indic_config(make_config, indic_catalog))
    requests = (("हनुमान चालीसा सुनाओ", "hi", "हनुमान चालीसा"), ("ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಹಾಕು", "kn", "ಆನೆ ಬಂತೊಂದು ಆನೆ"))
    async with DeviceClient(ws_url(node)) as client:
        for text, voice, title in requests:
            first = len(client.audio)
            streaming = asyncio.create_task(speak(client, espeak_16k(text, voice)))
            stt = await client.wait_json("stt", timeout=60)
            await client.wait_json("tts", "start", timeout=30)
            await client.wait_json("tts", "stop", timeout=30)
            await streaming
            _, _, hz, secs = INDIC_TONES[title]
            pcm = client.decode_audio(client.audio[first:]).astype(np.float64)
            assert abs(len(pcm) / client.downlink_rate - secs) <= 0.12, (stt, len(pcm))
            assert abs(peak_frequencies(pcm, client.downlink_rate, 1)[0] - hz) < 5, stt


@pytest.mark.timeout(240)
async def test_spoken_request_for_a_title_not_in_the_catalog_is_an_honest_miss(make_config, start_node,
                                                                                indic_catalog: Path) -> None:
    node = await start_node(indic_config(make_config, indic_catalog))
    async with DeviceClient(ws_url(node)) as client:
        streaming = asyncio.create_task(speak(client, espeak_16k("play jingle bells", "en-us")))
        stt = await client.wait_json("stt", timeout=60)
        assert stt["text"].strip(), stt                       # it was heard ...
        await client.wait_json("tts", "stop", timeout=30)
        await streaming
        sentences = [r.message.get("text", "") for r in client.log
                     if r.kind == "json" and r.message.get("state") == "sentence_start"]
        assert any("couldn't find" in s for s in sentences), sentences   # ... and the speaker says it has none
        assert len(client.audio) == 0 or len(client.decode_audio()) == 0   # and plays nothing


@pytest.mark.timeout(120)
async def test_noise_and_silence_give_no_invented_request() -> None:
    """With the catalog prompt whisper answers noise with fluent text ("Play the song."); none may come out."""
    cfg = config_from_dict({"voice": {"asr": {"model_dir": str(ROOT / "metadata" / "models" / "whisper-base")}}})
    asr = WhisperASR(cfg.voice.asr)
    asr.set_vocabulary(DEMO_TITLES)
    rng = np.random.default_rng(77)
    clips = [bytes(32000), bytes(64000)] + [
        (rng.normal(0, 328 * (k + 1), 32000)).astype(np.int16).tobytes() for k in range(4)]
    heard = [await asr.transcribe(pcm) for pcm in clips]
    assert heard == [""] * len(clips), heard
