"""The deployable stack, checked without a Docker engine: compose structure, healthchecks, ports, Prometheus
targets, the Grafana dashboard against the metrics a node really exposes, and the image (non-root, healthcheck)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

from core.config import ENV_OVERRIDES, load_config

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
        assert s.get("init") is True               # SIGTERM reaches the node's drain; child processes are reaped
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


METRICS_SRC = ROOT / "core" / "metrics.py"
READERS = {"stage_summary", "exposition"}     # methods of Metrics that read families, never feed them
PRODUCTION = [ROOT / "app.py", *sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "plugins_func").rglob("*.py"))]


def _recorders() -> dict[str, set[str]]:
    """Each metric family core/metrics.py declares -> the methods that feed it, read from the module's own source:
    `self._x = Counter("xiaozhi_...")` fed by the methods that use `self._x`; families yielded at scrape time fed by
    whatever the collector reads there (`watch_pipeline`, `watch_load`, `watch_content`, `watch_mqtt`; /proc needs no
    feeding)."""
    tree = ast.parse(METRICS_SRC.read_text(encoding="utf-8"))
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    family_of: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    for fn in (n for n in classes["Metrics"].body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if fn.name == "__init__" and isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and isinstance(node.targets[0], ast.Attribute) and node.value.args \
                    and isinstance(node.value.args[0], ast.JoinedStr):
                name = ast.unparse(node.value.args[0]).split("}", 1)[1].rstrip("'\"")    # f"{_NS}_requests"
                family_of[node.targets[0].attr] = "xiaozhi" + name
            elif fn.name not in ("__init__", *READERS) and not fn.name.startswith("_") \
                    and isinstance(node, ast.Attribute) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                uses.setdefault(node.attr, set()).add(fn.name)
    out = {family: uses.get(attr, set()) for attr, family in family_of.items()}
    collect = next(n for n in classes["_ScrapeCollector"].body
                   if isinstance(n, ast.FunctionDef) and n.name == "collect")
    source = ast.get_source_segment(METRICS_SRC.read_text(encoding="utf-8"), collect) or ""
    assert "p = self.pipeline" in source and "self.load" in source     # what watch_pipeline and watch_load set
    for m in re.finditer(r'f"\{_NS\}_([a-z_{}().]+)"', source):
        name = m.group(1)
        feeder = "watch_load" if name.startswith("node_") else "watch_pipeline"
        out["xiaozhi_" + name] = set() if name == "ffmpeg_children" else {feeder}
    for helper, feeder in (("_catalog_families", "watch_content"), ("_mqtt_families", "watch_mqtt")):
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == helper)
        assert helper in source, f"collect() no longer yields {helper}"
        body = ast.get_source_segment(METRICS_SRC.read_text(encoding="utf-8"), fn) or ""
        for m in re.finditer(r'f"\{_NS\}_([a-z_]+)"', body):
            out["xiaozhi_" + m.group(1)] = {feeder}
    return out


def _family(series: str, families: set[str]) -> str | None:
    for suffix in ("", "_total", "_bucket", "_sum", "_count"):
        if suffix and series.endswith(suffix) and series[: -len(suffix)] in families:
            return series[: -len(suffix)]
        if not suffix and series in families:
            return series
    node = next((f for f in families if "{" in f and series.startswith(f.split("{")[0])), None)
    return node


def _called_in_production(method: str) -> bool:
    pattern = re.compile(rf"\.{method}\b")
    return any(pattern.search(f.read_text(encoding="utf-8")) for f in PRODUCTION if f != METRICS_SRC)


def test_dashboard_queries_only_metrics_a_node_records() -> None:
    """Every series the dashboard plots is declared in core/metrics.py and fed by production code (a recorder
    method called outside core/metrics.py, or a scrape-time source the node registers); nothing is fed by hand."""
    dash = json.loads((DEPLOY / "grafana/dashboards/xiaozhi-fleet.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(dash["panels"]) >= 12 and len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    used = {n for e in exprs for n in re.findall(r"\b(xiaozhi_[a-z_]+)\b", e)}
    recorders = _recorders()
    families = {_family(s, set(recorders)) for s in used}
    assert None not in families, f"dashboard queries metrics no node declares: {sorted(used)}"
    silent = {f for f in families if f and recorders[f] and not any(_called_in_production(m) for m in recorders[f])}
    assert not silent, f"dashboard series that no production code records: {sorted(silent)}"
    for wanted in ("xiaozhi_first_frame_seconds_bucket", "xiaozhi_late_frames_total",
                   "xiaozhi_store_latency_seconds_bucket", "xiaozhi_ffmpeg_children", "xiaozhi_node_load",
                   "xiaozhi_requests_total", "xiaozhi_asr_latency_seconds_bucket",
                   "xiaozhi_tts_latency_seconds_bucket", "xiaozhi_stage_seconds_bucket", "xiaozhi_build_info",
                   "xiaozhi_catalog_entries", "xiaozhi_catalog_refresh_age_seconds",
                   "xiaozhi_catalog_refresh_failures_total", "xiaozhi_auth_refusals_total",
                   "xiaozhi_device_closes_total", "xiaozhi_audio_fetch_seconds_bucket"):
        assert wanted in used
    process = {n for e in exprs for n in re.findall(r"\b(process_[a-z_]+)\b", e)}
    assert {"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"} <= process
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8"))
    assert {p["datasource"]["uid"] for p in dash["panels"]} == {ds["datasources"][0]["uid"]}


def test_every_recorder_of_the_metrics_object_has_a_production_caller() -> None:
    """No recorder stands unused (a metric that never moves is a lie on a dashboard)."""
    methods = {m for feeders in _recorders().values() for m in feeders}
    assert {"late_frames", "asr_latency", "tts_latency", "reanchor", "request", "first_frame",
            "stage_latency"} <= methods
    assert not methods & READERS
    assert not [m for m in sorted(methods) if not _called_in_production(m)]


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


def test_the_build_context_leaves_out_local_libraries_and_every_runtime_folder() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    runtime = {"demo-content", "library", "metadata/catalog-cache", "metadata/audio-cache", "metadata/phrase-cache",
               "metadata/models", "metadata/devices.db*"}
    assert runtime <= ignored, sorted(runtime - ignored)


def _interpolate(text: str, env: dict[str, str]) -> tuple[str, list[str]]:
    """Compose's variable interpolation (${V}, ${V:-d}, ${V-d}, ${V:?msg}, ${V?msg}): the text and the errors
    compose would stop with."""
    errors: list[str] = []

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        value = env.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and unset:
            errors.append(f"{name}: {arg}")
            return ""
        if op.endswith("-") and unset:
            return arg
        return value or ""
    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", one, text), errors


COMPOSE_TEXT = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8") if DEPLOY.exists() else ""
SECRETS = {"GRAFANA_ADMIN_PASSWORD", "MINIO_ROOT_PASSWORD"}


def _demo_env() -> dict[str, str]:
    lines = (DEPLOY / "demo.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_compose_refuses_to_start_without_the_published_secrets_and_public_host() -> None:
    _, errors = _interpolate(COMPOSE_TEXT, {})
    assert {e.split(":")[0] for e in errors} == SECRETS | {"PUBLIC_HOST"}
    assert all("openssl rand -hex 16" in e for e in errors if "PASSWORD" in e)
    # a variable set but empty is refused too (":?"), not passed to Grafana/MinIO as an empty password
    _, errors = _interpolate(COMPOSE_TEXT, {"PUBLIC_HOST": "192.168.1.10", **{s: "" for s in SECRETS}})
    assert {e.split(":")[0] for e in errors} == SECRETS


def test_secrets_given_reach_grafana_minio_and_the_nodes() -> None:
    env = {"PUBLIC_HOST": "192.168.1.10", "GRAFANA_ADMIN_PASSWORD": "g" * 32, "MINIO_ROOT_PASSWORD": "m" * 32}
    text, errors = _interpolate(COMPOSE_TEXT, env)
    assert not errors
    services = yaml.safe_load(text)["services"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "g" * 32
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == "m" * 32
    for node, port in (("node-a", 8000), ("node-b", 8100)):
        node_env = services[node]["environment"]
        assert node_env["AWS_SECRET_ACCESS_KEY"] == "m" * 32
        assert node_env["SERVER_ADVERTISED_URL"] == f"ws://192.168.1.10:{port}/xiaozhi/v1/"


def test_no_default_secret_outside_the_demo_env_file() -> None:
    """Every secret in compose is required or empty by default; the demo values live in deploy/demo.env only."""
    for name, op, arg in re.findall(r"\$\{(\w+)(:?[-?])?([^}]*)\}", COMPOSE_TEXT):
        if re.search(r"PASSWORD|SECRET|TOKEN", name):
            assert op == ":?" or (op == ":-" and arg == ""), f"{name} has a default: {arg!r}"
    demo = _demo_env()
    assert SECRETS | {"PUBLIC_HOST"} <= set(demo)
    text, errors = _interpolate(COMPOSE_TEXT, demo)
    assert not errors and yaml.safe_load(text)
    tracked = [ROOT / "Dockerfile", *DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.conf"), *DEPLOY.rglob("*.py")]
    for secret in (demo[s] for s in SECRETS):
        assert not [p for p in tracked if secret in p.read_text(encoding="utf-8")], secret
    for old in ("change-me", "xiaozhi-minio-secret"):          # the defaults the stack once shipped with
        assert old not in COMPOSE_TEXT


def _model_step(docker: str) -> str:
    runs = re.findall(r"^RUN (python -c .*?)(?<!\\)$", docker, re.M | re.S)
    steps = [r.replace("\\\n", "") for r in runs if "prepare_model_dir" in r]
    assert len(steps) == 1, "the Dockerfile assembles the whisper model in one RUN step"
    return steps[0]


def test_the_image_assembles_the_whisper_model_at_build_time(tmp_path: Path) -> None:
    """The RUN step, run for real from a folder like the image's /app, leaves a verified model.bin where the
    node looks for it; it runs as the unprivileged user after the code is copied, so the files are the node's."""
    import shlex
    import subprocess
    import sys

    from core.providers.asr.whisper import MODEL_SHA256, prepare_model_dir
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    step = _model_step(docker)
    at = docker.index(step.split("\n")[0][:40])
    assert re.findall(r"^USER\s+(\S+)", docker[:at], re.M)[-1] == "xiaozhi"
    assert docker.index("COPY --chown") < at < docker.index("CMD [")
    argv = shlex.split(step)
    assert argv[:2] == ["python", "-c"]
    subprocess.run([sys.executable, "-c", argv[2]], cwd=tmp_path, check=True, timeout=120,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    model_dir = tmp_path / load_config(None, env={}).voice.asr.model_dir
    stamp = (model_dir / "model.bin.verified").read_text().split()
    assert stamp[0] == MODEL_SHA256 and int(stamp[1]) == (model_dir / "model.bin").stat().st_size
    before = (model_dir / "model.bin").stat().st_mtime_ns
    assert prepare_model_dir(model_dir) == model_dir                # what a start does: the stamp, no rewrite
    assert (model_dir / "model.bin").stat().st_mtime_ns == before
