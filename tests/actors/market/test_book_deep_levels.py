"""A diff's deferred levels (`DeepLevels`: the live decode converts only the first few levels of a
side, `supervision.venues.binance.transport.DEEP_AFTER`): the book publishes its top after the
first levels when the rest cannot reach it, and applies the rest before it reads or changes its
levels again, or when its timer says the loop has time. The tops its subscribers are told, and
the book it ends with, are the ones the whole diff gives; a deferred level that would have moved
the top, or that does not count, is caught when it is applied."""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.book_actor import OrderBookActor, _DeepLevelsDue
from actors.market.book_feed import BookConfig
from protocols.codec import LevelConverter
from protocols.feed import FeedEvent, Subscribe
from protocols.market import BookTop
from protocols.venues.binance import DeepLevels, DepthDiffInUnits, DepthSnapshot
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.recording_reader import RecordingReader
from supervision.sources.unit_decode import UnitDecoder
from tests.actors.market.test_book_trade_path import _Log, _Ref

TICK, LOT = D("0.01"), D("0.00000001")
HEAD = 3


def _actor(depth: int = 0) -> OrderBookActor:
    return OrderBookActor(BookConfig("BTCUSDT", "binance", TICK, LOT),
                          subscribers=[Subscribe(_Ref("strategy"), depth),
                                       Subscribe(_Ref("gate"), depth, trades=False)])


def _tops(log: _Log, since: int = 0) -> list[Any]:
    return [(e[1], e[2]) for e in log.effects[since:] if e[0] == "tell" and type(e[2]) is BookTop]


def _levels(actor: OrderBookActor) -> tuple[dict[int, int], dict[int, int]]:
    book = actor.feed.sync.book
    return dict(book._bids), dict(book._asks)


def _deferred_timer(log: _Log, since: int) -> bool:
    return any(e[0] == "schedule" and e[3] == "book.deep" for e in log.effects[since:])


def _replay(messages: list[tuple[Any, Any]], flush_when_due: list[bool]) -> tuple[
        _Log, _Log, OrderBookActor, OrderBookActor, int]:
    """Each (whole, deferred) pair told to its own actor; the deferred actor's timer fires at
    once when `flush_when_due` says so for that message (else its levels wait for the next
    depth message). Returns the logs, the actors and how many diffs were deferred."""
    whole_actor, deferred_actor = _actor(), _actor()
    whole_log, deferred_log = _Log(frozenset()), _Log(frozenset())
    deferred = 0
    for i, ((whole, split), flush) in enumerate(zip(messages, flush_when_due, strict=True)):
        whole_mark, mark = len(whole_log.effects), len(deferred_log.effects)
        whole_actor.receive(FeedEvent("BTCUSDT", whole, i), whole_log)  # type: ignore[arg-type]
        deferred_actor.receive(FeedEvent("BTCUSDT", split, i), deferred_log)  # type: ignore[arg-type]
        if _deferred_timer(deferred_log, mark):
            deferred += 1
            if flush:
                deferred_actor.receive(_DeepLevelsDue(), deferred_log)  # type: ignore[arg-type]
        assert _tops(deferred_log, mark) == _tops(whole_log, whole_mark), i
    deferred_actor.receive(_DeepLevelsDue(), deferred_log)  # type: ignore[arg-type]
    return whole_log, deferred_log, whole_actor, deferred_actor, deferred


def test_the_recording_publishes_the_same_tops_and_ends_with_the_same_book() -> None:
    whole_decoder = UnitDecoder({"BTCUSDT": (TICK, LOT)})
    split_decoder = UnitDecoder({"BTCUSDT": (TICK, LOT)}, head=HEAD)
    messages = [(whole_decoder.decode(raw), split_decoder.decode(raw))
                for _, _, raw in RecordingReader(BINANCE_SPOT_BTCUSDT)]
    messages = [(w, s) for w, s in messages if type(w) in (DepthDiffInUnits, DepthSnapshot)]
    # Half the deferred diffs wait for the next depth message instead of their timer.
    rng = random.Random(7)
    flushes = [rng.random() < 0.5 for _ in messages]
    _, deferred_log, whole_actor, deferred_actor, deferred = _replay(messages, flushes)
    assert deferred > 1000  # most of the recording's diffs have more than HEAD levels a side
    assert len(_tops(deferred_log)) > 3000
    assert _levels(deferred_actor) == _levels(whole_actor)
    assert deferred_actor.feed.top(20) == whole_actor.feed.top(20)
    counts = {e[1] for e in deferred_log.effects if e[0] == "count"}
    assert "troupe_book_deep_deferred_total" in counts
    assert not counts & {"troupe_book_deep_top_moved_total", "troupe_book_decode_errors_total"}


_SIDE = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)), max_size=12,
                 unique_by=lambda level: level[0])


def _texts(levels: list[tuple[int, int]]) -> list[list[str]]:
    return [[f"{price * TICK:.2f}", f"{qty * LOT:.8f}"] for price, qty in levels]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_SIDE, _SIDE), min_size=1, max_size=25), st.data())
def test_random_sorted_diffs_give_the_tops_and_the_book_of_the_whole_diffs(
        sides: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
        data: st.DataObject) -> None:
    """Bids below 1000 ticks and asks above (never crossed), each side best first."""
    memos = LevelConverter(TICK, LOT).memos()
    snapshot = DepthSnapshot(10, tuple((f"{(990 - i) * TICK:.2f}", "1") for i in range(20)),
                             tuple((f"{(1010 + i) * TICK:.2f}", "1") for i in range(20)))
    messages: list[tuple[Any, Any]] = [(snapshot, snapshot)]
    for n, (bid_side, ask_side) in enumerate(sides):
        bids = sorted(((999 - p, q) for p, q in bid_side), reverse=True)
        asks = sorted((1001 + p, q) for p, q in ask_side)
        whole = DepthDiffInUnits("BTCUSDT", n, 11 + n, 11 + n, TICK, LOT, tuple(bids),
                                 tuple(asks))
        deep = DeepLevels(_texts(bids[HEAD:]), _texts(asks[HEAD:]), *memos)
        split = DepthDiffInUnits("BTCUSDT", n, 11 + n, 11 + n, TICK, LOT, tuple(bids[:HEAD]),
                                 tuple(asks[:HEAD]), deep=deep if len(deep) else None)
        messages.append((whole, split))
    flushes = data.draw(st.lists(st.booleans(), min_size=len(messages),
                                 max_size=len(messages)))
    _, deferred_log, whole_actor, deferred_actor, _ = _replay(messages, flushes)
    assert _levels(deferred_actor) == _levels(whole_actor)
    assert deferred_actor.feed.sequence == whole_actor.feed.sequence
    assert not any(e[0] == "count" and e[1] == "troupe_book_deep_top_moved_total"
                   for e in deferred_log.effects)


def _synced(actor: OrderBookActor, log: _Log) -> None:
    snapshot = DepthSnapshot(10, (("9.90", "1"), ("9.80", "1")), (("10.10", "1"),))
    actor.receive(FeedEvent("BTCUSDT", snapshot, 0), log)  # type: ignore[arg-type]
    first = DepthDiffInUnits("BTCUSDT", 1, 11, 11, TICK, LOT, ((985, 1),), ())
    actor.receive(FeedEvent("BTCUSDT", first, 1), log)  # type: ignore[arg-type]


def _split(bids: tuple[tuple[int, int], ...], deep_bids: list[list[str]],
           update: int = 12) -> DepthDiffInUnits:
    deep = DeepLevels(deep_bids, [], *LevelConverter(TICK, LOT).memos())
    return DepthDiffInUnits("BTCUSDT", 2, update, update, TICK, LOT, bids, (), deep=deep)


def test_a_deferred_level_that_reaches_the_top_publishes_the_top_it_makes() -> None:
    """Out of order: the first deferred bid is below the new best, a later one above it."""
    actor, log = _actor(), _Log(frozenset())
    _synced(actor, log)
    actor.receive(FeedEvent("BTCUSDT", _split(((991, 2),), [["9.70", "1"], ["9.95", "3"]]), 2),
                  log)  # type: ignore[arg-type]
    assert _tops(log)[-1][1].bid == 991  # published before the rest was applied
    mark = len(log.effects)
    actor.receive(_DeepLevelsDue(), log)  # type: ignore[arg-type]
    after = log.effects[mark:]
    assert ("count", "troupe_book_deep_top_moved_total", 1, {}) in after
    assert [m.bid for _, m in _tops(log)[-2:]] == [995, 995]  # to both subscribers, corrected
    assert actor.feed.healthy


def test_a_deferred_level_that_does_not_count_makes_the_book_stale_and_resync() -> None:
    actor, log = _actor(), _Log(frozenset())
    _synced(actor, log)
    actor.receive(FeedEvent("BTCUSDT", _split(((991, 2),), [["9.70", "1"], ["9.705", "1"]]),
                            2), log)  # type: ignore[arg-type]
    mark = len(log.effects)
    actor.receive(_DeepLevelsDue(), log)  # type: ignore[arg-type]
    after = log.effects[mark:]
    assert ("count", "troupe_book_decode_errors_total", 1, {}) in after
    assert ("count", "troupe_book_resyncs_total", 1, {"reason": "decode_error"}) in after
    assert actor.feed.stale_reason == "decode_error"


def test_a_sweep_applies_deferred_levels_until_the_rest_cannot_reach_the_top() -> None:
    """The first level deletes the best bid; the nearest deferred bid is above the next one."""
    actor, log = _actor(), _Log(frozenset())
    _synced(actor, log)  # bids 990, 985, 980
    mark = len(log.effects)
    deep = [["9.86", "2"]] + [[f"9.{p}", "1"] for p in range(79, 59, -1)]  # 986, 979 ... 960
    actor.receive(FeedEvent("BTCUSDT", _split(((990, 0),), deep), 2), log)  # type: ignore[arg-type]
    assert _tops(log, mark)[-1][1].bid == 986 and _deferred_timer(log, mark)
    pending = actor.feed.sync.pending_deep  # type: ignore[union-attr]
    assert pending is not None and 0 < len(pending[0]) < len(deep)  # the rest, not all of it
    actor.receive(_DeepLevelsDue(), log)  # type: ignore[arg-type]
    assert _levels(actor)[0] == {986: 2 * 10**8, 985: 1, 980: 10**8,
                                 **{p: 10**8 for p in range(960, 980)}}


def test_deferred_levels_that_could_reach_the_top_are_applied_at_once() -> None:
    """The first levels delete the book's bids down to where the deferred ones start."""
    actor, log = _actor(), _Log(frozenset())
    _synced(actor, log)
    mark = len(log.effects)
    diff = _split(((990, 0), (985, 0), (980, 0)), [["9.75", "4"], ["9.70", "1"]])
    actor.receive(FeedEvent("BTCUSDT", diff, 2), log)  # type: ignore[arg-type]
    assert not actor.feed.deep_pending and not _deferred_timer(log, mark)
    assert _tops(log)[-1][1].bid == 975 and _tops(log)[-1][1].bid_qty == 4 * 10**8


def test_a_book_whose_subscribers_read_depth_takes_the_whole_diff() -> None:
    actor, log = _actor(depth=5), _Log(frozenset())
    _synced(actor, log)
    actor.receive(FeedEvent("BTCUSDT", _split(((991, 2),), [["9.70", "1"]]), 2),
                  log)  # type: ignore[arg-type]
    assert not actor.feed.deep_pending
    assert _tops(log)[-1][1].bids[-1] == (970, 100_000_000)


def test_a_deferred_level_that_crosses_the_book_makes_it_stale_and_resync() -> None:
    actor, log = _actor(), _Log(frozenset())
    _synced(actor, log)  # best ask 1010
    actor.receive(FeedEvent("BTCUSDT", _split(((991, 2),), [["9.70", "1"], ["10.20", "1"]]),
                            2), log)  # type: ignore[arg-type]
    mark = len(log.effects)
    actor.receive(_DeepLevelsDue(), log)  # type: ignore[arg-type]
    after = log.effects[mark:]
    assert ("count", "troupe_book_crossed_total", 1, {}) in after
    assert ("count", "troupe_book_resyncs_total", 1, {"reason": "crossed"}) in after
    assert actor.feed.stale_reason == "crossed" and not _tops(log, mark)
