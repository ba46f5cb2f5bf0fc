"""Every command that reads a library says a missing folder the same way (exit status 2, the flag named, the fix),
and every command logs in the server's format, JSON included when log.json is set."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.content.layout import APP
from tests.cli.test_first_hours import quiet_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)
PLAIN_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (INFO|WARNING|ERROR) {1,4}\S")   # core/logs.py's format


def app(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *argv], capture_output=True, text=True,
                          timeout=90, cwd=ROOT, encoding="utf-8", stdin=subprocess.DEVNULL)


def config(tmp_path: Path, *, json_logs: bool = False) -> Path:
    return quiet_config(tmp_path, json_logs=json_logs)


@pytest.mark.parametrize("command", [
    ("serve", "--port", "0", "--http-port", "0", "--content-dir"),
    ("match", "--content-dir"),
    ("catalog", "validate", "--content-dir"),
    ("catalog", "list", "--content-dir"),
])
def test_a_mistyped_content_dir_is_the_same_error_everywhere(tmp_path: Path, command: tuple[str, ...]) -> None:
    typo = tmp_path / "my-musci"
    proc = app(*command, str(typo), "--config", str(config(tmp_path)),
               *(["play baa baa"] if command[0] == "match" else []))
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == (
        f"--content-dir: folder {typo} not found. Point it at your library (music/<Collection>/..., "
        f"stories/<Collection>/..., then `{APP} catalog scan {typo}`), or create the demo library with "
        f"`{APP} demo {typo}`")
    assert proc.stdout == "" and not typo.exists()


def test_scan_and_upload_name_their_folder_argument(tmp_path: Path) -> None:
    typo = tmp_path / "librray"
    for argv in (("catalog", "scan", str(typo)), ("catalog", "upload", str(typo), "--bucket", "b")):
        proc = app(*argv)
        assert proc.returncode == 2 and proc.stderr.startswith(f"DIR: folder {typo} not found."), proc
    (tmp_path / "a-file").write_text("x")
    proc = app("catalog", "scan", str(tmp_path / "a-file"))
    assert proc.returncode == 2 and proc.stderr.strip() == f"DIR: {tmp_path / 'a-file'} is not a folder"


def _broken_library(tmp_path: Path) -> Path:
    """A library whose one catalog is malformed JSON: loading it logs an ERROR line, and the catalog is empty."""
    lib = tmp_path / "lib"
    (lib / "music" / "English").mkdir(parents=True)
    (lib / "music" / "English" / "metadata.json").write_text("{bad", encoding="utf-8")
    return lib


def test_match_logs_in_the_servers_format_and_keeps_stdout_for_json(tmp_path: Path) -> None:
    lib = _broken_library(tmp_path)
    proc = app("match", "--config", str(config(tmp_path)), "--content-dir", str(lib), "play baa baa")
    assert proc.returncode == 0, proc.stderr
    logs = proc.stderr.splitlines()
    assert logs and all(PLAIN_LINE.match(line) for line in logs), logs
    assert any("metadata.json is unusable" in x for x in logs) and any("is empty" in x for x in logs), logs
    assert not any(" INFO " in x for x in logs)                # info lines stay off a command read by programs
    assert json.loads(proc.stdout)["match_type"] == "none"


def test_with_log_json_match_and_catalog_log_json_lines_as_serve_does(tmp_path: Path) -> None:
    lib = _broken_library(tmp_path)
    cfg = str(config(tmp_path, json_logs=True))
    for argv in (("match", "--config", cfg, "--content-dir", str(lib), "play baa baa"),
                 ("catalog", "validate", "--config", cfg, "--content-dir", str(lib), "--no-probe")):
        proc = app(*argv)
        lines = proc.stderr.splitlines()
        assert lines, proc
        docs = [json.loads(x) for x in lines]                  # every line is one JSON object
        assert any("metadata.json is unusable" in d["message"] and d["level"] == "ERROR" for d in docs), docs
