"""`catalog validate` opens each audio file: unplayable files and symlinks leaving the catalog are errors (exit 1)."""
from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import pytest

from core.cli import catalog as catalog_cli
from core.content.audiocheck import leaves_folder, probe_audio
from tests.conftest import write_tone

pytestmark = pytest.mark.timeout(120)


def _validate(*argv: str) -> int:
    p = argparse.ArgumentParser()
    catalog_cli.register(p.add_subparsers(dest="command"))
    args = p.parse_args(["catalog", "validate", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("tone") / "tone.mp3", 440.0, 1.5)


def _library(root: Path, tone: Path, files: dict[str, bytes | Path | None]) -> Path:
    """music/English with one entry per file: bytes are written, a Path becomes a symlink to it, None copies `tone`."""
    folder = root / "music" / "English"
    folder.mkdir(parents=True)
    meta = {}
    for name, content in files.items():
        target = folder / name
        if content is None:
            target.write_bytes(tone.read_bytes())
        elif isinstance(content, Path):
            target.symlink_to(content)
        else:
            target.write_bytes(content)
        meta[Path(name).stem] = {"filename": name}
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


CASES: dict[str, bytes | Path | None] = {
    "empty.mp3": b"",
    "page.mp3": b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n",
    "noise.mp3": random.Random(11).randbytes(64 * 1024),
    "passwd.mp3": Path("/etc/passwd"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_reports_each_unplayable_file(tmp_path: Path, tone: Path, capsys: pytest.CaptureFixture[str],
                                               name: str) -> None:
    root = _library(tmp_path / "lib", tone, {"good.mp3": None, name: CASES[name]})
    assert _validate("--content-dir", str(root)) == 1
    out = capsys.readouterr().out
    bad = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert len(bad) == 1 and f"audio file {name!r}" in bad[0], out
    expected = {"empty.mp3": "is empty (0 bytes)", "page.mp3": "not a playable audio file",
                "noise.mp3": "not a playable audio file", "passwd.mp3": "symlink that leaves its catalog folder"}
    assert expected[name] in bad[0]
    assert "good.mp3" not in out and "1 errors" in out


def test_validate_passes_playable_files_and_symlinks_inside_the_folder(tmp_path: Path, tone: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = _library(tmp_path / "lib", tone, {"good.mp3": None})
    (root / "music/English/alias.mp3").symlink_to("good.mp3")
    meta = json.loads((root / "music/English/metadata.json").read_text())
    meta["Alias"] = {"filename": "alias.mp3"}
    (root / "music/English/metadata.json").write_text(json.dumps(meta))
    # An operator may symlink a whole collection folder into the library: its files stay inside that folder.
    elsewhere = tmp_path / "elsewhere" / "Tamil"
    elsewhere.mkdir(parents=True)
    (elsewhere / "kutti.mp3").write_bytes(tone.read_bytes())
    (elsewhere / "metadata.json").write_text(json.dumps({"Kutti": {"filename": "kutti.mp3"}}))
    os.symlink(elsewhere, root / "music" / "Tamil")
    assert _validate("--content-dir", str(root)) == 0, capsys.readouterr().out
    assert "0 errors" in capsys.readouterr().out


def test_no_probe_skips_opening_files(tmp_path: Path, tone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _library(tmp_path / "lib", tone, {"good.mp3": None, "page.mp3": CASES["page.mp3"]})
    assert _validate("--content-dir", str(root), "--no-probe") == 0
    assert _validate("--content-dir", str(root)) == 1


def test_probe_and_symlink_helpers(tmp_path: Path, tone: Path) -> None:
    assert probe_audio(str(tone), local=True) is None
    truncated = tmp_path / "cut.mp3"
    truncated.write_bytes(tone.read_bytes()[:200])                     # a few frames: less than 50 ms of audio
    assert probe_audio(str(truncated), local=True) is not None
    assert probe_audio(str(tmp_path / "absent.mp3"), local=True) is not None
    (tmp_path / "loop.mp3").symlink_to(tmp_path / "loop.mp3")
    assert leaves_folder(tmp_path / "loop.mp3", tmp_path) is not None
    assert leaves_folder(tmp_path / "x" / ".." / ".." / "y", tmp_path) is not None
    assert leaves_folder(tone, tone.parent) is None


def test_scan_skips_a_deep_metadata_json_instead_of_crashing(tmp_path: Path, tone: Path) -> None:
    folder = tmp_path / "music" / "English"
    folder.mkdir(parents=True)
    (folder / "song.mp3").write_bytes(tone.read_bytes())
    deep = b"[" * 100_000 + b"]" * 100_000
    (folder / "metadata.json").write_bytes(deep)
    lines = catalog_cli.scan_dir(tmp_path, (".mp3",), durations=False)
    assert len(lines) == 1 and lines[0].startswith("SKIPPED") and "nested deeper than 16" in lines[0]
    assert (folder / "metadata.json").read_bytes() == deep                 # the operator's file is left alone
