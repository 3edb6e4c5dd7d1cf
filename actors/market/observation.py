"""The Market observer: per-market statistics for the observation phase, one record per
instrument and UTC day (`protocols.observation.MarketStatistics`).

    book:<i>   --BookTop-->     MarketObserver --MarketStatistics (every interval_s, and
    market:<i> --MarketState-->                   final at the day's end and at the stop)--> sink

What it measures, per instrument, per UTC day of *venue* time (a BookTop's `venue_ns`; the day
does not change on a BookTop without one, and BookTops before the first timed one, such as the
REST snapshot a book starts from, join that first timed one's day; only a market that never has
venue time is published, at the stop, as day "unknown", with a warning that says so):

- book updates and the bbo null rate (a BookTop with a side missing);
- the bbo receive interval: between consecutive BookTops, on their local receive times;
- the oracle context's age at each BookTop (BookTop `recv_ns` - MarketState `oracle_recv_ns`);
- crossings of the oracle: the bid above it or the ask below it (each side its own crossing),
  counted when they start, with their duration in looks (below) and in milliseconds, and their
  depth in price ticks;
- the edge after fees, at each look: the better of buying the ask below the oracle or selling
  the bid above it, as a fraction of the price, less the taker fee, in bps (what the dislocation
  taker would see before its own `min_edge_bps`; negative most of the time).

A look is what a taker evaluating on every update does: a BookTop against the oracle in force,
or a new oracle against the newest two-sided book.

The statistics are floats: they choose markets, they are not money. `DayObservation` is the pure
accumulator; `MarketObserver` only routes messages to it and reads no clock (times come in on the
messages; the publishing period is a timer). Memory and the cost of a publication do not grow
with the day: durations go into HdrHistograms (to 0.1%), edges into 0.01 bps buckets, crossing
lengths into counts per length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hdrh.histogram import HdrHistogram

from actors.behaviour import Behaviour, Context, Ref
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop, MarketState
from protocols.observation import MarketStatistics

__all__ = ["UNDATED", "DayObservation", "Durations", "Edges", "MarketObserver", "PublishStatistics",
           "percentile", "utc_day"]

MS = 1_000_000
UNDATED = "unknown"  # the day of a market's BookTops before any of them had venue time

log = logging.getLogger("troupe.observation")


def utc_day(epoch_ns: int) -> str:
    return datetime.fromtimestamp(epoch_ns / 1e9, UTC).strftime("%Y-%m-%d")


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `samples`; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 6)


class Durations:
    """Durations in bounded memory: an HdrHistogram of microseconds (1 us to 1 h, 3 significant
    figures), read in milliseconds. A day of a busy book is millions of samples: keeping them
    all and sorting them at each publication would cost seconds of CPU by the evening."""

    __slots__ = ("_hist",)
    _MAX_US = 3_600_000_000

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, self._MAX_US, 3)

    def add_ns(self, ns: int) -> None:
        self._hist.record_value(min(max(ns // 1_000, 0), self._MAX_US))

    def __len__(self) -> int:
        return int(self._hist.get_total_count())

    def ms(self, q: float) -> float | None:
        """The q-th percentile in ms (to 0.1%), None without samples."""
        if not len(self):
            return None
        return self._hist.get_value_at_percentile(q) / 1_000


class Edges:
    """Edges in bps, counted in 0.01 bps buckets: exact to the bucket, bounded by the range the
    edges span (a few thousand buckets), not by how many there are."""

    __slots__ = ("_counts", "count", "positive")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = self.positive = 0

    def add(self, bps: float) -> None:
        key = round(bps * 100)
        self._counts[key] = self._counts.get(key, 0) + 1
        self.count += 1
        self.positive += bps > 0

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank, seen = max(1, math.ceil(q / 100 * self.count)), 0
        for key in sorted(self._counts):
            seen += self._counts[key]
            if seen >= rank:
                return key / 100
        raise AssertionError("unreachable: the counts add up to count")

    def maximum(self) -> float | None:
        return max(self._counts) / 100 if self._counts else None


class DayObservation:
    """One instrument over one day: BookTops and oracle updates in, `MarketStatistics` out."""

    def __init__(self, instrument: str, day: str, taker_fee: Decimal) -> None:
        self.instrument, self.day = instrument, day
        self.fee_bps = float(taker_fee) * 10_000
        self.book_updates = self.bbo_null = self.oracle_updates = 0
        self.intervals = Durations()
        self.oracle_ages = Durations()
        self.crossing_durations = Durations()
        self.crossing_updates: dict[int, int] = {}  # updates a crossing lasted -> crossings
        self.edges = Edges()
        self.crossings = 0
        self.depth_max = 0.0
        self.last_recv_ns: int | None = None
        self._book: tuple[int, int] | None = None  # the newest two-sided (bid, ask)
        self._crossing: tuple[int, int, int] | None = None  # (first recv_ns, looks, side)

    def on_oracle(self, oracle_x2: int | None, recv_ns: int) -> None:
        """A new oracle: one more look at the newest book against it, as a taker's would be."""
        self.oracle_updates += 1
        book = self._book
        if book is not None and oracle_x2 is not None and oracle_x2 > 0:
            self._look(book[0], book[1], oracle_x2, recv_ns)

    def on_book(self, top: BookTop, oracle_x2: int | None, oracle_recv_ns: int | None) -> None:
        self.book_updates += 1
        if self.last_recv_ns is not None:
            self.intervals.add_ns(top.recv_ns - self.last_recv_ns)
        self.last_recv_ns = top.recv_ns
        bid, ask = top.bid, top.ask
        if bid is None or ask is None:
            self.bbo_null += 1
            self._book = None
            return
        self._book = (bid, ask)
        if oracle_x2 is None or oracle_recv_ns is None or oracle_x2 <= 0:
            return
        self.oracle_ages.add_ns(top.recv_ns - oracle_recv_ns)
        self._look(bid, ask, oracle_x2, top.recv_ns)

    def _look(self, bid: int, ask: int, oracle_x2: int, at_ns: int) -> None:
        buy = (oracle_x2 - 2 * ask) / (2 * ask)  # buy the ask below the oracle
        sell = (2 * bid - oracle_x2) / (2 * bid)  # sell the bid above it
        self.edges.add(max(buy, sell) * 10_000 - self.fee_bps)
        above, below = 2 * bid - oracle_x2, oracle_x2 - 2 * ask  # doubled ticks through it
        side = 1 if above > 0 else -1 if below > 0 else 0
        self._cross(side, max(above, below) / 2, at_ns)

    def _cross(self, side: int, depth: float, at_ns: int) -> None:
        """Crossings by side: the bid above the oracle and the ask below it are two crossings,
        even when one follows the other at once."""
        current = self._crossing
        if current is not None and current[2] != side:
            updates = self.crossing_updates
            updates[current[1]] = updates.get(current[1], 0) + 1
            self.crossing_durations.add_ns(at_ns - current[0])
            current = self._crossing = None
        if side == 0:
            return
        self.depth_max = max(self.depth_max, depth)
        if current is None:
            self.crossings += 1
            self._crossing = (at_ns, 1, side)
        else:
            self._crossing = (current[0], current[1] + 1, side)

    def statistics(self, partial: bool) -> MarketStatistics:
        edges, updates = self.edges, self.book_updates
        lasted = [n for n, times in sorted(self.crossing_updates.items()) for _ in range(times)]
        return MarketStatistics(
            day=self.day, instrument=self.instrument, partial=partial, book_updates=updates,
            bbo_null=self.bbo_null,
            bbo_null_rate=round(self.bbo_null / updates, 6) if updates else 0.0,
            bbo_interval_ms_p50=self.intervals.ms(50),
            bbo_interval_ms_p95=self.intervals.ms(95),
            bbo_interval_ms_p99=self.intervals.ms(99),
            oracle_updates=self.oracle_updates,
            oracle_age_ms_p50=self.oracle_ages.ms(50),
            oracle_age_ms_p95=self.oracle_ages.ms(95),
            oracle_age_ms_p99=self.oracle_ages.ms(99),
            crossings=self.crossings,
            crossing_updates_p50=percentile([float(n) for n in lasted], 50),
            crossing_updates_max=max(self.crossing_updates, default=0),
            crossing_ms_p50=self.crossing_durations.ms(50),
            crossing_ms_p95=self.crossing_durations.ms(95),
            crossing_depth_ticks_max=self.depth_max,
            edge_after_fees_bps_p50=edges.percentile(50),
            edge_after_fees_bps_p95=edges.percentile(95),
            edge_after_fees_bps_p99=edges.percentile(99),
            edge_after_fees_bps_max=edges.maximum(),
            edge_positive_share=round(edges.positive / edges.count, 6) if edges.count else 0.0)


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
            self._publish(ctx, partial=True, undated=False)
            ctx.schedule(self.interval_s, PublishStatistics(), key=_PUBLISH)
        return None

    def on_stop(self, ctx: Context) -> None:
        for day in self.days.values():
            if day.day == UNDATED:
                log.warning("market %s never had venue time: its %d book updates are published "
                            "as day %r", day.instrument, day.book_updates, UNDATED)
        self._publish(ctx, partial=True, undated=True)

    def _market(self, state: MarketState) -> None:
        name = state.instrument
        self.specs[name] = state.spec
        last = self.oracles.get(name)
        new = (state.oracle_x2, state.oracle_recv_ns)
        if state.oracle_recv_ns is not None and (last is None or last[1] != new[1]):
            day = self.days.get(name)
            if day is not None:
                day.on_oracle(state.oracle_x2, state.oracle_recv_ns)
        self.oracles[name] = new

    def _book(self, top: BookTop, ctx: Context) -> None:
        name = top.instrument
        spec = self.specs.get(name)
        if spec is None:
            return
        day = self.days.get(name)
        today = utc_day(top.venue_ns) if top.venue_ns is not None else (
            day.day if day is not None else UNDATED)
        if day is not None and day.day == UNDATED:
            day.day = today  # the untimed books so far belong to the first timed one's day
        elif day is None or day.day != today:
            if day is not None:  # the day is over: its final record
                ctx.tell(self.sink, day.statistics(partial=False))
            day = self.days[name] = DayObservation(name, today, spec.taker_fee)
        oracle_x2, oracle_recv_ns = self.oracles.get(name, (None, None))
        day.on_book(top, oracle_x2, oracle_recv_ns)

    def _publish(self, ctx: Context, *, partial: bool, undated: bool) -> None:
        """`undated`: publish the days still without venue time too (at the stop; before it,
        they wait for the day their first timed BookTop gives them)."""
        for day in self.days.values():
            if undated or day.day != UNDATED:
                ctx.tell(self.sink, day.statistics(partial))

    def snapshot(self) -> dict[str, Any]:
        return {name: {"day": d.day, "book_updates": d.book_updates, "crossings": d.crossings}
                for name, d in self.days.items()}
