"""Libraries laid out wrongly, as new users lay them out: a flat folder of mp3s, `--content-dir library/music`, audio
directly in music/, a corrupt mp3. scan, validate and the server say what is wrong and the exact fix; the server never
serves a file validate would reject; a local library's changes show within seconds."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from core.config import config_from_dict
from core.content.layout import APP
from core.content.service import ContentService
from tests.cli.test_first_hours import quiet_config
from tests.conftest import until, write_tone

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def app(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *argv], capture_output=True, text=True, timeout=90,
                          cwd=ROOT, encoding="utf-8")


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("tone") / "tone.mp3", 440.0, 0.5)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, tone: Path) -> dict[str, bytes]:
    """A corrupt mp3 as people end up with: random bytes, and a real mp3 cut inside its first frame."""
    return {"random.mp3": os.urandom(4000), "truncated.mp3": tone.read_bytes()[:120]}


def _library(root: Path, tone: Path, **folders: list[str]) -> Path:
    for folder, names in folders.items():
        d = root / folder.replace("__", "/")
        d.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(tone, d / name)
    return root


def _local(root: Path, **content: object) -> ContentService:
    cfg = config_from_dict({"content": {"content_dir": str(root), "generate_demo": False, "refresh_time_s": 0,
                                        **content}})
    return ContentService.from_config(cfg)


def test_a_flat_folder_is_not_scanned_and_the_layout_is_explained(tmp_path: Path, tone: Path) -> None:
    flat = _library(tmp_path / "mp3s", tone, **{".": ["Twinkle.mp3", "Baa Baa.mp3"]})
    scan = app("catalog", "scan", str(flat), "--no-duration")
    assert scan.returncode == 1
    assert not (flat / "metadata.json").exists()                     # no catalog that no server reads
    assert f"mkdir -p {flat}/music/Songs && mv {flat}/*.mp3 {flat}/music/Songs/" in scan.stderr
    assert f"python app.py catalog scan {flat}" in scan.stderr
    validate = app("catalog", "validate", "--no-probe", "--content-dir", str(flat))
    assert validate.returncode == 1
    assert "2 audio files directly in" in validate.stdout and "music/<Collection>/*.mp3" in validate.stdout
    # Following the hint works.
    (flat / "music" / "Songs").mkdir(parents=True)
    for f in flat.glob("*.mp3"):
        f.rename(flat / "music" / "Songs" / f.name)
    assert app("catalog", "scan", str(flat), "--no-duration").returncode == 0
    assert app("catalog", "validate", "--content-dir", str(flat)).returncode == 0


def test_the_music_folder_itself_is_named_with_the_right_content_dir(tmp_path: Path, tone: Path) -> None:
    lib = _library(tmp_path / "library", tone, music__Rhymes=["Twinkle.mp3"], stories__Bedtime=["Moon.mp3"])
    scan = app("catalog", "scan", str(lib / "music"), "--no-duration")
    assert scan.returncode == 0, scan.stderr
    assert "Rhymes: 1 added, 0 kept" in scan.stdout
    assert f"next `{APP} catalog validate --content-dir {lib}`" in scan.stdout
    assert (lib / "music" / "Rhymes" / "metadata.json").exists() and not (lib / "music" / "metadata.json").exists()
    validate = app("catalog", "validate", "--no-probe", "--content-dir", str(lib / "music"))
    assert validate.returncode == 1
    assert f"is the music/ folder of a library, not the library: pass `--content-dir {lib}`" in validate.stdout
    # A library one level down is found and named.
    validate = app("catalog", "validate", "--no-probe", "--content-dir", str(tmp_path))
    assert f"but {lib} has them: pass `--content-dir {lib}`" in validate.stdout
    assert app("catalog", "validate", "--no-probe", "--content-dir", str(lib)).returncode == 0


async def test_audio_directly_in_music_is_named_by_scan_validate_and_the_server(tmp_path: Path, tone: Path,
                                                                               captured_logs) -> None:
    lib = _library(tmp_path / "library", tone, music=["Lullaby.mp3"], music__Rhymes=["Twinkle.mp3"])
    said = "music/Lullaby.mp3 is not in a collection folder; it will not be served"
    scan = app("catalog", "scan", str(lib), "--no-duration")
    assert scan.returncode == 0 and f"WARNING {said}" in scan.stdout
    assert f"mv {lib}/music/Lullaby.mp3 {lib}/music/Songs/" in scan.stdout
    assert not (lib / "music" / "metadata.json").exists()
    validate = app("catalog", "validate", "--no-probe", "--content-dir", str(lib))
    assert f"WARNING music: {said}" in validate.stdout
    svc = _local(lib)
    await svc.start()
    try:
        assert [t.title for t in svc.tracks()] == ["Twinkle"]
        assert said in captured_logs.text
        assert svc.empty_hint() is None
    finally:
        await svc.close()
    (lib / "music" / "Rhymes" / "Twinkle.mp3").unlink()
    shutil.rmtree(lib / "music" / "Rhymes")
    svc = _local(lib)
    await svc.start()
    try:
        assert svc.empty_hint() == f"catalog empty: {svc.layout_warnings()[0]}"
        assert said in (svc.empty_hint() or "")
    finally:
        await svc.close()


async def test_a_file_that_does_not_play_is_not_scanned_and_never_served(tmp_path: Path, tone: Path,
                                                                        broken: dict[str, bytes],
                                                                        captured_logs) -> None:
    lib = _library(tmp_path / "library", tone, music__Rhymes=["Twinkle.mp3"])
    for name, body in broken.items():
        (lib / "music" / "Rhymes" / name).write_bytes(body)
    scan = app("catalog", "scan", str(lib), "--no-duration")
    assert scan.returncode == 0
    for name in broken:
        assert f"WARNING music/Rhymes/{name} is not a playable audio file" in scan.stdout
    assert "music/Rhymes: 1 added, 0 kept" in scan.stdout
    meta_path = lib / "music" / "Rhymes" / "metadata.json"
    assert [e["filename"] for e in json.loads(meta_path.read_text()).values()] == ["Twinkle.mp3"]
    validate = app("catalog", "validate", "--content-dir", str(lib))
    assert "audio file 'random.mp3' is not a playable audio file" in validate.stdout
    assert "run `catalog scan` to add it" not in validate.stdout
    # Listed by hand anyway: the server skips what validate rejects, and says so.
    meta = json.loads(meta_path.read_text())
    meta.update({"Broken": {"filename": "random.mp3"}, "Cut": {"filename": "truncated.mp3"}})
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert app("catalog", "validate", "--content-dir", str(lib)).returncode == 1
    svc = _local(lib)
    await svc.start()
    try:
        assert [t.title for t in svc.tracks()] == ["Twinkle"]
        assert svc.matcher.find_content_match("play broken").track is None
        assert "skipping 2 entries whose audio file does not play" in captured_logs.text
        os.utime(meta_path, ns=(10**18, 10**18))                   # re-read, same skips: not logged again
        await svc.refresh()
        assert captured_logs.text.count("skipping 2 entries whose audio file does not play") == 1
        report = svc.validation_report()
        assert any(i.title == "Broken" and "not a playable audio file" in i.message for i in report.errors)
    finally:
        await svc.close()


async def test_a_watched_local_library_shows_changes_within_seconds(tmp_path: Path, tone: Path,
                                                                   broken: dict[str, bytes], captured_logs) -> None:
    lib = _library(tmp_path / "library", tone, music__Rhymes=["Twinkle.mp3"])
    meta_path = lib / "music" / "Rhymes" / "metadata.json"
    meta_path.write_text(json.dumps({"Twinkle": {"filename": "Twinkle.mp3"}}), encoding="utf-8")
    svc = _local(lib, watch_s=0.2, refresh_time_s=300)

    def titles() -> list[str]:
        return sorted(t.title for t in svc.tracks())
    await svc.start()
    try:
        assert titles() == ["Twinkle"]
        # A new entry (and its file), then a new collection, with no restart and well before refresh_time_s.
        shutil.copy(tone, lib / "music" / "Rhymes" / "Baa.mp3")
        meta_path.write_text(json.dumps({"Twinkle": {"filename": "Twinkle.mp3"}, "Baa Baa": {"filename": "Baa.mp3"}}),
                             encoding="utf-8")
        await until(lambda: titles() == ["Baa Baa", "Twinkle"], timeout=30)
        assert svc.matcher.find_content_match("play baa baa").track is not None
        # A file replaced by a broken one is dropped; replaced by a good one again, it is back.
        (lib / "music" / "Rhymes" / "Baa.mp3").write_bytes(broken["random.mp3"])
        await until(lambda: titles() == ["Twinkle"], timeout=30)
        shutil.copy(tone, lib / "music" / "Rhymes" / "Baa.mp3")
        await until(lambda: titles() == ["Baa Baa", "Twinkle"], timeout=30)
        # Audio dropped straight into music/ is named in the log.
        shutil.copy(tone, lib / "music" / "Lullaby.mp3")
        await until(lambda: "music/Lullaby.mp3 is not in a collection folder" in captured_logs.text, timeout=30)
    finally:
        await svc.close()


async def test_the_ready_line_says_what_an_empty_library_lacks(tmp_path: Path, tone: Path) -> None:
    lib = _library(tmp_path / "library", tone, music__Rhymes=["Twinkle.mp3"])       # never scanned
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "serve", "--config", str(quiet_config(tmp_path)),
        "--content-dir", str(lib), "--port", "0", "--http-port", "0", stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not lines or "ready: devices connect to" not in lines[-1]:
                lines.append((await proc.stderr.readline()).decode())
                assert lines[-1], "the server exited before its ready line: " + "".join(lines)
        ready = lines[-1]
        assert "WARNING" in ready
        assert ready.rstrip().endswith(f"(catalog empty: no music/<Collection>/metadata.json under {lib}; put audio "
                                       f"in {lib}/music/<Collection>/ (or stories/<Collection>/) and run "
                                       f"`{APP} catalog scan {lib}`)"), ready
        assert any("WARNING" in line and "catalog empty" in line for line in lines[:-1]), "".join(lines)
        http_port = int(ready.split("(OTA http://", 1)[1].split(":", 1)[1].split("/", 1)[0])
        answer = await asyncio.to_thread(requests.get, f"http://127.0.0.1:{http_port}/ready", timeout=5)
        assert answer.status_code == 503 and answer.json()["checks"]["catalog_loaded"] is False
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)


def test_each_wrong_layout_gets_its_own_fix(tmp_path: Path, tone: Path) -> None:
    from core.content.layout import empty_library_hint

    def hint(root: Path, **kw: bool) -> str:
        return empty_library_hint(root, ("music", "stories"), (".mp3",), **kw)
    folders = _library(tmp_path / "by-folder", tone, Rhymes=["a.mp3"], Stories=["b.mp3"])
    assert hint(folders) == (f"{folders} has folders of audio (Rhymes, Stories) but no music/ or stories/ folder: the "
                             "server reads only music/<Collection>/*.mp3 and stories/<Collection>/*.mp3. Move them: "
                             f"`mkdir -p {folders}/music && mv {folders}/Rhymes {folders}/music/` (and the others), "
                             f"then `{APP} catalog scan {folders}`")
    lib = _library(tmp_path / "lib", tone, music__Rhymes=["a.mp3"])
    assert hint(lib / "music" / "Rhymes") == (f"{lib}/music/Rhymes is one collection of a library: pass "
                                              f"`--content-dir {lib}` (the server reads music/<Collection>/*.mp3 and "
                                              "stories/<Collection>/*.mp3 under it)")
    assert f"run `{APP} catalog scan {lib}`" in hint(lib / "music", scanning=True)
    spaced = _library(tmp_path / "my songs", tone, **{".": ["a.mp3"]})
    assert f"mv '{spaced}'/*.mp3 '{spaced}/music/Songs'/" in hint(spaced)            # quoted for the shell
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hint(empty).startswith(f"no music/<Collection>/metadata.json under {empty}")
