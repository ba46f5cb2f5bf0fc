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

Read by the operator page: `stage_summary()` (count, p50, p99 per stage, estimated from the buckets the way
Prometheus' histogram_quantile does).

Read at scrape time (nothing to call; registered once): `watch_pipeline(pipeline)` exposes the pipeline's
active_streams, decoders_started, cache_hits, its `stats()` (decoders in use / cap, waiting plays, busy refusals,
shared decodes, audio fetches retried and failed for good) and the transcode cache's bytes; `watch_load(fn)` exposes
the node's load report; `watch_mqtt(fn)` exposes the MQTT endpoint's and the UDP channel's counters (connections,
refusals and closes by reason, device messages and datagrams dropped by reason); ffmpeg children of this process are
counted from /proc.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "NullMetrics", "SessionMetrics", "CONTENT_TYPE", "STAGES", "ffmpeg_children",
           "bucket_quantile"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NS = "xiaozhi"
_FIRST_FRAME_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_VOICE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# From a few ms (a rule-based decision) to seconds (a recogniser queue, a cold decode); fine around 0.1-1 s, where
# the targets are.
_STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGES = ("asr", "understand", "tts", "song")
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
        self._scraped = _ScrapeCollector()
        r.register(self._scraped)

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

    # ------------------------------------------------------------------ read at scrape time
    def watch_pipeline(self, pipeline: Any) -> None:
        self._scraped.pipeline = pipeline

    def watch_mqtt(self, stats: Callable[[], dict[str, Any]]) -> None:
        """`stats()` is the MQTT endpoint's (core/mqtt/endpoint.py MqttEndpoint.stats)."""
        self._scraped.mqtt = stats

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
    ota_request = drain_seconds = stage_latency = _nothing
    watch_pipeline = watch_load = watch_mqtt = _nothing

    def stage_summary(self) -> dict[str, dict[str, float | None]]:
        return {}


class _ScrapeCollector(Collector):
    def __init__(self) -> None:
        self.pipeline: Any = None
        self.load: Callable[[], dict[str, float]] | None = None
        self.mqtt: Callable[[], dict[str, Any]] | None = None

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
    for key, name, doc, label in (
            ("refused", "mqtt_refused", "CONNECTs refused, by CONNACK code", "code"),
            ("closed", "mqtt_closed", "MQTT connections ended, by reason", "reason"),
            ("dropped_messages", "mqtt_dropped_messages", "Device messages dropped, by reason", "reason")):
        family = CounterMetricFamily(f"{_NS}_{name}", doc, labels=[label])
        for reason, count in sorted(dict(stats.get(key) or {}).items()):
            family.add_metric([str(reason)], float(count))
        yield family
    yield GaugeMetricFamily(f"{_NS}_udp_sessions", "Conversations with a UDP audio channel",
                            value=float(udp.get("sessions", 0)))
    yield CounterMetricFamily(f"{_NS}_udp_accepted", "Uplink datagrams accepted", value=float(udp.get("accepted", 0)))
    yield CounterMetricFamily(f"{_NS}_udp_sent", "Downlink datagrams sent", value=float(udp.get("sent", 0)))
    dropped = CounterMetricFamily(f"{_NS}_udp_dropped", "Datagrams and packets dropped, by reason", labels=["reason"])
    for reason, count in sorted(dict(udp.get("dropped") or {}).items()):
        dropped.add_metric([str(reason)], float(count))
    yield dropped


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
