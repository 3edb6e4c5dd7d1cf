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
from typing import Any, SupportsFloat

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

log = logging.getLogger("troupe.metrics")

MODES = ("observe", "paper", "live")
_INF = math.inf

_LabelItems = tuple[tuple[str, Any], ...]
_Entry = tuple[Any, tuple[tuple[str, str], ...]]  # (prometheus child, labels sorted as strings)


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
        self._tally: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self._gauge_values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self._warned: set[tuple[str, str]] = set()
        self._hosts: list[Any] = []
        self.handling = HandlingTimes()
        self.record_handling: Callable[[str, int], None] = self.handling.record
        """The host's `on_handled` hook: one message of an actor took so many ns."""

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
            entry = self._counter_cache.get((metric, tuple(labels.items())))
            if entry is None:
                entry = self._resolve("counter", metric, labels, self._counter_cache)
                if entry is None:
                    return
            value = float(amount)
            if not 0.0 <= value < _INF:
                self._drop(metric, "negative_counter" if value < 0 else "invalid_value")
                return
            entry[0].inc(value)
            key = (actor, metric, entry[1])
            with self._lock:
                self._tally[key] = self._tally.get(key, 0.0) + value
        except Exception:
            self._drop(metric, "error", exc_info=True)

    def gauge(self, actor: str, metric: str, value: SupportsFloat, labels: dict[str, str]) -> None:
        try:
            entry = self._gauge_cache.get((metric, tuple(labels.items())))
            if entry is None:
                entry = self._resolve("gauge", metric, labels, self._gauge_cache)
                if entry is None:
                    return
            number = float(value)
            entry[0].set(number)
            self._gauge_values[(actor, metric, entry[1])] = number
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
            entry[0].observe(number)
        except Exception:
            self._drop(metric, "error", exc_info=True)

    # -- reading back (tests, the REPL) ------------------------------------------------------------
    def total(self, metric: str, actor: str | None = None) -> float:
        """The sum of a counter's increments, over every label set; one actor's, if named."""
        with self._lock:
            items = list(self._tally.items())
        return sum(v for (a, m, _), v in items if m == metric and (actor is None or a == actor))

    @property
    def counters(self) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
        """Counter totals keyed like `InMemoryMetrics.counters`: (actor, metric, sorted labels)."""
        with self._lock:
            return dict(self._tally)

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
        with self._lock:
            return [(actor, labels, value) for (actor, metric, labels), value
                    in self._tally.items() if metric == SUPERVISION_EVENTS]

    def set_build_info(self, *, version: str, mode: str, profile: str, node: str) -> None:
        """`troupe_build_info{version,mode,profile,node} 1`. `mode` is what the node really does
        (a live profile started without the live flags runs in `observe` mode)."""
        if mode not in MODES:
            raise ValueError(f"build info mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._build_info.clear()
        self._build_info.labels(version, mode, profile, node).set(1)

    # -- the slow path: first use of a (metric, labels) pair ------------------------------------
    def _resolve(self, kind: Kind, metric: str, labels: dict[str, str],
                 cache: dict[tuple[str, _LabelItems], _Entry]) -> _Entry | None:
        with self._lock:
            family = self._families.get(metric)
            if family is None:
                family, problem = self._declare(kind, metric, labels)
                if family is None:
                    self._drop(metric, problem)
                    return None
        if family.spec.kind != kind:
            self._drop(metric, "kind_mismatch")
            return None
        if len(labels) != len(family.label_set) or not family.label_set.issuperset(labels):
            self._mismatch.labels(metric).inc()
            self._warn_once(metric, "label_mismatch",
                            f"labels {sorted(labels)} differ from {list(family.spec.labels)}")
            return None
        values = [str(labels[name]) for name in family.spec.labels]
        if any(len(value) > MAX_LABEL_VALUE for value in values):
            self._drop(metric, "label_too_long")
            return None
        child = family.metric.labels(*values) if values else family.metric
        entry = (child, tuple(sorted((name, str(value)) for name, value in labels.items())))
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
