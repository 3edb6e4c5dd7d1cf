"""The observation statistics of one market: the pure accumulator and the observer actor."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.market.observation import (
    DayObservation,
    Durations,
    Edges,
    MarketObserver,
    percentile,
    utc_day,
)
from actors.testing import FakeContext
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import BookTop, MarketState
from protocols.observation import MarketStatistics

SPEC = InstrumentSpec("BTC", "sim", Decimal(1), Decimal("0.00001"), Decimal("0.00001"),
                      Decimal(10), Decimal("0.00015"), Decimal("0.00045"), ContractType.PERP)
MS = 1_000_000
DAY1 = 1_737_918_843_000_000_000  # 2025-01-26 19:14 UTC
DAY2 = DAY1 + 86_400 * 10**9


def top(recv_ms: int, bid: int | None, ask: int | None, venue_ns: int = DAY1) -> BookTop:
    return BookTop("BTC", bid, 1, ask, 1, recv_ns=recv_ms * MS, venue_ns=venue_ns)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert utc_day(DAY1) == "2025-01-26"


def test_a_day_counts_crossings_intervals_nulls_ages_and_edges() -> None:
    day = DayObservation("BTC", "2025-01-26", SPEC.taker_fee)
    oracle = 2 * 100_000  # 100000 doubled
    day.on_book(top(0, 99_999, 100_001), oracle, 0)  # edge -1 tick: not crossed
    day.on_book(top(500, 100_002, 100_003), oracle, 0)  # bid 2 ticks above: a crossing starts
    day.on_book(top(1000, 100_004, 100_005), oracle, 900 * MS)  # 4 ticks through
    day.on_book(top(1500, 100_000, 100_001), oracle, 900 * MS)  # over after 2 updates, 1000 ms
    day.on_book(top(2500, None, 100_001), oracle, 900 * MS)  # a null side
    stats = day.statistics(partial=True)
    assert (stats.book_updates, stats.bbo_null, stats.bbo_null_rate) == (5, 1, 0.2)
    assert (stats.bbo_interval_ms_p50, stats.bbo_interval_ms_p99) == (
        pytest.approx(500.0, rel=1e-3), pytest.approx(1000.0, rel=1e-3))
    assert (stats.crossings, stats.crossing_updates_p50, stats.crossing_updates_max) == (1, 2, 2)
    assert stats.crossing_ms_p50 == pytest.approx(1000.0, rel=1e-3)
    assert stats.crossing_depth_ticks_max == 4.0
    assert (stats.oracle_age_ms_p50, stats.oracle_age_ms_p99) == (  # ages 0, 500, 100, 600
        pytest.approx(100.0, rel=1e-3), pytest.approx(600.0, rel=1e-3))
    # selling 100004 against 100000 earns 0.4 bps before a 4.5 bps fee
    assert stats.edge_after_fees_bps_max == round(4 / 100_004 * 10_000 - 4.5, 2)
    assert stats.edge_positive_share == 0.0


def test_the_observer_publishes_partial_days_then_a_final_one_when_the_day_turns() -> None:
    ctx = FakeContext("observer")
    observer = MarketObserver({"BTC": SPEC}, ctx.ref("sink"), interval_s=5.0)
    ctx.start(observer)
    ctx.deliver(observer, MarketState("BTC", SPEC, oracle_x2=200_000, oracle_recv_ns=0))
    ctx.deliver(observer, top(100, 99_999, 100_001))
    ctx.deliver(observer, MarketState("BTC", SPEC, oracle_x2=200_002, oracle_recv_ns=150 * MS))
    ctx.deliver(observer, top(200, 99_999, 100_001))
    ctx.advance(5.0, observer)
    ctx.deliver(observer, top(300, 99_999, 100_001, venue_ns=DAY2))
    sent = [m for m in ctx.sent_to("sink") if isinstance(m, MarketStatistics)]
    assert [(s.day, s.partial, s.book_updates) for s in sent] == [
        ("2025-01-26", True, 2), ("2025-01-26", False, 2)]
    assert sent[-1].oracle_updates == 1  # the second state; the first came before any book


def test_a_day_of_samples_costs_bounded_memory_and_percentiles_stay_right() -> None:
    durations, edges = Durations(), Edges()
    for i in range(1, 100_001):  # 1 us .. 100 ms, uniformly; edges -50.00 .. +49.99 bps
        durations.add_ns(i * 1_000)
        edges.add((i % 10_000) / 100 - 50)
    assert len(durations) == 100_000
    assert durations.ms(50) == pytest.approx(50.0, rel=1e-3)
    assert durations.ms(99) == pytest.approx(99.0, rel=1e-3)
    assert (edges.percentile(50), edges.maximum(), edges.count) == (-0.01, 49.99, 100_000)
    assert len(edges._counts) == 10_000  # one bucket per distinct 0.01 bps, not per sample


def test_a_new_oracle_is_a_look_at_the_newest_book() -> None:
    day = DayObservation("BTC", "2025-01-26", SPEC.taker_fee)
    day.on_book(top(0, 99_999, 100_001), 200_000, 0)  # not crossed
    day.on_oracle(200_010, 300 * MS)  # the oracle moves 5 ticks up: the ask is 4 below it
    day.on_oracle(200_000, 800 * MS)  # and back
    stats = day.statistics(partial=True)
    assert (stats.oracle_updates, stats.crossings, stats.crossing_updates_max) == (2, 1, 1)
    assert stats.crossing_ms_p50 == pytest.approx(500.0, rel=1e-3)
    assert stats.crossing_depth_ticks_max == 4.0
    assert stats.edge_after_fees_bps_max == round(8 / 200_002 * 10_000 - 4.5, 2)


def test_a_crossing_that_flips_side_is_two_crossings() -> None:
    day = DayObservation("BTC", "2025-01-26", SPEC.taker_fee)
    day.on_book(top(0, 100_002, 100_003), 200_000, 0)  # the bid above the oracle
    day.on_book(top(100, 99_996, 99_997), 200_000, 0)  # the ask below it, at once
    day.on_book(top(300, 99_999, 100_001), 200_000, 0)  # over
    stats = day.statistics(partial=False)
    assert (stats.crossings, stats.crossing_updates_max) == (2, 1)
    assert stats.crossing_ms_p95 == pytest.approx(200.0, rel=1e-3)


def test_books_without_venue_time_join_the_first_timed_day_not_a_day_called_unknown() -> None:
    ctx = FakeContext("observer")
    observer = MarketObserver({"BTC": SPEC}, ctx.ref("sink"), interval_s=5.0)
    ctx.start(observer)
    untimed = BookTop("BTC", 99_999, 1, 100_001, 1, recv_ns=100 * MS, venue_ns=None)
    ctx.deliver(observer, untimed)  # the REST snapshot: no venue time
    ctx.advance(5.0, observer)  # a publication before any venue time: nothing yet to say
    ctx.deliver(observer, top(200, 99_999, 100_001))
    ctx.stop_behaviour(observer)
    sent = [m for m in ctx.sent_to("sink") if isinstance(m, MarketStatistics)]
    assert [(s.day, s.partial, s.book_updates) for s in sent] == [("2025-01-26", True, 2)]


def test_a_market_that_never_has_venue_time_is_published_as_undated_at_the_stop(
        caplog: pytest.LogCaptureFixture) -> None:
    ctx = FakeContext("observer")
    observer = MarketObserver({"BTC": SPEC}, ctx.ref("sink"), interval_s=5.0)
    ctx.start(observer)
    ctx.deliver(observer, BookTop("BTC", 99_999, 1, 100_001, 1, recv_ns=0, venue_ns=None))
    ctx.stop_behaviour(observer)
    sent = [m for m in ctx.sent_to("sink") if isinstance(m, MarketStatistics)]
    assert [(s.day, s.book_updates) for s in sent] == [("unknown", 1)]
    assert "BTC never had venue time" in caplog.text
