"""`catalog validate` on libraries a librarian actually has: no catalog yet, audio nobody lists, wrong types, missing
files; a clean report on stdout (or --json) with logs on stderr. And the server never announces a missing file."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.content.layout import APP
from core.device_client import DeviceClient
from tests.conftest import write_tone, ws_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def validate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", "catalog", "validate", "--no-probe", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, encoding="utf-8")


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("tone") / "tone.mp3", 440.0, 1.0)


def test_a_folder_without_any_metadata_says_run_scan(tmp_path: Path, tone: Path) -> None:
    (tmp_path / "music" / "Rhymes").mkdir(parents=True)
    shutil.copy(tone, tmp_path / "music" / "Rhymes" / "song.mp3")
    proc = validate("--content-dir", str(tmp_path))
    assert proc.returncode == 1
    assert f"no metadata.json found; run `{APP} catalog scan {tmp_path}`" in proc.stdout
    assert "music/Rhymes: 1 audio file(s) but no metadata.json" in proc.stdout


@pytest.fixture
def messy(tmp_path: Path, tone: Path) -> Path:
    rhymes = tmp_path / "music" / "Rhymes"
    rhymes.mkdir(parents=True)
    for name in ("listed.mp3", "unlisted.mp3"):
        shutil.copy(tone, rhymes / name)
    (rhymes / "cover.jpg").write_bytes(b"\xff\xd8")                  # not audio: never reported
    meta = {"Listed": {"filename": "listed.mp3"}, "Gone": {"filename": "gone.mp3"}, "Number": {"filename": 42},
            "Odd": {"filename": "listed.mp3", "romanized": ["x"], "duration": "long"}}
    (rhymes / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    (tmp_path / "stories" / "Tales").mkdir(parents=True)
    shutil.copy(tone, tmp_path / "stories" / "Tales" / "tale.mp3")
    return tmp_path


def test_report_names_every_problem_on_stdout_and_logs_go_to_stderr(messy: Path) -> None:
    proc = validate("--content-dir", str(messy))
    assert proc.returncode == 1                                      # a missing file is an error
    lines = proc.stdout.splitlines()
    assert all(line.startswith(("ERROR   ", "WARNING ", str(messy))) for line in lines), proc.stdout
    out = proc.stdout
    assert "['Gone']: file not found in storage: 'gone.mp3'; entry skipped" in out
    assert "['Number']: 'filename' must be text, not 42 (a number); skipped" in out
    assert "'romanized' must be text, not a list; ignored" in out
    assert "'duration' must be a number of seconds, not 'long'; ignored" in out
    assert "audio file 'unlisted.mp3' is not in metadata.json (run `catalog scan` to add it)" in out
    assert "'listed.mp3' is not" not in out and "cover.jpg" not in out
    assert "stories/Tales: 1 audio file(s) but no metadata.json" in out
    assert out.splitlines()[-1] == f"{messy}: 1 collections, 2 entries, 2 errors, 5 warnings"
    # Logs only on stderr, and never with a doubled level ("WARNING - ERROR ...").
    assert "skipping 1 entries whose audio file is missing" in proc.stderr
    assert "WARNING - ERROR" not in proc.stderr and "ERROR   music" not in proc.stderr


def test_json_report_is_the_only_thing_on_stdout(messy: Path) -> None:
    proc = validate("--content-dir", str(messy), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert (doc["collections"], doc["entries"], doc["errors"], doc["warnings"], doc["ok"]) == (1, 2, 2, 5, False)
    gone = [i for i in doc["issues"] if i["title"] == "Gone"]
    assert gone == [{"severity": "error", "source": "music/Rhymes/metadata.json", "title": "Gone",
                     "message": "file not found in storage: 'gone.mp3'; entry skipped"}]


def test_a_clean_library_passes(tmp_path: Path, tone: Path) -> None:
    rhymes = tmp_path / "music" / "Rhymes"
    rhymes.mkdir(parents=True)
    shutil.copy(tone, rhymes / "a.mp3")
    (rhymes / "metadata.json").write_text(json.dumps({"A": {"filename": "a.mp3"}}), encoding="utf-8")
    proc = validate("--content-dir", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["issues"] == []


@pytest.mark.timeout(60)
async def test_server_never_announces_an_entry_whose_file_is_missing(make_config, start_node, tmp_path: Path,
                                                                     tone: Path) -> None:
    english = tmp_path / "lib" / "music" / "English"
    english.mkdir(parents=True)
    shutil.copy(tone, english / "Good Song.mp3")
    meta = {t: {"filename": f"{t}.mp3"} for t in ("Good Song", "Lost Lullaby")}
    (english / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    node = await start_node(make_config(content={"content_dir": str(tmp_path / "lib")}))
    async with DeviceClient(ws_url(node)) as device:
        for request in ("play lost lullaby", "play an english song", "play a song"):
            device.log.clear()
            await device.send_text_request(request)
            await device.wait_json("tts", "stop", timeout=15)
            said = [r.message["text"] for r in device.log
                    if r.kind == "json" and r.message.get("state") == "sentence_start"]
            assert said and not any("Lost Lullaby" in t and "couldn't" not in t for t in said), said
