"""The stage histograms of core/metrics.py on known inputs: the quantile estimate from cumulative buckets (as
Prometheus' histogram_quantile computes it), what the operator page reads, and the exposition's series."""
from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import STAGES, Metrics, NullMetrics, bucket_quantile

INF = math.inf


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
