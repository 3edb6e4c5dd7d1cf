"""What the Prometheus sink computes at scrape time, rather than when an actor records it.

`HandlingTimes` keeps per-actor handling times. It is the host's `on_handled` hook, called after
every `receive`, so recording must be cheap: the value is rounded down to its 11 significant bits
(what an HdrHistogram with 3 significant digits keeps anyway) and counted in a plain dict. A
cell asks it once for its actor's recorder (`for_actor`: a closure over that actor's dict), so a
message's record is one call with the ns, no name looked up. The counts are folded into one
`HdrHistogram` per actor when someone reads them. Each actor's dict is written by one thread at
a time (an actor runs on one thread at a time) and copied at C level by the reader, so the
recorder takes no lock.

`RuntimeCollector` is registered in the sink's registry. At each scrape it reads the attached
hosts' actors (mailbox depth and losses, messages handled, restarts, failures), the supervision
events, and the handling-time quantiles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from hdrh.histogram import HdrHistogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from supervision.metrics.catalog import CATALOG

log = logging.getLogger("troupe.metrics")

SUPERVISION_EVENTS = "troupe_supervision_events_total"
HANDLING_QUANTILES = ((0.5, "0.5"), (0.99, "0.99"), (0.999, "0.999"))
HANDLING_HIGHEST_NS = 60_000_000_000


class HandlingHook(Protocol):
    """`HandlingTimes.record`: a host's `on_handled` hook, which offers `for_actor`."""

    def __call__(self, actor: str, elapsed_ns: int) -> None: ...

    for_actor: Callable[[str], Callable[[int], None]]


class HandlingTimes:
    """Per-actor handling times in ns: cheap to record, folded into HdrHistograms when read.
    The histograms cover the whole run."""

    record: HandlingHook
    """`record(actor, elapsed_ns)`: one `receive` of `actor` took so long. The host's
    `on_handled` hook: a plain function, as cheap to call as a bound method for a hook that
    chains it (`benchmarks.stages`), with `for_actor` as an attribute for the cells."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}  # actor -> {rounded ns: count}, cumulative
        self._recorders: dict[str, Callable[[int], None]] = {}  # actor -> `for_actor(actor)`
        self._folded: dict[str, dict[int, int]] = {}
        self._histograms: dict[str, HdrHistogram] = {}
        self._sum_ns: dict[str, int] = {}
        recorders, for_actor = self._recorders, self.for_actor

        def record(actor: str, elapsed_ns: int) -> None:
            recorder = recorders.get(actor)
            if recorder is None:
                recorder = for_actor(actor)
            recorder(elapsed_ns)

        record.for_actor = for_actor  # type: ignore[attr-defined]
        self.record = record  # type: ignore[assignment]

    def for_actor(self, actor: str) -> Callable[[int], None]:
        """`actor`'s recorder: called with a handling time in ns, by one thread at a time."""
        with self._lock:
            recorder = self._recorders.get(actor)
            if recorder is not None:
                return recorder
            counts = self._counts.setdefault(actor, {})

            def record(elapsed_ns: int) -> None:
                if elapsed_ns >= 2048:  # 11 significant bits: HdrHistogram's 3 digits
                    shift = elapsed_ns.bit_length() - 11
                    elapsed_ns = elapsed_ns >> shift << shift
                try:
                    counts[elapsed_ns] += 1
                except KeyError:
                    counts[elapsed_ns] = 1

            self._recorders[actor] = record
            return record

    def histograms(self) -> dict[str, HdrHistogram]:
        """Per actor, an HdrHistogram(1 ns, 60 s, 3 digits). Read them; record with `record`."""
        with self._lock:
            self._fold()
            return dict(self._histograms)

    def summary(self) -> list[tuple[str, list[float], int, float]]:
        """(actor, [p50, p99, p99.9] in seconds, count, sum in seconds) per actor seen.

        Read at every scrape, so it works on the recorded counts directly: a pass over an
        actor's distinct values (hundreds) rather than over an HdrHistogram's ~7,000 buckets per
        quantile, which took ~50 ms a scrape. The figures are HdrHistogram's own (the highest
        value equivalent to the recorded one; `test_prometheus_sink` checks they agree)."""
        with self._lock:
            actors = list(self._counts.items())
        out = []
        for actor, counts in actors:
            values = sorted(dict(counts).items())  # a C-level copy: safe against the writer
            total = sum(seen for _, seen in values)
            if not total:
                continue
            wanted = [max(1, int(q * total + 0.5)) for q, _ in HANDLING_QUANTILES]
            quantiles: list[float] = []
            running = 0
            for value, seen in values:
                running += seen
                while len(quantiles) < len(wanted) and running >= wanted[len(quantiles)]:
                    quantiles.append(_highest_equivalent(value) / 1e9)
            sum_ns = sum(_clamp(value) * seen for value, seen in values)
            out.append((actor, quantiles, total, sum_ns / 1e9))
        return out

    def _fold(self) -> None:
        for actor, counts in list(self._counts.items()):
            folded = self._folded.setdefault(actor, {})
            hist = self._histograms.get(actor)
            if hist is None:
                hist = self._histograms[actor] = HdrHistogram(1, HANDLING_HIGHEST_NS, 3)
                self._sum_ns[actor] = 0
            for value, seen in list(counts.items()):  # a C-level copy: safe against the writer
                delta = seen - folded.get(value, 0)
                if delta > 0:
                    hist.record_value(min(max(value, 1), HANDLING_HIGHEST_NS), delta)
                    self._sum_ns[actor] += value * delta
                    folded[value] = seen


def _clamp(value: int) -> int:
    return min(max(value, 1), HANDLING_HIGHEST_NS)


def _highest_equivalent(value: int) -> int:
    """The top of `value`'s bucket in an HdrHistogram(1, 60 s, 3 digits), as it reports it."""
    value = _clamp(value)
    shift = max(0, value.bit_length() - 11)
    return (value >> shift << shift) + (1 << shift) - 1


def _help(name: str) -> str:
    return CATALOG[name].help


class ScrapeSource(Protocol):
    """What the collector reads from the sink at each scrape (`PrometheusMetrics` is the one)."""

    @property
    def handling(self) -> HandlingTimes: ...

    def hosts(self) -> list[Any]: ...

    def supervision_tally(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]: ...


class RuntimeCollector:
    """Per-actor figures from the attached hosts, supervision events, handling quantiles."""

    def __init__(self, sink: ScrapeSource) -> None:
        self._sink = sink

    def describe(self) -> Iterator[Metric]:
        # Names only: lets the registry refuse a second producer of any of them.
        depth, counters, handling = self._families()
        yield depth
        yield from counters
        yield handling

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, list[CounterMetricFamily], SummaryMetricFamily]:
        counters = [CounterMetricFamily(name, _help(name), labels=labels) for name, labels in (
            ("troupe_actor_mailbox_dropped_total", ["actor", "kind"]),
            ("troupe_actor_messages_handled_total", ["actor"]),
            ("troupe_actor_restarts_total", ["actor"]),
            ("troupe_actor_failures_total", ["actor"]),
            ("troupe_actor_escalations_total", ["actor"]),
            (SUPERVISION_EVENTS, ["kind"]),
        )]
        depth = GaugeMetricFamily("troupe_actor_mailbox_depth",
                                  _help("troupe_actor_mailbox_depth"), labels=["actor"])
        handling = SummaryMetricFamily("troupe_actor_handling_seconds",
                                       _help("troupe_actor_handling_seconds"), labels=["actor"])
        return depth, counters, handling

    def collect(self) -> Iterator[Metric]:
        sink = self._sink
        depth, counters, handling = self._families()
        dropped, handled, restarts, failures, escalations, events = counters
        hosts = sink.hosts()
        per_actor: dict[str, list[int]] = {}
        for host in hosts:
            try:
                infos = host.actors()
            except Exception:
                log.warning("could not read the actors of %r", host, exc_info=True)
                continue
            for info in infos:  # an actor name on two hosts: their figures add up
                box = info.mailbox
                row = per_actor.setdefault(info.name, [0] * 7)
                for i, figure in enumerate((box.depth, box.dropped, box.conflated, box.rejected,
                                            info.restarts, info.failures, box.handled)):
                    row[i] += figure
        escalated: dict[str, float] = {}
        tallied: dict[str, float] = {}
        for actor, labels, value in sink.supervision_tally():
            kind = dict(labels).get("kind", "")
            tallied[kind] = tallied.get(kind, 0.0) + value
            if kind == "escalation":
                escalated[actor] = escalated.get(actor, 0.0) + value
        for actor, row in sorted(per_actor.items()):
            depth.add_metric([actor], row[0])
            for kind, figure in zip(("dropped", "conflated", "rejected"), row[1:4], strict=True):
                dropped.add_metric([actor, kind], figure)
            restarts.add_metric([actor], row[4])
            failures.add_metric([actor], row[5])
            handled.add_metric([actor], row[6])
            escalations.add_metric([actor], escalated.get(actor, 0.0))
        # The hosts' logs and the records forwarded to the sink count the same events when the
        # sink is the hosts' `metrics`; the larger is right in every other case, and never drops.
        logged: dict[str, float] = {}
        for host in hosts:
            for kind, value in dict(getattr(getattr(host, "log", None), "totals", {})).items():
                logged[kind] = logged.get(kind, 0.0) + value
        for kind in sorted(set(logged) | set(tallied)):
            events.add_metric([kind], max(logged.get(kind, 0.0), tallied.get(kind, 0.0)))
        for actor, quantiles, count, total in sink.handling.summary():
            for (_, label), value in zip(HANDLING_QUANTILES, quantiles, strict=True):
                handling.add_sample(handling.name, {"actor": actor, "quantile": label}, value)
            handling.add_metric([actor], count_value=count, sum_value=total)
        yield depth
        yield from counters
        yield handling
