"""The Prometheus metrics sink: what `/metrics` serves.

Behaviours record metrics by name through their context; the host hands each record to its
`metrics` sink with the actor's name. `PrometheusMetrics` is the node's sink. It owns one
`CollectorRegistry` and turns every record into a sample of a family declared in
`supervision.metrics.catalog`, with these rules:

- The actor is not a label: counters from two actors with the same labels add up, and the last
  gauge write wins. Per-actor series exist only where the actor is the point: the per-actor
  figures read from the host at scrape time (`attach_host`) and the handling-time quantiles.
- Nothing raises into an actor. A record that breaks a rule is dropped and counted in
  `troupe_metrics_dropped_total{metric,reason}` (and logged once per metric and reason): a
  negative or non-finite counter increment (a counter never goes down), a label value over 64
  characters or a label named like an order id (one series per order would swamp Prometheus), a
  name that is not `troupe_...` or reads as the wrong type, a name the sink computes itself.
- A name missing from the catalogue is still exported, typed by the call (count: counter, gauge:
  gauge, observe: histogram with the default buckets), with the label names of its first use. A
  later use with other label names is dropped and counted in
  `troupe_metrics_label_mismatch_total{metric}`. So is a catalogued metric used with labels other
  than its declared ones.

The hot path. A behaviour counts on nearly every message, so recording is kept to plain
arithmetic (`supervision.metrics.series`): each counter and histogram child reads its number
from cells that the writers add to, summed at scrape time. `bind_count` resolves a series once
and returns a counter that adds to a cell of its own without a lock (one writer thread at a
time: `ActorContext.count` binds each metric and label set once per actor incarnation); `count`
and `observe`, which any thread may call, add under a lock. What a scrape shows is
prometheus_client's own rendering of the same families and children, so it does not depend on
how a number was recorded.

Handling time: `attach_host` sets the host's `on_handled` hook (see `supervision.runtime.cell`),
which
reports the nanoseconds every `receive` took, to `supervision.metrics.scrape.HandlingTimes`: a
few dict operations per message, folded into one HdrHistogram per actor when read.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, SupportsFloat

from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from supervision.metrics.catalog import (
    CATALOG,
    MAX_LABEL_VALUE,
    METRIC_NAME,
    Kind,
    MetricSpec,
    label_problem,
    name_problem,
)
from supervision.metrics.scrape import SUPERVISION_EVENTS, HandlingTimes, RuntimeCollector
from supervision.metrics.series import (
    CounterSeries,
    GaugeSeries,
    HistogramSeries,
    Recorder,
    adder,
    recorder,
    setter,
)

if TYPE_CHECKING:
    from actors.behaviour import Counting

log = logging.getLogger("troupe.metrics")

MODES = ("observe", "paper", "live")
_INF = math.inf

_LabelItems = tuple[tuple[str, Any], ...]
_SortedLabels = tuple[tuple[str, str], ...]
# (prometheus child, labels sorted as strings, the child's series)
_Entry = tuple[Any, _SortedLabels, Any]


class _Pausing:
    """A registry view whose `collect` sleeps `pause_s` after each family it yields."""

    def __init__(self, registry: CollectorRegistry, pause_s: float) -> None:
        self._registry, self._pause_s = registry, pause_s

    def collect(self) -> Iterable[Any]:
        for family in self._registry.collect():
            yield family
            time.sleep(self._pause_s)  # a real sleep: the waiting thread takes the GIL


class _TallyOnly:
    """Stands in for the child of a family the sink exports itself (supervision events)."""

    __slots__ = ()

    def labels(self, *values: str) -> _TallyOnly:
        return self

    def inc(self, amount: float) -> None:
        pass


_TALLY_ONLY = _TallyOnly()


def _new_series(kind: Kind, child: Any) -> Any:
    """The plain-number series behind a new counter or histogram child (`series`)."""
    if kind == "counter":
        counted = CounterSeries()
        if child is not _TALLY_ONLY:
            child._value = counted
        return counted
    if kind == "gauge":
        child._value = gauge = GaugeSeries()
        return gauge
    observed = HistogramSeries(list(child._upper_bounds))
    observed.install(child)
    return observed


class _Family:
    __slots__ = ("label_set", "metric", "spec")

    def __init__(self, spec: MetricSpec, metric: Any) -> None:
        self.spec = spec
        self.metric = metric
        self.label_set = frozenset(spec.labels)


class PrometheusMetrics:
    """A drop-in `host.metrics` sink backed by one Prometheus `CollectorRegistry`."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        catalog: Mapping[str, MetricSpec] = CATALOG,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.catalog = catalog
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}
        self._counter_cache: dict[tuple[str, _LabelItems], _Entry] = {}
        self._gauge_cache: dict[tuple[str, _LabelItems], _Entry] = {}
        self._histogram_cache: dict[tuple[str, _LabelItems], _Entry] = {}
        self._caches: dict[Kind, dict[tuple[str, _LabelItems], _Entry]] = {
            "counter": self._counter_cache, "gauge": self._gauge_cache,
            "histogram": self._histogram_cache}
        self._series: dict[tuple[str, tuple[str, ...]], Any] = {}  # (metric, label values)
        self._counter_cells: dict[tuple[str, str, _LabelItems], list[Any]] = {}
        self._tally: list[tuple[str, str, _SortedLabels, list[Any]]] = []  # every counter cell
        self._gauge_values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self._warned: set[tuple[str, str]] = set()
        self._hosts: list[Any] = []
        self.handling = HandlingTimes()
        self.record_handling: Callable[[str, int], None] = self.handling.record
        """The host's `on_handled` hook: one message of an actor took so many ns (a cell
        records through its `for_actor`)."""

        def spec(name: str) -> MetricSpec:
            return catalog.get(name) or CATALOG[name]

        dropped, mismatch, info = (spec("troupe_metrics_dropped_total"),
                                   spec("troupe_metrics_label_mismatch_total"),
                                   spec("troupe_build_info"))
        self._dropped = Counter(dropped.name, dropped.help, dropped.labels,
                                registry=self.registry)
        self._mismatch = Counter(mismatch.name, mismatch.help, mismatch.labels,
                                 registry=self.registry)
        self._build_info = Gauge(info.name, info.help, info.labels, registry=self.registry)
        self.registry.register(RuntimeCollector(self))

    # -- the MetricsSink protocol: called from actors, must never raise -----------------------
    def count(self, actor: str, metric: str, amount: SupportsFloat, labels: dict[str, str]) -> None:
        try:
            cell = self._counter_cells.get((actor, metric, tuple(labels.items())))
            if cell is None:
                cell = self._counter_cell(actor, metric, labels)
                if cell is None:
                    return
            value = amount if amount.__class__ is int else float(amount)
            if not 0 <= value < _INF:
                self._drop(metric, "negative_counter" if value < 0 else "invalid_value")
                return
            with self._lock:  # any thread may count here: the actor's shared cell is locked
                cell[0] += value
        except Exception:
            self._drop(metric, "error", exc_info=True)

    def bind_count(self, actor: str, metric: str, labels: dict[str, str]) -> Counting:
        """`count(actor, metric, amount, labels)` with the series resolved once: the result adds
        its amount to a cell of its own, without a lock, so it must be called by one thread at
        a time (`ActorContext` binds one per incarnation of an actor). A binding the sink
        refuses (bad labels, a reserved name) drops each count as `count` would."""

        def bound(entry: _Entry) -> Recorder:
            with self._lock:
                cell = self._new_counter_cell(actor, metric, entry)
            return adder(cell, metric, self._drop)

        return self._bind("counter", actor, metric, labels, bound)

    def bind_observe(self, actor: str, metric: str,
                     labels: dict[str, str]) -> Recorder:
        """`observe(actor, metric, value, labels)` with the series resolved once, recording
        into a cell of its own: one thread at a time, as `bind_count`."""
        return self._bind("histogram", actor, metric, labels,
                          lambda entry: recorder(entry[2], metric, self._drop))

    def bind_gauge(self, actor: str, metric: str,
                   labels: dict[str, str]) -> Recorder:
        """`gauge(actor, metric, value, labels)` with the series resolved once (any thread)."""
        return self._bind("gauge", actor, metric, labels, lambda entry: setter(
            entry[2], self._gauge_values, (actor, metric, entry[1]), metric, self._drop))

    def _bind(self, kind: Kind, actor: str, metric: str, labels: dict[str, str],
              bound: Callable[[_Entry], Recorder],
              ) -> Recorder:
        record = {"counter": self.count, "gauge": self.gauge, "histogram": self.observe}[kind]
        try:
            entry = self._resolve(kind, metric, labels, self._caches[kind], quiet=True)
            if entry is not None:
                return bound(entry)
        except Exception:
            log.debug("could not bind %s; recording it unbound", metric, exc_info=True)

        def refused(value: SupportsFloat = 1) -> None:  # dropped and counted at each call
            record(actor, metric, value, labels)

        return refused

    def _counter_cell(self, actor: str, metric: str, labels: dict[str, str]) -> list[Any] | None:
        """The cell `count` adds `actor`'s counts of this series to (under the lock)."""
        entry = self._resolve("counter", metric, labels, self._counter_cache)
        if entry is None:
            return None
        key = (actor, metric, tuple(labels.items()))
        with self._lock:
            cell = self._counter_cells.get(key)
            if cell is None:
                cell = self._counter_cells[key] = self._new_counter_cell(actor, metric, entry)
        return cell

    def _new_counter_cell(self, actor: str, metric: str, entry: _Entry) -> list[Any]:
        """A new cell of `entry`'s series, in `actor`'s tally. Holds self._lock."""
        cell = entry[2].new_cell()
        self._tally.append((actor, metric, entry[1], cell))
        return cell

    def gauge(self, actor: str, metric: str, value: SupportsFloat, labels: dict[str, str]) -> None:
        try:
            entry = self._gauge_cache.get((metric, tuple(labels.items())))
            if entry is None:
                entry = self._resolve("gauge", metric, labels, self._gauge_cache)
                if entry is None:
                    return
            number = float(value)
            entry[2].value = self._gauge_values[(actor, metric, entry[1])] = number
        except Exception:
            self._drop(metric, "error", exc_info=True)

    def observe(self, actor: str, metric: str, value: SupportsFloat,
                labels: dict[str, str]) -> None:
        try:
            entry = self._histogram_cache.get((metric, tuple(labels.items())))
            if entry is None:
                entry = self._resolve("histogram", metric, labels, self._histogram_cache)
                if entry is None:
                    return
            number = float(value)
            if not -_INF < number < _INF:
                self._drop(metric, "invalid_value")
                return
            series: HistogramSeries = entry[2]
            series.observe_shared(number)
        except Exception:
            self._drop(metric, "error", exc_info=True)

    # -- reading back (tests, the REPL) ------------------------------------------------------------
    def total(self, metric: str, actor: str | None = None) -> float:
        """The sum of a counter's increments, over every label set; one actor's, if named."""
        return sum(v for (a, m, _), v in self.counters.items()
                   if m == metric and (actor is None or a == actor))

    @property
    def counters(self) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
        """Counter totals keyed like `InMemoryMetrics.counters`: (actor, metric, sorted labels)."""
        with self._lock:
            cells = list(self._tally)
        totals: dict[tuple[str, str, _SortedLabels], float] = {}
        for actor, metric, labels, cell in cells:
            key = (actor, metric, labels)
            totals[key] = totals.get(key, 0.0) + cell[0]
        return totals

    @property
    def gauges(self) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
        """Last gauge values keyed like `InMemoryMetrics.gauges`."""
        return dict(self._gauge_values)

    def text(self, *, pause_s: float = 0.0) -> tuple[bytes, str]:
        """The exposition for `GET /metrics`: body and Content-Type (text format 0.0.4, which
        every Prometheus 2.x scrapes).

        `pause_s` > 0 sleeps that long after each metric family: a render on another thread
        then gives the GIL back to the trading loop between families instead of holding it for
        the whole render (the control plane renders this way, on its own thread)."""
        registry: Any = self.registry if not pause_s else _Pausing(self.registry, pause_s)
        return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4

    # -- node wiring -------------------------------------------------------------------------------
    def attach_host(self, host: Any, *, time_handling: bool = True) -> None:
        """Export `host`'s actors at scrape time, and time their handling (if the host has no
        `on_handled` hook yet) unless `time_handling` is False (config `metrics.hdr_per_actor`:
        no `troupe_actor_handling_seconds`, and no clock read around each message). Attaching
        the same host again does nothing."""
        with self._lock:
            if any(known is host for known in self._hosts):
                return
            self._hosts.append(host)
        if time_handling and getattr(host, "on_handled", False) is None:
            host.on_handled = self.record_handling

    def handling_histograms(self) -> dict[str, HdrHistogram]:
        """Per actor, an HdrHistogram(1 ns, 60 s, 3 digits) of handling times in ns. Read them;
        recording goes through `record_handling`."""
        return self.handling.histograms()

    def hosts(self) -> list[Any]:
        with self._lock:
            return list(self._hosts)

    def supervision_tally(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        """(actor, labels, count) of the supervision events forwarded to this sink."""
        return [(actor, labels, value) for (actor, metric, labels), value
                in self.counters.items() if metric == SUPERVISION_EVENTS]

    def set_build_info(self, *, version: str, mode: str, profile: str, node: str) -> None:
        """`troupe_build_info{version,mode,profile,node} 1`. `mode` is what the node really does
        (a live profile started without the live flags runs in `observe` mode)."""
        if mode not in MODES:
            raise ValueError(f"build info mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._build_info.clear()
        self._build_info.labels(version, mode, profile, node).set(1)

    # -- the slow path: first use of a (metric, labels) pair ------------------------------------
    def _resolve(self, kind: Kind, metric: str, labels: dict[str, str],
                 cache: dict[tuple[str, _LabelItems], _Entry], *,
                 quiet: bool = False) -> _Entry | None:
        """The child and series of `metric` under `labels`, or None if the record breaks a
        rule; which is counted and logged unless `quiet` (a binding: its calls count it)."""
        entry = cache.get((metric, tuple(labels.items())))
        if entry is not None:
            return entry
        with self._lock:
            family = self._families.get(metric)
            if family is None:
                family, problem = self._declare(kind, metric, labels)
        if family is None:
            pass
        elif family.spec.kind != kind:
            problem = "kind_mismatch"
        elif len(labels) != len(family.label_set) or not family.label_set.issuperset(labels):
            problem = "label_mismatch"
        else:
            values = tuple(str(labels[name]) for name in family.spec.labels)
            if any(len(value) > MAX_LABEL_VALUE for value in values):
                problem = "label_too_long"
            else:
                return self._entry(family, labels, values, cache)
        if quiet:
            pass
        elif problem != "label_mismatch":
            self._drop(metric, problem)
        else:
            self._mismatch.labels(metric).inc()
            self._warn_once(metric, problem, f"labels {sorted(labels)} differ from "
                            f"{list(family.spec.labels) if family else []}")
        return None

    def _entry(self, family: _Family, labels: dict[str, str], values: tuple[str, ...],
               cache: dict[tuple[str, _LabelItems], _Entry]) -> _Entry:
        metric, kind = family.spec.name, family.spec.kind
        child = family.metric.labels(*values) if values else family.metric
        with self._lock:  # one series per child, whichever thread resolves it first
            series = self._series.get((metric, values))
            if series is None:
                series = self._series[(metric, values)] = _new_series(kind, child)
        entry = (child, tuple(sorted((name, str(value)) for name, value in labels.items())),
                 series)
        cache[(metric, tuple(labels.items()))] = entry
        return entry

    def _declare(self, kind: Kind, metric: str,
                 labels: Iterable[str]) -> tuple[_Family | None, str]:
        """Create the family for `metric` at its first use. Holds self._lock."""
        if not isinstance(metric, str):
            return None, "invalid_name"
        spec = self.catalog.get(metric)
        if spec is None:
            problem = name_problem(metric, kind)
            names = tuple(labels)
            for name in names:
                problem = problem or label_problem(name)
            if problem is not None:
                return None, problem
            spec = MetricSpec(metric, kind, f"{metric} (not in the metric catalogue: typed and "
                              "labelled by its first use)", names)
        elif spec.origin == "collector":
            if metric != SUPERVISION_EVENTS:
                return None, "reserved_name"
            family = self._families[metric] = _Family(spec, _TALLY_ONLY)
            return family, ""
        try:
            family = _Family(spec, self._new_metric(spec))
        except ValueError:  # the registry already exports this name (or a clashing one)
            return None, "name_collision"
        self._families[metric] = family
        return family, ""

    def _new_metric(self, spec: MetricSpec) -> Any:
        if spec.kind == "counter":
            return Counter(spec.name, spec.help, spec.labels, registry=self.registry)
        if spec.kind == "gauge":
            return Gauge(spec.name, spec.help, spec.labels, registry=self.registry)
        if spec.kind == "histogram":
            if spec.buckets is None:
                return Histogram(spec.name, spec.help, spec.labels, registry=self.registry)
            return Histogram(spec.name, spec.help, spec.labels, registry=self.registry,
                             buckets=spec.buckets)
        raise ValueError(f"{spec.name}: a {spec.kind} is not recorded through the context")

    def _drop(self, metric: Any, reason: str, *, exc_info: bool = False) -> None:
        name = metric if isinstance(metric, str) and METRIC_NAME.match(metric) else "<invalid>"
        try:
            self._dropped.labels(name, reason).inc()
            self._warn_once(name, reason, f"dropped ({reason})"
                            + ("" if name == metric else f": {metric!r}"), exc_info=exc_info)
        except Exception:  # the last line of defence of an actor against its metrics
            log.debug("could not count a dropped metric", exc_info=True)

    def _warn_once(self, metric: str, reason: str, message: str, *,
                   exc_info: bool = False) -> None:
        if (metric, reason) not in self._warned:
            self._warned.add((metric, reason))
            log.warning("metric %s: %s", metric, message, exc_info=exc_info)
