"""Prometheus metrics of one node: one `Metrics` object per process, passed to whoever records something.

Methods the rest of the code calls (every one is cheap and never raises; `NullMetrics` has the same ones):

    request(intent, outcome)          a request understood: intent name, outcome (played, answered, miss, error, ...)
    match(match_type)                 catalog match type (exact, fuzzy, alternative, random, none, ...)
    first_frame(seconds, cached)      time from request to the first audio frame sent (cached = transcode-cache hit)
    late_frames(n)                    frames the pacer sent later than their slot
    reanchor()                        the pacer gave up catching up and re-anchored its clock
    device_connected() / device_disconnected()
    stream_started() / stream_ended() a song/story stream begins / ends on a device
    store_latency(op, seconds)        device-state store call (op: load, save)
    store_error(op)                   a store call that failed (it was logged and retried or given up)
    asr_latency(seconds) / tts_latency(seconds)
    stage_latency(stage, seconds)     one stage of a request as the child waits through it (STAGES):
                                      asr         end of the utterance (the VAD's end point, listen stop) -> transcript
                                      understand  transcript -> decision (intent, plugin, catalog match)
                                      tts         decision -> first frame of the spoken answer sent
                                      song        decision -> first frame of the song or story sent
    ota_request(routed_to_self)       one OTA answer
    drain_seconds(seconds)            how long the last graceful drain took
    auth_refused(surface, reason)     a caller refused (AUTH_REFUSALS: the device WebSocket at its upgrade, the
                                      token-guarded HTTP API)
    device_closed(code, by)           a device WebSocket ended: its close code, and who closed (CLOSERS)
    audio_fetch(seconds, ok)          request -> first bytes of an audio object from S3/CDN/HTTP (local files: none)

Read by the operator page: `stage_summary()` (count, p50, p99 per stage, estimated from the buckets the way
Prometheus' histogram_quantile does).

Read at scrape time (nothing to call; registered once): `watch_pipeline(pipeline)` exposes the pipeline's
active_streams, decoders_started, cache_hits, its `stats()` (decoders in use / cap, waiting plays, busy refusals,
shared decodes, audio fetches retried and failed for good) and the transcode cache's bytes; `watch_load(fn)` exposes
the node's load report; `watch_mqtt(fn)` exposes the MQTT endpoint's and the UDP channel's counters (connections,
refusals and closes by reason, device messages and datagrams dropped by reason); `watch_content(catalog)` exposes the
catalog's entries per collection, its last good refresh (timestamp and age) and its refresh failures by reason;
ffmpeg children of this process are counted from /proc. Always there: the process (`process_*`: memory, CPU, open
fds, start time), `python_info` and `xiaozhi_build_info{version,commit,python}`.

Every label value known in advance is made at start with 0 (stages, outcomes, match types, refusal reasons, close
codes, ...): a dashboard panel shows 0, not "No data", before the first event.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.build import build_info
from core.content.catalog import REFRESH_FAILURES
from core.content.types import Kind, MatchType
from core.mqtt.codec import ConnackCode
from core.mqtt.endpoint import CLOSE_REASONS, DROPPED_MESSAGES
from core.mqtt.udp import DROP_REASONS
from core.protocol.errors import CloseCode

__all__ = ["Metrics", "NullMetrics", "SessionMetrics", "CONTENT_TYPE", "STAGES", "OUTCOMES", "AUTH_REFUSALS",
           "CLOSERS", "ffmpeg_children", "bucket_quantile"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NS = "xiaozhi"
_FIRST_FRAME_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_VOICE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# From a few ms (a rule-based decision) to seconds (a recogniser queue, a cold decode); fine around 0.1-1 s, where
# the targets are.
_STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGES = ("asr", "understand", "tts", "song")
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# How a request ended (core/session/core.py log_request); made at start for the intents that play.
OUTCOMES = ("playing", "done", "busy", "unplayable", "error")
_PLAY_INTENTS = ("play_music", "play_story")
# Who refuses, and why: core/server.py at the WebSocket upgrade, core/web/app.py for the token-guarded API.
AUTH_REFUSALS = {"websocket": ("no_token", "bad_token", "malformed"),
                 "api": ("wrong_token", "rate_limited", "forbidden")}
# Who ended a device WebSocket: this server sent the close first, the device did, or the socket was lost (1006).
CLOSERS = ("server", "device", "lost")
_DEVICE_CLOSES = ((1000, "device"), (1001, "device"), (1005, "device"), (1006, "lost"),
                  *((int(c), "server") for c in CloseCode))
_MAX_LABEL = 48          # label values come from plugins and providers: bound them (cardinality, log injection)


def _label(value: object) -> str:
    text = str(value)[:_MAX_LABEL]
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text) or "none"


class SessionMetrics(Protocol):
    """What a device session records (Metrics and NullMetrics have it)."""

    def request(self, intent: str, outcome: str) -> None: ...

    def match(self, match_type: str) -> None: ...

    def first_frame(self, seconds: float, cached: bool) -> None: ...

    def stream_started(self) -> None: ...

    def stream_ended(self) -> None: ...

    def stage_latency(self, stage: str, seconds: float) -> None: ...


class Metrics:
    def __init__(self, *, node_id: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(f"{_NS}_requests", "Requests by intent and outcome", ["intent", "outcome"],
                                 registry=r)
        self._matches = Counter(f"{_NS}_matches", "Catalog matches by type", ["match_type"], registry=r)
        self._first_frame = Histogram(f"{_NS}_first_frame_seconds", "Request to first audio frame", ["cached"],
                                      buckets=_FIRST_FRAME_BUCKETS, registry=r)
        self._late = Counter(f"{_NS}_late_frames", "Frames sent after their slot", registry=r)
        self._reanchors = Counter(f"{_NS}_pacer_reanchors", "Pacer clock re-anchors", registry=r)
        self._devices = Gauge(f"{_NS}_devices_connected", "Devices connected to this node", registry=r)
        self._connects = Counter(f"{_NS}_device_connections", "Device connections accepted", registry=r)
        self._streams = Gauge(f"{_NS}_streams_playing", "Songs/stories streaming to devices", registry=r)
        self._streams_total = Counter(f"{_NS}_streams_started", "Songs/stories started", registry=r)
        self._store = Histogram(f"{_NS}_store_latency_seconds", "Device-state store calls", ["op"],
                                buckets=_LATENCY_BUCKETS, registry=r)
        self._store_errors = Counter(f"{_NS}_store_errors", "Device-state store calls that failed", ["op"],
                                     registry=r)
        self._asr = Histogram(f"{_NS}_asr_latency_seconds", "Speech recognition per utterance",
                              buckets=_VOICE_BUCKETS, registry=r)
        self._tts = Histogram(f"{_NS}_tts_latency_seconds", "Speech synthesis to first audio",
                              buckets=_VOICE_BUCKETS, registry=r)
        self._stages = Histogram(f"{_NS}_stage_seconds", "One stage of a request, by stage (asr: end of "
                                 "speech to transcript; understand: transcript to decision; tts: decision to first "
                                 "spoken frame sent; song: decision to first song frame sent)", ["stage"],
                                 buckets=_STAGE_BUCKETS, registry=r)
        # One child per stage made now: every series exists from the start (a dashboard shows 0, not "no data"),
        # and an observation is a dict lookup and a bucket increment.
        self._stage_of = {stage: self._stages.labels(stage) for stage in STAGES}
        self._ota = Counter(f"{_NS}_ota_requests", "OTA answers by where the device was sent", ["routed"],
                            registry=r)
        self._drain = Gauge(f"{_NS}_last_drain_seconds", "Duration of the last graceful drain", registry=r)
        self._info = Gauge(f"{_NS}_node_info", "This node", ["node_id"], registry=r)
        self._info.labels(_label(node_id or "local")).set(1)
        self._build = Gauge(f"{_NS}_build_info", "What runs here: server version, commit, Python",
                            ["version", "commit", "python"], registry=r)
        self._build.labels(*build_info()).set(1)
        self._refusals = Counter(f"{_NS}_auth_refusals", "Callers refused, by surface (websocket: a device at the "
                                 "upgrade; api: the token-guarded HTTP API) and reason", ["surface", "reason"],
                                 registry=r)
        self._closes = Counter(f"{_NS}_device_closes", "Device WebSockets ended, by close code and who closed "
                               "(server, device, lost: no close frame)", ["code", "by"], registry=r)
        self._fetch = Histogram(f"{_NS}_audio_fetch_seconds", "Request to the first bytes of an audio object from "
                                "S3, a CDN or HTTP (retries included), by outcome", ["outcome"],
                                buckets=_FETCH_BUCKETS, registry=r)
        ProcessCollector(registry=r)      # process_*: resident memory, CPU seconds, open fds (Linux /proc)
        PlatformCollector(registry=r)     # python_info
        self._zero_known_labels()
        self._scraped = _ScrapeCollector()
        r.register(self._scraped)

    def _zero_known_labels(self) -> None:
        for intent in _PLAY_INTENTS:
            for outcome in OUTCOMES:
                self._requests.labels(intent, outcome)
        for match_type in MatchType:
            self._matches.labels(match_type.value)
        for cached in ("true", "false"):
            self._first_frame.labels(cached)
        for op in ("load", "save"):
            self._store.labels(op)
            self._store_errors.labels(op)
        for routed in ("self", "other"):
            self._ota.labels(routed)
        for surface, reasons in AUTH_REFUSALS.items():
            for reason in reasons:
                self._refusals.labels(surface, reason)
        for code, by in _DEVICE_CLOSES:
            self._closes.labels(str(code), by)
        for outcome in ("ok", "error"):
            self._fetch.labels(outcome)

    # ------------------------------------------------------------------ events
    def request(self, intent: str, outcome: str) -> None:
        self._requests.labels(_label(intent), _label(outcome)).inc()

    def match(self, match_type: str) -> None:
        self._matches.labels(_label(match_type)).inc()

    def first_frame(self, seconds: float, cached: bool) -> None:
        self._first_frame.labels("true" if cached else "false").observe(max(0.0, seconds))

    def late_frames(self, n: int) -> None:
        if n > 0:
            self._late.inc(n)

    def reanchor(self) -> None:
        self._reanchors.inc()

    def device_connected(self) -> None:
        self._devices.inc()
        self._connects.inc()

    def device_disconnected(self) -> None:
        self._devices.dec()

    def stream_started(self) -> None:
        self._streams.inc()
        self._streams_total.inc()

    def stream_ended(self) -> None:
        self._streams.dec()

    def store_latency(self, op: str, seconds: float) -> None:
        self._store.labels(_label(op)).observe(max(0.0, seconds))

    def store_error(self, op: str) -> None:
        self._store_errors.labels(_label(op)).inc()

    def asr_latency(self, seconds: float) -> None:
        self._asr.observe(max(0.0, seconds))

    def tts_latency(self, seconds: float) -> None:
        self._tts.observe(max(0.0, seconds))

    def stage_latency(self, stage: str, seconds: float) -> None:
        child = self._stage_of.get(stage)
        if child is None:
            child = self._stages.labels(_label(stage))
        child.observe(max(0.0, seconds))

    def ota_request(self, routed_to_self: bool) -> None:
        self._ota.labels("self" if routed_to_self else "other").inc()

    def drain_seconds(self, seconds: float) -> None:
        self._drain.set(seconds)

    def auth_refused(self, surface: str, reason: str) -> None:
        self._refusals.labels(_label(surface), _label(reason)).inc()

    def device_closed(self, code: int | None, by: str) -> None:
        self._closes.labels(str(code if code is not None else 1006), _label(by)).inc()

    def audio_fetch(self, seconds: float, ok: bool) -> None:
        self._fetch.labels("ok" if ok else "error").observe(max(0.0, seconds))

    # ------------------------------------------------------------------ read at scrape time
    def watch_pipeline(self, pipeline: Any) -> None:
        self._scraped.pipeline = pipeline

    def watch_mqtt(self, stats: Callable[[], dict[str, Any]]) -> None:
        """`stats()` is the MQTT endpoint's (core/mqtt/endpoint.py MqttEndpoint.stats)."""
        self._scraped.mqtt = stats

    def watch_content(self, catalog: Any) -> None:
        """`catalog` is the node's core/content/catalog.py Catalog (its entry_counts, refreshed_at, ...)."""
        self._scraped.catalog = catalog

    def watch_load(self, load: Callable[[], dict[str, float]]) -> None:
        """`load()` returns numbers such as sessions, streams, cpu, draining (0/1), overloaded (0/1)."""
        self._scraped.load = load

    def stage_summary(self) -> dict[str, dict[str, float | None]]:
        """Per stage: count, p50 and p99 in seconds (None before anything was counted), for the operator page."""
        out: dict[str, dict[str, float | None]] = {}
        for family in self._stages.collect():
            buckets: dict[str, list[tuple[float, float]]] = {}
            counts: dict[str, float] = {}
            for sample in family.samples:
                stage = sample.labels.get("stage", "")
                if sample.name.endswith("_bucket"):
                    buckets.setdefault(stage, []).append((float(sample.labels["le"]), sample.value))
                elif sample.name.endswith("_count"):
                    counts[stage] = sample.value
            for stage, bounds in buckets.items():
                out[stage] = {"count": counts.get(stage, 0.0), "p50": bucket_quantile(0.5, bounds),
                              "p99": bucket_quantile(0.99, bounds)}
        return out

    def exposition(self) -> bytes:
        """The text exposition format. Blocking (reads /proc and the cache folder): call it off the event loop."""
        return generate_latest(self.registry)


class NullMetrics(Metrics):
    """Same methods, records nothing: for tools and tests that do not care."""

    def __init__(self, *, node_id: str = "") -> None:   # noqa: D107 - no registry at all
        self.registry = CollectorRegistry(auto_describe=False)

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    request = match = first_frame = late_frames = reanchor = _nothing
    device_connected = device_disconnected = stream_started = stream_ended = _nothing
    store_latency = store_error = asr_latency = tts_latency = _nothing
    ota_request = drain_seconds = stage_latency = auth_refused = device_closed = audio_fetch = _nothing
    watch_pipeline = watch_load = watch_mqtt = watch_content = _nothing

    def stage_summary(self) -> dict[str, dict[str, float | None]]:
        return {}


class _ScrapeCollector(Collector):
    def __init__(self) -> None:
        self.pipeline: Any = None
        self.load: Callable[[], dict[str, float]] | None = None
        self.mqtt: Callable[[], dict[str, Any]] | None = None
        self.catalog: Any = None
        self.started = time.time()

    def describe(self) -> list[Metric]:
        return []          # dynamic: prometheus_client then calls collect() only at scrape time

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(f"{_NS}_ffmpeg_children", "ffmpeg processes started by this node",
                                value=ffmpeg_children())
        p = self.pipeline
        if p is not None:
            yield GaugeMetricFamily(f"{_NS}_pipeline_active_streams", "Streams inside the audio pipeline",
                                    value=int(getattr(p, "active_streams", 0)))
            yield CounterMetricFamily(f"{_NS}_decoders_started", "ffmpeg decodes started (transcode-cache misses)",
                                      value=int(getattr(p, "decoders_started", 0)))
            yield CounterMetricFamily(f"{_NS}_transcode_cache_hits", "Plays served from the transcode cache",
                                      value=int(getattr(p, "cache_hits", 0)))
            stats = p.stats() if hasattr(p, "stats") else {}
            for key, kind, doc in (("decoders_in_use", "gauge", "Decodes running now"),
                                   ("decoders_max", "gauge", "Cap on decodes running at once"),
                                   ("waiting", "gauge", "Plays waiting for a free decoder"),
                                   ("cold_streams_max", "gauge",
                                    "Cold streams the audio budget holds (audio.cold_cpu_share, transcode cost)"),
                                   ("audio_load", "gauge", "Share of the cold-stream audio budget in use (1 = full)"),
                                   ("overloaded", "gauge",
                                    "1 while the audio budget is near full or plays wait for decoders past the cap"),
                                   ("busy", "counter", "Plays refused as busy (budget full, or no decoder in time)"),
                                   ("shared_joins", "counter", "Plays that joined another play's decode"),
                                   ("upstream_retries", "counter",
                                    "Audio fetches repeated after a transient S3/HTTP failure (resume, 5xx, re-sign)"),
                                   ("upstream_errors", "counter", "Audio fetches that failed for good (S3/HTTP)")):
                if key in stats:
                    name = (f"{_NS}_{key}" if key.startswith(("decoders", "upstream", "cold", "audio"))
                            else f"{_NS}_decoder_{key}")
                    family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
                    yield family(name, doc, value=float(stats[key]))
            cache = getattr(p, "cache", None)
            if cache is not None:
                try:
                    size = int(cache.total_bytes())
                except OSError:
                    size = 0
                yield GaugeMetricFamily(f"{_NS}_transcode_cache_bytes", "Bytes in the transcode cache",
                                        value=size)
        if self.load is not None:
            try:
                load = self.load()
            except Exception:   # noqa: BLE001 - a scrape must never fail on a load report
                load = {}
            for key, value in sorted(load.items()):
                yield GaugeMetricFamily(f"{_NS}_node_{_label(key)}", f"Node load report: {key}", value=float(value))
        if self.mqtt is not None:
            yield from _mqtt_families(self.mqtt())
        if self.catalog is not None:
            yield from _catalog_families(self.catalog, self.started)


def _mqtt_families(stats: dict[str, Any]) -> Iterator[Metric]:
    """MqttEndpoint.stats() as metrics: what a bad client, a flood or blocked UDP looks like from outside."""
    raw_udp = stats.get("udp")
    udp: dict[str, Any] = raw_udp if isinstance(raw_udp, dict) else {}
    yield GaugeMetricFamily(f"{_NS}_mqtt_connections", "MQTT devices connected (idle ones included)",
                            value=float(stats.get("connections", 0)))
    yield GaugeMetricFamily(f"{_NS}_mqtt_pending", "TCP connections waiting for their CONNECT",
                            value=float(stats.get("pending", 0)))
    yield CounterMetricFamily(f"{_NS}_mqtt_accepted", "MQTT connections accepted",
                              value=float(stats.get("accepted_total", 0)))
    refusals = tuple(c.name.lower() for c in ConnackCode if c is not ConnackCode.ACCEPTED)
    for key, name, doc, label, known in (
            ("refused", "mqtt_refused", "CONNECTs refused, by CONNACK code", "code", refusals),
            ("closed", "mqtt_closed", "MQTT connections ended, by reason", "reason", CLOSE_REASONS),
            ("dropped_messages", "mqtt_dropped_messages", "Device messages dropped, by reason", "reason",
             DROPPED_MESSAGES)):
        family = CounterMetricFamily(f"{_NS}_{name}", doc, labels=[label])
        counts = dict.fromkeys(known, 0) | dict(stats.get(key) or {})     # every known reason from the start
        for reason, count in sorted(counts.items()):
            family.add_metric([str(reason)], float(count))
        yield family
    yield GaugeMetricFamily(f"{_NS}_udp_sessions", "Conversations with a UDP audio channel",
                            value=float(udp.get("sessions", 0)))
    yield CounterMetricFamily(f"{_NS}_udp_accepted", "Uplink datagrams accepted", value=float(udp.get("accepted", 0)))
    yield CounterMetricFamily(f"{_NS}_udp_sent", "Downlink datagrams sent", value=float(udp.get("sent", 0)))
    dropped = CounterMetricFamily(f"{_NS}_udp_dropped", "Datagrams and packets dropped, by reason", labels=["reason"])
    for reason, count in sorted((dict.fromkeys(DROP_REASONS, 0) | dict(udp.get("dropped") or {})).items()):
        dropped.add_metric([str(reason)], float(count))
    yield dropped


def _catalog_families(catalog: Any, started: float) -> Iterator[Metric]:
    """The catalog's health: what it serves per collection, how fresh it is, how its refreshes fail."""
    entries = GaugeMetricFamily(f"{_NS}_catalog_entries", "Entries served, per catalog (kind, collection)",
                                labels=["kind", "collection"])
    skipped = GaugeMetricFamily(f"{_NS}_catalog_entries_skipped", "Entries not served because their audio file is "
                                "missing, per catalog", labels=["kind", "collection"])
    totals = dict.fromkeys((k.value for k in Kind), 0)
    for kind, collection, served, missing in catalog.entry_counts:      # one tuple, replaced whole on a change
        name = _text_label(collection)
        entries.add_metric([kind.value, name], float(served))
        skipped.add_metric([kind.value, name], float(missing))
        totals[kind.value] = totals.get(kind.value, 0) + served
    yield entries
    yield skipped
    by_kind = GaugeMetricFamily(f"{_NS}_catalog_tracks", "Entries served, per kind (0: nothing to play)",
                                labels=["kind"])
    for kind_name, count in sorted(totals.items()):
        by_kind.add_metric([kind_name], float(count))
    yield by_kind
    yield GaugeMetricFamily(f"{_NS}_catalog_version", "Catalog version (goes up on every change)",
                            value=float(catalog.version))
    yield GaugeMetricFamily(f"{_NS}_catalog_from_cache", "1 while serving the last good copy (store unreachable "
                            "at start)", value=1.0 if catalog.from_cache else 0.0)
    last = catalog.refreshed_at
    yield GaugeMetricFamily(f"{_NS}_catalog_last_refresh_timestamp_seconds", "When the catalog was last listed "
                            "and read in full (unix time; 0: never)", value=float(last or 0.0))
    yield GaugeMetricFamily(f"{_NS}_catalog_refresh_age_seconds", "Seconds since the last full refresh (since the "
                            "node started when none succeeded)", value=max(0.0, time.time() - (last or started)))
    yield GaugeMetricFamily(f"{_NS}_catalog_refresh_duration_seconds", "How long the last refresh took",
                            value=float(catalog.refresh_seconds))
    failures = CounterMetricFamily(f"{_NS}_catalog_refresh_failures", "Catalog refresh failures, by reason (list: "
                                   "the store could not be listed; read: a catalog could not be read; unusable: a "
                                   "catalog's new body is not valid; error: unexpected)", labels=["reason"])
    counts = catalog.refresh_failures
    for reason in REFRESH_FAILURES:
        failures.add_metric([reason], float(counts.get(reason, 0)))
    yield failures


def _text_label(value: str) -> str:
    """A catalog name as a label: any script kept (Prometheus labels are UTF-8), control characters dropped, bounded."""
    return "".join(c for c in value[:64] if c.isprintable()) or "none"


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile (0..1) of a histogram from its cumulative buckets [(upper bound, count <= bound), ...], the
    last one +Inf, as Prometheus' histogram_quantile estimates it: linear inside the bucket the rank falls in (from
    0 for the first bucket); a rank in the +Inf bucket answers the highest finite bound. None when it is empty."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank:
            if upper == float("inf"):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def processes() -> Iterator[tuple[int, str, int]]:
    """(pid, command name, parent pid) of every process, zombies included (Linux /proc; nothing elsewhere)."""
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces or parentheses: split at the last ')'
        head, _, tail = stat.rpartition(")")
        fields = tail.split()
        if len(fields) > 1:
            yield int(entry.name), head.partition("(")[2], int(fields[1])


def ffmpeg_children(pid: int | None = None) -> int:
    """ffmpeg processes whose parent is this process (Linux /proc; 0 elsewhere)."""
    me = os.getpid() if pid is None else pid
    return sum(1 for _, comm, ppid in processes() if ppid == me and comm == "ffmpeg")
