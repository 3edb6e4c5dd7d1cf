"""Book sync state machines, on hand-built sequences and on the shipped venue recordings."""

from __future__ import annotations

import functools
import gzip
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from actors.market.l2_book import BinanceBookSync, HyperliquidBookSync, SyncOutcome, SyncState
from protocols.codec import DecodeError, Side, TradeDeduper
from protocols.recording import Message, iter_messages
from protocols.venues.binance import BookTicker, DepthDiff, DepthSnapshot
from protocols.venues.hyperliquid import L2Book, Trades, new_trades
from supervision.sources.data import DATA_DIR

DATA = DATA_DIR  # the recordings shipped inside the project
BINANCE = DATA / "binance_spot_btcusdt_20240808.gz"
HYPERLIQUID = DATA / "hyperliquid_btc_20250126.gz"
TICK = D("0.01")
LOT = D("0.00000001")  # the wire's precision: aggregated level sizes can be finer than the lot


@functools.cache
def recording(path: Path) -> tuple[tuple[int, Message], ...]:
    return tuple(iter_messages(path))


def diff(first: int, last: int, bids: tuple = (), asks: tuple = ()) -> DepthDiff:
    return DepthDiff("BTCUSDT", 0, first, last, bids, asks)


def snap(
    last_id: int, bids: tuple = (("100.00", "1"),), asks: tuple = (("101.00", "1"),)
) -> DepthSnapshot:
    return DepthSnapshot(last_id, bids, asks)


def sync() -> BinanceBookSync:
    return BinanceBookSync(TICK, LOT)


# --- Binance rules on hand-built sequences -----------------------------------------------------


def test_diffs_are_buffered_and_nothing_published_until_the_snapshot() -> None:
    s = sync()
    assert s.state is SyncState.AWAITING_SNAPSHOT
    assert s.on_diff(diff(5, 10), recv_ns=1).outcome is SyncOutcome.BUFFERED
    assert s.published() is None
    assert s.buffered == 1 and s.applied == 0


def test_snapshot_drops_old_diffs_and_joins_the_bridging_one() -> None:
    s = sync()
    s.on_diff(diff(1, 10, bids=(("99.00", "1"),)), 1)  # u <= 12: dropped
    s.on_diff(diff(11, 15, bids=(("100.00", "2"),)), 2)  # 11 <= 13 <= 15: bridges
    s.on_diff(diff(16, 16, asks=(("101.00", "0"), ("102.00", "3"))), 3)
    result = s.on_snapshot(snap(12), recv_ns=4)
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and result.applied == 2
    assert not result.crossed
    assert s.state is SyncState.SYNCED and s.published() is s.book
    assert (s.dropped, s.applied, s.last_update_id) == (1, 2, 16)
    assert s.book.depth(Side.BUY, 5) == [(10_000, 200_000_000)]  # 99.00 was never applied
    assert s.book.depth(Side.SELL, 5) == [(10_200, 300_000_000)]
    assert s.book.last_update_ns == 4


def test_chained_diffs_apply_and_a_skip_is_a_gap() -> None:
    s = sync()
    s.on_snapshot(snap(12), 1)
    assert s.on_diff(diff(13, 20), 2).outcome is SyncOutcome.APPLIED  # bridges: 13 <= 13 <= 20
    assert s.on_diff(diff(21, 25), 3).outcome is SyncOutcome.APPLIED
    assert s.on_diff(diff(24, 25), 4).outcome is SyncOutcome.DROPPED  # already have up to 25
    gap = s.on_diff(diff(27, 30), 5)  # 26 is missing
    assert gap.outcome is SyncOutcome.GAP_DETECTED
    assert s.state is SyncState.STALE and s.published() is None and s.gaps == 1
    assert s.on_diff(diff(31, 33), 6).outcome is SyncOutcome.BUFFERED
    # a snapshot at 29 joins the buffered (27, 30): 27 <= 30 <= 30, then (31, 33) chains
    result = s.on_snapshot(snap(29), 7)
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and result.applied == 2
    assert s.state is SyncState.SYNCED and s.resyncs == 1 and s.last_update_id == 33


def test_snapshot_older_than_the_buffer_needs_another() -> None:
    s = sync()
    s.on_diff(diff(20, 25), 1)
    s.on_diff(diff(26, 30), 2)
    result = s.on_snapshot(snap(10), 3)  # 11..19 were never seen
    assert result.outcome is SyncOutcome.RESYNC_NEEDED
    assert s.state is SyncState.STALE and s.published() is None
    assert s.stale_snapshots == 1 and s.gaps == 0
    result = s.on_snapshot(snap(27), 4)  # both diffs kept: (26, 30) bridges 28
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and result.applied == 1
    assert s.dropped == 1 and s.state is SyncState.SYNCED and s.resyncs == 1


def test_first_diff_must_cover_the_update_after_the_snapshot() -> None:
    s = sync()
    s.on_snapshot(snap(12), 1)
    assert s.on_diff(diff(14, 20), 2).outcome is SyncOutcome.RESYNC_NEEDED  # 13 is missing
    assert s.state is SyncState.STALE and s.stale_snapshots == 1 and s.gaps == 0


def test_overlapping_diff_after_the_join_is_a_gap() -> None:
    # U must be exactly prev.u + 1: an overlap means the venue's stream is not what we think
    s = sync()
    s.on_snapshot(snap(12), 1)
    s.on_diff(diff(13, 20), 2)
    assert s.on_diff(diff(18, 25), 3).outcome is SyncOutcome.GAP_DETECTED
    assert s.gaps == 1


def test_snapshot_older_than_the_book_is_ignored() -> None:
    s = sync()
    s.on_snapshot(snap(12), 1)
    s.on_diff(diff(13, 20, bids=(("100.50", "1"),)), 2)
    assert s.on_snapshot(snap(15), 3).outcome is SyncOutcome.IGNORED
    assert s.book.best_bid == 10_050 and s.last_update_id == 20


def test_crossed_book_is_reported_not_hidden() -> None:
    s = sync()
    s.on_snapshot(snap(1), 1)
    result = s.on_diff(diff(2, 2, bids=(("101.00", "1"),)), 2)
    assert result.outcome is SyncOutcome.APPLIED and result.crossed
    assert s.crossed == 1
    assert s.state is SyncState.SYNCED  # the caller decides what a crossed book means


def test_undecodable_diff_raises_and_leaves_the_book_stale_but_intact() -> None:
    s = sync()
    s.on_snapshot(snap(1), 1)
    with pytest.raises(DecodeError, match="'abc' is not a decimal number"):
        s.on_diff(diff(2, 2, bids=(("99.00", "1"), ("abc", "1"))), 2)
    assert s.state is SyncState.STALE and s.published() is None
    assert s.book.depth(Side.BUY, 5) == [(10_000, 100_000_000)]  # 99.00 was not half-applied


def test_undecodable_buffered_diff_keeps_the_rest_of_the_buffer() -> None:
    s = sync()
    s.on_diff(diff(2, 2, asks=(("101.00", "-1"),)), 1)
    s.on_diff(diff(3, 3), 2)
    with pytest.raises(DecodeError, match="not a non-negative multiple"):
        s.on_snapshot(snap(1), 3)
    assert s.state is SyncState.STALE
    result = s.on_snapshot(snap(2), 4)  # the newer diff was kept and now bridges
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and result.applied == 1


def test_buffer_overflow_loses_old_diffs_and_forces_a_resync() -> None:
    s = BinanceBookSync(TICK, LOT, max_buffer=3)
    for i in range(10):
        s.on_diff(diff(10 * i + 1, 10 * i + 10), i)
    # only the diffs from 71 on are kept: a snapshot at 40 cannot be joined
    assert s.on_snapshot(snap(40), 20).outcome is SyncOutcome.RESYNC_NEEDED


def test_freshness_follows_the_last_applied_update() -> None:
    s = sync()
    s.on_snapshot(snap(1), recv_ns=1_000)
    s.on_diff(diff(2, 3), recv_ns=2_000)
    assert s.book.is_fresh(now_ns=2_500, max_age_ns=500)
    assert not s.book.is_fresh(now_ns=2_501, max_age_ns=500)


# --- Binance on the real recording -------------------------------------------------------------


def replay(messages: tuple[tuple[int, Message], ...], s: BinanceBookSync) -> list[SyncOutcome]:
    outcomes = []
    for ts, m in messages:
        if isinstance(m, DepthDiff):
            outcomes.append(s.on_diff(m, ts).outcome)
        elif isinstance(m, DepthSnapshot):
            outcomes.append(s.on_snapshot(m, ts).outcome)
    return outcomes


def test_recording_syncs_with_zero_gaps() -> None:
    s = sync()
    outcomes = replay(recording(BINANCE), s)
    # the snapshot (lastUpdateId 50093239218) arrives after 3 diffs: two are older and dropped,
    # the third (U=50093239208, u=50093239224) bridges; every later diff chains
    assert outcomes[:4] == [SyncOutcome.BUFFERED] * 3 + [SyncOutcome.SNAPSHOT_APPLIED]
    assert set(outcomes[4:]) == {SyncOutcome.APPLIED}
    assert (s.gaps, s.dropped, s.applied, s.buffered, s.crossed) == (0, 2, 3449, 3, 0)
    assert s.state is SyncState.SYNCED
    assert (s.book.best_bid, s.book.best_ask) == (6_168_599, 6_168_600)
    assert (s.book.level_count(Side.BUY), s.book.level_count(Side.SELL)) == (1209, 2196)


def test_recording_book_agrees_with_the_venues_book_ticker() -> None:
    """Where a bookTicker's update id equals a diff's final id, the venue told us the top of
    book at exactly that point: our book must show the same best prices and sizes."""
    s = sync()
    tops: dict[int, tuple[int | None, int, int | None, int]] = {}
    tickers = []
    for ts, m in recording(BINANCE):
        if isinstance(m, DepthSnapshot):
            s.on_snapshot(m, ts)
        elif isinstance(m, DepthDiff):
            if s.on_diff(m, ts).outcome is SyncOutcome.APPLIED:
                b = s.book
                bid, ask = b.best_bid, b.best_ask
                assert bid is not None and ask is not None
                top = (bid, b.qty_at(Side.BUY, bid), ask, b.qty_at(Side.SELL, ask))
                tops[m.final_update_id] = top
        elif isinstance(m, BookTicker):
            tickers.append(m)
    compared = [t for t in tickers if t.update_id in tops]
    assert len(compared) == 564
    for t in compared:
        venue = (
            int(t.bid_price / TICK),
            int(t.bid_qty / LOT),
            int(t.ask_price / TICK),
            int(t.ask_qty / LOT),
        )
        assert tops[t.update_id] == venue, t


def _snapshot_of(s: BinanceBookSync) -> DepthSnapshot:
    """A REST-like snapshot of a synced book, as the venue's strings."""

    def levels(side: Side) -> tuple[tuple[str, str], ...]:
        return tuple((str(p * TICK), str(q * LOT)) for p, q in s.book.depth(side, 10**6))

    return DepthSnapshot(s.last_update_id, levels(Side.BUY), levels(Side.SELL))


def test_removed_diff_is_a_gap_and_a_later_snapshot_resyncs() -> None:
    messages = recording(BINANCE)
    diff_positions = [i for i, (_, m) in enumerate(messages) if isinstance(m, DepthDiff)]
    removed = diff_positions[500]
    snapshot_at = diff_positions[550]  # the venue state after this diff becomes the new snapshot
    arrives_at = diff_positions[560]  # ... delivered 10 diffs later, as a REST reply would be

    reference = sync()
    broken = sync()
    outcomes = []
    for i, (ts, m) in enumerate(messages):
        if isinstance(m, DepthSnapshot):
            reference.on_snapshot(m, ts)
            broken.on_snapshot(m, ts)
        elif isinstance(m, DepthDiff):
            reference.on_diff(m, ts)
            if i == snapshot_at:
                fresh = _snapshot_of(reference)
            if i != removed:
                outcomes.append((i, broken.on_diff(m, ts).outcome))
            if i == arrives_at:
                assert broken.state is SyncState.STALE and broken.published() is None
                result = broken.on_snapshot(fresh, ts)
                assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED
                assert result.applied == 10  # diffs 551..560 replayed from the buffer

    after_removed = dict(outcomes)[diff_positions[501]]
    assert after_removed is SyncOutcome.GAP_DETECTED
    assert broken.gaps == 1 and broken.resyncs == 1 and broken.state is SyncState.SYNCED
    assert reference.gaps == 0
    for side in Side:
        assert broken.book.depth(side, 10**6) == reference.book.depth(side, 10**6)


# --- Hyperliquid -------------------------------------------------------------------------------


def test_hyperliquid_recording_applies_every_snapshot() -> None:
    s = HyperliquidBookSync(D("1"), D("0.00001"))
    outcomes = [
        s.on_l2book(m, ts).outcome for ts, m in recording(HYPERLIQUID) if isinstance(m, L2Book)
    ]
    # the 2nd repeats the 1st's time: applied
    assert outcomes == [SyncOutcome.SNAPSHOT_APPLIED] * 46
    assert s.regressions == 0 and s.crossed == 0 and s.published() is s.book
    # expected top of book read straight from the last raw l2Book line
    with gzip.open(HYPERLIQUID, "rt") as f:
        last = [json.loads(line.split(" ", 1)[1]) for line in f if '"l2Book"' in line][-1]
    bids, asks = last["data"]["levels"]
    assert s.book.best_bid == max(int(D(b["px"])) for b in bids) == 105_050
    assert s.book.best_ask == min(int(D(a["px"])) for a in asks) == 105_051
    assert s.book.qty_at(Side.SELL, 105_051) == 613_423  # "6.13423"
    assert s.last_time_ms == last["data"]["time"]


def test_hyperliquid_time_regression_is_ignored_and_counted() -> None:
    s = HyperliquidBookSync(D("1"), D("0.001"))
    assert s.published() is None
    newer = L2Book("BTC", 2_000, (("100.0", "1.0", 1),), (("101.0", "2.0", 1),))
    older = L2Book("BTC", 1_999, (("90.0", "1.0", 1),), (("91.0", "2.0", 1),))
    assert s.on_l2book(newer, 10).outcome is SyncOutcome.SNAPSHOT_APPLIED
    assert s.on_l2book(older, 11).outcome is SyncOutcome.IGNORED
    assert s.regressions == 1 and s.book.best_bid == 100 and s.book.last_update_ns == 10
    crossed = L2Book("BTC", 2_001, (("102.0", "1.0", 1),), (("101.0", "2.0", 1),))
    assert s.on_l2book(crossed, 12).crossed and s.crossed == 1


def test_hyperliquid_trades_dedupe_across_a_replay() -> None:
    trades = [m for _, m in recording(HYPERLIQUID) if isinstance(m, Trades)]
    dedupe = TradeDeduper()
    fresh = [len(new_trades(m, dedupe)) for m in trades]
    assert fresh == [30, 1, 1, 1, 1, 1, 7, 21, 1]
    # a reconnect replays the recent trades again: none of them is new
    assert new_trades(trades[0], dedupe) == ()
    assert dedupe.duplicates == 30 and len(dedupe) == 64


def test_trade_deduper_memory_is_bounded() -> None:
    dedupe = TradeDeduper(capacity=3)
    assert [dedupe.is_new(t) for t in (1, 2, 3, 2)] == [True, True, True, False]
    assert dedupe.is_new(4)  # evicts 1, the oldest
    assert len(dedupe) == 3
    assert dedupe.is_new(1)  # forgotten, so new again: the bound is a window, not a leak
    assert not dedupe.is_new(4)
    with pytest.raises(ValueError, match="capacity must be positive"):
        TradeDeduper(capacity=0)


# --- one conversion: diffs already in integer units --------------------------------------------


def test_a_diff_converted_once_builds_the_same_book_as_its_strings() -> None:
    by_strings, by_units, converter = sync(), sync(), sync()
    for ts, m in recording(BINANCE):
        if isinstance(m, DepthDiff):
            by_strings.on_diff(m, ts)
            by_units.on_diff(converter.in_units(m), ts)
        elif isinstance(m, DepthSnapshot):
            assert by_strings.on_snapshot(m, ts) == by_units.on_snapshot(m, ts)
    for side in Side:
        assert by_units.book.depth(side, 5000) == by_strings.book.depth(side, 5000)
    assert (by_units.applied, by_units.gaps) == (by_strings.applied, 0)


def test_a_diff_in_other_units_is_undecodable_for_the_book() -> None:
    s = sync()
    s.on_snapshot(snap(10), 0)
    other = BinanceBookSync(D("0.1"), LOT).in_units(diff(11, 11, bids=(("100.0", "2"),)))
    with pytest.raises(DecodeError, match="units"):
        s.on_diff(other, 1)
    assert s.state is SyncState.STALE
    assert (s.book.best_bid, s.book.best_ask) == (10_000, 10_100)  # untouched
