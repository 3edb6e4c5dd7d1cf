"""A market maker asks the portfolio where its position stands at every start, and quotes
nothing until it hears: a supervisor's restart must not quote as if flat on the position the
last incarnation built. The portfolio's side is in tests/actors/portfolio."""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction
from typing import Any

from actors.strategies.kit import Inventory
from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from actors.strategies.quoting_models import Horizon, HorizonMode
from protocols.codec import Side
from protocols.decisions import NoTrade, Proposal
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop
from protocols.portfolio import PositionAsk, PositionNow
from supervision.runtime.deterministic import DeterministicHost
from supervision.testing import Probe

INSTRUMENT = "BTC-PERP"
SPEC = InstrumentSpec(INSTRUMENT, "test", D("0.5"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))


class Rig:
    """A market maker whose portfolio answers with `answer(message)` (None: raises)."""

    def __init__(self, answer: Any) -> None:
        self.config = MarketMakerConfig(
            strategy="mm1", spec=SPEC, quote_lots=1, max_inventory=10, gamma=0.1, k=1.5,
            sigma=2.0, horizon=Horizon(HorizonMode.ROLLING, window_s=10.0),
            requote_min_interval_s=0.5, allow_inside=True, pressure_threshold=0.8)
        self.host = DeterministicHost(seed=1)
        self.asks: list[tuple[int, Any]] = []
        self.gate_log: list[tuple[int, Any]] = []
        self.journal_log: list[tuple[int, Any]] = []

        def reply(message: Any, _ctx: Any) -> Any:
            found = answer(message)
            if found is None:
                raise RuntimeError("the portfolio is restarting")
            return found

        self.portfolio = self.host.spawn("portfolio", lambda: Probe(self.asks, reply=reply))
        gate = self.host.spawn("gate", lambda: Probe(self.gate_log))
        journal = self.host.spawn("journal", lambda: Probe(self.journal_log))

        def build() -> MarketMaker:
            mm = MarketMaker(self.config, gate, journal)
            mm.portfolio = self.portfolio
            return mm

        self.mm = self.host.spawn("mm", build)
        self.host.settle()

    def book(self, bid: int, ask: int) -> None:
        self.mm.tell(BookTop(INSTRUMENT, bid, 5, ask, 5, self.host.monotonic_ns()))
        self.host.settle()

    def placed(self) -> list[Any]:
        return [m.intent for _, m in self.gate_log if isinstance(m, Proposal)]

    def whys(self) -> list[str]:
        return [m.reason for _, m in self.journal_log if isinstance(m, NoTrade)]

    def engine(self) -> Any:
        return self.host.actor("mm").snapshot


def test_the_inventory_starts_where_the_portfolio_says_and_quotes_from_there() -> None:
    rig = Rig(lambda m: PositionNow(INSTRUMENT, 8, 0, D("9990"), ("f1", "f2")))
    assert [m for _, m in rig.asks] == [PositionAsk(INSTRUMENT)]
    assert rig.engine()["q"] == 8 and rig.engine()["entry"] == "9990"
    rig.book(9900, 10100)
    # 8 lots long at the pressure threshold: only the reduce-only exit, for all of it
    assert [(i.side, i.qty, i.reduce_only) for i in rig.placed()] == [(Side.SELL, 8, True)]


def test_nothing_is_quoted_while_the_portfolio_does_not_answer_and_it_is_asked_again() -> None:
    rig = Rig(lambda m: None)  # it fails on the ask, and stays down
    rig.book(9900, 10100)
    assert rig.placed() == []
    assert rig.whys() == ["position_unknown"]
    assert rig.engine()["position_pending"]
    failed = "troupe_strategy_position_asks_failed_total"
    assert rig.host.metrics.total(failed) == 1
    # asked again 2 s later; the dead portfolio never answers, so that ask times out 2 s on
    rig.host.advance(4.5)
    rig.book(9900, 10100)
    assert rig.host.metrics.total(failed) == 2
    assert rig.placed() == [] and rig.whys() == ["position_unknown"] * 2


def test_a_portfolio_that_cannot_tell_leaves_the_inventory_flat_and_quoting_on() -> None:
    rig = Rig(lambda m: PositionNow(INSTRUMENT, None))
    rig.book(9900, 10100)
    assert rig.engine()["q"] == 0 and len(rig.placed()) == 2


def test_fills_the_portfolio_counted_are_not_counted_twice() -> None:
    inventory = Inventory()
    inventory.apply("f1", Side.BUY, 2, 100, 1)  # the portfolio had this one when it answered
    inventory.apply("f2", Side.SELL, 1, 101, 2)  # and not this one
    inventory.resume(5, 1, Fraction(99), ("f0", "f1"), 3)
    assert inventory.q == 4 and inventory.opening == 1 and inventory.entry == 99
    inventory.adopt(3, Fraction(100), 4)  # a corrected opening moves it by the difference
    assert inventory.q == 6
    inventory.resume(0, 3, None, ("f1", "f2"), 5)
    assert inventory.q == 0 and inventory.entry is None and inventory.since_ns is None


def test_a_fill_in_the_portfolios_answer_does_not_count_again_when_its_copy_comes() -> None:
    """A restarted strategy hears the portfolio's figure, which holds fill f3; the copy of f3
    the portfolio told before its answer may be dropped with the old incarnation's mailbox,
    or come later by another path (the venue's report): it moves nothing."""
    inventory = Inventory()
    inventory.resume(4, 0, Fraction(100), ("f3",), 1)
    assert not inventory.apply("f3", Side.BUY, 2, 100, 2)
    assert inventory.q == 4
    assert inventory.apply("f4", Side.SELL, 1, 101, 3) and inventory.q == 3
