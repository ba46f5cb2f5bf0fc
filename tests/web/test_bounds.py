"""OTA bodies and malformed HTTP against the real node on loopback: 400/413/415 for what cannot be read, never a 500,
never a traceback (in the answer or in the log), and one WARNING line per malformed request."""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

pytestmark = pytest.mark.timeout(60)

HEADERS = {"Device-Id": "aa:bb:cc:dd:ee:ff", "Client-Id": "cid"}
NESTED = "[" * 100_000 + "]" * 100_000


async def _post(node, body: bytes, content_type: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/", data=body,
                             headers={**HEADERS, "Content-Type": content_type}) as resp:
            return resp.status, await resp.text()


@pytest.mark.parametrize(("body", "content_type", "status", "why"), [
    (NESTED.encode(), "application/json", 400, "nested deeper than 32"),
    (b'{"application": ' * 40 + b"1" + b"}" * 40, "application/json", 400, "nested deeper than 32"),
    (b'{"application": {"version": "2.0"}}', "application/json; charset=ebcdic", 415, "unsupported charset"),
    (b'{"application": {"version": "2.0"}}', "application/json; charset=rot13", 415, "unsupported charset"),
    (b"version=2.0&mac=aa", "application/x-www-form-urlencoded", 400, "not usable JSON"),
    (b'{"application": {"version": "2.0"}', "application/json", 400, "malformed JSON"),
    (b"[1, 2, 3]", "application/json", 400, "must be a JSON object"),
    (b'{"v": ' + b"9" * 5000 + b"}", "application/json", 400, "unreadable JSON"),
    (b'{"application": {"version": "\xff\xfe"}}', "application/json", 400, "not valid utf-8"),
    (b"x" * (300 * 1024), "application/json", 413, "body larger than"),
])
async def test_ota_refuses_what_it_cannot_read(make_config, start_node, caplog, body: bytes, content_type: str,
                                               status: int, why: str) -> None:
    node = await start_node(make_config())
    with caplog.at_level(logging.WARNING):
        got, text = await _post(node, body, content_type)
    assert got == status, text
    assert why in json.loads(text)["error"]
    assert "Traceback" not in text and "/" not in json.loads(text)["error"].replace("utf-8", "")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_ota_still_answers_good_and_empty_bodies(make_config, start_node) -> None:
    node = await start_node(make_config())
    for body, ctype in ((b"", "application/json"), (b'{"application": {"version": "1.9.2"}}', "application/json"),
                        ('{"application": {"version": "1.9.3"}}'.encode("utf-16"), "application/json; charset=utf-16"),
                        (b'{"application": {"version": "\\ud800"}}', "application/json")):
        status, text = await _post(node, body, ctype)
        assert status == 200, text
        reply = json.loads(text)
        assert set(reply) == {"server_time", "firmware", "websocket"} and reply["websocket"]["url"].startswith("ws://")
    assert reply["firmware"]["version"] == "\ufffd"     # a lone surrogate echoed back would not encode


async def _raw_http(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("request_bytes", [
    b"GET /health HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    b"GET /health HTTP/9.9.9\r\nHost: x\r\n\r\n",
    b"POST /xiaozhi/ota/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_malformed_http_is_one_warning_line_without_traceback(make_config, start_node, caplog,
                                                                    request_bytes: bytes) -> None:
    node = await start_node(make_config())
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        answer = await _raw_http(node.http_port, request_bytes)
        async with aiohttp.ClientSession() as http:          # the endpoint still serves the next client
            async with http.get(f"http://127.0.0.1:{node.http_port}/health") as resp:
                assert resp.status == 200
    assert answer.startswith(b"HTTP/1.") and answer[9:10] == b"4", answer[:80]
    assert b"Traceback" not in answer
    records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in records]
    assert warnings[0].exc_info is None and "\n" not in warnings[0].getMessage()
    assert "malformed HTTP request from" in warnings[0].getMessage()
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_slowloris_client_is_dropped_after_the_idle_timeout(make_config, start_node) -> None:
    from core.web.app import HttpServer, build_app

    node = await start_node(make_config())
    api = HttpServer(build_app(node, node.rt.config), idle_timeout_s=1.0)
    port = await api.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        dropped = False
        for b in b"POST /xiaozhi/ota/ HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100:   # one byte per 0.2 s
            try:
                writer.write(bytes([b]))
                await writer.drain()
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    dropped = True
                    break
            except TimeoutError:
                continue
            except ConnectionError:
                dropped = True
                break
        elapsed = asyncio.get_running_loop().time() - started
        writer.close()
        assert dropped and elapsed < 5.0                     # the timeout is 1 s; the dribble would last 20 s
    finally:
        await api.close()


@pytest.mark.parametrize(("body", "encoding", "status"), [
    (b"this is not gzip", "gzip", 400),
    (b"nor deflate", "deflate", 400),
    (__import__("gzip").compress(b" " * (20 << 20)), "gzip", 413),       # 20 MiB of spaces in 20 KiB
])
async def test_ota_bodies_that_do_not_decompress_or_expand_too_far(make_config, start_node, caplog, body: bytes,
                                                                   encoding: str, status: int) -> None:
    node = await start_node(make_config())
    with caplog.at_level(logging.WARNING):
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.post(f"http://127.0.0.1:{node.http_port}/xiaozhi/ota/", data=body,
                                 headers={**HEADERS, "Content-Encoding": encoding,
                                          "Content-Type": "application/json"}) as resp:
                assert resp.status == status
                assert "error" in await resp.json()
        async with aiohttp.ClientSession() as http:          # the endpoint still serves the next client
            async with http.get(f"http://127.0.0.1:{node.http_port}/health") as resp:
                assert resp.status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
