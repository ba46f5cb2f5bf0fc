"""The HTTP surface on a real node on loopback: every route's roles (no token, a wrong token, the parent, the parent of
another device, the operator), one error shape and the security headers on every answer, a request id on each, and a
handler that raises: one ERROR line with the request id in the log, no traceback to the client."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from core.content.types import Kind, Track
from core.node import Node
from core.web.app import ROUTES, HttpServer, build_app
from core.web.auth import ANYONE, HOUSEHOLD, OPERATOR, Role
from core.web.errors import SECURITY_HEADERS

pytestmark = pytest.mark.timeout(120)
OP = "operator-token-0123456789abcdef"
PARENT = "parent-token-0123456789abcdef"
MINE, OTHER = "aa:bb:cc:00:00:51", "aa:bb:cc:00:00:52"
DEVICE = "/api/devices/{device_id}"

# Who may call what: changing a route's roles means changing this table (docs/api.md says the same).
EXPECTED = {
    ("POST", "/xiaozhi/ota/"): ANYONE, ("POST", "/xiaozhi/ota"): ANYONE,
    ("GET", "/xiaozhi/ota/"): ANYONE, ("GET", "/xiaozhi/ota"): ANYONE,
    ("GET", "/health"): ANYONE, ("GET", "/ready"): ANYONE, ("GET", "/metrics"): ANYONE,
    ("GET", "/"): ANYONE, ("GET", "/parents"): ANYONE, ("GET", "/operator"): ANYONE,
    ("GET", "/web/{name:[A-Za-z0-9_.-]+}"): ANYONE, ("GET", "/web/{name:img/[A-Za-z0-9_.-]+}"): ANYONE,
    ("GET", "/api/whoami"): HOUSEHOLD, ("GET", "/api/catalog"): OPERATOR, ("POST", "/api/match"): OPERATOR,
    ("GET", "/api/latency"): OPERATOR, ("GET", "/api/household"): HOUSEHOLD,
    ("GET", "/api/devices"): OPERATOR, ("GET", DEVICE): OPERATOR,
    ("POST", f"{DEVICE}/stop"): OPERATOR, ("POST", f"{DEVICE}/volume"): OPERATOR,
    ("POST", f"{DEVICE}/pause"): HOUSEHOLD, ("POST", f"{DEVICE}/reboot"): OPERATOR,
    ("POST", f"{DEVICE}/upgrade"): OPERATOR,
    ("GET", f"{DEVICE}/policy"): HOUSEHOLD, ("PUT", f"{DEVICE}/policy"): HOUSEHOLD,
    ("GET", f"{DEVICE}/history"): HOUSEHOLD, ("PUT", f"{DEVICE}/name"): HOUSEHOLD, ("GET", "/api/audit"): OPERATOR,
}
BODIES: dict[str, Any] = {"/xiaozhi/ota/": {}, "/xiaozhi/ota": {}, "/api/match": {"text": "play baa baa black sheep"},
                          "volume": {"volume": 30}, "upgrade": {"url": "https://firmware.example/v2.bin"},
                          "policy": {"max_volume": 50}, "name": {"name": "Nursery"}}
CALLERS: dict[str, tuple[dict[str, str], str]] = {     # name -> (headers, device in the URL)
    "no token": ({}, MINE),
    "wrong token": ({"X-Parent-Token": "not-the-token-" + "x" * 20}, MINE),
    "parent": ({"X-Parent-Token": PARENT}, MINE),
    "parent of another device": ({"Authorization": f"Bearer {PARENT}"}, OTHER),
    "operator": ({"X-Operator-Token": OP}, MINE),
}


def node_config(make_config: Callable[..., Any], **web: Any) -> Any:
    return make_config(fleet={"operator_token": OP},
                       web={"enabled": True, "parent_token": PARENT, "parent_devices": [MINE], **web})


def concrete(path: str, device: str) -> str:
    path = path.replace("{device_id}", device)
    path = path.replace("{name:[A-Za-z0-9_.-]+}", "common.js")
    return path.replace("{name:img/[A-Za-z0-9_.-]+}", "img/device.png")


def body_for(path: str) -> Any:
    return BODIES.get(path, BODIES.get(path.rsplit("/", 1)[-1]))


async def request(node: Node, method: str, path: str, headers: dict[str, str], body: Any = None) -> \
        tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, f"http://127.0.0.1:{node.http_port}{path}",
                                                       json=body, headers=headers) as r:
        data = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, data, r.headers


def check_shape(status: int, data: Any, headers: Any, what: str) -> None:
    """The security headers and a request id on every answer; errors as {"error", "field"}."""
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (what, name)
    assert re.fullmatch(r"[0-9a-f]{16}", headers.get("X-Request-Id", "")), what
    if status >= 400:
        assert isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"], (what, data)
        assert "field" in data and (data["field"] is None or isinstance(data["field"], str)), (what, data)


async def test_the_route_table_says_who_may_call_each_route(make_config, start_node) -> None:
    node = await start_node(node_config(make_config))
    assert node.http is not None
    table = {(r.method, r.path): r.roles for r in node.http.app[ROUTES]}
    assert table == EXPECTED


async def test_every_route_answers_each_caller_by_its_roles(make_config, start_node) -> None:
    node = await start_node(node_config(make_config, login_attempts_per_min=1000))
    assert node.http is not None
    seen: dict[tuple[str, str], int] = {}
    for route in node.http.app[ROUTES]:
        for caller, (headers, device) in CALLERS.items():
            path = concrete(route.path, device)
            status, data, answer = await request(node, route.method, path, headers, body_for(path))
            what = f"{caller}: {route.method} {path} -> {status} {data!r:.160}"
            check_shape(status, data, answer, what)
            assert status < 500 and status != 429, what
            if Role.DEVICE in route.roles:
                assert status not in (401, 403), what                  # open: no token needed, none refused
            elif caller in ("no token", "wrong token"):
                assert status == 401, what
            elif caller == "parent of another device" and "{device_id}" in route.path:
                assert status == 403 and (Role.PARENT not in route.roles or data["field"] == "device_id"), what
            elif caller.startswith("parent") and Role.PARENT not in route.roles:
                assert status == 403, what
            else:
                assert status not in (401, 403), what
            seen[(caller, route.path)] = status
    assert seen[("parent", f"{DEVICE}/policy")] == 200 and seen[("operator", "/api/catalog")] == 200
    assert seen[("operator", f"{DEVICE}/stop")] == 404            # valid, but the device is not connected


async def test_a_valid_token_of_the_wrong_role_is_403_and_not_counted_as_a_wrong_token(make_config,
                                                                                    start_node) -> None:
    node = await start_node(node_config(make_config, login_attempts_per_min=2))
    parent = {"X-Parent-Token": PARENT}
    for _ in range(4):                          # more refusals than the limit allows wrong tokens
        status, data, _ = await request(node, "GET", "/api/devices", parent)
        assert status == 403 and "operator" in data["error"]
        status, data, _ = await request(node, "GET", f"/api/devices/{OTHER}/history", parent)
        assert status == 403 and data["field"] == "device_id"
    assert (await request(node, "GET", "/api/whoami", parent))[0] == 200        # still welcome
    for _ in range(2):
        assert (await request(node, "GET", "/api/devices", {"X-Operator-Token": "x" * 30}))[0] == 401
    status, data, headers = await request(node, "GET", "/api/whoami", parent)
    assert status == 429 and data["retry_after_s"] > 0 and data["field"] is None   # now it counts
    check_shape(status, data, headers, "429")


async def test_unknown_paths_methods_and_bad_ids_get_the_error_shape(make_config, start_node) -> None:
    node = await start_node(node_config(make_config))
    op = {"X-Operator-Token": OP}
    cases = [("GET", "/nothing/here", 404), ("DELETE", "/api/devices", 405), ("GET", "/health/extra", 404),
             ("POST", f"/api/devices/{'x' * 200}/stop", 400), ("PUT", f"/api/devices/{MINE}/stop", 405)]
    for method, path, want in cases:
        status, data, headers = await request(node, method, path, op)
        check_shape(status, data, headers, f"{method} {path}")
        assert status == want, (method, path, status, data)
    status, data, _ = await request(node, "POST", f"/api/devices/{'x' * 200}/stop", op)
    assert data["field"] == "device_id"
    status, data, _ = await request(node, "POST", f"/api/devices/{MINE}/upgrade", op, {"url": "ftp://x"})
    assert status == 400 and data["field"] == "url"
    status, data, _ = await request(node, "POST", f"/api/devices/{MINE}/volume", op, {"volume": 101})
    assert status == 400 and data["field"] == "volume"


class FailingCatalog:
    """A node whose catalog read fails inside a handler (a bug the surface must contain)."""

    def __init__(self, node: Node) -> None:
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        raise RuntimeError("catalog index corrupt at /srv/secret/path")


async def test_a_handler_that_raises_is_one_log_line_and_a_plain_500(make_config, start_node,
                                                                     caplog_loguru) -> None:
    node = await start_node(node_config(make_config))
    server = HttpServer(build_app(FailingCatalog(node), node.rt.config))
    port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/api/catalog",
                                                       headers={"X-Operator-Token": OP}) as r:
            status, text, headers = r.status, await r.text(), r.headers
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/api/whoami",
                                                       headers={"X-Operator-Token": OP}) as r:
            assert r.status == 200                              # the next request is served as usual
    finally:
        await server.close()
    request_id = headers["X-Request-Id"]
    assert status == 500
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(text) == {"error": "internal error", "field": None, "request_id": request_id}
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    errors = [line for line in caplog_loguru if "| ERROR" in line]
    assert len(errors) == 1 and request_id in errors[0] and "/api/catalog" in errors[0]
    assert "Traceback" in errors[0] and "catalog index corrupt" in errors[0]      # the detail stays in the log


async def test_the_match_tester_prints_the_request_and_decision_the_server_path_makes(make_config,
                                                                                      start_node) -> None:
    """POST /api/match answers with the same line `app.py match` prints (core.understand.describe), the Request
    included: what the words were read as, then what was decided."""
    node = await start_node(node_config(make_config))
    op = {"X-Operator-Token": OP}
    status, data, _ = await request(node, "POST", "/api/match", op, {"text": "hey cheeko play baa baa black sheep"})
    assert status == 200 and data["intent"] == "play_music" and data["title"] == "Baa Baa Black Sheep"
    assert data["match_type"] == "exact" and data["speech"] and data["language"] == "en"
    assert data["request"] == {"text": "play baa baa black sheep", "language": "en", "script": "latin",
                               "title_words": "baa baa black sheep", "named_language": None, "moods": [],
                               "categories": [], "kind_cue": "music", "wake_words": 2, "clipped": False}
    status, data, _ = await request(node, "POST", "/api/match", op, {"text": "हिंदी गाना बजाओ"})
    assert status == 200 and data["request"]["named_language"] == "hi" and data["request"]["script"] == "devanagari"
