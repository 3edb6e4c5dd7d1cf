"""The numbers behind the sink's Prometheus children: plain cells on the hot path, summed when
a scrape reads them.

A prometheus_client child keeps its number in a value object (`child._value` for a counter,
`child._buckets` and `child._sum` for a histogram) that takes a lock on every `inc` and that
`collect` reads with `get()`. `PrometheusMetrics` swaps these value objects for the ones below,
so the families, their names, labels, `_created` samples, order and text are still
prometheus_client's own, while recording a number is an addition to a plain list element.

- A *cell* is a list of numbers that one writer adds to without a lock: `[count]` for a
  counter, `[bucket_0, ..., bucket_n-1, sum]` for a histogram. A cell has one writer at a time:
  one bound through `ActorContext` belongs to one incarnation of one actor, and an actor runs on
  one thread at a time (the host hands it from turn to turn under a lock, which orders the
  writes). Every other writer (the sink's unbound `count`/`observe`, called by the control
  plane or the supervisors from any thread, and prometheus_client's own `inc`) adds to the
  series' *shared* cell under the series' lock.
- Reading (the HTTP scrape thread) adds the cells up. Each element read is one reference load,
  so a reader sees every increment either before or after it, and since every increment lands
  in exactly one cell and a cell only grows, no count is lost or counted twice.

A gauge needs no cells: its value is the last one set, and setting it is one store
(`GaugeSeries`).

`adder`, `recorder` and `setter` make the bound recorders the sink hands out: closures over one
cell (or slot), with a fast path for the usual int or float and the sink's checks for the rest.

Integers stay integers in a cell, so integer counts sum exactly (and print as prometheus_client
prints them, as floats); a float amount is summed per cell, then across cells.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, SupportsFloat

__all__ = ["CounterSeries", "GaugeSeries", "HistogramSeries", "Recorder", "SeriesPart", "adder",
           "recorder", "setter"]

Cell = list[Any]
Drop = Callable[..., None]  # the sink's `_drop(metric, reason, exc_info=...)`
Recorder = Callable[..., None]  # a bound count, observe or set: called with its value
_INF = math.inf


class _Series:
    """A series' cells: the shared one (index 0, under `_lock`) and one per bound writer."""

    __slots__ = ("_cells", "_lock", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self._lock = threading.Lock()
        self._cells: list[Cell] = [[0] * width]

    def new_cell(self) -> Cell:
        """A cell for one writer (the list append is atomic: a reader sees it or not)."""
        cell: Cell = [0] * self.width
        self._cells.append(cell)
        return cell

    def add_shared(self, index: int, amount: Any) -> None:
        with self._lock:
            cell = self._cells[0]
            cell[index] += amount

    def read(self, index: int) -> float:
        return float(sum(cell[index] for cell in list(self._cells)))

    def get_exemplar(self) -> None:
        return None


class CounterSeries(_Series):
    """A counter child's `_value`: the sum of its cells."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(1)

    # prometheus_client's value interface (Counter.inc and Counter._child_samples)
    def inc(self, amount: float, exemplar: Any = None) -> None:
        self.add_shared(0, amount)

    def get(self) -> float:
        return self.read(0)


class SeriesPart:
    """One bucket (or the sum) of a histogram child, as prometheus_client's Histogram reads
    and increments it."""

    __slots__ = ("_index", "_series")

    def __init__(self, series: HistogramSeries, index: int) -> None:
        self._series, self._index = series, index

    def inc(self, amount: float, exemplar: Any = None) -> None:
        self._series.add_shared(self._index, amount)

    def get(self) -> float:
        return self._series.read(self._index)

    def get_exemplar(self) -> None:
        return None


class HistogramSeries(_Series):
    """A histogram child's buckets and sum: a cell is `[count per bucket..., sum]`, bucket `i`
    counting the values `v` with `bounds[i-1] < v <= bounds[i]` (prometheus_client's rule;
    `bisect_left(bounds, v)` finds `i`)."""

    __slots__ = ("bounds",)

    def __init__(self, bounds: list[float]) -> None:
        super().__init__(len(bounds) + 1)
        self.bounds = bounds

    def observe_shared(self, value: float) -> None:
        """Record `value` in the shared cell (any thread)."""
        index = bisect_left(self.bounds, value)
        with self._lock:
            cell = self._cells[0]
            cell[index] += 1
            cell[-1] += value

    def install(self, child: Any) -> None:
        """Make `child` (a prometheus_client Histogram child) read and count through here."""
        child._buckets = [SeriesPart(self, i) for i in range(len(self.bounds))]
        child._sum = SeriesPart(self, len(self.bounds))


class GaugeSeries:
    """A gauge child's `_value`: the last value set (one store, so any thread may set it)."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self._lock = threading.Lock()

    # prometheus_client's value interface (Gauge.set/inc/dec and Gauge._child_samples)
    def set(self, value: float, timestamp: float | None = None) -> None:
        self.value = value

    def inc(self, amount: float) -> None:
        with self._lock:
            self.value += amount

    def get(self) -> float:
        return self.value


def adder(cell: Cell, metric: str, drop: Drop) -> Recorder:
    """Add an amount to `cell` (one writer thread at a time), as `PrometheusMetrics.count`
    would: a negative or non-finite amount is dropped and counted."""

    def add(amount: SupportsFloat = 1) -> None:
        if amount.__class__ is int and amount >= 0:
            cell[0] += amount
            return
        try:
            value = float(amount)
        except Exception:
            drop(metric, "error", exc_info=True)
            return
        if 0.0 <= value < _INF:
            cell[0] += value
        else:
            drop(metric, "negative_counter" if value < 0 else "invalid_value")

    return add


def recorder(series: HistogramSeries, metric: str, drop: Drop) -> Recorder:
    """Observe a value into a new cell of `series` (one writer thread at a time), as
    `PrometheusMetrics.observe` would: a non-finite value is dropped and counted."""
    cell, bounds = series.new_cell(), series.bounds
    total = len(bounds)

    def observe(value: Any) -> None:
        if value.__class__ is not float:
            value = _as_float(value, metric, drop)
            if value is None:
                return
        if -_INF < value < _INF:
            cell[bisect_left(bounds, value)] += 1
            cell[total] += value
        else:
            drop(metric, "invalid_value")

    return observe


def setter(series: GaugeSeries, values: dict[Any, float], key: Any,
           metric: str, drop: Drop) -> Recorder:
    """Set `series` (and `values[key]`, the sink's last value per actor), as
    `PrometheusMetrics.gauge` would."""

    def set_value(value: Any) -> None:
        if value.__class__ is not float:
            value = _as_float(value, metric, drop)
            if value is None:
                return
        series.value = values[key] = value

    return set_value


def _as_float(value: SupportsFloat, metric: str, drop: Drop) -> float | None:
    """`value` as a float, or None (dropped and counted as an error) if it is not a number."""
    try:
        return float(value)
    except Exception:
        drop(metric, "error", exc_info=True)
        return None
