"""A converted depth diff's own path through the book actor (`BookFeed.on_chained_diff`, taken
by `OrderBookActor._on_feed`) does exactly what the step path does (`BookFeed.on_message`, then
`_carry_out`): the same tells to the same subscribers, the same counts and timers, in the same
order, and the same book and feed state after every message. Over the shipped Binance
recording's diffs, and random streams of spot and USD-M diffs that chain, skip, repeat, go back
in venue time, cross the book or come in other units, with snapshots between them and
subscribers of several depths, one of them refusing."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig, BookFeed
from protocols.feed import FeedEvent, Subscribe
from protocols.venues.binance import DepthDiffInUnits, DepthSnapshot
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.recording_reader import RecordingReader
from supervision.sources.unit_decode import UnitDecoder
from tests.actors.market.test_book_trade_path import _Log, _Ref

TICK, LOT = D("0.01"), D("0.00000001")


def _state(feed: BookFeed) -> tuple[Any, ...]:
    sync = feed.sync
    return (feed.top(50) if sync.book.best_bid is not None or sync.book.best_ask is not None
            else None, feed.stale_reason, feed.resync_reason, feed.sequence, feed.max_venue_ms,
            feed.last_applied_ns, feed.last_recv_ns, feed.last_venue_ns, sync.state,
            vars(sync).get("_last_id"), vars(sync).get("_joined"),
            {k: v for k, v in vars(sync).items() if type(v) is int},
            list(getattr(sync, "_buffer", ())))


def both_ways(messages: list[Any], depths: tuple[int, ...] = (0, 0, 0),
              refusing: frozenset[str] = frozenset()) -> list[Any]:
    """The effects of each message told to a book actor, checked equal to the step path's
    (and the two actors' state after each message); returns them."""
    subscribers = [Subscribe(_Ref(name), depth) for name, depth
                   in zip(("strategy", "gate", "observer"), depths, strict=True)]
    config = BookConfig("BTCUSDT", "binance", TICK, LOT)
    told, stepped = (OrderBookActor(config, subscribers=subscribers) for _ in range(2))
    log, reference = _Log(refusing), _Log(refusing)
    told.on_start(log)  # type: ignore[arg-type]
    stepped.on_start(reference)  # type: ignore[arg-type]
    for i, message in enumerate(messages):
        told.receive(FeedEvent("BTCUSDT", message, i), log)  # type: ignore[arg-type]
        step = stepped.feed.on_message(message, i, 0)
        stepped._carry_out(step, i, reference)  # type: ignore[arg-type]
        assert log.effects == reference.effects
        assert _state(told.feed) == _state(stepped.feed)
    return log.effects


def test_every_recorded_diff_takes_the_same_effects_either_way() -> None:
    decoder = UnitDecoder({"BTCUSDT": (TICK, LOT)})
    messages = [m for _, _, raw in RecordingReader(BINANCE_SPOT_BTCUSDT)
                if type(m := decoder.decode(raw)) in (DepthDiffInUnits, DepthSnapshot)]
    diffs = sum(type(m) is DepthDiffInUnits for m in messages)
    effects = both_ways(messages, depths=(0, 5, 0), refusing=frozenset({"observer"}))
    published = sum(1 for e in effects if e[0] == "tell" and e[1] == "strategy")
    assert diffs > 3000 and published > 3000  # the usual diff's path was taken, and checked


_BIDS = st.lists(st.tuples(st.integers(94, 101), st.integers(0, 3)), max_size=4)
_ASKS = st.lists(st.tuples(st.integers(99, 106), st.integers(0, 3)), max_size=4)


@st.composite
def _streams(draw: st.DrawFn) -> list[Any]:
    """Diffs that mostly chain (spot: U = u + 1; USD-M: pu = u), with snapshots, skips,
    repeats, time regressions and units other than the book's (equal, or not)."""
    futures = draw(st.booleans())
    last, time_ms, out = 10, 1_000, []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.integers(0, 9)) == 0:
            snap_id = last + draw(st.integers(-2, 2))
            out.append(DepthSnapshot(snap_id, (("0.99", "1"), ("0.98", "2")),
                                     (("1.01", "1"), ("1.02", "2"))))
            continue
        first = last + 1 + draw(st.sampled_from([0, 0, 0, 0, 1, -1, -3]))
        final = first + draw(st.integers(0, 2))
        time_ms += draw(st.sampled_from([0, 1, 5, -3]))
        tick = draw(st.sampled_from([TICK, TICK, TICK, D("0.010"), D("0.1")]))
        out.append(DepthDiffInUnits("BTCUSDT", time_ms, first, final, tick, LOT,
                                    tuple(draw(_BIDS)), tuple(draw(_ASKS)),
                                    last if futures else None))
        last = max(last, final) if draw(st.integers(0, 4)) else last
    return out


@settings(max_examples=300, deadline=None)
@given(_streams(), st.sampled_from([(0, 0, 0), (0, 2, 0), (1, 1, 1)]),
       st.sets(st.sampled_from(["strategy", "gate", "observer"])))
def test_random_diffs_take_the_same_effects_either_way(
        messages: list[Any], depths: tuple[int, ...], refusing: set[str]) -> None:
    both_ways(messages, depths, frozenset(refusing))
