"""`python app.py match`: the JSON-lines contract, from arguments and from stdin, over the fixture catalog."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.match_fixtures import CATALOG_DIR as METADATA_ONLY

ROOT = Path(__file__).resolve().parents[2]


def _with_audio_files(dst: Path) -> Path:
    """The fixture catalog plus a file for every entry: the CLI, like the server, skips entries without one."""
    import shutil
    shutil.copytree(METADATA_ONLY, dst, dirs_exist_ok=True)
    for meta in dst.glob("*/*/metadata.json"):
        for entry in json.loads(meta.read_text(encoding="utf-8")).values():
            (meta.parent / entry["filename"]).write_bytes(b"ID3")
    return dst


CATALOG_DIR = _with_audio_files(Path(__import__("tempfile").mkdtemp(prefix="match-cli-")))
KEYS = ["utterance", "intent", "kind", "collection", "title", "filename", "match_type", "score", "request"]


def run_match(*utterances: str, stdin: str | None = None) -> list[dict]:
    proc = subprocess.run([sys.executable, "app.py", "match", "--content-dir", str(CATALOG_DIR), *utterances],
                          input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "\\u0" not in proc.stdout          # ensure_ascii=False: native script printed as is
    lines = proc.stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    allowed = {"exact", "romanized", "alternative", "fuzzy", "transliterated", "tag", "collection", "random", "none"}
    for row in rows:
        assert list(row) == KEYS
        assert row["match_type"] in allowed          # the documented values only, for controls and chat too
        assert row["kind"] in ("music", "story", None)
    return rows


@pytest.mark.timeout(90)
def test_match_cli_arguments() -> None:
    rows = run_match("Play Baa Baa Black Sheep", "हनुमान चालीसा सुनाओ", "Play Hindi song", "play despacito", "stop",
                     "hello", "Tell me a bedtime story", "hey cheeko play 3 little pigs")
    requests = [r.pop("request") for r in rows]
    assert rows[0] == {"utterance": "Play Baa Baa Black Sheep", "intent": "play_music", "kind": "music",
                       "collection": "English", "title": "Baa Baa Black Sheep",
                       "filename": "Baa Baa Black Sheep.mp3", "match_type": "exact", "score": 100.0}
    # The Request each decision was made on: read once, as the device's words are.
    assert requests[0]["text"] == "Play Baa Baa Black Sheep" and requests[0]["language"] == "en"
    assert requests[0]["title_words"] == "baa baa black sheep" and requests[0]["kind_cue"] == "music"
    assert requests[1]["language"] == "hi" and requests[1]["script"] == "devanagari"
    assert requests[2]["named_language"] == "hi" and requests[2]["title_words"] is None
    assert requests[6]["categories"] == ["bedtime"] and requests[6]["kind_cue"] == "story"
    # Wake words are gone before anything reads the words; digits are spelled for matching.
    assert requests[7]["text"] == "play 3 little pigs" and requests[7]["wake_words"] == 2
    assert requests[7]["title_words"] == "three little pigs" and requests[7]["clipped"] is False
    assert (rows[1]["title"], rows[1]["filename"], rows[1]["collection"]) == (
        "Hanuman Chalisa ", "Hanuman Chalisa .mp3", "Hindi")
    assert rows[2]["match_type"] == "collection" and rows[2]["collection"] == "Hindi" and rows[2]["title"]
    assert rows[3] == {"utterance": "play despacito", "intent": "play_music", "kind": "music", "collection": None,
                       "title": None, "filename": None, "match_type": "none", "score": 0.0}
    assert rows[4]["intent"] == "stop" and rows[4]["kind"] is None and rows[4]["title"] is None
    assert rows[5]["intent"] is None
    assert rows[6]["kind"] == "story" and rows[6]["collection"] == "Bedtime" and rows[6]["match_type"] == "collection"


@pytest.mark.timeout(90)
def test_match_cli_reads_stdin_and_keeps_native_script() -> None:
    proc_rows = run_match(stdin="చిట్టి చిలకమ్మ పాట పెట్టు\n\n   \nkannada haadu haaku\n")
    assert len(proc_rows) == 2
    assert proc_rows[0]["title"] == "చిట్టి చిలకమ్మ" and proc_rows[0]["match_type"] == "exact"
    assert proc_rows[1]["collection"] == "Kannada"


@pytest.mark.timeout(90)
def test_match_cli_reports_a_config_error_by_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("matching:\n  min_scor: 80\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "app.py", "match", "--config", str(bad), "--content-dir", str(CATALOG_DIR),
                           "x"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "matching.min_score" in proc.stderr
