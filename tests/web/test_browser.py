"""The web console in a real headless Chromium (Debian's package, driven by Playwright) against a real node on
loopback: the browser test device plays a requested song (its decoded audio has the song's tone), speaks a request
through a fake microphone (WebCodecs Opus), pauses and resumes; the operator page lists a connected device with what
it plays. The parents' page has its own module (test_parents_page.py)."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.device_client import DeviceClient
from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, until, write_tone, ws_url
from tests.web.chromium import have_chromium, shot
from tests.web.test_console import OP, PARENT, web_config

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]

if not have_chromium():
    pytest.skip("Chromium is not installed (make test installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("playwright.async_api")


async def open_device(page: Any, node: Any, device_id: str) -> None:
    await page.goto(f"http://127.0.0.1:{node.http_port}/")
    await page.fill("#device-id", device_id)
    await page.click("#connect")
    await page.wait_for_function("() => window.__device.state === 'idle'")


async def ask(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")


async def decoded(page: Any, first_chunk: int = 0) -> tuple[np.ndarray, int]:
    data = await page.evaluate("""(first) => {
        const d = window.__device, parts = d.decoded.slice(first);
        const n = parts.reduce((a, p) => a + p.length, 0), out = new Float32Array(n);
        let o = 0; for (const p of parts) { out.set(p, o); o += p.length; }
        return {pcm: Array.from(out), rate: d.rate}; }""", first_chunk)
    return np.asarray(data["pcm"], dtype=np.float64), int(data["rate"])


def sounding(pcm: np.ndarray, rate: int) -> np.ndarray:
    """The 10 ms blocks of `pcm` that are not silence, joined."""
    n = rate // 100
    blocks = pcm[: pcm.size // n * n].reshape(-1, n)
    return blocks[np.sqrt((blocks ** 2).mean(axis=1)) > 0.01].reshape(-1)


def connection(node: Any, device_id: str) -> Any:
    return next(c for c in node.connections() if c.device_id == device_id)


async def test_the_browser_device_plays_a_song_with_its_tone(make_config, start_node, browser, tmp_path) -> None:
    node = await start_node(web_config(make_config))
    page = await browser()
    await open_device(page, node, "web:00:00:01")
    await ask(page, "play baa baa black sheep")
    await page.wait_for_function("() => window.__device.messages.some(m => m.type === 'stt')")
    await page.wait_for_function(
        "() => window.__device.messages.some(m => m.type === 'tts' && m.state === 'stop')"
        " && window.__device.frames > 30")
    assert await page.text_content("#stt") == "play baa baa black sheep"
    assert "Baa Baa Black Sheep" in (await page.text_content("#tts") or "")
    pcm, rate = await decoded(page)
    tone_s = TONES["Baa Baa Black Sheep"][1]
    heard = sounding(pcm, rate)
    assert tone_s - 0.2 < heard.size / rate < tone_s + 0.3           # the whole song was heard, once
    assert abs(peak_frequencies(heard, rate, 1)[0] - 440.0) < 5
    log = await page.text_content("#log") or ""
    assert '"type":"hello"' in log and '"state":"sentence_start"' in log
    await shot(page, "device.png", tmp_path)


async def test_pause_and_resume_buttons(make_config, start_node, browser) -> None:
    node = await start_node(web_config(make_config))
    page = await browser()
    await open_device(page, node, "web:00:00:02")
    await ask(page, "play long lullaby")
    await page.wait_for_function("() => window.__device.frames > 40")          # 2.4 s of the 20 s song
    conn = connection(node, "web:00:00:02")
    await page.click("#pause")
    await until(lambda: conn.view().playback == "paused")
    await page.wait_for_function("() => window.__device.messages.filter(m => m.type === 'stt').pop().text === 'pause'")
    now = conn.view().now_playing
    assert now is not None and now.title == "Long Lullaby" and now.position_ms > 1500
    frames_paused = await page.evaluate("window.__device.frames")
    await page.click("#resume")
    await until(lambda: conn.view().state == "playing")
    await page.wait_for_function(f"() => window.__device.frames > {frames_paused + 20}")
    playing = conn.view().now_playing
    assert playing is not None and playing.title == "Long Lullaby"
    assert playing.position_ms >= now.position_ms          # where it was, not from the start
    pcm, rate = await decoded(page)
    assert abs(peak_frequencies(sounding(pcm, rate), rate, 1)[0] - 330.0) < 5


async def test_a_spoken_request_through_the_fake_microphone(make_config, start_node, browser, tmp_path) -> None:
    wav = tmp_path / "request.wav"
    speech = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", "play twinkle twinkle little star"],
                            check=True, capture_output=True, timeout=30).stdout
    # half a second of quiet, the words, then quiet: Chromium loops the file while the button is held
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-af",
                    "adelay=500,apad=pad_dur=1.5", "-ar", "48000", "-ac", "1", str(wav)], input=speech, check=True,
                   timeout=30)
    seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(wav)], check=True, capture_output=True, text=True).stdout)
    node = await start_node(make_config(
        fleet={"operator_token": OP}, web={"enabled": True, "parent_token": PARENT},
        voice={"asr": {"provider": "whisper", "model_dir": str(ROOT / "metadata" / "models" / "whisper-base")},
               "vad": {"provider": "silero"}}))
    page = await browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-audio-capture={wav}")
    await open_device(page, node, "web:00:00:03")
    supported = await page.evaluate("""async () => typeof AudioEncoder !== 'undefined' &&
        (await AudioEncoder.isConfigSupported({codec: 'opus', sampleRate: 16000, numberOfChannels: 1})).supported""")
    if not supported:
        pytest.skip("this Chromium has no WebCodecs Opus encoder")
    box = await page.locator("#talk").bounding_box()
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.wait_for_function("() => document.getElementById('mic-status').textContent.includes('frames')")
    await asyncio.sleep(seconds)                     # the child holds the button while speaking
    await page.mouse.up()
    await page.wait_for_function("() => window.__device.messages.some(m => m.type === 'stt' && m.text)", timeout=60_000)
    heard = await page.text_content("#stt") or ""
    assert "twinkle" in heard.lower(), heard
    await page.wait_for_function("() => window.__device.messages.some(m => m.type === 'tts'"
                                 " && m.state === 'sentence_start'"
                                 " && (m.text || '').includes('Twinkle'))", timeout=30_000)
    await page.wait_for_function("() => window.__device.messages.filter(m => m.type === 'tts').pop().state === 'stop'",
                                 timeout=30_000)
    pcm, rate = await decoded(page)
    assert abs(peak_frequencies(sounding(pcm, rate), rate, 1)[0] - 660.0) < 5


EVIL = '<b>Bold</b> Lullaby <img src=x onerror="window.__xss=1">'


@pytest.fixture
def catalog_with_markup(tone_catalog: Path, tmp_path: Path) -> Path:
    """The tone catalog plus a song whose title is markup (catalog titles can contain anything)."""
    root = tmp_path / "markup-catalog"
    shutil.copytree(tone_catalog, root)
    english = root / "music" / "English"
    write_tone(english / "Bold Lullaby.mp3", 330.0, 20.0)
    meta = json.loads((english / "metadata.json").read_text(encoding="utf-8"))
    meta[EVIL] = {"romanized": "Bold Lullaby", "filename": "Bold Lullaby.mp3", "alternatives": ["bold lullaby"]}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


async def test_the_operator_page_lists_a_playing_device(make_config, start_node, browser, tmp_path,
                                                        catalog_with_markup) -> None:
    node = await start_node(make_config(content={"content_dir": str(catalog_with_markup)},
                                        fleet={"operator_token": OP}, web={"enabled": True}))
    async with DeviceClient(ws_url(node), device_id="aa:bb:cc:00:00:31") as client:
        await client.send_text_request("play bold lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        page = await browser()
        await page.goto(f"http://127.0.0.1:{node.http_port}/operator")
        await page.fill("#token", OP)
        await page.click("#login button[type=submit]")
        row = page.locator('tr[data-device="aa:bb:cc:00:00:31"]')
        await row.wait_for()
        await page.wait_for_function("""() => { const r = document.querySelector('tr[data-device="aa:bb:cc:00:00:31"]');
            return r && r.textContent.includes('Bold Lullaby') && r.textContent.includes('playing'); }""")
        cells = await row.locator("td").all_text_contents()
        assert cells[1] == node.node_id and cells[2] == "playing" and cells[5] == "play bold lullaby"
        assert cells[7] == "websocket"                                   # the transport beside it
        assert cells[3] == EVIL                                          # the title as text, markup and all
        assert await page.locator("#devices b, #devices img").count() == 0
        assert await page.evaluate("() => window.__xss === undefined")
        assert "5 items" in (await page.text_content("#catalog-total") or "")
        # This node's request stages: the typed request counted in understanding and song (no speech, no ASR here)
        await page.wait_for_function("""() => { const r = document.querySelector('tr[data-stage="song"]');
            return r && r.children[2].textContent === '1'; }""")
        stages = {r[0]: r for r in [await tr.locator("td").all_text_contents()
                                    for tr in await page.locator("#latency tr").all()]}
        assert list(stages) == ["asr", "understand", "tts", "song"]
        assert stages["understand"][2] == "1" and stages["asr"][2:] == ["0", "–", "–"]
        assert stages["song"][1] == "decision → first song frame" and stages["song"][3].endswith(("ms", " s"))
        assert node.node_id in (await page.text_content("#latency-node") or "")
        await page.fill("#utterance", "play twinkle twinkle")
        await page.click("#match button")
        await page.wait_for_selector("#m-title")
        assert await page.text_content("#m-title") == "Twinkle Twinkle Little Star"
        assert await page.text_content("#m-intent") == "play_music"
        assert await page.text_content("#m-match_type") in ("fuzzy", "exact", "romanized", "alternative")
        await shot(page, "operator.png", tmp_path)
