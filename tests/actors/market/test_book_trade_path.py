"""A converted trade's own path through the book actor (`OrderBookActor._on_feed` without a
`Step`) does exactly what the step path does (`BookFeed.on_message`, then `_carry_out`): the same
tells to the same subscribers, the same counts, in the same order. Over every trade of the
shipped Binance recording, and random trades: in the book's units or others, with subscribers
that refuse or want no trades."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from protocols.feed import FeedEvent, Subscribe
from protocols.runtime import Refused
from protocols.venues.binance import TradeInUnits
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.recording_reader import RecordingReader
from supervision.sources.unit_decode import UnitDecoder

TICK, LOT = D("0.01"), D("0.00000001")


class _Ref:
    def __init__(self, name: str) -> None:
        self.name = name


class _Log:
    """A context that writes down every effect, in order; `refusing` refs refuse tells."""

    def __init__(self, refusing: frozenset[str]) -> None:
        self.effects: list[Any] = []
        self.refusing = refusing

    def tell(self, ref: _Ref, message: Any) -> Refused | None:
        self.effects.append(("tell", ref.name, message))
        return Refused(ref.name, "full") if ref.name in self.refusing else None

    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        self.effects.append(("count", metric, amount, labels))

    def schedule(self, delay: float, message: Any, *, key: Hashable | None = None) -> Hashable:
        self.effects.append(("schedule", delay, message, key))
        return key

    def cancel_timer(self, key: Hashable) -> bool:
        self.effects.append(("cancel", key))
        return True

    def monotonic_ns(self) -> int:
        return 0


def both_ways(trades: list[TradeInUnits], refusing: frozenset[str] = frozenset()) -> list[Any]:
    """The effects of each trade told to a book actor, checked equal to the step path's."""
    subscribers = [Subscribe(_Ref("strategy")), Subscribe(_Ref("gate"), trades=False),
                   Subscribe(_Ref("observer"))]
    config = BookConfig("BTCUSDT", "binance", TICK, LOT)
    told, stepped = (OrderBookActor(config, subscribers=subscribers) for _ in range(2))
    log, reference = _Log(refusing), _Log(refusing)
    for i, trade in enumerate(trades):
        told.receive(FeedEvent("BTCUSDT", trade, i), log)  # type: ignore[arg-type]
        step = stepped.feed.on_message(trade, i, 0)
        stepped._carry_out(step, i, reference)  # type: ignore[arg-type]
    assert log.effects == reference.effects
    return log.effects


def test_every_recorded_trade_takes_the_same_effects_either_way() -> None:
    decoder = UnitDecoder({"BTCUSDT": (TICK, LOT)})
    trades = [m for _, _, raw in RecordingReader(BINANCE_SPOT_BTCUSDT)
              if type(m := decoder.fast(raw)) is TradeInUnits]
    effects = both_ways(trades, refusing=frozenset({"observer"}))
    assert len(trades) == 9757 and len(effects) == 4 * len(trades)  # a count, two prints, refused


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 10**12),
                          st.sampled_from([TICK, D("0.010"), D("0.1"), D("0.01") * 1]),
                          st.sampled_from([LOT, D("0.001")]), st.booleans()), max_size=20),
       st.sets(st.sampled_from(["strategy", "gate", "observer"])))
def test_random_trades_take_the_same_effects_either_way(
        trades: list[tuple[int, int, D, D, bool]], refusing: set[str]) -> None:
    both_ways([TradeInUnits("BTCUSDT", i, price, qty, tick, lot, i, i + 1, maker)
               for i, (price, qty, tick, lot, maker) in enumerate(trades)], frozenset(refusing))
