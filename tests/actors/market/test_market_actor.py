"""The Market actor on the deterministic host: the spec and its version, SpecChanged on a
material change only, and MarketState published on every change and never otherwise."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import attrs
import pytest

from actors.market.market_actor import MarketActor, material_changes
from protocols.feed import Subscribe, Unsubscribe
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import MarketState, SpecChanged, TradingStatus
from protocols.venue_state import (
    FundingUpdate,
    OpenInterestCap,
    OracleUpdate,
    SpecUpdate,
    StatusUpdate,
)
from supervision.runtime.deterministic import DeterministicHost
from supervision.testing import Probe, received

BTC = InstrumentSpec("BTC", "hyperliquid", D("1"), D("0.00001"), 0, D("10"), D("0.00015"),
                     D("0.00045"), ContractType.PERP)




def seen(host: DeterministicHost, name: str = "risk") -> list[Any]:
    return received(host, name)


@pytest.fixture
def rig() -> tuple[DeterministicHost, Any]:
    host = DeterministicHost(seed=7)
    risk = host.spawn("risk", Probe)
    market = host.spawn("market", lambda: MarketActor(BTC, subscribers=[risk]))
    host.settle()
    return host, market


def ignored(host: DeterministicHost, reason: str) -> float:
    key = ("market", "troupe_market_ignored_total", (("reason", reason),))
    return host.metrics.counters.get(key, 0)  # type: ignore[attr-defined]


def test_subscribers_get_the_spec_in_force_at_start(rig: tuple[DeterministicHost, Any]) -> None:
    host, _ = rig
    (state,) = seen(host)
    assert isinstance(state, MarketState)
    assert state.spec == BTC and state.spec.spec_version == 1
    assert state.status is TradingStatus.TRADING


def test_tick_change_is_a_spec_change_with_a_new_version(
    rig: tuple[DeterministicHost, Any],
) -> None:
    host, market = rig
    venue_spec = attrs.evolve(BTC, tick_size=D("0.5"))  # the venue sent version 1 again
    market.tell(SpecUpdate(venue_spec, recv_ns=42))
    host.settle()
    _, change, state = seen(host)
    assert isinstance(change, SpecChanged) and isinstance(state, MarketState)
    assert change.old == BTC and change.new.tick_size == D("0.5")
    assert change.new.spec_version == 2  # numbered by us: the venue's number is not used
    assert change.recv_ns == 42
    assert state.spec == change.new and state.recv_ns == 42
    assert host.actor("market").snapshot["spec_version"] == 2


@pytest.mark.parametrize("field,value", [
    ("lot_step", D("0.0001")), ("min_qty", D("0.001")), ("min_notional", D("5")),
    ("maker_fee", D("0.0001")), ("taker_fee", D("0.0005")), ("multiplier", D("10")),
])
def test_lot_fees_and_limits_are_material(field: str, value: D) -> None:
    changed: dict[str, Any] = {field: value}
    assert material_changes(BTC, attrs.evolve(BTC, **changed)) == (field,)


def test_the_same_spec_changes_nothing_not_even_the_version(
    rig: tuple[DeterministicHost, Any],
) -> None:
    host, market = rig
    market.tell(SpecUpdate(attrs.evolve(BTC, tick_size=D("1.000"), spec_version=9), 1))
    host.settle()
    assert len(seen(host)) == 1  # "1.000" is 1: nothing material, nothing published
    assert host.actor("market").snapshot["spec_version"] == 1


def test_a_venue_numbered_spec_is_taken_as_given_and_an_older_one_refused(
    rig: tuple[DeterministicHost, Any],
) -> None:
    host, market = rig
    v5 = attrs.evolve(BTC, lot_step=D("0.001"), spec_version=5)
    market.tell(SpecUpdate(v5, 1, versioned=True))
    market.tell(SpecUpdate(attrs.evolve(BTC, spec_version=4), 2, versioned=True))  # late
    host.settle()
    changes = [m for m in seen(host) if isinstance(m, SpecChanged)]
    assert [c.new for c in changes] == [v5]
    assert seen(host)[-1].spec == v5
    assert ignored(host, "old_version") == 1


def test_a_spec_for_another_instrument_is_refused(rig: tuple[DeterministicHost, Any]) -> None:
    host, market = rig
    market.tell(SpecUpdate(attrs.evolve(BTC, symbol="ETH", tick_size=D("0.1")), 1))
    market.tell(StatusUpdate("ETH", TradingStatus.HALTED, 1))
    host.settle()
    assert len(seen(host)) == 1
    assert ignored(host, "wrong_instrument") == 1 and ignored(host, "misrouted") == 1


def test_state_is_published_on_change_only(rig: tuple[DeterministicHost, Any]) -> None:
    host, market = rig
    for message in (
        StatusUpdate("BTC", TradingStatus.REDUCE_ONLY, 10),
        StatusUpdate("BTC", TradingStatus.REDUCE_ONLY, 11),  # unchanged
        OpenInterestCap("BTC", True, 12),
        OpenInterestCap("BTC", True, 13),  # unchanged
        FundingUpdate("BTC", "0.0000125", 1_700_000_000_000_000_000, 14),
        FundingUpdate("BTC", "0.0000125", 1_700_000_000_000_000_000, 15),  # unchanged
    ):
        market.tell(message)
    host.settle()
    states = seen(host)[1:]
    assert [s.recv_ns for s in states] == [10, 12, 14]
    last = states[-1]
    assert last.status is TradingStatus.REDUCE_ONLY and last.open_interest_capped
    assert last.funding_rate == "0.0000125"


def test_every_oracle_update_refreshes_and_an_older_one_is_ignored(
    rig: tuple[DeterministicHost, Any],
) -> None:
    host, market = rig
    market.tell(OracleUpdate("BTC", 210_000, 210_002, venue_ns=1_000, recv_ns=20))
    market.tell(OracleUpdate("BTC", 210_000, 210_002, venue_ns=2_000, recv_ns=21))  # same prices
    market.tell(OracleUpdate("BTC", 200_000, 200_000, venue_ns=1_500, recv_ns=22))  # older
    host.settle()
    states = seen(host)[1:]
    assert [(s.oracle_x2, s.mark_x2, s.oracle_recv_ns) for s in states] == [
        (210_000, 210_002, 20), (210_000, 210_002, 21)]
    assert ignored(host, "oracle_time_regression") == 1


def test_late_subscriber_gets_the_current_state_and_can_leave(
    rig: tuple[DeterministicHost, Any],
) -> None:
    host, market = rig
    market.tell(StatusUpdate("BTC", TradingStatus.HALTED, 5))
    late = host.spawn("late", Probe)
    market.tell(Subscribe(late))
    host.settle()
    assert seen(host, "late")[0].status is TradingStatus.HALTED
    market.tell(Unsubscribe(late))
    market.tell(StatusUpdate("BTC", TradingStatus.TRADING, 6))
    host.settle()
    assert len(seen(host, "late")) == 1
    assert host.ask(market, StatusUpdate("BTC", TradingStatus.TRADING, 7)).status is (
        TradingStatus.TRADING)


def test_messages_refuse_floats_and_bad_rates() -> None:
    with pytest.raises(ValueError):
        OracleUpdate("BTC", 1.5, None, None, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FundingUpdate("BTC", "NaN", None, 0)
    with pytest.raises(ValueError):
        FundingUpdate("BTC", "abc", None, 0)


def test_spec_change_reaches_the_venue_as_a_cancel_all_through_gate_and_budget() -> None:
    """The whole path: Market -> RiskGate (halts the instrument) -> ActionBudget -> venue."""
    from actors.execution.budget_actor import BUDGET_LEVELS, ActionBudget, budget_priority
    from actors.execution.token_bucket import RateLimit, VenueLimits
    from actors.risk.gate import RiskGate
    from protocols.venue_state import BudgetOpened, CancelAllOrders
    from supervision.runtime.mailbox import StablePriority

    host = DeterministicHost(seed=7)
    venue = host.spawn("venue", Probe)
    limits = VenueLimits(limits=(RateLimit("per_second", 10, 10**9),))
    budget = host.spawn("budget", lambda: ActionBudget(limits, venue),
                        mailbox=StablePriority(BUDGET_LEVELS, budget_priority))
    gate = host.spawn("gate", lambda: RiskGate(budget))
    market = host.spawn("market", lambda: MarketActor(BTC, subscribers=[gate]))
    host.settle()
    market.tell(SpecUpdate(attrs.evolve(BTC, tick_size=D("0.5")), recv_ns=1))
    host.settle()
    # Once (the MarketState after it brings no news); the budget's start said BudgetOpened.
    (cancel_all,) = [m for m in seen(host, "venue") if not isinstance(m, BudgetOpened)]
    assert isinstance(cancel_all, CancelAllOrders) and cancel_all.instrument == "BTC"
    assert host.actor("gate").snapshot["halts"] == {"BTC": "spec_change"}
