"""The Market observer: per-market statistics for the observation phase, one record per
instrument and UTC day (`protocols.observation.MarketStatistics`).

    book:<i>   --BookTop-->     MarketObserver --MarketStatistics (every interval_s, and
    market:<i> --MarketState-->                   final at the day's end and at the stop)--> sink

What it measures, per instrument, per UTC day of *venue* time (a BookTop's `venue_ns`; the day
does not change on a BookTop without one):

- book updates and the bbo null rate (a BookTop with a side missing);
- the bbo receive interval: between consecutive BookTops, on their local receive times;
- the oracle context's age at each BookTop (BookTop `recv_ns` - MarketState `oracle_recv_ns`);
- crossings of the oracle: the bid above it or the ask below it, counted when they start, with
  their duration in book updates and in milliseconds and their depth in price ticks;
- the edge after fees: at each BookTop with an oracle, the better of buying the ask below it or
  selling the bid above it, as a fraction of the price, less the taker fee, in bps (what the
  dislocation taker would see before its own `min_edge_bps`; negative most of the time).

The statistics are floats: they choose markets, they are not money. `DayObservation` is the pure
accumulator; `MarketObserver` only routes messages to it and reads no clock (times come in on the
messages; the publishing period is a timer). Percentiles are nearest-rank over every sample of
the day (a few MB a day for a busy book).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from actors.behaviour import Behaviour, Context, Ref
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop, MarketState
from protocols.observation import MarketStatistics

__all__ = ["DayObservation", "MarketObserver", "PublishStatistics", "percentile", "utc_day"]

MS = 1_000_000


def utc_day(epoch_ns: int) -> str:
    return datetime.fromtimestamp(epoch_ns / 1e9, UTC).strftime("%Y-%m-%d")


def percentile(samples: array[float] | list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `samples`; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 6)


class DayObservation:
    """One instrument over one day: BookTops and oracle updates in, `MarketStatistics` out."""

    def __init__(self, instrument: str, day: str, taker_fee: Decimal) -> None:
        self.instrument, self.day = instrument, day
        self.fee_bps = float(taker_fee) * 10_000
        self.book_updates = self.bbo_null = self.oracle_updates = 0
        self.intervals_ms: array[float] = array("d")
        self.oracle_ages_ms: array[float] = array("d")
        self.edges_bps: array[float] = array("d")
        self.crossing_updates: array[float] = array("d")
        self.crossing_ms: array[float] = array("d")
        self.crossings = 0
        self.depth_max = 0.0
        self.last_recv_ns: int | None = None
        self._crossing: tuple[int, int] | None = None  # (first recv_ns, updates so far)

    def on_oracle(self) -> None:
        self.oracle_updates += 1

    def on_book(self, top: BookTop, oracle_x2: int | None, oracle_recv_ns: int | None) -> None:
        self.book_updates += 1
        if self.last_recv_ns is not None:
            self.intervals_ms.append((top.recv_ns - self.last_recv_ns) / MS)
        self.last_recv_ns = top.recv_ns
        bid, ask = top.bid, top.ask
        if bid is None or ask is None:
            self.bbo_null += 1
            return
        if oracle_x2 is None or oracle_recv_ns is None or oracle_x2 <= 0:
            return
        self.oracle_ages_ms.append((top.recv_ns - oracle_recv_ns) / MS)
        buy = (oracle_x2 - 2 * ask) / (2 * ask)  # buy the ask below the oracle
        sell = (2 * bid - oracle_x2) / (2 * bid)  # sell the bid above it
        self.edges_bps.append(max(buy, sell) * 10_000 - self.fee_bps)
        depth = max(2 * bid - oracle_x2, oracle_x2 - 2 * ask) / 2  # ticks through the oracle
        self._cross(depth > 0, depth, top.recv_ns)

    def _cross(self, crossed: bool, depth: float, recv_ns: int) -> None:
        current = self._crossing
        if crossed:
            self.depth_max = max(self.depth_max, depth)
            if current is None:
                self.crossings += 1
                self._crossing = (recv_ns, 1)
            else:
                self._crossing = (current[0], current[1] + 1)
        elif current is not None:
            self.crossing_updates.append(current[1])
            self.crossing_ms.append((recv_ns - current[0]) / MS)
            self._crossing = None

    def statistics(self, partial: bool) -> MarketStatistics:
        edges, updates = self.edges_bps, self.book_updates
        return MarketStatistics(
            day=self.day, instrument=self.instrument, partial=partial, book_updates=updates,
            bbo_null=self.bbo_null,
            bbo_null_rate=round(self.bbo_null / updates, 6) if updates else 0.0,
            bbo_interval_ms_p50=percentile(self.intervals_ms, 50),
            bbo_interval_ms_p95=percentile(self.intervals_ms, 95),
            bbo_interval_ms_p99=percentile(self.intervals_ms, 99),
            oracle_updates=self.oracle_updates,
            oracle_age_ms_p50=percentile(self.oracle_ages_ms, 50),
            oracle_age_ms_p95=percentile(self.oracle_ages_ms, 95),
            oracle_age_ms_p99=percentile(self.oracle_ages_ms, 99),
            crossings=self.crossings,
            crossing_updates_p50=percentile(self.crossing_updates, 50),
            crossing_updates_max=int(max(self.crossing_updates, default=0)),
            crossing_ms_p50=percentile(self.crossing_ms, 50),
            crossing_ms_p95=percentile(self.crossing_ms, 95),
            crossing_depth_ticks_max=self.depth_max,
            edge_after_fees_bps_p50=percentile(edges, 50),
            edge_after_fees_bps_p95=percentile(edges, 95),
            edge_after_fees_bps_p99=percentile(edges, 99),
            edge_after_fees_bps_max=round(max(edges), 6) if edges else None,
            edge_positive_share=round(sum(1 for e in edges if e > 0) / len(edges), 6)
            if edges else 0.0)


class PublishStatistics:
    """The observer's timer: send what the day looks like so far."""


_PUBLISH = "publish"


class MarketObserver(Behaviour):
    """Every instrument's `DayObservation`, published to `sink` every `interval_s`, final when
    its day ends, and once more when the observer stops."""

    def __init__(self, specs: Mapping[str, InstrumentSpec], sink: Ref,
                 interval_s: float = 5.0) -> None:
        self.specs, self.sink, self.interval_s = dict(specs), sink, interval_s
        self.days: dict[str, DayObservation] = {}
        self.oracles: dict[str, tuple[int | None, int | None]] = {}

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(self.interval_s, PublishStatistics(), key=_PUBLISH)

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, BookTop):
            self._book(message, ctx)
        elif isinstance(message, MarketState):
            self._market(message)
        elif isinstance(message, PublishStatistics):
            self._publish(ctx, partial=True)
            ctx.schedule(self.interval_s, PublishStatistics(), key=_PUBLISH)
        return None

    def on_stop(self, ctx: Context) -> None:
        self._publish(ctx, partial=True)

    def _market(self, state: MarketState) -> None:
        name = state.instrument
        self.specs[name] = state.spec
        last = self.oracles.get(name)
        new = (state.oracle_x2, state.oracle_recv_ns)
        if state.oracle_recv_ns is not None and (last is None or last[1] != new[1]):
            day = self.days.get(name)
            if day is not None:
                day.on_oracle()
        self.oracles[name] = new

    def _book(self, top: BookTop, ctx: Context) -> None:
        name = top.instrument
        spec = self.specs.get(name)
        if spec is None:
            return
        day = self.days.get(name)
        today = utc_day(top.venue_ns) if top.venue_ns is not None else (
            day.day if day is not None else "unknown")
        if day is None or day.day != today:
            if day is not None:  # the day is over: its final record
                ctx.tell(self.sink, day.statistics(partial=False))
            day = self.days[name] = DayObservation(name, today, spec.taker_fee)
        oracle_x2, oracle_recv_ns = self.oracles.get(name, (None, None))
        day.on_book(top, oracle_x2, oracle_recv_ns)

    def _publish(self, ctx: Context, *, partial: bool) -> None:
        for day in self.days.values():
            ctx.tell(self.sink, day.statistics(partial))

    def snapshot(self) -> dict[str, Any]:
        return {name: {"day": d.day, "book_updates": d.book_updates, "crossings": d.crossings}
                for name, d in self.days.items()}
