"""metadata.json parsing and validation, and the catalog over a local folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.content.catalog import Catalog, CatalogFormatError, parse_metadata, unsafe_filename
from core.content.storage import LocalStorage
from core.content.types import Kind

EXTS = (".mp3", ".wav")


def _parse(data: dict | bytes, kind: Kind = Kind.MUSIC, collection: str = "Hindi"):
    raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    return parse_metadata(raw, kind=kind, collection=collection, source=f"music/{collection}/metadata.json",
                          extensions=EXTS)


def test_seed_format_keeps_exact_keys_and_optional_fields() -> None:
    tracks, issues = _parse({
        "Hanuman Chalisa ": {"romanized": "Hanuman Chalisa", "filename": "Hanuman Chalisa .mp3",
                             "alternatives": ["hanuman", "chalisa", "devotional song"]},
        "हनुमान चालीसा": {"romanized": "Hanuman Chalisa", "filename": "हनुमान चालीसा.mp3",
                          "tags": ["Devotional", " calm "], "language": "Hindi", "duration": 183.5},
        "Indu maṅgaḷavāra": {"filename": "Indu maṅgaḷavāra.mp3"},
    })
    assert issues == []
    by_title = {t.title: t for t in tracks}
    assert set(by_title) == {"Hanuman Chalisa ", "हनुमान चालीसा", "Indu maṅgaḷavāra"}
    t = by_title["Hanuman Chalisa "]
    assert (t.kind, t.collection, t.filename) == (Kind.MUSIC, "Hindi", "Hanuman Chalisa .mp3")
    assert t.alternatives == ("hanuman", "chalisa", "devotional song")
    n = by_title["हनुमान चालीसा"]
    assert n.tags == ("devotional", "calm") and n.language == "Hindi" and n.duration == 183.5
    assert n.display_title == "Hanuman Chalisa"
    assert by_title["Indu maṅgaḷavāra"].filename == "Indu maṅgaḷavāra.mp3"


@pytest.mark.parametrize("name, reason", [
    ("../secret.mp3", "'..'"), ("a/../../x.mp3", "'..'"), ("/etc/passwd", "absolute"), ("C:/x.mp3", "absolute"),
    ("..\\x.mp3", "backslash"), ("a\x00.mp3", "control"), ("dir/", "not a file"),
])
def test_unsafe_filenames_are_named(name: str, reason: str) -> None:
    why = unsafe_filename(name)
    assert why is not None and reason in why


@pytest.mark.parametrize("name", ["Baa Baa Black Sheep.mp3", "Jack & Jill+1.mp3", "ಆನೆ.mp3", "sub/x.mp3",
                                  "Kothi .mp3", "..hidden.mp3"])
def test_safe_filenames_pass(name: str) -> None:
    assert unsafe_filename(name) is None


def test_bad_entries_are_reported_and_the_rest_kept() -> None:
    raw = (b'{"Good": {"filename": "good.mp3", "alternatives": ["x", 5, ""]},'
           b' "Escape": {"filename": "../../etc/passwd"},'
           b' "Abs": {"filename": "/abs/x.mp3"},'
           b' "NoFile": {"romanized": "n"},'
           b' "NotObj": "x.mp3",'
           b' "  ": {"romanized": "Untitled Song", "filename": "u.mp3"},'
           b' "Odd": {"filename": "odd.xyz", "duration": "long", "tags": "energetic"},'
           b' "Twin": {"filename": "good.mp3"},'
           b' "Dup": {"filename": "dup1.mp3"},'
           b' "Dup": {"filename": "dup2.mp3"}}')
    tracks, issues = _parse(raw)
    titles = [t.title for t in tracks]
    assert titles == ["Good", "Untitled Song", "Odd", "Twin", "Dup"]
    assert next(t for t in tracks if t.title == "Dup").filename == "dup2.mp3"
    errors = {(i.title, i.severity) for i in issues if i.severity == "error"}
    assert errors == {("Escape", "error"), ("Abs", "error"), ("NoFile", "error"), ("NotObj", "error")}
    msgs = " | ".join(str(i) for i in issues)
    for expected in ("tries to leave its folder", "absolute path", "missing 'filename'", "empty title",
                     "unsupported extension", "'duration' must be a number", "appears more than once",
                     "non-text items", "is also used by"):
        assert expected in msgs, expected
    odd = next(t for t in tracks if t.title == "Odd")
    assert odd.tags == ("energetic",) and odd.duration is None


@pytest.mark.parametrize("raw, why", [
    (b'{"a": {"filename": "a.mp3"}', "malformed JSON at line 1"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'["a.mp3"]', "top level must be an object"),
])
def test_unusable_files_raise_a_named_error(raw: bytes, why: str) -> None:
    with pytest.raises(CatalogFormatError, match=why):
        _parse(raw)


def _write(root: Path, folder: str, entries: dict | bytes, files: tuple[str, ...] = ()) -> None:
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    body = entries if isinstance(entries, bytes) else json.dumps(entries, ensure_ascii=False).encode()
    (d / "metadata.json").write_bytes(body)
    for f in files:
        (d / f).write_bytes(b"ID3 fake audio " + f.encode())


def _catalog(root: Path) -> Catalog:
    return Catalog(LocalStorage(root), prefixes={Kind.MUSIC: "music", Kind.STORY: "stories"}, extensions=EXTS)


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_local_catalog_discovers_validates_and_refreshes(tmp_path: Path, captured_logs) -> None:
    _write(tmp_path, "music/English", {"Baa Baa Black Sheep": {"filename": "Baa Baa Black Sheep.mp3",
                                                              "alternatives": ["nursery rhyme"]},
                                       "Black Sheep": {"filename": "Baa Baa Black Sheep.mp3",
                                                       "alternatives": ["nursery rhyme"]},
                                       "Ghost": {"filename": "ghost.mp3", "alternatives": ["ghost song"]}},
           ("Baa Baa Black Sheep.mp3",))
    _write(tmp_path, "music/Tamil", {"Kutti": {"filename": "kutti.mp3"}}, ("kutti.mp3",))
    _write(tmp_path, "stories/Bedtime", b'{"Moon": {"filename": "moon.mp3"', ("moon.mp3",))
    (tmp_path / "music" / "NoCatalog").mkdir()
    cat = _catalog(tmp_path)
    await cat.load()
    assert cat.collections(Kind.MUSIC) == ["English", "Tamil"]       # discovered, not a fixed list
    assert cat.collections(Kind.STORY) == []                          # unusable file, nothing good before
    assert len(cat.tracks(Kind.MUSIC)) == 3 and cat.version == 1
    assert "Ghost" not in {t.title for t in cat.tracks()}               # its audio file is missing: never served
    report = cat.report()
    text = "\n".join(str(i) for i in report.issues)
    assert "file not found in storage: 'ghost.mp3'; entry skipped" in text
    assert captured_logs.text.count("skipping 1 entries whose audio file is missing: 'ghost.mp3'") == 1
    assert "alias 'nursery rhyme' is shared by 2 entries" in text and "picked at random" in text
    assert "stories/Bedtime/metadata.json: malformed JSON" in text and not report.ok
    assert "stories/Bedtime/metadata.json is unusable" in captured_logs.text

    # Unchanged: nothing re-read, no version bump, the skip is not logged again.
    assert await cat.refresh() is False and cat.version == 1
    assert captured_logs.text.count("whose audio file is missing") == 1
    # Fix the broken story catalog, break the Tamil one: the story appears, Tamil keeps its last good copy.
    _write(tmp_path, "stories/Bedtime", {"Moon": {"filename": "moon.mp3"}})
    (tmp_path / "music/Tamil/metadata.json").write_bytes(b"\xc3\x28 not utf-8")
    os.utime(tmp_path / "music/Tamil/metadata.json", ns=(1, 1))
    assert await cat.refresh() is True and cat.version == 2
    assert [t.title for t in cat.tracks(Kind.STORY)] == ["Moon"]
    assert [t.title for t in cat.tracks(Kind.MUSIC) if t.collection == "Tamil"] == ["Kutti"]
    assert "music/Tamil/metadata.json is unusable: not UTF-8" in captured_logs.text
    # A removed collection disappears.
    for p in (tmp_path / "music/Tamil").iterdir():
        p.unlink()
    (tmp_path / "music/Tamil").rmdir()
    assert await cat.refresh() is True and cat.collections(Kind.MUSIC) == ["English"]


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_local_storage_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    from core.content.storage import StorageError

    store = LocalStorage(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "secret.txt").write_text("x")
    with pytest.raises(StorageError, match="outside"):
        await store.fetch("music/../../secret.txt")
