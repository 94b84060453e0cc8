"""LoopHistogram exposes what prometheus_client's Histogram exposes for the same observations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from monitor.observe.histogram import LoopHistogram
from monitor.observe.metrics import SHORT_RESPONSE_BUCKETS

_bounds = st.lists(st.floats(min_value=0, max_value=1e9), min_size=1, max_size=6).map(lambda b: sorted(set(b)))
_labels = st.tuples(st.sampled_from(["gold", "silver"]), st.sampled_from(["P1", "P2"]))
_amounts = st.floats(min_value=-10.0, max_value=1e10) | st.sampled_from([0.0, 60.0, 1800.0, math.inf, math.nan])


@given(bounds=_bounds | st.just(list(SHORT_RESPONSE_BUCKETS)), with_inf=st.booleans(),
       created=st.lists(_labels, max_size=3), observed=st.lists(st.tuples(_labels, _amounts), max_size=30))
def test_exposition_is_the_one_of_a_prometheus_histogram(
        bounds: list[float], with_inf: bool, created: list[tuple[str, str]],
        observed: list[tuple[tuple[str, str], float]]) -> None:
    if with_inf:
        bounds = [*bounds, math.inf]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop = LoopHistogram("sla_x_seconds", "Seconds.", ["plan", "priority"], bounds, ours)
    reference = Histogram("sla_x_seconds", "Seconds.", ["plan", "priority"], buckets=bounds, registry=theirs)
    for labels in created:   # series shown at zero before their first observation
        loop.labels(*labels)
        reference.labels(*labels)
    for labels, amount in observed:
        loop.labels(*labels).observe(amount)
        reference.labels(*labels).observe(amount)
    assert generate_latest(ours) == generate_latest(theirs)
    assert generate_openmetrics(ours) == generate_openmetrics(theirs)   # what a scraper asking for OpenMetrics gets
    for name in ("sla_x_seconds_count", "sla_x_seconds_sum", "sla_x_seconds_bucket"):   # the registry knows its names
        assert generate_latest(ours.restricted_registry([name])) == generate_latest(theirs.restricted_registry([name]))
    if observed:
        assert generate_latest(ours.restricted_registry(["sla_x_seconds_count"])) != b""


@given(observed=st.lists(_amounts, max_size=20))
def test_a_histogram_without_labels_is_exposed_like_one_too(observed: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    series = LoopHistogram("sla_y_seconds", "Seconds.", (), SHORT_RESPONSE_BUCKETS, ours).labels()
    reference = Histogram("sla_y_seconds", "Seconds.", buckets=SHORT_RESPONSE_BUCKETS, registry=theirs)
    for amount in observed:
        series.observe(amount)
        reference.observe(amount)
    assert generate_latest(ours) == generate_latest(theirs)
    assert generate_openmetrics(ours) == generate_openmetrics(theirs)


def test_wrong_bounds_or_label_count_are_refused() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError):
        LoopHistogram("a", "A.", ["x"], [2.0, 1.0], registry)
    with pytest.raises(ValueError):
        LoopHistogram("b", "B.", ["x"], [-1.0, 1.0], registry)
    histogram = LoopHistogram("c", "C.", ["x"], [1.0], registry)
    with pytest.raises(ValueError):
        histogram.labels("one", "two")
