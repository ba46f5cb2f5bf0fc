"""The console's HTTP side and the parents' rules on a real node on loopback, with the scripted device: pages off by
default and served with a strict CSP, tokens in headers with rate-limited failures, policy validation (400 names
the field), the audit trail, and enforcement: bedtime refuses, a volume cap clamps "louder", a daily limit stops
playback."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from core.device_client import DeviceClient
from core.devices import policy as rules
from core.lang.replies import say
from tests.conftest import until, ws_url

pytestmark = pytest.mark.timeout(90)
OP = "operator-token-0123456789abcdef"
PARENT = "parent-token-0123456789abcdef"


def web_config(make_config: Any, **web: Any) -> Any:
    return make_config(fleet={"operator_token": OP},
                       web={"enabled": True, "parent_token": PARENT, **web})


async def call(node: Any, method: str, path: str, body: Any = None, token: str = PARENT,
               **headers: str) -> tuple[int, Any, Any]:
    hdrs = {"X-Parent-Token": token, **headers} if token else dict(headers)
    async with aiohttp.ClientSession() as s, s.request(method, f"http://127.0.0.1:{node.http_port}{path}",
                                                       json=body, headers=hdrs) as r:
        data = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, data, r.headers


def all_week(start: str, end: str) -> dict[str, dict[str, str]]:
    return {d: {"start": start, "end": end} for d in rules.WEEKDAYS}


def around_now() -> dict[str, dict[str, str]]:
    """Quiet time from an hour ago to an hour from now (UTC), every day."""
    t = time.gmtime()
    now = t.tm_hour * 60 + t.tm_min
    fmt = lambda m: f"{(m % 1440) // 60:02d}:{m % 60:02d}"      # noqa: E731 - a one-line local helper
    return all_week(fmt(now - 60), fmt(now + 60))


async def test_console_is_closed_by_default(make_config, start_node) -> None:
    node = await start_node(make_config())
    for path in ("/", "/parents", "/operator", "/web/device.js", "/api/whoami"):
        status, body, _ = await call(node, "GET", path)
        assert status == 404, path
        assert "web.enabled" in body["error"] or "OPERATOR_TOKEN" in body["error"]


async def test_pages_have_a_strict_csp_and_no_inline_script(make_config, start_node) -> None:
    node = await start_node(web_config(make_config))
    for path in ("/", "/parents", "/operator"):
        status, html, headers = await call(node, "GET", path, token="")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path            # every script is a file
        assert not re.search(r"\son[a-z]+\s*=", html), path                     # no inline handlers
    status, js, headers = await call(node, "GET", "/web/device.js", token="")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "AudioEncoder" in js
    for bad in ("/web/..%2Fconfig.yaml", "/web/nothing.js", "/web/%2e%2e%2fapp.py"):
        assert (await call(node, "GET", bad, token=""))[0] == 404, bad


async def test_wrong_tokens_are_refused_then_rate_limited(make_config, start_node) -> None:
    node = await start_node(web_config(make_config, login_attempts_per_min=3))
    assert (await call(node, "GET", "/api/whoami", token=OP))[1]["role"] == "operator"
    assert (await call(node, "GET", "/api/whoami"))[1]["role"] == "parent"
    assert (await call(node, "GET", "/api/catalog"))[0] == 403                # the catalog view is the operator's
    for _ in range(3):
        assert (await call(node, "GET", "/api/whoami", token="guess-" + "x" * 20))[0] == 401
    status, body, _ = await call(node, "GET", "/api/whoami", token=OP)      # even the right one waits now
    assert status == 429 and body["retry_after_s"] > 0
    # a cookie carries no authority: the token must be in a header
    assert (await call(node, "GET", "/api/whoami", token="", Cookie=f"token={OP}"))[0] == 429
    assert (await call(node, "GET", "/api/devices", token="", **{"X-Operator-Token": OP}))[0] == 429   # shared


async def test_wrong_operator_tokens_count_too(make_config, start_node) -> None:
    node = await start_node(web_config(make_config, login_attempts_per_min=2))
    for _ in range(2):
        assert (await call(node, "GET", "/api/devices", token="", **{"X-Operator-Token": "x" * 30}))[0] == 401
    assert (await call(node, "GET", "/api/whoami", token=OP))[0] == 429


async def test_policy_validation_audit_and_scope(make_config, start_node) -> None:
    node = await start_node(web_config(make_config, parent_devices=["aa:bb:cc:00:00:01"]))
    dev = "/api/devices/aa:bb:cc:00:00:01/policy"
    status, body, _ = await call(node, "PUT", dev, {"max_volume": 120})
    assert status == 400 and body["field"] == "max_volume"
    status, body, _ = await call(node, "PUT", dev, {"allowed_collections": ["Horror"]})
    assert status == 400 and body["field"] == "allowed_collections" and "English" in body["error"]
    status, body, _ = await call(node, "PUT", dev, {"bedtime": {"mon": {"start": "7pm", "end": "07:00"}}})
    assert status == 400 and body["field"] == "bedtime.mon.start"
    async with aiohttp.ClientSession() as s, s.put(f"http://127.0.0.1:{node.http_port}{dev}", data="max_volume=1",
                                                   headers={"X-Parent-Token": PARENT,
                                                            "Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 415                       # a form post from another site is not JSON
    assert (await call(node, "PUT", "/api/devices/aa:bb:cc:00:00:02/policy", {"max_volume": 10}))[0] == 403
    status, body, _ = await call(node, "PUT", dev, {"max_volume": 40, "sleep_collections": ["bedtime"]})
    assert status == 200 and body["applied"] == "stored" and body["rev"] == 1
    status, body, _ = await call(node, "PUT", dev, {"max_volume": 30}, token=OP)
    assert status == 200 and body["rev"] == 2
    status, got, _ = await call(node, "GET", dev)
    assert got["policy"]["max_volume"] == 30 and got["policy"]["sleep_collections"] == []
    assert [a["who"] for a in got["audit"]] == ["operator", "parent"]
    assert got["audit"][0]["changes"] == {"max_volume": [40, 30], "sleep_collections": [["Bedtime"], []]}
    assert got["audit"][1]["from"] == "127.0.0.1" and got["audit"][1]["at"] <= time.time()
    assert "English" in got["collections"] and "calm" in got["tags"]
    stored = await node.store.load_policy("aa:bb:cc:00:00:01")
    assert stored.rules["max_volume"] == 30 and stored.rev == 2      # the rules record, where the session reads it


async def test_bedtime_refuses_kindly_but_sleep_stories_play(make_config, start_node) -> None:
    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:11"
    async with DeviceClient(ws_url(node), device_id=device) as client:
        await asyncio.wait_for(client.tools_listed.wait(), 5)
        status, body, _ = await call(node, "PUT", f"/api/devices/{device}/policy",
                                     {"bedtime": around_now(), "sleep_collections": ["Bedtime"]})
        assert status == 200 and body["applied"] == "live"     # the connected session has it at once
        await client.send_text_request("play baa baa black sheep")
        line = await client.wait_json("tts", "sentence_start", timeout=15)
        assert line["text"] == say(rules.quiet_reply(rules.parse({}), time.time()), "en")   # fits the hour
        await client.wait_json("tts", "stop", timeout=15)
        assert not client.audio or client.decode_audio().size < 16000 * 1.5   # the kind line only, not the song
        assert not [r for r in client.log if r.message and r.message.get("type") == "llm"]    # no track started
        await client.send_text_request("moon story")            # a sleep story still plays
        await client.wait_json("llm", timeout=15)                # the face smiles: a track starts
        title = await client.wait_json("tts", "sentence_start", timeout=15)
        assert "Sleepy Moon" in title["text"]
        await client.wait_for(lambda r: r.kind == "audio", timeout=15)


async def test_a_volume_cap_clamps_louder(make_config, start_node) -> None:
    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:12"
    async with DeviceClient(ws_url(node), device_id=device, volume=45) as client:
        await asyncio.wait_for(client.tools_listed.wait(), 5)
        status, _, _ = await call(node, "PUT", f"/api/devices/{device}/policy", {"max_volume": 50})
        assert status == 200
        await client.send_text_request("louder")
        await client.wait_json("tts", "stop", timeout=10)
        assert client.volume == 50                            # 45 + 10 would be 55
        await client.send_text_request("louder")
        await client.wait_json("tts", "stop", timeout=10)
        assert client.volume == 50
        await call(node, "PUT", f"/api/devices/{device}/policy", {"max_volume": 20})
        async with asyncio.timeout(5):                        # a lower cap turns the speaker down at once
            while client.volume != 20:
                await asyncio.sleep(0.05)


async def test_the_daily_limit_stops_playback_when_reached(make_config, start_node) -> None:
    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:13"
    assert (await call(node, "PUT", f"/api/devices/{device}/policy", {"daily_limit_min": 1}))[0] == 200
    store = node.rt.session.store
    st = await store.load(device)          # a shortened day: 57 of the 60 allowed seconds are already used
    day = rules.day_key((await store.load_policy(device)).policy(), time.time())
    await store.save(replace(st, listened_day=day, listened_s=57.0))
    async with DeviceClient(ws_url(node), device_id=device) as client:
        await client.send_text_request("play long lullaby")          # 20 s
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        started = time.monotonic()
        line = await client.wait_for(lambda r: r.message is not None and r.message.get("text")
                                     == say("policy_limit", "en"), timeout=15)
        assert 1.5 < time.monotonic() - started < 8
        assert line.message["state"] == "sentence_start"
        await client.wait_json("tts", "stop", timeout=10)
        status, got, _ = await call(node, "GET", f"/api/devices/{device}/policy")
        assert got["listened_today_s"] >= 60
        await client.send_text_request("play baa baa black sheep")    # and nothing more today
        refused = await client.wait_for(lambda r: r.message is not None and r.message.get("type") == "stt"
                                        and r.message.get("text") == "play baa baa black sheep", timeout=10)
        later = await client.wait_json("tts", "sentence_start", timeout=10)
        assert later["text"] == say("policy_limit", "en") and refused is not None
    status, hist, _ = await call(node, "GET", f"/api/devices/{device}/history")
    assert hist["history"][0]["title"] == "Long Lullaby" and not hist["history"][0]["finished"]


async def test_operator_stop_and_volume_reach_the_session_within_the_cap(make_config, start_node) -> None:
    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:14"
    async with DeviceClient(ws_url(node), device_id=device) as client:
        await asyncio.wait_for(client.tools_listed.wait(), 5)
        assert (await call(node, "PUT", f"/api/devices/{device}/policy", {"max_volume": 55}))[0] == 200
        status, body, _ = await call(node, "POST", f"/api/devices/{device}/volume", {"volume": 90}, token="",
                                     **{"X-Operator-Token": OP})
        assert status == 200 and body["delivered"] is True
        # Bodies it cannot use are 4xx with a reason, never 500
        # (a deeply nested body could raise RecursionError in json.loads).
        url = f"http://127.0.0.1:{node.http_port}/api/devices/{device}/volume"
        async with aiohttp.ClientSession(headers={"X-Operator-Token": OP}) as s:
            for data, ctype, want in (("[" * 1000, "application/json", 400),
                                      ('{"volume": "loud"}', "application/json", 400),
                                      ('{"volume": 50}', "text/plain", 415), ("x" * 5000, "application/json", 413)):
                async with s.post(url, data=data, headers={"Content-Type": ctype}) as r:
                    assert r.status == want and "error" in await r.json(), (data[:20], r.status)
        async with asyncio.timeout(5):
            while client.volume != 55:
                await asyncio.sleep(0.05)
        await client.send_text_request("play long lullaby")
        await client.wait_for(lambda r: r.kind == "audio", timeout=20)
        status, body, _ = await call(node, "POST", f"/api/devices/{device}/stop", token="",
                                     **{"X-Operator-Token": OP})
        assert status == 200 and body["delivered"] is True
        await client.wait_json("tts", "stop", timeout=10)
        conn = next(c for c in node.connections() if c.device_id == device)
        await until(lambda: conn.view().playback == "stopped", timeout=5)
        now = conn.view().now_playing
        assert now is not None and now.title == "Long Lullaby"            # stopped, remembered for "continue"


async def test_a_policy_reaches_a_device_on_another_node(redis_server, make_config, start_node) -> None:
    def cfg(node_id: str) -> Any:
        return make_config(state={"url": redis_server.url}, web={"enabled": True, "parent_token": PARENT},
                           fleet={"operator_token": OP, "node_id": node_id, "heartbeat_s": 0.2, "node_ttl_s": 1.0,
                                  "max_cpu": 1.0})
    a = await start_node(cfg("node-a"))
    b = await start_node(cfg("node-b"))
    device = "aa:bb:cc:00:00:15"
    async with DeviceClient(ws_url(b), device_id=device) as client:
        await asyncio.wait_for(client.tools_listed.wait(), 5)
        conn = next(c for c in b.connections() if c.device_id == device)
        status, body, _ = await call(a, "PUT", f"/api/devices/{device}/policy", {"daily_limit_min": 0})
        assert status == 200 and body["applied"] == "live"
        await until(lambda: conn.view().rules_rev == body["rev"], timeout=5)     # the session enforces it
        await client.send_text_request("play baa baa black sheep")
        line = await client.wait_json("tts", "sentence_start", timeout=15)
        assert line["text"] == say("policy_limit", "en")
    stored = await a.store.load_policy(device)                 # b's saves left the rules record alone
    assert stored.rules["daily_limit_min"] == 0 and stored.rev == 1


async def test_an_odd_stored_policy_record_is_read_and_replaced(make_config, start_node, tmp_path) -> None:
    import json as _json
    import sqlite3

    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:16"
    odd = {"rev": "seven", "audit": "gone", "max_volume": "loud", "bedtime": 3}     # older shape: inside the state
    db = sqlite3.connect(tmp_path / "devices.db")
    db.execute("INSERT INTO devices (device_id, state, updated_at) VALUES (?, ?, 0)",
               (device, _json.dumps({"policy": odd, "volume": 40})))
    db.commit()
    db.close()
    status, got, _ = await call(node, "GET", f"/api/devices/{device}/policy")
    assert status == 200 and got["rev"] == 0 and got["audit"] == [] and got["policy"]["max_volume"] is None
    assert got["volume"] == 40
    status, body, _ = await call(node, "PUT", f"/api/devices/{device}/policy", {"max_volume": 60})
    assert status == 200 and body["rev"] == 1 and len(body["audit"]) == 1


async def test_the_largest_policy_and_audit_trail_keep_the_records_usable(make_config, start_node, tmp_path) -> None:
    import sqlite3

    from core.devices.state import MAX_STATE_BYTES
    node = await start_node(web_config(make_config))
    device = "aa:bb:cc:00:00:17"
    for i in range(25):                     # more changes than are kept, each as large as a policy gets
        tags = [f"{i:02d}-" + "t" * 59 + f"{k:02d}" for k in range(50)]   # 50 of 64 characters
        status, body, _ = await call(node, "PUT", f"/api/devices/{device}/policy",
                                     {"blocked_tags": tags, "bedtime": {"mon": {"start": "19:00", "end": "07:00"}}})
        assert status == 200, body
    assert (await call(node, "PUT", f"/api/devices/{device}/policy", {"blocked_tags": ["x" * 65]}))[1]["field"] \
        == "blocked_tags"
    deep = "[" * 5000 + "]" * 5000
    async with aiohttp.ClientSession() as s, s.put(
            f"http://127.0.0.1:{node.http_port}/api/devices/{device}/policy", data=deep,
            headers={"X-Parent-Token": PARENT, "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["field"] == "body"
    status, got, _ = await call(node, "GET", f"/api/devices/{device}/policy")
    assert len(got["audit"]) == rules.MAX_AUDIT and got["rev"] == 25
    assert got["audit"][0]["changes"] == {"blocked_tags": "changed"}        # too large to keep whole
    record = await node.store.load_policy(device)
    assert record.rev == 25 and len(record.to_json().encode()) < MAX_STATE_BYTES / 4
    await node.store.save(await node.store.load(device))                      # a session's save ...
    db = sqlite3.connect(tmp_path / "devices.db")
    (state,) = db.execute("SELECT state FROM devices WHERE device_id = ?", (device,)).fetchone()
    db.close()
    assert '"policy"' not in state and '"blocked_tags"' not in state           # ... carries no rules
