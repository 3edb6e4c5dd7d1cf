"""The OrderBook actor on the deterministic host: the real Binance recording end to end, a removed
diff (stale, resync, recovery), a slow conflating subscriber, the freshness watchdog in virtual
time, time regressions, crossed books and Hyperliquid trade dedupe."""

from __future__ import annotations

import functools
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from actors.market.book_actor import OrderBookActor, book_conflation_key
from actors.market.book_feed import BookConfig
from actors.market.l2_book import BinanceBookSync, SyncState
from protocols.codec import Side
from protocols.feed import FeedBatch, FeedEvent, ResyncRequest, Subscribe
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, SpecChanged, TradePrint
from protocols.recording import Message, iter_messages
from protocols.venues.binance import DepthDiff, DepthSnapshot, TradeInUnits
from protocols.venues.binance import Trade as BinanceTrade
from protocols.venues.hyperliquid import Bbo, L2Book, Trade, Trades
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import ConflateByKey
from supervision.sources.data import DATA_DIR
from supervision.testing import Probe, received

DATA = DATA_DIR  # the recordings shipped inside the project
BINANCE = DATA / "binance_spot_btcusdt_20240808.gz"
HYPERLIQUID = DATA / "hyperliquid_btc_20250126.gz"
TICK, LOT = D("0.01"), D("0.00000001")
SECOND = 10**9


@functools.cache
def recording(path: Path) -> tuple[tuple[int, Message], ...]:
    return tuple(iter_messages(path))




def seen(host: DeterministicHost, name: str, kind: type | None = None) -> list[Any]:
    return received(host, name, kind)


def counter(host: DeterministicHost, metric: str, **labels: str) -> float:
    key = ("book", metric, tuple(sorted(labels.items())))
    return host.metrics.counters.get(key, 0)  # type: ignore[attr-defined]


def rig(config: BookConfig, *, slow: bool = False) -> tuple[DeterministicHost, Any]:
    host = DeterministicHost(seed=7)
    strategy = host.spawn("strategy", Probe)
    connection = host.spawn("connection", Probe)
    subscribers: list[Any] = [strategy]
    if slow:
        subscribers.append(host.spawn("slow", Probe,
                                      mailbox=ConflateByKey(book_conflation_key)))
    book = host.spawn("book", lambda: OrderBookActor(config, subscribers=subscribers,
                                                     resync=connection))
    host.settle()
    return host, book


def binance_config(**kw: Any) -> BookConfig:
    return BookConfig("BTCUSDT", "binance", TICK, LOT, **kw)


def feed(host: DeterministicHost, book: Any, message: Any, recv_ns: int | None = None) -> None:
    book.tell(FeedEvent("BTCUSDT", message, host.monotonic_ns() if recv_ns is None else recv_ns))


# --- Binance, on the real recording -----------------------------------------------------------


def test_recording_publishes_a_top_per_update_with_no_gaps() -> None:
    messages = recording(BINANCE)
    host, book = rig(binance_config())
    for ts, m in messages:
        feed(host, book, m, ts)
    host.settle()

    assert seen(host, "connection") == [ResyncRequest("BTCUSDT", "start")]  # an empty book asks
    tops = seen(host, "strategy", BookTop)
    assert seen(host, "strategy", BookStale) == []
    # the snapshot (with the one bridging diff replayed) is the first top, then one per diff
    assert len(tops) == 1 + 3448
    assert [t.sequence for t in tops] == list(range(2, 3451))  # consecutive: nothing skipped
    assert all(t.bid is not None and t.ask is not None and t.bid < t.ask for t in tops)
    assert (tops[-1].bid, tops[-1].ask) == (6_168_599, 6_168_600)
    assert tops[-1].recv_ns == [ts for ts, m in messages if isinstance(m, DepthDiff)][-1]
    assert len(seen(host, "strategy", TradePrint)) == 9757
    assert counter(host, "troupe_book_gaps_total") == 0
    assert counter(host, "troupe_book_updates_total") == 3450
    assert counter(host, "troupe_book_ignored_total", kind="BookTicker") == 28040


def _snapshot_of(s: BinanceBookSync) -> DepthSnapshot:
    def levels(side: Side) -> tuple[tuple[str, str], ...]:
        return tuple((str(p * TICK), str(q * LOT)) for p, q in s.book.depth(side, 10**6))

    return DepthSnapshot(s.last_update_id, levels(Side.BUY), levels(Side.SELL))


def test_removed_diff_goes_stale_asks_for_a_snapshot_and_recovers() -> None:
    messages = recording(BINANCE)
    diffs = [i for i, (_, m) in enumerate(messages) if isinstance(m, DepthDiff)]
    removed, snapshot_at, arrives_at = diffs[500], diffs[550], diffs[560]
    host, book = rig(binance_config())
    reference = BinanceBookSync(TICK, LOT)
    fresh = None
    marks: dict[str, int] = {}
    for i, (ts, m) in enumerate(messages):
        if isinstance(m, DepthSnapshot):
            reference.on_snapshot(m, ts)
        elif isinstance(m, DepthDiff):
            reference.on_diff(m, ts)
            if i == snapshot_at:
                fresh = _snapshot_of(reference)
        if i == removed:
            host.settle()
            marks["before_gap"] = len(seen(host, "strategy"))
            continue
        feed(host, book, m, ts)
        if i == arrives_at:
            host.settle()
            marks["before_snapshot"] = len(seen(host, "strategy"))
            assert fresh is not None
            feed(host, book, fresh, ts)
    host.settle()

    out = seen(host, "strategy")
    stale_window = [m for m in out[marks["before_gap"]:marks["before_snapshot"]]
                    if not isinstance(m, TradePrint)]
    assert stale_window == [BookStale("BTCUSDT", "gap", messages[diffs[501]][0])]  # once
    assert seen(host, "connection") == [ResyncRequest("BTCUSDT", "start"),
                                        ResyncRequest("BTCUSDT", "gap")]
    after = [m for m in out[marks["before_snapshot"]:] if isinstance(m, BookTop)]
    assert after and after[0].sequence > [m for m in out[:marks["before_gap"]]
                                          if isinstance(m, BookTop)][-1].sequence
    assert len(seen(host, "strategy", BookStale)) == 1
    assert counter(host, "troupe_book_gaps_total") == 1
    assert counter(host, "troupe_book_resyncs_total", reason="gap") == 1
    final = host.cell("book").behaviour.feed.sync.book  # type: ignore[union-attr]
    for side in Side:
        assert final.depth(side, 10**6) == reference.book.depth(side, 10**6)
    assert (after[-1].bid, after[-1].ask) == (reference.book.best_bid, reference.book.best_ask)


def test_slow_conflating_subscriber_sees_the_newest_book_and_every_trade() -> None:
    messages = recording(BINANCE)
    host, book = rig(binance_config(), slow=True)
    for ts, m in messages:  # the whole feed arrives before the slow subscriber gets to run
        feed(host, book, m, ts)
    host.settle()

    fast_tops = seen(host, "strategy", BookTop)
    slow_tops = seen(host, "slow", BookTop)
    assert slow_tops == [fast_tops[-1]]  # the newest book, not a backlog of 3449
    assert seen(host, "slow", TradePrint) == seen(host, "strategy", TradePrint)  # every trade
    stats = host.actor("slow").mailbox
    assert stats.conflated == len(fast_tops) - 1 and stats.dropped == 0


def test_conflation_key_conflates_only_books() -> None:
    top = BookTop("BTCUSDT", 1, 1, 2, 1, 0)
    assert book_conflation_key(top) == "BTCUSDT"
    assert book_conflation_key(BookStale("BTCUSDT", "gap", 0)) is None
    assert book_conflation_key(TradePrint("BTCUSDT", 1, 1, Side.BUY, "1", 0)) is None


# --- hand-built sequences ---------------------------------------------------------------------


def l2(time_ms: int, bid: str = "100", ask: str = "101") -> L2Book:
    return L2Book("BTC", time_ms, ((bid, "1", 1),), ((ask, "2", 1),))


def hl_rig(**kw: Any) -> tuple[DeterministicHost, Any]:
    return rig(BookConfig("BTCUSDT", "hyperliquid", D("1"), D("0.001"), **kw))


def kinds(host: DeterministicHost) -> list[str]:
    return [type(m).__name__ if not isinstance(m, BookStale) else f"stale:{m.reason}"
            for m in seen(host, "strategy")]


def test_freshness_watchdog_in_virtual_time() -> None:
    host, book = hl_rig(max_age_ns=SECOND)
    feed(host, book, l2(1_000))
    host.advance(0.5)
    feed(host, book, l2(1_500))
    host.advance(0.9)  # 1.4 s: the last update is 0.9 s old
    assert kinds(host) == ["BookTop", "BookTop"]
    host.advance(0.2)  # 1.6 s: 1.1 s without an update
    assert kinds(host) == ["BookTop", "BookTop", "stale:no_data"]
    stale = seen(host, "strategy", BookStale)[0]
    assert stale.recv_ns == int(1.5 * SECOND)  # the watchdog fired at last update + max_age
    host.advance(30)
    assert kinds(host)[-1] == "stale:no_data" and len(kinds(host)) == 3  # once, not per period
    feed(host, book, l2(2_000, bid="99"))
    host.settle()
    assert kinds(host)[-1] == "BookTop" and seen(host, "strategy", BookTop)[-1].bid == 99
    assert host.pending_timers() == 1  # the watchdog is armed again, one timer only


def test_hyperliquid_time_regression_goes_stale_until_time_moves_on() -> None:
    host, book = hl_rig()
    feed(host, book, l2(2_000))
    feed(host, book, l2(1_999, bid="90", ask="91"))
    feed(host, book, l2(2_001, bid="98"))
    host.settle()
    assert kinds(host) == ["BookTop", "stale:time_regression", "BookTop"]
    assert seen(host, "strategy", BookTop)[-1].bid == 98  # the older snapshot never showed
    assert counter(host, "troupe_book_time_regressions_total") == 1
    assert seen(host, "connection") == []  # the book itself is fine: no resync


def test_a_bbo_with_a_null_side_takes_the_book_out_of_ready_until_both_sides_return() -> None:
    host, book = hl_rig()
    level = ("100", "1", 1)
    feed(host, book, l2(1_000))
    feed(host, book, Bbo("BTC", 1_001, None, ("101", "2", 1)))
    feed(host, book, l2(1_002))  # a snapshot while the bbo says a side is empty: still stale
    feed(host, book, Bbo("BTC", 1_003, level, ("101", "2", 1)))
    feed(host, book, l2(1_004))
    host.settle()
    assert kinds(host) == ["BookTop", "stale:bbo_null_side", "BookTop"]
    assert counter(host, "troupe_book_bbo_null_side_total") == 1
    assert seen(host, "connection") == []  # nothing to resync: the venue's book is one-sided


def test_binance_time_regression_applies_the_chained_diff_but_publishes_nothing() -> None:
    host, book = rig(binance_config())
    feed(host, book, DepthSnapshot(10, (("100.00", "1"),), (("101.00", "1"),)))
    feed(host, book, DepthDiff("BTCUSDT", 5_000, 11, 11, (("100.00", "2"),), ()))
    feed(host, book, DepthDiff("BTCUSDT", 4_999, 12, 12, (("100.00", "3"),), ()))
    feed(host, book, DepthDiff("BTCUSDT", 5_001, 13, 13, (), (("101.00", "4"),)))
    host.settle()
    assert kinds(host) == ["BookTop", "BookTop", "stale:time_regression", "BookTop"]
    last = seen(host, "strategy", BookTop)[-1]
    assert (last.bid_qty, last.ask_qty) == (300_000_000, 400_000_000)  # diff 12 was applied
    assert last.venue_ns == 5_001_000_000


def test_crossed_book_is_stale_once_asks_for_a_snapshot_and_resyncs() -> None:
    host, book = rig(binance_config(resync_retry_ns=None))
    feed(host, book, DepthSnapshot(10, (("100.00", "1"),), (("101.00", "1"),)))
    feed(host, book, DepthDiff("BTCUSDT", 1, 11, 11, (("102.00", "1"),), ()))  # bid > ask
    feed(host, book, DepthDiff("BTCUSDT", 2, 12, 12, (), (("103.00", "1"),)))  # buffered
    host.settle()
    assert kinds(host) == ["BookTop", "stale:crossed"]
    assert seen(host, "connection")[-1] == ResyncRequest("BTCUSDT", "crossed")
    assert counter(host, "troupe_book_crossed_total") == 1
    feed(host, book, DepthSnapshot(11, (("99.00", "1"),), (("101.00", "1"),)))
    host.settle()
    top = seen(host, "strategy", BookTop)[-1]
    assert kinds(host) == ["BookTop", "stale:crossed", "BookTop"]
    assert (top.bid, top.ask) == (9_900, 10_100)
    assert [p for p, _ in top.asks] == []  # no depth was subscribed
    book.tell(Subscribe(host.spawn("deep", Probe), depth=5))
    host.settle()
    deep = seen(host, "deep", BookTop)[0]
    assert deep.asks == ((10_100, 100_000_000), (10_300, 100_000_000))  # diff 12 replayed


def test_resync_request_is_repeated_until_a_snapshot_arrives() -> None:
    host, book = rig(binance_config(resync_retry_ns=2 * SECOND))
    host.advance(5)
    assert [r.reason for r in seen(host, "connection")] == ["start", "start", "start"]
    feed(host, book, DepthSnapshot(10, (("100.00", "1"),), (("101.00", "1"),)))
    host.advance(10)
    assert len(seen(host, "connection")) == 3  # healthy: no more requests
    assert kinds(host)[0] == "BookTop"


def test_spec_change_rebuilds_the_book_in_the_new_units() -> None:
    host, book = rig(binance_config(resync_retry_ns=None))
    feed(host, book, DepthSnapshot(10, (("100.00", "1"),), (("101.00", "1"),)))
    old = InstrumentSpec("BTCUSDT", "binance", TICK, LOT, 0, 0, 0, 0)
    new = InstrumentSpec("BTCUSDT", "binance", D("0.1"), LOT, 0, 0, 0, 0, spec_version=2)
    book.tell(SpecChanged("BTCUSDT", old, new, 0))
    feed(host, book, DepthSnapshot(20, (("100.0", "1"),), (("101.0", "1"),)))
    host.settle()
    assert kinds(host) == ["BookTop", "stale:spec_change", "BookTop"]
    assert seen(host, "strategy", BookTop)[-1].bid == 1_000  # ticks of 0.1 now
    assert seen(host, "connection")[-1] == ResyncRequest("BTCUSDT", "spec_change")


def test_hyperliquid_recording_dedupes_replayed_trades() -> None:
    messages = recording(HYPERLIQUID)
    host, book = rig(BookConfig("BTCUSDT", "hyperliquid", D("1"), D("0.00001")))
    for ts, m in messages:
        feed(host, book, m, ts)
    first_trades = next(m for _, m in messages if isinstance(m, Trades))
    feed(host, book, first_trades, messages[-1][0])  # a reconnect replays them again
    host.settle()
    prints = seen(host, "strategy", TradePrint)
    assert len(prints) == 64 and len({p.trade_id for p in prints}) == 64
    assert counter(host, "troupe_book_duplicate_trades_total") == 30  # only the replay repeats
    assert len(seen(host, "strategy", BookTop)) == 46
    assert seen(host, "strategy", BookStale) == []


def test_trade_prints_are_integer_ticks_and_lots() -> None:
    host, book = hl_rig()
    feed(host, book, Trades((Trade("BTC", 7, D("100"), D("0.250"), Side.SELL, 5, "h"),)))
    host.settle()
    (p,) = seen(host, "strategy", TradePrint)
    assert (p.price, p.qty, p.aggressor, p.trade_id, p.venue_ns) == (100, 250, Side.SELL, "7",
                                                                     5_000_000)
    assert SyncState.AWAITING_SNAPSHOT.value == host.actor("book").snapshot["state"]


def test_repeats_of_a_reason_are_silent_but_a_useless_snapshot_is_asked_for_again() -> None:
    host, book = hl_rig(resync_retry_ns=None)
    feed(host, book, l2(1, bid="102"))  # crossed
    feed(host, book, l2(2, bid="103"))  # still crossed: no second notice, no second request
    feed(host, book, l2(3))
    host.settle()
    assert kinds(host) == ["stale:crossed", "BookTop"]
    assert seen(host, "connection") == [ResyncRequest("BTCUSDT", "crossed")]

    host, book = rig(binance_config(resync_retry_ns=None))
    feed(host, book, DepthDiff("BTCUSDT", 1, 50, 60, (), ()))
    feed(host, book, DepthSnapshot(10, (("100.00", "1"),), (("101.00", "1"),)))  # 50 > 11
    feed(host, book, DepthSnapshot(20, (("100.00", "1"),), (("101.00", "1"),)))  # still short
    feed(host, book, DepthSnapshot(55, (("100.00", "1"),), (("101.00", "1"),)))  # joins
    host.settle()
    assert kinds(host) == ["stale:resync", "BookTop"]
    assert [r.reason for r in seen(host, "connection")] == ["start", "resync", "resync"]


def test_a_subscriber_may_leave_out_the_trades_and_still_read_the_book() -> None:
    """A risk gate or a monitor reads the book, not the prints: `Subscribe(ref, trades=False)`
    gets every top and stale notice and no TradePrint, given to the constructor or later."""
    host = DeterministicHost(seed=7)
    everything, books_only, later = (host.spawn(n, Probe) for n in ("all", "books", "later"))
    book = host.spawn("book", lambda: OrderBookActor(
        binance_config(), subscribers=[everything, Subscribe(books_only, trades=False)]))
    book.tell(Subscribe(later, trades=False))
    for ts, m in recording(BINANCE)[:400]:
        feed(host, book, m, ts)
    host.settle()
    tops = seen(host, "all", BookTop)
    assert tops and seen(host, "all", TradePrint)
    for name in ("books", "later"):
        assert seen(host, name, BookTop)[-len(tops):] == tops
        assert seen(host, name, TradePrint) == []
    book.tell(Subscribe(later))  # subscribing again with trades brings them back
    feed(host, book, BinanceTrade("BTCUSDT", 1, D("61686.00"), D("0.001"), 1, 1, True))
    host.settle()
    assert len(seen(host, "later", TradePrint)) == 1
    assert seen(host, "books", TradePrint) == []


def test_a_trade_already_in_the_books_units_is_taken_as_it_is() -> None:
    host, book = rig(binance_config())
    feed(host, book, TradeInUnits("BTCUSDT", 9, 6_168_600, 100_000, TICK, LOT, 5, 6, True))
    feed(host, book, TradeInUnits("BTCUSDT", 10, 616_860, 100_000, D("0.1"), LOT, 5, 6, True))
    host.settle()
    (p,) = seen(host, "strategy", TradePrint)
    assert (p.price, p.qty, p.aggressor, p.trade_id, p.venue_ns) == (
        6_168_600, 100_000, Side.SELL, "9", 5_000_000)
    assert counter(host, "troupe_book_decode_errors_total") == 1  # other units: refused


def test_a_batch_of_one_instants_events_publishes_what_the_events_told_alone_would() -> None:
    """A `FeedBatch` (one instant's events, from a backtest's venue) is handled event by event:
    the subscribers get the same messages in the same order as from the events told one by
    one, and a misrouted event in it is ignored alone."""
    events = [FeedEvent("BTCUSDT", m, ts) for ts, m in recording(BINANCE)[:3000]]
    alone_host, alone = rig(binance_config())
    for event in events:
        alone.tell(event)
    alone_host.settle()
    batched_host, batched = rig(binance_config())
    for i in range(0, len(events), 7):
        batched.tell(FeedBatch((*events[i:i + 7], FeedEvent("ETHUSDT", events[i].message, 1))))
    batched_host.settle()
    told = seen(alone_host, "strategy")
    assert len(told) > 100 and any(isinstance(m, BookTop) for m in told)
    assert seen(batched_host, "strategy") == told
    assert seen(batched_host, "connection") == seen(alone_host, "connection")
    assert counter(batched_host, "troupe_book_ignored_total", kind="misrouted") == len(
        range(0, len(events), 7))
