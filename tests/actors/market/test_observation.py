"""The observation statistics of one market: the pure accumulator and the observer actor."""

from __future__ import annotations

from decimal import Decimal

from actors.market.observation import DayObservation, MarketObserver, percentile, utc_day
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
    assert (stats.bbo_interval_ms_p50, stats.bbo_interval_ms_p99) == (500.0, 1000.0)
    assert (stats.crossings, stats.crossing_updates_p50, stats.crossing_updates_max) == (1, 2, 2)
    assert (stats.crossing_ms_p50, stats.crossing_depth_ticks_max) == (1000.0, 4.0)
    assert (stats.oracle_age_ms_p50, stats.oracle_age_ms_p99) == (100.0, 600.0)  # 0 500 100 600
    # selling 100004 against 100000 earns 0.4 bps before a 4.5 bps fee
    assert stats.edge_after_fees_bps_max == round(4 / 100_004 * 10_000 - 4.5, 6)
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
