"""The cost of recording one metric on the live node's sink, in CPU ns per record.

    python -m benchmarks.metrics_hot [--records 100000] [--json PATH]

Each case records through what a behaviour really calls: an `ActorContext` over the node's sink
(`NodeMetrics`: Prometheus and the HDR latency histograms), as an actor on the event loop does;
`DecisionCounts.count`, a strategy's WHY on nearly every market message; and the host's
handling-time hook. Beside them, the same records made with prometheus_client directly, the way
the sink made them before its values became plain cells (a labelled child looked up per record,
a lock per increment): the "before" of the same run. Each figure is the best of five runs of
`--records` records, in thread CPU time, so the machine's load moves it little. The same file
runs against an older checkout (`cd OLD && python /path/to/benchmarks/metrics_hot.py`) for an
A/B of the sink itself.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from actors.strategies.kit import NO_TRADE_METRIC, DecisionCounts
from supervision.metrics.catalog import CATALOG
from supervision.node.node_metrics import NodeMetrics
from supervision.runtime.context import ActorContext

SENT = "troupe_orders_sent_total"
T2T = "troupe_tick_to_trade_seconds"
DEPTH = "troupe_budget_queue_depth"


class _Cell:
    """As much of a cell as an `ActorContext` reads when it records a metric."""

    name = "connection"


class _Host:
    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics
        self.seed = 0
        self.monotonic_ns = time.monotonic_ns
        self.time_ns = time.time_ns


def _best_ns(record: Callable[[], None], records: int) -> float:
    record()
    best = float("inf")
    for _ in range(5):
        started = time.thread_time_ns()
        for _ in range(records):
            record()
        best = min(best, (time.thread_time_ns() - started) / records)
    return best


def _cases() -> dict[str, Callable[[], None]]:
    sink = NodeMetrics()
    ctx: Any = ActorContext(_Cell(), _Host(sink), 1)  # type: ignore[arg-type]
    bound = ctx.bind_count(SENT, venue="binance", kind="new")
    decisions = DecisionCounts("mm-BTCUSDT")
    record_handling = sink.record_handling
    registry = CollectorRegistry()
    sent, t2t, depth = (CATALOG[name] for name in (SENT, T2T, DEPTH))
    counter = Counter(SENT, sent.help, sent.labels, registry=registry)
    histogram = Histogram(T2T, t2t.help, registry=registry,
                          buckets=t2t.buckets or Histogram.DEFAULT_BUCKETS)
    gauge = Gauge(DEPTH, depth.help, depth.labels, registry=registry)
    return {
        "ctx.count, 2 labels": lambda: ctx.count(SENT, venue="binance", kind="new"),
        "ctx.count, no labels, amount 3": lambda: ctx.count("troupe_book_updates_total", 3),
        "bound counter (ctx.bind_count)": bound,
        "DecisionCounts.count (a WHY)": lambda: decisions.count(
            ctx, NO_TRADE_METRIC, "reason", "inside_spread"),
        "ctx.observe tick-to-trade": lambda: ctx.observe(T2T, 0.00031),
        "ctx.gauge, 1 label": lambda: ctx.gauge(DEPTH, 3, priority="p1"),
        "handling-time hook": lambda: record_handling("connection", 12_345),
        "prometheus_client: labels().inc()": lambda: counter.labels("binance", "new").inc(1.0),
        "prometheus_client: Histogram.observe": lambda: histogram.observe(0.00031),
        "prometheus_client: labels().set()": lambda: gauge.labels("p1").set(3.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    figures = {name: round(_best_ns(record, args.records), 1)
               for name, record in _cases().items()}
    width = max(map(len, figures))
    print(f"one record, CPU ns (best of 5 x {args.records:,})")
    for name, ns in figures.items():
        print(f"{name:<{width}}  {ns:8.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "record_cpu_ns": figures, "records": args.records,
            "python": platform.python_version()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
