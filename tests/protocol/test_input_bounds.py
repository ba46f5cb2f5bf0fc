"""Every parser of outside JSON is bounded: device messages, MCP replies, catalogs (and their disk cache).
Deep nesting is refused by a pre-scan (no RecursionError, no deep C stack), huge numbers and lone surrogates are
contained, and a bad catalog costs only its own collection."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from core.content.catalog import Catalog, CatalogFormatError, parse_metadata
from core.content.service import ContentService
from core.content.storage import LocalStorage
from core.content.types import Kind
from core.mcp import MAX_RESULT_CHARS, MAX_TOOLS, McpClient, McpError
from core.protocol import messages as m
from core.utils import safejson

DEEP = "[" * 100_000 + "]" * 100_000


# ----------------------------------------------------------------------------------------------- safejson


def test_depth_prescan_counts_structure_not_strings() -> None:
    assert not safejson.depth_exceeds('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 4)
    assert not safejson.depth_exceeds('{"a": "\\"[[[[[[[[[["}', 2)               # escaped quote stays in the string
    assert safejson.depth_exceeds('{"a": [[[[1]]]]}', 4) and not safejson.depth_exceeds('{"a": [[[1]]]}', 4)
    assert safejson.loads("[" * 32 + "]" * 32, max_chars=100) == json.loads("[" * 32 + "]" * 32)
    with pytest.raises(safejson.JsonLimitError, match="nested deeper than 32"):
        safejson.loads("[" * 33 + "]" * 33, max_chars=100)
    with pytest.raises(safejson.JsonLimitError, match="too large"):
        safejson.loads("[1]" + " " * 100, max_chars=100)
    with pytest.raises(safejson.JsonLimitError, match="unreadable JSON"):
        safejson.loads("9" * 5000, max_chars=10_000)                            # int digit limit is a ValueError
    with pytest.raises(safejson.JsonLimitError, match="not UTF-8"):
        safejson.loads(b'{"a": "\xff"}', max_chars=100)


def test_deep_nesting_is_refused_even_with_a_tiny_recursion_limit() -> None:
    # json.loads would need a C stack frame per level; the pre-scan needs none.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100)
    try:
        for text in (DEEP, "[" * 200_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
            with pytest.raises(safejson.JsonLimitError, match="nested deeper"):
                safejson.loads(text, max_chars=1 << 20)
    finally:
        sys.setrecursionlimit(old)


# ----------------------------------------------------------------------------------------------- device messages


@pytest.mark.parametrize("text", [
    DEEP,
    '{"type":"listen","state":"detect","text":' + "[" * 40 + "]" * 40 + "}",
    '{"type":"mcp","payload":' + '{"a":' * 40 + "1" + "}" * 40 + "}",
    '{"type":"hello","version":' + "1" * 5000 + "}",
    '{"type":"hello","version":1' + "," * 10,
    "x" * (m.MAX_MESSAGE_CHARS + 1),
])
def test_device_messages_that_cannot_be_used_are_invalid_not_errors(text: str) -> None:
    msg = m.parse_message(text)
    assert isinstance(msg, m.Invalid) and msg.reason.startswith("not JSON (")
    assert len(msg.reason) < 200                                             # the reason never echoes the input


def test_device_messages_clean_lone_surrogates_and_keep_legal_nesting() -> None:
    listen = m.parse_message('{"type":"listen","state":"detect","text":"play \\ud800 baa \\udfff"}')
    assert listen == m.Listen(m.ListenState.DETECT, None, "play \ufffd baa \ufffd")
    (listen.text or "").encode("utf-8")                                      # would raise on a surrogate
    assert m.parse_message('{"type":"abort","reason":"\\udc00"}') == m.Abort("\ufffd")
    assert m.parse_message('{"type":"\\ud83d"}') == m.Unknown("\ufffd")
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "array",
                                                                                             "items": {}}}}}}
    reply = {"type": "mcp", "payload": {"jsonrpc": "2.0", "id": 2, "result": {"tools": [
        {"name": "self.x", "inputSchema": schema}]}}}
    assert isinstance(m.parse_message(json.dumps(reply)), m.Mcp)


# ----------------------------------------------------------------------------------------------- MCP replies


async def _discover(tools_pages: list[Any], call_result: Any = None) -> tuple[McpClient, list[str], Any]:
    """A real McpClient whose device answers from `tools_pages` (one tools/list reply per page)."""
    pages = list(tools_pages)
    logs: list[str] = []

    class Log:
        def info(self, fmt: str, *a: Any) -> None:
            logs.append(fmt.format(*a))
        warning = info

    async def send(payload: dict[str, Any]) -> None:
        method = payload["method"]
        result: Any = {}
        if method == "tools/list":
            result = pages.pop(0) if pages else {"tools": []}
        elif method == "tools/call":
            result = call_result
        asyncio.get_running_loop().call_soon(client.on_message, {"jsonrpc": "2.0", "id": payload["id"],
                                                                  "result": result})
    client = McpClient(send, timeout_s=2.0, log=Log())
    await client.discover()
    return client, logs, None


async def test_mcp_tool_lists_are_bounded() -> None:
    good = {"name": "self.audio_speaker.set_volume", "description": "v" * 5000,
            "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}}}}
    junk = [{"name": "x" * 500}, {"name": "bad name; rm -rf"}, {"name": "\ud800"}, {"name": 7}, "tool",
            {"name": "self.big", "inputSchema": {"enum": ["e" * 100] * 200}}, {"name": "self.s", "inputSchema": []}]
    many = [{"name": f"self.t{i}"} for i in range(200)]
    client, logs, _ = await _discover([{"tools": [good, *junk], "nextCursor": "c1"}, {"tools": many}])
    assert len(client.tools) == MAX_TOOLS
    kept = client.tools["self.audio_speaker.set_volume"]
    assert len(kept["description"]) == 1024 and kept["inputSchema"]["properties"]["volume"]["type"] == "integer"
    assert not {"self.big", "self.s"} & set(client.tools) and all(len(n) <= 64 for n in client.tools)
    assert any("ignored 144 malformed, oversized or surplus tools" in line for line in logs)


async def test_mcp_cursors_that_never_end_stop_after_a_bounded_number_of_pages() -> None:
    pages = [{"tools": [{"name": f"self.p{i}"}], "nextCursor": f"c{i}"} for i in range(100)]
    client, _, _ = await _discover(pages)
    assert len(client.tools) == 20


@pytest.mark.parametrize(("text", "expected"), [
    ('{"volume": 40}', {"volume": 40}),
    ("[" * 100 + "]" * 100, "[" * 100 + "]" * 100),                             # too deep to parse: kept as text
    ("plain words", "plain words"),
])
async def test_mcp_call_results_are_parsed_within_bounds(text: str, expected: Any) -> None:
    client, _, _ = await _discover([{"tools": [{"name": "self.get_device_status"}]}],
                                   call_result={"content": [{"type": "text", "text": text}]})
    assert await client.call("self.get_device_status", {}) == expected


async def test_mcp_call_results_over_the_size_limit_are_errors() -> None:
    big = {"content": [{"type": "text", "text": "a" * (MAX_RESULT_CHARS + 1)}]}
    client, _, _ = await _discover([{"tools": [{"name": "self.get_device_status"}]}], call_result=big)
    with pytest.raises(McpError, match="characters"):
        await client.call("self.get_device_status", {})


# ----------------------------------------------------------------------------------------------- catalogs


def _meta(**entries: Any) -> bytes:
    return json.dumps(entries).encode()


@pytest.mark.parametrize(("raw", "why"), [
    (b'{"Song": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than 16"),
    (b"{" + b'"a":{' * 100_000, "nested deeper than 16"),
    (b'{"Song": {"filename": "s.mp3", "duration": ' + b"9" * 5000 + b"}}", "unreadable JSON"),
    (b'{"Song": {"filename": "s.mp3"}', "malformed JSON"),
])
def test_parse_metadata_raises_only_catalog_format_errors(raw: bytes, why: str) -> None:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        with pytest.raises(CatalogFormatError, match=why):
            parse_metadata(raw, kind=Kind.MUSIC, collection="X", source="music/X/metadata.json")
    finally:
        sys.setrecursionlimit(old)


def test_parse_metadata_cleans_or_skips_unencodable_text() -> None:
    raw = (b'{"\\ud800 Bad": {"filename": "a.mp3"}, "Evil": {"filename": "b\\udfff.mp3"},'
           b' "Fine": {"filename": "c.mp3", "alternatives": ["x\\ud800"], "romanized": "r\\udc00",'
           b' "duration": NaN}}')
    tracks, issues = parse_metadata(raw, kind=Kind.MUSIC, collection="X", source="k")
    assert [t.title for t in tracks] == ["Fine"]
    fine = tracks[0]
    assert fine.alternatives == ("x\ufffd",) and fine.romanized == "r\ufffd" and fine.duration is None
    text = "\n".join(map(str, issues))
    assert "unpaired surrogate" in text and "'duration' must be a number" in text
    text.encode("utf-8")                                                       # issues print on any terminal


def _collection(root: Path, path: str, body: bytes, files: tuple[str, ...] = ()) -> None:
    folder = root / path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_bytes(body)
    for f in files:
        (folder / f).write_bytes(b"ID3 audio")


async def test_a_deep_catalog_skips_its_collection_logs_once_and_refresh_keeps_working(
        tmp_path: Path, captured_logs) -> None:
    _collection(tmp_path, "music/English", _meta(Song={"filename": "song.mp3"}), ("song.mp3",))
    _collection(tmp_path, "music/Deep", b'{"X": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    cat = Catalog(LocalStorage(tmp_path), prefixes={Kind.MUSIC: "music", Kind.STORY: "stories"})
    await cat.load()
    assert [t.title for t in cat.tracks()] == ["Song"]
    for _ in range(3):
        assert await cat.refresh() is False
    assert captured_logs.text.count("music/Deep/metadata.json is unusable: nested deeper than 16") == 1
    assert "Traceback" not in captured_logs.text and "RecursionError" not in captured_logs.text
    # New collections still appear; a changed bad file is logged once more; a fixed one is served.
    _collection(tmp_path, "stories/Bedtime", _meta(Moon={"filename": "moon.mp3"}), ("moon.mp3",))
    assert await cat.refresh() is True and {t.title for t in cat.tracks()} == {"Song", "Moon"}
    (tmp_path / "music/Deep/metadata.json").write_bytes(b'{"X": ' + b"{" * 50_000)
    assert await cat.refresh() is False and await cat.refresh() is False
    assert captured_logs.text.count("music/Deep/metadata.json is unusable") == 2
    _collection(tmp_path, "music/Deep", _meta(Fixed={"filename": "f.mp3"}), ("f.mp3",))
    assert await cat.refresh() is True and {t.title for t in cat.tracks()} == {"Song", "Moon", "Fixed"}
    assert cat.report().ok


async def test_an_unexpected_failure_in_one_collection_is_contained(tmp_path: Path, captured_logs,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _collection(tmp_path, "music/English", _meta(Song={"filename": "song.mp3"}), ("song.mp3",))
    _collection(tmp_path, "music/Broken", _meta(Other={"filename": "o.mp3"}), ("o.mp3",))
    storage = LocalStorage(tmp_path)
    real_fetch = storage._fetch

    def fetch(key: str, etag: str | None) -> Any:
        if "Broken" in key:
            raise RuntimeError("disk on fire")          # not a StorageError: a bug somewhere below us
        return real_fetch(key, etag)
    monkeypatch.setattr(storage, "_fetch", fetch)
    cat = Catalog(storage, prefixes={Kind.MUSIC: "music"})
    await cat.load()
    await cat.refresh()
    assert [t.title for t in cat.tracks()] == ["Song"]
    assert captured_logs.text.count("music/Broken/metadata.json: refresh failed (RuntimeError: disk on fire)") == 1
    assert not cat.report().ok
    monkeypatch.setattr(storage, "_fetch", real_fetch)
    assert await cat.refresh() is True and {t.title for t in cat.tracks()} == {"Song", "Other"}
    assert cat.report().ok


async def test_missing_audio_is_skipped_until_it_is_uploaded(tmp_path: Path, captured_logs) -> None:
    _collection(tmp_path, "music/English", _meta(Song={"filename": "song.mp3"}, Later={"filename": "later.mp3"}),
                ("song.mp3",))
    svc = ContentService(LocalStorage(tmp_path), _content_cfg())
    await svc.start()
    try:
        assert [t.title for t in svc.tracks()] == ["Song"]
        found = svc.matcher.find_content_match("later")
        assert found.track is None or found.track.title != "Later"             # never matched, never announced
        assert await svc.refresh() is False
        assert captured_logs.text.count("skipping 1 entries whose audio file is missing: 'later.mp3'") == 1
        (tmp_path / "music/English/later.mp3").write_bytes(b"ID3 audio")
        assert await svc.refresh() is True
        assert {t.title for t in svc.tracks()} == {"Song", "Later"}
        assert svc.matcher.find_content_match("later").track.title == "Later"
        assert "every audio file is present now" in captured_logs.text
    finally:
        await svc.close()


def _content_cfg() -> Any:
    from core.config import ContentConfig
    return ContentConfig(refresh_time_s=0, watch_s=0, cache_dir="")     # refreshed by the test alone


async def test_the_server_starts_and_serves_beside_a_deep_catalog(make_config, start_node, tone_catalog: Path,
                                                                  tmp_path: Path) -> None:
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(tone_catalog, lib)
    _collection(lib, "music/Deep", b'{"X": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    node = await start_node(make_config(content={"content_dir": str(lib)}))
    assert {t.collection for t in node.rt.content.tracks()} == {"English", "Bedtime"}
    assert not node.rt.content.validation_report().ok


async def test_a_deep_disk_cache_file_is_ignored(tmp_path: Path, captured_logs) -> None:
    storage = LocalStorage(tmp_path / "lib")
    (tmp_path / "lib").mkdir()
    cat = Catalog(storage, prefixes={Kind.MUSIC: "music"}, cache_dir=tmp_path / "cache")
    assert cat.cache_dir is not None
    cat.cache_dir.mkdir(parents=True)
    (cat.cache_dir / "x.json").write_text("[" * 100_000 + "]" * 100_000)
    await cat.load()
    assert cat.tracks() == [] and "ignoring the unreadable catalog cache file" in captured_logs.text
    assert os.path.exists(cat.cache_dir / "x.json")
