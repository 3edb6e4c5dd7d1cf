"""Binance USD-M futures depth: `pu` parsed from hand-written frames, and the futures sync rule
(drop u < lastUpdateId; first event U <= lastUpdateId <= u; then pu == previous u) applied by
BinanceBookSync when the diffs carry `pu`, with the spot rule untouched."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest

from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from actors.market.l2_book import BinanceBookSync, SyncOutcome, SyncState
from protocols.codec import DecodeError, Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.market import BookStale, BookTop
from protocols.venues.binance import BookTicker, DepthDiff, DepthSnapshot, Trade, parse_message
from supervision.runtime.deterministic import DeterministicHost
from supervision.testing import Probe, received

TICK, LOT = D("0.1"), D("0.001")


def frame(stream: str, data: dict[str, Any]) -> str:
    return json.dumps({"stream": stream, "data": data})


def usdm_diff(first: int, final: int, prev: int, *, bids: Any = (), asks: Any = (),
              event_ms: int = 1_000) -> DepthDiff:
    """A USD-M depthUpdate, through the parser, as the websocket would deliver it."""
    message = parse_message(frame("btcusdt@depth", {
        "e": "depthUpdate", "E": event_ms, "T": event_ms - 1, "s": "BTCUSDT",
        "U": first, "u": final, "pu": prev, "b": [list(b) for b in bids],
        "a": [list(a) for a in asks],
    }))
    assert isinstance(message, DepthDiff)
    return message


def snapshot(last: int) -> DepthSnapshot:
    message = parse_message(json.dumps({
        "lastUpdateId": last, "E": 1, "T": 1,
        "bids": [["100.0", "1.000"], ["99.9", "2.000"]],
        "asks": [["100.1", "1.000"], ["100.2", "2.000"]],
    }))
    assert isinstance(message, DepthSnapshot)
    return message


# --- parsing ---------------------------------------------------------------------------------

def test_usdm_depth_update_carries_pu_and_transaction_time() -> None:
    diff = usdm_diff(157, 160, 149, bids=[("100.0", "3.000")], event_ms=123_456_789)
    assert (diff.first_update_id, diff.final_update_id, diff.prev_final_update_id) == (
        157, 160, 149)
    assert diff.transaction_time_ms == 123_456_788
    assert diff.bids == (("100.0", "3.000"),)


def test_spot_depth_update_has_no_pu() -> None:
    diff = parse_message(frame("btcusdt@depth@100ms", {
        "e": "depthUpdate", "E": 5, "s": "BTCUSDT", "U": 1, "u": 2, "b": [], "a": []}))
    assert isinstance(diff, DepthDiff)
    assert diff.prev_final_update_id is None and diff.transaction_time_ms is None


def test_a_mistyped_pu_is_a_decode_error_naming_it() -> None:
    with pytest.raises(DecodeError, match="'pu'"):
        parse_message(frame("btcusdt@depth", {
            "e": "depthUpdate", "E": 5, "T": 5, "s": "BTCUSDT", "U": 1, "u": 2, "pu": "0",
            "b": [], "a": []}))


def test_usdm_book_ticker_names_its_event() -> None:
    ticker = parse_message(frame("btcusdt@bookTicker", {
        "e": "bookTicker", "u": 400900217, "E": 1568014460893, "T": 1568014460891,
        "s": "BTCUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000",
        "A": "40.66000000"}))
    assert ticker == BookTicker("BTCUSDT", 400900217, D("25.35190000"), D("31.21000000"),
                                D("25.36520000"), D("40.66000000"))
    bare = parse_message(json.dumps({  # a bare (non-combined) stream event too
        "e": "bookTicker", "u": 1, "E": 2, "T": 2, "s": "BTCUSDT", "b": "1", "B": "1",
        "a": "2", "A": "1"}))
    assert isinstance(bare, BookTicker)


def test_usdm_agg_trade_is_a_trade_with_the_aggregate_id() -> None:
    trade = parse_message(frame("btcusdt@aggTrade", {
        "e": "aggTrade", "E": 123456789, "s": "BTCUSDT", "a": 5933014, "p": "0.001",
        "q": "100", "f": 100, "l": 105, "T": 123456785, "m": True}))
    assert trade == Trade("BTCUSDT", 5933014, D("0.001"), D("100"), 123456785, 123456789, True)
    assert isinstance(trade, Trade) and trade.aggressor is Side.SELL


# --- the futures sync rule -------------------------------------------------------------------

def test_buffered_diffs_join_the_snapshot_by_the_futures_rule() -> None:
    sync = BinanceBookSync(TICK, LOT)
    old = usdm_diff(80, 90, 70, bids=[("100.0", "9.000")])  # u < lastUpdateId: dropped
    first = usdm_diff(95, 105, 90, bids=[("100.0", "4.000")])  # U <= 100 <= u
    # Futures ids are not consecutive: U is not previous u + 1, pu is what chains.
    second = usdm_diff(108, 120, 105, asks=[("100.1", "0")])
    for diff in (old, first, second):
        assert sync.on_diff(diff, 1).outcome is SyncOutcome.BUFFERED
    result = sync.on_snapshot(snapshot(100), 2)
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and result.applied == 2
    assert sync.state is SyncState.SYNCED and sync.last_update_id == 120
    assert (sync.dropped, sync.gaps, sync.stale_snapshots) == (1, 0, 0)
    assert sync.book.qty_at(Side.BUY, 1000) == 4000
    assert sync.book.best_ask == 1002  # 100.1 was deleted


def test_an_event_ending_exactly_at_last_update_id_is_the_first_processed() -> None:
    """Futures drop only u < lastUpdateId; spot would drop u == lastUpdateId too."""
    sync = BinanceBookSync(TICK, LOT)
    sync.on_snapshot(snapshot(100), 1)
    assert sync.on_diff(usdm_diff(95, 100, 94, bids=[("99.9", "5.000")]), 2).outcome is \
        SyncOutcome.APPLIED
    assert sync.on_diff(usdm_diff(103, 107, 100), 3).outcome is SyncOutcome.APPLIED
    assert sync.book.qty_at(Side.BUY, 999) == 5000 and sync.gaps == 0


def test_a_broken_pu_chain_is_a_gap_and_a_new_snapshot_resyncs() -> None:
    sync = BinanceBookSync(TICK, LOT)
    sync.on_snapshot(snapshot(100), 1)
    assert sync.on_diff(usdm_diff(99, 110, 98), 2).outcome is SyncOutcome.APPLIED
    # The event with pu=110 was lost: this one says its predecessor ended at 115.
    assert sync.on_diff(usdm_diff(117, 125, 115), 3).outcome is SyncOutcome.GAP_DETECTED
    assert sync.state is SyncState.STALE and sync.published() is None and sync.gaps == 1
    assert sync.on_diff(usdm_diff(126, 130, 125, bids=[("100.0", "7.000")]), 4).outcome is \
        SyncOutcome.BUFFERED
    result = sync.on_snapshot(snapshot(127), 5)  # joins the buffered 126..130
    assert result.outcome is SyncOutcome.SNAPSHOT_APPLIED and sync.resyncs == 1
    assert sync.last_update_id == 130 and sync.book.qty_at(Side.BUY, 1000) == 7000


def test_a_snapshot_older_than_every_buffered_event_needs_another() -> None:
    sync = BinanceBookSync(TICK, LOT)
    sync.on_diff(usdm_diff(105, 110, 104), 1)  # U > lastUpdateId: updates 101..104 missing
    assert sync.on_snapshot(snapshot(100), 2).outcome is SyncOutcome.RESYNC_NEEDED
    assert sync.state is SyncState.STALE and sync.stale_snapshots == 1


def test_a_duplicate_event_after_the_join_is_dropped_not_a_gap() -> None:
    sync = BinanceBookSync(TICK, LOT)
    sync.on_snapshot(snapshot(100), 1)
    event = usdm_diff(99, 110, 98)
    assert sync.on_diff(event, 2).outcome is SyncOutcome.APPLIED
    assert sync.on_diff(event, 3).outcome is SyncOutcome.DROPPED
    assert sync.gaps == 0 and sync.state is SyncState.SYNCED


def test_spot_diffs_still_need_consecutive_ids() -> None:
    sync = BinanceBookSync(TICK, LOT)
    sync.on_snapshot(snapshot(100), 1)
    assert sync.on_diff(DepthDiff("BTCUSDT", 1, 101, 105, (), ()), 2).outcome is SyncOutcome.APPLIED
    assert sync.on_diff(DepthDiff("BTCUSDT", 1, 108, 110, (), ()), 3).outcome is \
        SyncOutcome.GAP_DETECTED


# --- through the OrderBook actor -------------------------------------------------------------



def test_usdm_gap_makes_the_book_stale_and_asks_for_a_snapshot() -> None:
    host = DeterministicHost(seed=1)
    strategy = host.spawn("strategy", Probe)
    connection = host.spawn("connection", Probe)
    config = BookConfig("BTCUSDT-PERP", "binance", TICK, LOT)
    book = host.spawn("book", lambda: OrderBookActor(config, subscribers=[strategy],
                                                     resync=connection))
    for message in (snapshot(100), usdm_diff(99, 110, 98, event_ms=2),
                    usdm_diff(117, 125, 115, event_ms=3)):
        book.tell(FeedEvent("BTCUSDT-PERP", message, host.monotonic_ns()))
    host.settle()
    seen = received(host, "strategy")
    assert [type(m) for m in seen] == [BookTop, BookTop, BookStale]
    assert seen[-1].reason == "gap"
    requests = received(host, "connection")
    assert requests == [ResyncRequest("BTCUSDT-PERP", "start"),
                        ResyncRequest("BTCUSDT-PERP", "gap")]
