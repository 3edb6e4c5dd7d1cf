"""The node's metrics sink: Prometheus, plus exact percentiles of the order-path latencies.

Prometheus buckets are too coarse to print a p99 from, so the latencies the status line and the
run summary print (tick to trade, decision to trade, time held by the budget, order and cancel
acks) are also recorded in HDR histograms: since start, and over the current window, which the
status line closes each time it prints, so its percentiles move with the market instead of
freezing. The benchmarks read the same figures.

Recording one is on the order path (the venue connection observes tick to trade as it sends),
so it is a plain count of the value rounded as the HDR histogram would round it (11
significant bits) in a dict of the writer's own (`_Latencies`); the counts are folded into the
histograms when a figure is read. An HdrHistogram `record_value` costs ~0.65 us in Python, and
each latency was recorded twice.
"""

from __future__ import annotations

import math
import threading
from typing import Any, SupportsFloat

from hdrh.histogram import HdrHistogram

from supervision.metrics.prometheus import PrometheusMetrics
from supervision.metrics.series import Recorder

__all__ = ["NodeMetrics"]

SECOND = 1_000_000_000
HIGHEST_NS = 60 * SECOND
_INF = math.inf


class _Latencies:
    """One tracked latency: per writer, {ns rounded to 11 significant bits: count}; folded
    into HdrHistogram(1 ns, 60 s, 3 digits) since start and over the window when read. A
    writer's dict has one writer thread at a time; the shared one is written under the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: dict[int, int] = {}
        self._cells: list[tuple[dict[int, int], dict[int, int]]] = [(self._shared, {})]
        self.since_start = HdrHistogram(1, HIGHEST_NS, 3)
        self.window = HdrHistogram(1, HIGHEST_NS, 3)

    def new_cell(self) -> dict[int, int]:
        cell: dict[int, int] = {}
        with self._lock:
            self._cells.append((cell, {}))
        return cell

    def add_shared(self, seconds: float) -> None:
        with self._lock:
            _add(self._shared, seconds)

    def fold(self) -> None:
        """Move what was recorded since the last fold into both histograms."""
        with self._lock:
            for cell, folded in self._cells:
                for value, seen in list(cell.items()):  # a C-level copy: safe against the writer
                    delta = seen - folded.get(value, 0)
                    if delta > 0:
                        self.since_start.record_value(value, delta)
                        self.window.record_value(value, delta)
                        folded[value] = seen


def _add(cell: dict[int, int], seconds: float) -> None:
    ns = int(seconds * SECOND)
    ns = 1 if ns < 1 else HIGHEST_NS if ns > HIGHEST_NS else ns
    shift = ns.bit_length() - 11
    if shift > 0:
        ns = ns >> shift << shift
    cell[ns] = cell.get(ns, 0) + 1


class NodeMetrics(PrometheusMetrics):
    """The node's sink, plus exact in-process percentiles of the order-path latencies for the
    status line and the summary (Prometheus buckets are too coarse to print a p99 from): since
    start, and over the current window, which the status line closes each time it prints
    (`next_window`), so its percentiles move with the market instead of freezing."""

    TRACKED = ("troupe_tick_to_trade_seconds", "troupe_decision_to_trade_seconds",
               "troupe_budget_held_seconds", "troupe_order_ack_seconds",
               "troupe_cancel_ack_seconds")

    def __init__(self) -> None:
        super().__init__()
        self._latencies = {name: _Latencies() for name in self.TRACKED}

    def observe(self, actor: str, metric: str, value: Any, labels: dict[str, str]) -> None:
        super().observe(actor, metric, value, labels)
        latencies = self._latencies.get(metric)
        if latencies is not None:
            try:
                seconds = float(value)
            except Exception:  # the sink above counted it as dropped
                return
            if -_INF < seconds < _INF:
                latencies.add_shared(seconds)

    def bind_observe(self, actor: str, metric: str,
                     labels: dict[str, str]) -> Recorder:
        prometheus = super().bind_observe(actor, metric, labels)
        latencies = self._latencies.get(metric)
        if latencies is None:
            return prometheus
        cell = latencies.new_cell()

        def observe(value: SupportsFloat) -> None:
            prometheus(value)
            if value.__class__ is float and -_INF < value < _INF:
                _add(cell, value)
            else:
                try:
                    seconds = float(value)
                except Exception:  # counted as dropped by `prometheus`
                    return
                if -_INF < seconds < _INF:
                    _add(cell, seconds)

        return observe

    def reset_quantiles(self) -> None:
        """Forget the recorded latencies (a benchmark's warm-up)."""
        for latencies in self._latencies.values():
            latencies.fold()
            latencies.since_start.reset()
            latencies.window.reset()

    def count_of(self, metric: str) -> int:
        latencies = self._latencies.get(metric)
        if latencies is None:
            return 0
        latencies.fold()
        return int(latencies.since_start.get_total_count())

    def quantile(self, metric: str, q: float, *, window: bool = False) -> float | None:
        latencies = self._latencies.get(metric)
        if latencies is None:
            return None
        latencies.fold()
        histogram = latencies.window if window else latencies.since_start
        if histogram.get_total_count() == 0:
            return None
        return float(histogram.get_value_at_percentile(q * 100)) / SECOND

    def next_window(self) -> None:
        for latencies in self._latencies.values():
            latencies.fold()
            latencies.window.reset()
