"""Demo library (real ffmpeg/espeak-ng audio), `catalog` CLI (scan, validate, list, upload) and ContentService."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests

from core.cli import catalog as catalog_cli
from core.cli import demo as demo_cli
from core.compat.seed import generate_s3_music_url
from core.config import load_config
from core.content.demo import SONGS, STORIES, generate_demo, seed_s3
from core.content.service import ContentService
from core.content.types import Kind
from tests.content_fixtures import ACCESS_KEY, SECRET_KEY


def _pcm(path: Path, rate: int = 16000) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "pipe:1"], capture_output=True, timeout=30, check=True).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768.0


def _peak_hz(pcm: np.ndarray, start_s: float, end_s: float, rate: int = 16000) -> float:
    seg = pcm[int(start_s * rate):int(end_s * rate)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return float(np.fft.rfftfreq(len(seg), 1 / rate)[int(np.argmax(spec))])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    catalog_cli.register(sub)
    demo_cli.register(sub)
    return p


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return args.func(args)


@pytest.mark.timeout(60)
def test_demo_library_layout_and_real_audio(demo_dir: Path) -> None:
    english = json.loads((demo_dir / "music/English/metadata.json").read_text(encoding="utf-8"))
    assert {"Baa Baa Black Sheep", "Twinkle Twinkle Little Star"} <= set(english)
    hindi = json.loads((demo_dir / "music/Hindi/metadata.json").read_text(encoding="utf-8"))
    assert hindi["हनुमान चालीसा"]["romanized"] == "Hanuman Chalisa" and "devotional" in hindi["हनुमान चालीसा"]["tags"]
    assert "बंदर मामा" in hindi
    telugu = json.loads((demo_dir / "music/Telugu/metadata.json").read_text(encoding="utf-8"))
    assert telugu["చిట్టి చిలకమ్మ"]["romanized"] == "Chitti Chilakamma" and "చందమామ రావే" in telugu
    kannada = json.loads((demo_dir / "music/Kannada/metadata.json").read_text(encoding="utf-8"))
    assert "ಆನೆ ಬಂತೊಂದು ಆನೆ" in kannada and "Kothi Mattu Bale Hannu Haadu " in kannada
    for folder in ("music/Phonics", "stories/Bedtime", "stories/Fantasy", "stories/Adventure", "stories/Educational"):
        assert (demo_dir / folder / "metadata.json").is_file()
    # Every song is 15-30 s of real audio; the two nursery rhymes have distinct tunes (first notes C4 vs D4).
    for song in SONGS:
        pcm = _pcm(demo_dir / "music" / song.collection / song.filename)
        if not song.speech:
            assert 15.0 <= len(pcm) / 16000 <= 31.0, song.title
    twinkle = _pcm(demo_dir / "music/English/Twinkle Twinkle Little Star.mp3")
    baa = _pcm(demo_dir / "music/English/Baa Baa Black Sheep.mp3")
    assert abs(_peak_hz(twinkle, 0.1, 0.5) - 261.6) < 6 and abs(_peak_hz(baa, 0.08, 0.4) - 293.7) < 6
    assert abs(_peak_hz(twinkle, 1.35, 1.8) - 392.0) < 6                       # "little" = G4
    # Stories are narrated speech: several seconds, mostly voiced, in every category and language.
    for story in STORIES:
        pcm = _pcm(demo_dir / "stories" / story.collection / story.filename)
        frames = pcm[: len(pcm) // 480 * 480].reshape(-1, 480)
        voiced = float(np.mean(np.sqrt(np.mean(frames ** 2, axis=1)) > 0.01))
        assert len(pcm) / 16000 > 4.0 and voiced > 0.4, story.title


@pytest.mark.timeout(60)
def test_generate_demo_is_idempotent_and_protects_other_catalogs(demo_dir: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in demo_dir.rglob("*") if p.is_file()}
    generate_demo(demo_dir)
    assert {p: p.stat().st_mtime_ns for p in demo_dir.rglob("*") if p.is_file()} == before
    own = tmp_path / "mine"
    (own / "music/English").mkdir(parents=True)
    (own / "music/English/metadata.json").write_text("{}")
    assert _run("demo", str(own)) == 1
    assert (own / "music/English/metadata.json").read_text() == "{}"


@pytest.mark.timeout(60)
def test_scan_then_validate_a_folder_of_real_mp3s(demo_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "lib"
    hindi = root / "music/Hindi"
    hindi.mkdir(parents=True)
    shutil.copy(demo_dir / "music/Hindi/Bandar Mama.mp3", hindi / "बंदर मामा.mp3")
    shutil.copy(demo_dir / "music/Hindi/Hanuman Chalisa.mp3", hindi / "Hanuman Chalisa .mp3")
    (hindi / "metadata.json").write_text(json.dumps({"Hanuman Chalisa ": {
        "romanized": "Hanuman Chalisa", "filename": "Hanuman Chalisa .mp3", "alternatives": ["hanuman"],
        "tags": ["devotional"]}}, ensure_ascii=False), encoding="utf-8")
    stories = root / "stories/Bedtime"
    stories.mkdir(parents=True)
    shutil.copy(demo_dir / "stories/Bedtime/The Sleepy Moon.mp3", stories / "The Sleepy Moon.mp3")
    assert _run("catalog", "scan", str(root)) == 0
    data = json.loads((hindi / "metadata.json").read_text(encoding="utf-8"))
    assert data["Hanuman Chalisa "]["tags"] == ["devotional"]                  # existing fields kept
    assert data["बंदर मामा"]["romanized"] == "Bandar Mama" and data["बंदर मामा"]["filename"] == "बंदर मामा.mp3"
    assert 15 < data["बंदर मामा"]["duration"] < 31
    assert "The Sleepy Moon" in json.loads((stories / "metadata.json").read_text(encoding="utf-8"))
    assert _run("catalog", "scan", str(root)) == 0                              # rescan: nothing added
    assert "0 added, 2 kept" in capsys.readouterr().out
    assert _run("catalog", "validate", "--content-dir", str(root)) == 0
    data["Evil"] = {"filename": "../../etc/passwd"}
    (hindi / "metadata.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert _run("catalog", "validate", "--content-dir", str(root)) == 1
    out = capsys.readouterr().out
    assert "tries to leave its folder" in out and "1 errors" in out
    assert _run("catalog", "list", "--content-dir", str(root)) == 0
    assert "Hindi" in capsys.readouterr().out


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_from_config_generates_the_demo_into_an_empty_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Any folder but the default one is the operator's: a mistyped path is never filled with demo songs.
    other = ContentService.from_config(load_config(env={"CONTENT_DIR": str(tmp_path / "fresh")}))
    await other.close()
    assert not (tmp_path / "fresh").exists()
    monkeypatch.chdir(tmp_path)                        # the default folder, demo-content, relative to where we run
    cfg = load_config(env={})
    svc = ContentService.from_config(cfg)
    await svc.start()
    try:
        assert svc.collections(Kind.MUSIC) == ["English", "Hindi", "Kannada", "Phonics", "Telugu"]
        assert svc.collections(Kind.STORY) == ["Adventure", "Bedtime", "Educational", "Fantasy"]
        track = next(t for t in svc.tracks(Kind.MUSIC) if t.title == "Kothi Mattu Bale Hannu Haadu ")
        src = await svc.audio_source(track)
        assert Path(src.uri).is_file() and src.uri.endswith("Kothi Mattu Bale Hannu Haadu .mp3")
        assert src.cache_key == f"file:{src.uri}" and src.etag and src.size == Path(src.uri).stat().st_size
        assert src.refresh_url is None
        assert generate_s3_music_url(svc, "Kannada", track.filename) == src.uri
    finally:
        await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_matcher_follows_catalog_changes(demo_dir: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(demo_dir, lib)
    cfg = load_config(env={"CONTENT_DIR": str(lib)})
    # refreshed by the test alone (not by the folder watch)
    svc = ContentService.from_config(dataclasses.replace(cfg, content=dataclasses.replace(cfg.content, watch_s=0)))
    await svc.start()
    try:
        m1 = svc.matcher
        assert m1 is svc.matcher and len(m1.tracks) == len(svc.tracks())
        hit = m1.find_content_match("play twinkle twinkle little star", kind=Kind.MUSIC)
        assert hit.track is not None and hit.track.title == "Twinkle Twinkle Little Star"
        meta = lib / "music/English/metadata.json"
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["Old MacDonald"] = {"romanized": "Old MacDonald", "filename": "Jack & Jill.mp3"}
        meta.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        assert await svc.refresh() is True
        m2 = svc.matcher
        assert m2 is not m1 and any(t.title == "Old MacDonald" for t in m2.tracks)
    finally:
        await svc.close()


@pytest.mark.timeout(120)
def test_upload_syncs_then_serves_through_s3(demo_dir: Path, s3_endpoint: str,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(demo_dir, lib)
    for var, value in {"S3_ENDPOINT_URL": s3_endpoint, "S3_BUCKET": "cheeko-demo", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                       "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    files = [p for p in lib.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert _run("catalog", "upload", str(lib), "--create-bucket", "--public", "--no-progress") == 0
    assert f"uploaded {len(files)} objects" in capsys.readouterr().out
    assert _run("catalog", "upload", str(lib), "--no-progress") == 0
    assert f"uploaded 0 objects (0.0 MB), skipped {len(files)} unchanged" in capsys.readouterr().out
    meta = lib / "music/English/metadata.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["Baa Baa Black Sheep"]["alternatives"].append("sheep song")
    meta.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert _run("catalog", "upload", str(lib), "--no-progress") == 0
    assert "uploaded 1 objects" in capsys.readouterr().out
    assert _run("catalog", "validate", "--s3") == 0
    assert _run("catalog", "list", "--s3") == 0
    assert "music  Kannada" in capsys.readouterr().out

    # The server path: auto mode finds the public policy, and every demo track streams with plain GETs.
    cfg = load_config(overrides={"content.cache_dir": str(tmp_path / "cache"), "content.refresh_time_s": 0})

    async def serve() -> None:
        svc = ContentService.from_config(cfg)
        await svc.start()
        try:
            assert svc.urls is not None and svc.urls.effective_mode == "public"
            assert len(svc.tracks()) == len(SONGS) + len(STORIES)
            for track in svc.tracks():
                src = await svc.audio_source(track)
                kind = "music" if track.kind == Kind.MUSIC else "stories"
                local = lib / kind / track.collection / track.filename
                assert requests.get(src.uri, timeout=10).content == local.read_bytes(), track.title
        finally:
            await svc.close()

    asyncio.run(serve())


@pytest.mark.timeout(120)
def test_seed_s3_makes_a_public_demo_bucket(demo_dir: Path, s3_endpoint: str) -> None:
    seed_s3("cheeko-seeded", s3_endpoint, demo_dir, public=True)
    url = f"{s3_endpoint}/cheeko-seeded/music/Telugu/Chitti%20Chilakamma.mp3"
    assert requests.get(url, timeout=10).content == (demo_dir / "music/Telugu/Chitti Chilakamma.mp3").read_bytes()
