"""The node's metrics sink: Prometheus, plus exact percentiles of the order-path latencies.

Prometheus buckets are too coarse to print a p99 from, so the latencies the status line and the
run summary print (tick to trade, decision to trade, time held by the budget, order and cancel
acks) are also recorded in HDR histograms: since start, and over the current window, which the
status line closes each time it prints, so its percentiles move with the market instead of
freezing. The benchmarks read the same figures.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

from supervision.metrics.prometheus import PrometheusMetrics

__all__ = ["NodeMetrics"]

SECOND = 1_000_000_000


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
        self._hdr = {name: HdrHistogram(1, 60 * SECOND, 3) for name in self.TRACKED}
        self._window = {name: HdrHistogram(1, 60 * SECOND, 3) for name in self.TRACKED}

    def observe(self, actor: str, metric: str, value: Any, labels: dict[str, str]) -> None:
        super().observe(actor, metric, value, labels)
        histogram = self._hdr.get(metric)
        if histogram is not None:
            ns = min(max(1, int(float(value) * SECOND)), 60 * SECOND)
            histogram.record_value(ns)
            self._window[metric].record_value(ns)

    def reset_quantiles(self) -> None:
        """Forget the recorded latencies (a benchmark's warm-up)."""
        for histogram in (*self._hdr.values(), *self._window.values()):
            histogram.reset()

    def count_of(self, metric: str) -> int:
        histogram = self._hdr.get(metric)
        return 0 if histogram is None else int(histogram.get_total_count())

    def quantile(self, metric: str, q: float, *, window: bool = False) -> float | None:
        histogram = (self._window if window else self._hdr).get(metric)
        if histogram is None or histogram.get_total_count() == 0:
            return None
        return float(histogram.get_value_at_percentile(q * 100)) / SECOND

    def next_window(self) -> None:
        for histogram in self._window.values():
            histogram.reset()
