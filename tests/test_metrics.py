"""core/metrics.py: the stage histograms on known inputs (the quantile estimate from cumulative buckets, as
Prometheus' histogram_quantile computes it; what the operator page reads), and the real server's /metrics as an
operator scrapes it after real events: the process, the build, the catalog's health after a load and a broken
catalog, refusals of a bad token, a device's close and a drain's, audio fetched from S3 (moto on loopback)."""
from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from core.build import VERSION, build_info
from core.content.catalog import REFRESH_FAILURES
from core.device_client import DeviceClient
from core.metrics import AUTH_REFUSALS, OUTCOMES, STAGES, Metrics, NullMetrics, bucket_quantile
from core.protocol.errors import CloseCode
from tests.conftest import TONES, until, write_tone, ws_url
from tests.content_fixtures import ACCESS_KEY, SECRET_KEY, make_bucket, s3_config

INF = math.inf
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("q", "buckets", "expected"), [
    # 10 observations: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 in (0.2, 0.5]
    (0.5, [(0.1, 4), (0.2, 8), (0.5, 10), (INF, 10)], 0.1 + 0.1 * (5 - 4) / 4),      # 0.125
    (0.99, [(0.1, 4), (0.2, 8), (0.5, 10), (INF, 10)], 0.2 + 0.3 * (9.9 - 8) / 2),   # 0.485
    (0.2, [(0.1, 4), (0.2, 8), (0.5, 10), (INF, 10)], 0.05),                         # inside the first bucket, from 0
    (0.4, [(0.1, 4), (0.2, 8), (0.5, 10), (INF, 10)], 0.1),                          # exactly at a bound
    (0.99, [(0.1, 0), (0.2, 1), (INF, 3)], 0.2),                  # in +Inf: the highest finite bound
    (0.5, [(INF, 0), (0.5, 0), (0.1, 0)], None),                  # empty (and unsorted)
    (0.5, [(0.5, 2), (INF, 2), (0.1, 0)], 0.3),                   # unsorted input
    (0.5, [], None),
])
def test_bucket_quantile_on_known_buckets(q: float, buckets: list[tuple[float, float]],
                                          expected: float | None) -> None:
    got = bucket_quantile(q, buckets)
    assert got == expected if expected is None else got == pytest.approx(expected)


def test_stage_summary_and_exposition_count_what_was_observed() -> None:
    m = Metrics(node_id="n1")
    assert m.stage_summary() == {s: {"count": 0.0, "p50": None, "p99": None} for s in STAGES}
    for seconds in (0.02, 0.04, 0.06, 0.08, 1.2):
        m.stage_latency("understand", seconds)
    m.stage_latency("song", -0.5)                # a clock step never makes a negative observation
    m.stage_latency("bad stage\n{}", 0.3)        # an unexpected name becomes a safe label, not an error
    summary = m.stage_summary()
    understand = summary["understand"]
    assert understand["count"] == 5
    # rank 2.5 of 5 falls in (0.05, 0.075] (2 below it, 1 in it); rank 4.95 in (1.0, 1.5] (4 below, 1 in it)
    assert understand["p50"] == pytest.approx(0.05 + 0.025 * (2.5 - 2) / 1)      # 0.0625
    assert understand["p99"] == pytest.approx(1.0 + 0.5 * (4.95 - 4) / 1)        # 1.475
    assert summary["song"]["count"] == 1 and summary["song"]["p99"] <= 0.005    # in the first bucket
    assert summary["asr"]["count"] == 0 and summary["bad_stage___"]["count"] == 1

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples}
    assert samples[("xiaozhi_stage_seconds_count", (("stage", "understand"),))] == 5
    assert samples[("xiaozhi_stage_seconds_sum", (("stage", "understand"),))] == pytest.approx(1.4)
    assert samples[("xiaozhi_stage_seconds_bucket", (("le", "0.05"), ("stage", "understand")))] == 2
    assert samples[("xiaozhi_stage_seconds_bucket", (("le", "+Inf"), ("stage", "understand")))] == 5
    assert samples[("xiaozhi_stage_seconds_sum", (("stage", "song"),))] == 0
    for stage in STAGES:                          # every stage's series is there from the start
        assert ("xiaozhi_stage_seconds_count", (("stage", stage),)) in samples


def test_null_metrics_take_stages_and_summarise_nothing() -> None:
    m = NullMetrics()
    m.stage_latency("asr", 0.1)
    assert m.stage_summary() == {}


# --------------------------------------------------------------------------- the real server's /metrics


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(node: Any) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{node.http_port}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def catalog_copy(tone_catalog: Path, tmp_path: Path) -> Path:
    root = tmp_path / "library"
    shutil.copytree(tone_catalog, root)
    return root


@pytest.mark.timeout(60)
async def test_an_operator_reads_process_build_and_catalog_health_with_every_known_series_at_zero(
        make_config, start_node, tone_catalog, tmp_path) -> None:
    library = catalog_copy(tone_catalog, tmp_path)
    node = await start_node(make_config(content={"content_dir": str(library)}))
    s = await scrape(node)
    # the process collector: this very process
    assert value(s, "process_resident_memory_bytes") > 20 * 2**20
    assert value(s, "process_open_fds") > 3 and value(s, "process_cpu_seconds_total") > 0
    # when this process started (the test run may be long under way): boot time + its start in clock ticks
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime "))
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert abs(value(s, "process_start_time_seconds") - (boot + ticks / os.sysconf("SC_CLK_TCK"))) < 2
    build = [labels for (name, labels) in s if name == "xiaozhi_build_info"]
    assert len(build) == 1
    info = dict(build[0])
    assert info["version"] == VERSION and info["python"] == platform.python_version()
    assert info["commit"] == build_info().commit
    if shutil.which("git") and (ROOT / ".git").exists() and not os.environ.get("XIAOZHI_COMMIT"):
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        assert info["commit"] == head
    # the catalog as loaded: entries per collection, a fresh refresh, no failures
    assert value(s, "xiaozhi_catalog_entries", kind="music", collection="English") == len(TONES)
    assert value(s, "xiaozhi_catalog_entries", kind="story", collection="Bedtime") == 1
    assert value(s, "xiaozhi_catalog_tracks", kind="music") == len(TONES)
    assert 0 < time.time() - value(s, "xiaozhi_catalog_last_refresh_timestamp_seconds") < 60
    assert value(s, "xiaozhi_catalog_refresh_age_seconds") < 60
    assert value(s, "xiaozhi_catalog_from_cache") == 0
    for reason in REFRESH_FAILURES:
        assert value(s, "xiaozhi_catalog_refresh_failures_total", reason=reason) == 0
    # series a dashboard plots exist before their first event, at 0
    for surface, reasons in AUTH_REFUSALS.items():
        for reason in reasons:
            assert value(s, "xiaozhi_auth_refusals_total", surface=surface, reason=reason) == 0
    for code in CloseCode:
        assert value(s, "xiaozhi_device_closes_total", code=str(int(code)), by="server") == 0
    assert value(s, "xiaozhi_device_closes_total", code="1000", by="device") == 0
    for outcome in OUTCOMES:
        assert value(s, "xiaozhi_requests_total", intent="play_music", outcome=outcome) == 0
    assert value(s, "xiaozhi_matches_total", match_type="fuzzy") == 0
    assert value(s, "xiaozhi_store_errors_total", op="save") == 0
    assert value(s, "xiaozhi_ota_requests_total", routed="self") == 0
    assert value(s, "xiaozhi_audio_fetch_seconds_count", outcome="ok") == 0

    # a catalog load: a new collection appears; a broken body keeps the last good copy and counts once
    hindi = library / "music" / "Hindi"
    hindi.mkdir()
    write_tone(hindi / "Lakdi Ki Kathi.mp3", 500.0, 0.6)
    (hindi / "metadata.json").write_text(json.dumps({"Lakdi Ki Kathi": {"filename": "Lakdi Ki Kathi.mp3"}}),
                                         encoding="utf-8")
    version = value(s, "xiaozhi_catalog_version")
    assert await node.rt.content.refresh()
    s = await scrape(node)
    assert value(s, "xiaozhi_catalog_entries", kind="music", collection="Hindi") == 1
    assert value(s, "xiaozhi_catalog_tracks", kind="music") == len(TONES) + 1
    assert value(s, "xiaozhi_catalog_version") == version + 1
    (hindi / "metadata.json").write_text("{not json", encoding="utf-8")
    refreshed = value(s, "xiaozhi_catalog_last_refresh_timestamp_seconds")
    await node.rt.content.refresh()
    await node.rt.content.refresh()              # the same bad body again: counted once
    s = await scrape(node)
    assert value(s, "xiaozhi_catalog_refresh_failures_total", reason="unusable") == 1
    assert value(s, "xiaozhi_catalog_entries", kind="music", collection="Hindi") == 1
    assert value(s, "xiaozhi_catalog_last_refresh_timestamp_seconds") >= refreshed   # the store was read in full


@pytest.mark.timeout(60)
async def test_refusals_and_closes_are_counted_by_reason_and_code(make_config, start_node) -> None:
    node = await start_node(make_config(server={"auth": {"enabled": True, "tokens": ["secret-token"]}},
                                        fleet={"operator_token": "op-token-0123456789abcdef"}))
    with pytest.raises(InvalidStatus):
        await DeviceClient(ws_url(node), token="wrong").connect()
    with pytest.raises(InvalidStatus):
        await DeviceClient(ws_url(node)).connect()
    device = DeviceClient(ws_url(node), token="secret-token")
    await device.connect()
    await device.close()                              # the device closes: 1000, sent by the device
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{node.http_port}/api/devices",
                            headers={"X-Operator-Token": "not-the-token"}) as resp:
            assert resp.status == 401
    await until(lambda: not node.ws.connections)
    s = await scrape(node)
    assert value(s, "xiaozhi_auth_refusals_total", surface="websocket", reason="bad_token") == 1
    assert value(s, "xiaozhi_auth_refusals_total", surface="websocket", reason="no_token") == 1
    assert value(s, "xiaozhi_auth_refusals_total", surface="api", reason="wrong_token") == 1
    assert value(s, "xiaozhi_device_closes_total", code="1000", by="device") == 1
    assert sum(v for (name, _), v in s.items() if name == "xiaozhi_device_closes_total") == 1

    # the server closes: a drain says 1012 to a connected device
    device = DeviceClient(ws_url(node), token="secret-token")
    await device.connect()
    await node.drain(deadline_s=5)
    await device.close()
    s = await scrape(node)
    assert value(s, "xiaozhi_device_closes_total", code="1012", by="server") == 1


@pytest.mark.timeout(90)
async def test_audio_fetch_latency_from_s3_is_a_histogram(make_config, start_node, tone_catalog,
                                                          s3_endpoint) -> None:
    s3 = s3_config(s3_endpoint, bucket="cheeko-metrics-test")
    client = make_bucket(s3)
    for path in tone_catalog.rglob("*"):
        if path.is_file():
            client.put_object(Bucket=s3.bucket, Key=path.relative_to(tone_catalog).as_posix(), Body=path.read_bytes())
    node = await start_node(make_config(content={"s3": {
        "bucket": s3.bucket, "endpoint_url": s3_endpoint, "url_mode": "presigned", "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY}}))
    async with DeviceClient(ws_url(node)) as device:
        await device.send_text_request("play twinkle twinkle little star")
        await device.wait_json("tts", "stop", timeout=30)
        assert device.audio
    s = await scrape(node)
    assert value(s, "xiaozhi_audio_fetch_seconds_count", outcome="ok") == 1
    assert 0 < value(s, "xiaozhi_audio_fetch_seconds_sum", outcome="ok") < 10
    assert value(s, "xiaozhi_audio_fetch_seconds_bucket", outcome="ok", le="+Inf") == 1
    assert value(s, "xiaozhi_audio_fetch_seconds_count", outcome="error") == 0


def test_every_outcome_a_session_logs_is_made_at_start() -> None:
    """OUTCOMES lists what core/session/core.py passes to log_request, so none starts as "No data"."""
    source = (ROOT / "core" / "session" / "core.py").read_text(encoding="utf-8")
    logged = set(re.findall(r'log_request\([^,]+,\s*"([a-z_]+)"', source))
    logged |= {o for pair in re.findall(r'log_request\([^,]+,\s*"([a-z_]+)" if [^"]+ else "([a-z_]+)"', source)
               for o in pair}
    assert logged and logged <= set(OUTCOMES), sorted(logged - set(OUTCOMES))


def test_every_mqtt_reason_the_code_counts_is_known_and_shown_at_zero() -> None:
    """The reason lists /metrics starts at 0 hold every literal core/mqtt counts under, and an endpoint that has
    counted nothing yet still shows every one of them."""
    from core.metrics import _mqtt_families
    from core.mqtt.endpoint import CLOSE_REASONS, DROPPED_MESSAGES
    from core.mqtt.udp import DROP_REASONS

    mqtt = ROOT / "core" / "mqtt"
    endpoint = (mqtt / "endpoint.py").read_text(encoding="utf-8")
    udp = (mqtt / "udp.py").read_text(encoding="utf-8") + (mqtt / "device_link.py").read_text(encoding="utf-8")
    assert set(re.findall(r'abort\("([a-z_]+)"\)', endpoint)) == set(CLOSE_REASONS)
    assert set(re.findall(r'dropped\["([a-z_]+)"\]', endpoint)) == set(DROPPED_MESSAGES)
    assert set(re.findall(r'_drop\("([a-z_]+)"', udp)) | set(re.findall(r'drops\["([a-z_]+)"\]', udp)) \
        == set(DROP_REASONS)
    samples = {(s.name, tuple(s.labels.values())): s.value
               for family in _mqtt_families({"closed": {"keepalive": 2}}) for s in family.samples}
    assert samples[("xiaozhi_mqtt_closed_total", ("keepalive",))] == 2
    for reason in CLOSE_REASONS:
        assert ("xiaozhi_mqtt_closed_total", (reason,)) in samples
    for reason in DROPPED_MESSAGES:
        assert samples[("xiaozhi_mqtt_dropped_messages_total", (reason,))] == 0
    for reason in DROP_REASONS:
        assert samples[("xiaozhi_udp_dropped_total", (reason,))] == 0
    assert samples[("xiaozhi_mqtt_refused_total", ("not_authorized",))] == 0
