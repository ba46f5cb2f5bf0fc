"""The deployable stack, checked without a Docker engine: compose structure, healthchecks, ports, Prometheus
targets, the Grafana dashboard against the metrics a node really exposes, and the image (non-root, healthcheck)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from core.config import ENV_OVERRIDES, load_config
from core.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_fleet_with_healthchecks_and_ports() -> None:
    c = compose()
    services = c["services"]
    assert {"redis", "minio", "seed", "node-a", "node-b", "prometheus", "grafana", "nginx"} <= set(services)
    for name in ("redis", "minio", "node-a", "node-b", "prometheus", "grafana", "nginx"):
        test = services[name]["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
    ports = {name: [p.split(":") for p in s.get("ports", [])] for name, s in services.items()}
    host_ports = [h for plist in ports.values() for h, _ in plist]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    for node, ws in (("node-a", "8000"), ("node-b", "8100")):
        s = services[node]
        env = s["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0" and env["NODE_ID"] == node
        assert all(k in ENV_OVERRIDES for k in env), f"{node}: an environment variable the config does not read"
        assert [ws, "8000"] in ports[node] and env["SERVER_PORT"] == "8000" and env["HTTP_PORT"] == "8003"
        assert env["SERVER_ADVERTISED_URL"].endswith(f":{ws}/xiaozhi/v1/")     # OTA hands out the published port
        assert s["healthcheck"]["test"] == ["CMD", "python", "app.py", "health", "--ready"]
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        grace = int(s["stop_grace_period"].rstrip("s"))
        assert grace > load_config(None, env={}).fleet.drain_deadline_s      # docker waits out the drain
    assert services["nginx"]["profiles"] == ["lb"]                          # optional
    assert "mqtt" not in (DEPLOY / "docker-compose.yml").read_text()


def test_prometheus_scrapes_every_node_on_its_http_port() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    nodes = {n for n in compose()["services"] if n.startswith("node-")}
    assert targets == {f"{n}:8003" for n in nodes}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in prom["scrape_configs"])


def _exposed_names() -> set[str]:
    m = Metrics(node_id="t")

    class Pipeline:
        active_streams, decoders_started, cache_hits = 1, 2, 3

        @staticmethod
        def stats() -> dict[str, int]:
            return {"decoders_in_use": 1, "decoders_max": 2, "upstream_retries": 4, "upstream_errors": 1}

        class cache:   # noqa: N801 - stands in for FrameCache
            @staticmethod
            def total_bytes() -> int:
                return 10

    m.watch_pipeline(Pipeline())
    m.watch_load(lambda: {"sessions": 1, "streams": 1, "cpu": 0.5, "load": 0.5, "draining": False,
                          "overloaded": False})
    m.request("play_music", "played"), m.match("exact"), m.first_frame(0.1, True), m.late_frames(2), m.reanchor()
    m.device_connected(), m.stream_started(), m.store_latency("save", 0.001), m.store_error("save")
    m.asr_latency(0.4), m.tts_latency(0.2), m.ota_request(True)
    m.drain_seconds(1.0)
    names: set[str] = set()
    for fam in text_string_to_metric_families(m.exposition().decode()):
        names |= {s.name for s in fam.samples}
    return names


def test_dashboard_queries_only_metrics_a_node_exposes() -> None:
    dash = json.loads((DEPLOY / "grafana/dashboards/xiaozhi-fleet.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(dash["panels"]) >= 12 and len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    used = {n for e in exprs for n in re.findall(r"\b(xiaozhi_[a-z_]+)\b", e)}
    missing = used - _exposed_names()
    assert not missing, f"dashboard queries metrics no node exposes: {sorted(missing)}"
    for wanted in ("xiaozhi_first_frame_seconds_bucket", "xiaozhi_late_frames_total",
                   "xiaozhi_store_latency_seconds_bucket", "xiaozhi_ffmpeg_children", "xiaozhi_node_load",
                   "xiaozhi_requests_total"):
        assert wanted in used
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8"))
    assert {p["datasource"]["uid"] for p in dash["panels"]} == {ds["datasources"][0]["uid"]}


def test_image_runs_unprivileged_with_a_healthcheck_and_runtime_deps_only() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", docker, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^HEALTHCHECK .*"app.py", "health"', docker, re.M)
    installs = re.findall(r"pip install .*", docker)
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests"} <= set(ignored)
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    test_reqs = (ROOT / "requirements-test.txt").read_text(encoding="utf-8")
    assert "pytest" not in runtime and "moto" not in runtime and "-r requirements.txt" in test_reqs
    for line in (runtime + test_reqs).splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            assert "==" in line, f"unpinned requirement: {line}"
