"""The RiskGate actor on the deterministic host, between a fake strategy and a fake budget:
what goes forward, what comes back, what the subscribers and the journal hear, and the metrics."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from actors.behaviour import Behaviour
from actors.risk.gate import RiskGate
from actors.risk.limits import RateWindow, RiskConfig
from actors.risk.rules import Approved
from actors.risk.views import DAY_NS
from protocols.commands import CancelAll
from protocols.decisions import (
    Gate,
    GateAction,
    Proposal,
    RiskRefused,
    Scaled,
    TradingState,
    TradingStateChanged,
)
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import BookTop, MarketState
from protocols.orders import CancelIntent, OrderIntent, OrderType, Side
from protocols.portfolio import PortfolioSnapshot, Position
from protocols.risk import (
    Flatten,
    InstrumentHalted,
    InstrumentResumed,
    ResumeInstrument,
    RiskPersistentState,
    SetTradingState,
)
from supervision.runtime.deterministic import DeterministicHost

INST = "BTC-PERP"
SPEC = InstrumentSpec(INST, "sim", Decimal("0.5"), Decimal("0.01"), Decimal("0.05"),
                      Decimal(10), Decimal("0.0002"), Decimal("0.0005"), ContractType.PERP)
BID, ASK = 20_000, 20_002
CONFIG = RiskConfig(rate_per_strategy=RateWindow(3, 1_000), spread_warmup_samples=2)


class Inbox(Behaviour):
    """A fake actor (budget, strategy, subscriber, journal) that records what it receives."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any, ctx: Any) -> None:
        self.seen.append(message)

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.seen if isinstance(m, kind)]


def _factory(box: Inbox) -> Callable[[], Behaviour]:
    return lambda: box


class Rig:
    """A gate named "risk" wired to a budget, a strategy, a subscriber and a journal."""

    def __init__(self, restored: RiskPersistentState | None = None,
                 config: RiskConfig = CONFIG) -> None:
        self.host = DeterministicHost(seed=1, start_ns=10**12)
        self.budget, self.strategy, self.watcher, self.journal = Inbox(), Inbox(), Inbox(), Inbox()
        refs = {name: self.host.spawn(name, _factory(box)) for name, box in (
            ("budget", self.budget), ("strategy", self.strategy), ("watcher", self.watcher),
            ("journal", self.journal))}
        self.strategy_ref = refs["strategy"]
        self.gate = self.host.spawn("risk", lambda: RiskGate(
            refs["budget"], config=config, subscribers=[refs["watcher"]],
            journal=refs["journal"], restored=restored))
        self.host.run_until_idle()
        self.ids = 0

    @property
    def now(self) -> int:
        return self.host.monotonic_ns()

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.gate.tell(message)
        self.host.run_until_idle()

    def market(self, position: int = 0, daily: Decimal = Decimal(0)) -> None:
        now = self.now
        positions = (Position(INST, position, Decimal(10_000), Decimal(0), Decimal(0), Decimal(0),
                              Decimal(abs(position) * 100)),) if position else ()
        self.tell(
            MarketState(INST, SPEC, mark_x2=BID + ASK, oracle_x2=BID + ASK, oracle_recv_ns=now,
                        recv_ns=now),
            BookTop(INST, BID, 1, ASK, 1, recv_ns=now, venue_ns=self.host.time_ns()),
            PortfolioSnapshot(positions, Decimal(0), Decimal(0), Decimal(0), daily, Decimal(0),
                              Decimal(0), recv_ns=now),
        )

    def propose(self, side: Side = Side.BUY, qty: int = 10, price: int = BID,
                reduce_only: bool = False) -> OrderIntent:
        self.ids += 1
        intent = OrderIntent(f"c-mm-{self.ids}", INST, side, OrderType.LIMIT, qty, price,
                             reduce_only=reduce_only)
        self.tell(Proposal("mm", intent, self.strategy_ref, self.now))
        return intent

    def counter(self, metric: str, **labels: str) -> float:
        key = ("risk", metric, tuple(sorted(labels.items())))
        return self.host.metrics.counters.get(key, 0)  # type: ignore[attr-defined]

    def gauge(self, metric: str, **labels: str) -> float | None:
        key = ("risk", metric, tuple(sorted(labels.items())))
        return self.host.metrics.gauges.get(key)  # type: ignore[attr-defined]


def test_approved_goes_to_the_budget_and_a_refusal_back_to_the_strategy() -> None:
    rig = Rig()
    rig.market()
    good = rig.propose()
    bad = rig.propose(price=BID // 2)  # far outside the price band
    forwarded = rig.budget.of(Proposal)
    assert [p.intent for p in forwarded] == [good]
    assert forwarded[0].reply_to is rig.strategy_ref
    [refusal] = rig.strategy.seen
    assert isinstance(refusal, RiskRefused)
    assert (refusal.client_order_id, refusal.gate, refusal.action) == (
        bad.client_order_id, Gate.PRICE_BAND, GateAction.BLOCK_NEW)
    assert rig.counter("troupe_risk_refusals_total", gate="price_band") == 1
    assert rig.journal.of(RiskRefused) == [refusal]  # every reason not to trade is journaled
    assert rig.gauge("troupe_trading_state") == 0


def test_a_scaled_proposal_goes_forward_smaller_and_the_strategy_is_told() -> None:
    rig = Rig()
    rig.market()
    for _ in range(3):
        rig.host.advance(0.001)
        rig.tell(BookTop(INST, BID, 1, ASK, 1, recv_ns=rig.now))
    rig.tell(BookTop(INST, BID - 10, 1, ASK + 10, 1, recv_ns=rig.now))  # a spread shock
    intent = rig.propose(qty=27, price=BID - 10)
    [sent] = rig.budget.of(Proposal)
    assert sent.intent.qty == 5 and sent.intent.client_order_id == intent.client_order_id
    assert rig.strategy.seen == [Scaled(intent.client_order_id, INST, Gate.SPREAD_SHOCK, 27, 5)]
    assert rig.counter("troupe_risk_scaled_total", gate="spread_shock") == 1
    assert rig.journal.of(Scaled) == rig.strategy.seen


def test_time_regression_cancels_all_at_the_budget_and_tells_subscribers() -> None:
    rig = Rig()
    rig.market()
    venue = rig.host.time_ns()
    rig.tell(BookTop(INST, BID, 1, ASK, 1, recv_ns=rig.now, venue_ns=venue - 10**9))
    [cancel_all] = rig.budget.of(CancelAll)
    assert cancel_all.instrument == INST and cancel_all.reason.startswith("time_regression")
    [halted] = rig.watcher.of(InstrumentHalted)
    assert halted.gate is Gate.TIME_REGRESSION
    assert rig.gauge("troupe_instrument_halted", instrument=INST) == 1
    assert rig.gauge("troupe_trading_state") == 0  # the account is untouched
    rig.propose()
    assert rig.strategy.seen[-1].gate is Gate.TIME_REGRESSION
    assert rig.strategy.seen[-1].action is GateAction.CANCEL_ALL_AND_HALT
    assert rig.journal.of(RiskPersistentState)[-1].halts[0][0] == INST
    rig.tell(ResumeInstrument(INST, "clock fixed"))
    assert rig.watcher.of(InstrumentResumed)
    rig.propose()
    assert len(rig.budget.of(Proposal)) == 1


def test_daily_loss_reduces_is_journaled_and_a_restored_gate_stays_reducing() -> None:
    rig = Rig()
    rig.market(position=20, daily=Decimal(-1_000))
    assert rig.budget.of(CancelAll) == [CancelAll(None, "REDUCING: daily realized loss 1000 "
                                                        ">= 1000")]
    [changed] = rig.watcher.of(TradingStateChanged)
    assert (changed.old, changed.new, changed.source) == (
        TradingState.ACTIVE, TradingState.REDUCING, "risk_gate")
    assert rig.gauge("troupe_trading_state") == 1
    record = rig.journal.of(RiskPersistentState)[-1]
    assert record.trading_state is TradingState.REDUCING and record.daily.breached

    again = Rig(restored=record)  # the node restarts with the journaled record
    assert again.gauge("troupe_trading_state") == 1
    again.market(position=20)
    again.propose()
    assert again.strategy.seen[-1].gate is Gate.DAILY_LOSS
    exit_ = again.propose(Side.SELL, 20, reduce_only=True)
    assert [p.intent for p in again.budget.of(Proposal)] == [exit_]
    # past midnight UTC: the loss resets, the state does not
    to_midnight = DAY_NS - again.host.time_ns() % DAY_NS
    again.host.advance(to_midnight / 1e9 + 1)
    again.market(position=20)
    assert again.journal.of(RiskPersistentState)[-1].daily.breached is False
    again.propose()
    assert again.strategy.seen[-1].gate is Gate.DAILY_LOSS
    again.tell(SetTradingState(TradingState.ACTIVE, "new day, checked", "control"))
    again.propose()
    assert len(again.budget.of(Proposal)) == 2
    assert again.gauge("troupe_trading_state") == 0


def test_kill_switch_cancels_passes_cancels_and_a_flatten_lets_exits_out() -> None:
    rig = Rig()
    rig.market(position=20)
    rig.tell(SetTradingState(TradingState.HALTED, "kill switch", "alertmanager"))
    assert rig.budget.of(CancelAll) == [CancelAll(None, "HALTED: kill switch")]
    cancel = CancelIntent("c-mm-old", INST)
    rig.tell(Proposal("mm", cancel, rig.strategy_ref, rig.now))
    assert rig.budget.of(Proposal)[-1].intent == cancel
    rig.propose(Side.SELL, 20, reduce_only=True)
    assert rig.strategy.seen[-1].gate is Gate.TRADING_STATE
    assert rig.counter("troupe_risk_refusals_total", gate="trading_state") == 1
    rig.tell(Flatten(INST, "desk says out"))
    assert rig.watcher.of(Flatten) == [Flatten(INST, "desk says out")]
    assert rig.budget.of(CancelAll)[-1] == CancelAll(INST, "flatten: desk says out")
    exit_ = rig.propose(Side.SELL, 20, reduce_only=True)
    assert rig.budget.of(Proposal)[-1].intent == exit_
    rig.propose()  # the flatten is not a licence to open
    assert rig.strategy.seen[-1].gate is Gate.TRADING_STATE


def test_ask_answers_with_the_decision_and_snapshot_shows_the_state() -> None:
    rig = Rig()
    rig.market()
    intent = OrderIntent("c-mm-x", INST, Side.BUY, OrderType.LIMIT, 10, BID)
    decision = rig.host.ask(rig.gate, Proposal("mm", intent, None, rig.now))
    assert isinstance(decision, Approved) and decision.proposal.intent == intent
    rig.tell("nonsense")
    assert rig.counter("troupe_risk_unhandled_total", kind="str") == 1
    snap = rig.host.actor("risk").snapshot
    assert snap["trading_state"] == "ACTIVE" and snap["approved"] == 1
    assert snap["refusals"] == {}
