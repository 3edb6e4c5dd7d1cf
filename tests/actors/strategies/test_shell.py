"""The strategy shell: every message reaches its engine hook, every hook has a default that does
nothing, and a decision is carried out the same way for any engine. Run with the fake context:
no host at all."""

from __future__ import annotations

import enum
from decimal import Decimal as D
from typing import Any

import attrs
import pytest

from actors.strategies.engine import Engine
from actors.strategies.kit import Decision, Wake
from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from actors.strategies.shell import INVENTORY_METRIC, StrategyShell, route, trigger_of
from actors.testing import FakeContext
from protocols.codec import Side as BookSide
from protocols.commands import PauseQuoting, ResumeQuoting
from protocols.decisions import Gate, GateAction, NoTrade, Proposal, RiskRefused, Trigger
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState, TradePrint
from protocols.orders import (
    Ack,
    CancelIntent,
    Dropped,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    Priority,
    Side,
    TimeInForce,
)
from protocols.portfolio import OwnFill

SYMBOL = "BTC-PERP"
SPEC = InstrumentSpec(SYMBOL, "test", D("0.5"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))


@attrs.frozen
class BareConfig:
    strategy: str
    spec: InstrumentSpec


class Bare(Engine):
    """Only what is required: every optional hook keeps its default."""

    config_class = BareConfig

    def __init__(self, config: BareConfig) -> None:
        self.config = config


class Tracing(Bare):
    """Records which hook got what, and returns what the test queued."""

    def __init__(self, config: BareConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, Any]] = []
        self.next: Decision | None = None

    def _hook(self, name: str, arg: Any) -> Decision | None:
        self.calls.append((name, arg))
        decision, self.next = self.next, None
        return decision

    def on_start(self, now: int, epoch: int) -> Decision | None:
        return self._hook("on_start", None)

    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        return self._hook("on_book", book)

    def on_trade(self, trade: TradePrint, now: int, epoch: int) -> Decision | None:
        return self._hook("on_trade", trade)

    def on_stale(self, stale: BookStale, now: int, epoch: int) -> Decision | None:
        return self._hook("on_stale", stale)

    def on_market_state(self, state: MarketState, now: int, epoch: int) -> Decision | None:
        return self._hook("on_market_state", state)

    def on_report(self, answer: Any, now: int, epoch: int) -> Decision | None:
        return self._hook("on_report", answer)

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision | None:
        return self._hook("on_wake", cause)

    def on_pause(self, reason: str | None, now: int, epoch: int) -> Decision | None:
        return self._hook("on_pause", reason)

    def on_message(self, message: Any, now: int, epoch: int) -> Decision | None:
        return self._hook("on_message", message)

    def unsent(self, intent: Any) -> None:
        self.calls.append(("unsent", intent))

    def on_stop(self, now: int, epoch: int) -> Decision | None:
        return self._hook("on_stop", None)

    def inventory_lots(self) -> int | None:
        return 7


class Why(enum.StrEnum):
    WAITING = "waiting"


SAME = object()  # the hook gets the message itself
BOOK = BookTop(SYMBOL, 100, 1, 102, 1, 0)
FILL = Fill("c1", "f1", 1, 100, D(0), Liquidity.MAKER)
ROUTES = [
    (BOOK, "on_book", SAME),
    (TradePrint(SYMBOL, 101, 1, BookSide.BUY, "t1", 0), "on_trade", SAME),
    (BookStale(SYMBOL, "gap", 0), "on_stale", SAME),
    (MarketState(SYMBOL, SPEC), "on_market_state", SAME),
    (Wake("requote"), "on_wake", "requote"),
    (PauseQuoting("operator"), "on_pause", "operator"),
    (ResumeQuoting(), "on_pause", None),
    (Ack("c1"), "on_report", SAME),
    (FILL, "on_report", SAME),
    (OwnFill(SYMBOL, "s1", "c1", "f1", Side.BUY, 1, 100, D(0), Liquidity.MAKER, 0), "on_report",
     SAME),
    (Dropped(OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100), Priority.NEW, "stale",
             0, 0),
     "on_report", SAME),
    (RiskRefused("c1", SYMBOL, Gate.STALE_BOOK, GateAction.BLOCK_NEW), "on_report", SAME),
    ("anything else", "on_message", SAME),
]


def shell_of(engine: Engine) -> tuple[FakeContext, StrategyShell]:
    ctx = FakeContext("s1")
    shell = StrategyShell(engine, ctx.ref("gate"), ctx.ref("journal"))
    ctx.start(shell)
    return ctx, shell


@pytest.mark.parametrize(("message", "hook", "arg"), ROUTES,
                         ids=[f"{type(m).__name__}->{h}" for m, h, _ in ROUTES])
def test_each_message_reaches_its_hook(message: Any, hook: str, arg: Any) -> None:
    engine = Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(engine)
    ctx.deliver(shell, message)
    assert engine.calls[-1] == (hook, message if arg is SAME else arg)


CAUSES = {"on_book": Trigger.MARKET, "on_trade": Trigger.MARKET, "on_stale": Trigger.MARKET,
          "on_market_state": Trigger.MARKET, "on_wake": Trigger.TIMER,
          "on_pause": Trigger.CONTROL, "on_report": Trigger.REPORT, "on_message": Trigger.OTHER}


@pytest.mark.parametrize(("message", "hook", "arg"), ROUTES,
                         ids=[f"{type(m).__name__}->{h}" for m, h, _ in ROUTES])
def test_each_proposal_says_what_caused_it_so_only_market_data_counts_as_a_tick(
        message: Any, hook: str, arg: Any) -> None:
    engine = Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(engine)
    intent = OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100)
    engine.next = Decision((intent,), trigger_ns=42)
    ctx.deliver(shell, message)
    (proposal,) = ctx.ref("gate").messages
    assert proposal.trigger is CAUSES[hook]


@pytest.mark.parametrize(("message", "hook", "arg"), ROUTES,
                         ids=[f"{type(m).__name__}->{h}" for m, h, _ in ROUTES])
@pytest.mark.parametrize("decides", [True, False], ids=["decides", "does_not"])
def test_the_shells_own_paths_for_tops_and_prints_are_route_and_trigger_of(
        message: Any, hook: str, arg: Any, decides: bool) -> None:
    """`receive` takes a book top and a print to their hooks itself: the same hook, the same
    argument, the same trigger as the general `route` and `trigger_of`, and nothing carried
    out when the hook decides nothing."""
    by_shell, by_route = Tracing(BareConfig("s1", SPEC)), Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(by_shell)
    intent = OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100)
    if decides:
        by_shell.next = by_route.next = Decision((intent,), Why.WAITING, trigger_ns=42)
    ctx.deliver(shell, message)
    routed = route(by_route, message, 0, 0)
    assert by_shell.calls[1:] == by_route.calls  # after the start's
    if routed is None:  # nothing carried out (the inventory gauge, first set, is no action)
        assert ctx.sent == []
        assert [m for m in ctx.metrics if m.metric != INVENTORY_METRIC] == []
    else:
        (proposal,) = ctx.ref("gate").messages
        assert proposal.trigger is trigger_of(message)


def test_a_decision_may_name_its_cause_and_start_and_stop_are_control() -> None:
    engine = Tracing(BareConfig("s1", SPEC))
    ctx = FakeContext("s1")
    shell = StrategyShell(engine, ctx.ref("gate"), ctx.ref("journal"))
    intent = OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100)
    engine.next = Decision((intent,))
    ctx.start(shell)
    # a message the engine told itself, carrying a book's time: the engine knows better
    engine.next = Decision((intent,), trigger_ns=42, trigger=Trigger.MARKET)
    ctx.deliver(shell, "last look")
    engine.next = Decision((intent,))
    ctx.stop_behaviour(shell)
    assert [p.trigger for p in ctx.ref("gate").messages] == [
        Trigger.CONTROL, Trigger.MARKET, Trigger.CONTROL]


def test_an_engine_with_only_the_required_members_handles_everything_and_does_nothing() -> None:
    ctx, shell = shell_of(Bare(BareConfig("s1", SPEC)))
    ctx.deliver(shell, *(message for message, _, _ in ROUTES))
    ctx.advance(10, shell)
    ctx.stop_behaviour(shell)
    assert ctx.sent == [] and ctx.timers == {} and ctx.metrics == []
    assert shell.snapshot() is None


def test_a_decision_proposes_records_its_why_arms_timers_and_talks_to_itself() -> None:
    engine = Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(engine)
    intent = OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100, TimeInForce.POST_ONLY)
    engine.next = Decision((intent,), Why.WAITING, "detail", (("requote", 0.5),), 42,
                           ("look again",))
    ctx.deliver(shell, BOOK)
    (proposal,) = ctx.ref("gate").messages
    assert isinstance(proposal, Proposal)
    assert (proposal.strategy, proposal.intent, proposal.trigger_recv_ns) == ("s1", intent, 42)
    assert proposal.reply_to is ctx.self_ref
    assert ctx.ref("journal").messages == [NoTrade("s1", SYMBOL, "waiting", 42, "detail")]
    assert ctx.counter("troupe_strategy_no_trade_total", reason="waiting") == 1
    assert list(ctx.timers) == [("s1", "requote")]
    assert engine.calls[-1] == ("on_message", "look again")  # queued behind the book
    assert ctx.gauge_value(INVENTORY_METRIC, strategy="s1") == 7
    ctx.advance(0.5, shell)
    assert engine.calls[-1] == ("on_wake", "requote")


def test_the_inventory_gauge_follows_a_message_that_moved_it_without_a_decision() -> None:
    # An adopted opening, told while no book has come (a restart while the market pauses):
    # nothing to quote, but the gauge must show where the inventory now starts, not 0.
    engine = Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(engine)
    ctx.deliver(shell, "the venue's opening")  # engine.next is None: no decision
    assert engine.calls[-1] == ("on_message", "the venue's opening")
    assert ctx.gauge_value(INVENTORY_METRIC, strategy="s1") == 7


def test_a_proposal_the_gate_refuses_is_rolled_back_through_unsent() -> None:
    engine = Tracing(BareConfig("s1", SPEC))
    ctx, shell = shell_of(engine)
    ctx.ref("gate", refuse="full")
    intent = OrderIntent("c1", SYMBOL, Side.BUY, OrderType.LIMIT, 1, 100)
    engine.next = Decision((intent,))
    ctx.deliver(shell, BOOK)
    assert ("unsent", intent) in engine.calls


def test_the_market_maker_quotes_and_pulls_its_quotes_when_stopped_with_no_host() -> None:
    config = MarketMakerConfig(strategy="mm1", spec=SPEC, quote_lots=1, max_inventory=10,
                               gamma=0.1, k=1.5, sigma=2.0, requote_min_interval_s=0.5)
    ctx = FakeContext("mm1")
    gate = ctx.ref("gate")
    mm = MarketMaker(config, gate)
    ctx.start(mm)
    ctx.deliver(mm, BookTop(SYMBOL, 9900, 5, 10100, 5, 0))
    quotes = [p.intent for p in gate.messages]
    assert {q.side for q in quotes} == {Side.BUY, Side.SELL}
    ctx.deliver(mm, *(Ack(q.client_order_id) for q in quotes))
    ctx.stop_behaviour(mm)
    pulls = [p.intent for p in gate.messages[len(quotes):]]
    assert pulls == [CancelIntent(q.client_order_id, SYMBOL) for q in quotes]
