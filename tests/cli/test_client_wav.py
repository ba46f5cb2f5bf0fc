"""`app.py client --wav`: a spoken request streamed as the device microphone gets the right song."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, ws_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
async def test_client_wav_plays_the_spoken_request(make_config, start_node, tmp_path) -> None:
    request = tmp_path / "request.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(request), "play twinkle twinkle little star"],
                   check=True, timeout=30)
    node = await start_node(make_config(voice={"asr": {"provider": "whisper",
                                                       "model_dir": str(ROOT / "metadata" / "models" / "whisper-base")},
                                               "vad": {"provider": "silero"}}))
    out = tmp_path / "reply.wav"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "client", "--url", ws_url(node), "--wav", str(request), "--out", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()
    assert '"type": "stt"' in stdout.decode() and "twinkle" in stdout.decode().lower()
    with wave.open(str(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    freq, secs = TONES["Twinkle Twinkle Little Star"]
    assert abs(len(pcm) / 16000 - secs) <= 0.061
    assert abs(peak_frequencies(pcm, 16000, 1)[0] - freq) < 5
