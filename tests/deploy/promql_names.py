"""Metric names referenced by a PromQL expression (enough of PromQL for our rules and panels)."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from monitor.core.policy import bundled_catalog
from monitor.observe.metrics import WorkerMetrics, exported_names

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_DURATION_OR_NUMBER = re.compile(r"\b\d[\w.]*")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "inf", "nan",
    "by", "without", "on", "ignoring", "group_left", "group_right",
}

#: Metrics that are Prometheus' own, not the worker's.
PROMETHEUS_METRICS = {"up"}


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (functions, keywords and labels removed)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = _VARIABLE.sub("", text)
    text = _DURATION_OR_NUMBER.sub("", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        following = text[match.end():].lstrip()[:1]
        word = match.group()
        if following == "(" or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def worker_metric_names() -> set[str]:
    """Every sample name a WorkerMetrics registry exposes (derived, not a hand list)."""
    registry = CollectorRegistry()
    WorkerMetrics(registry, bundled_catalog())
    return exported_names(registry)
