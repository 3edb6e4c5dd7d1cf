"""Risk-gate trading states: daily loss, drawdown and drift, persistence, and instrument halts."""

from __future__ import annotations

from decimal import Decimal

import attrs

from actors.risk.rules import RiskState
from actors.risk.views import DAY_NS
from protocols.commands import CancelAll
from protocols.decisions import (
    Gate,
    GateAction,
    TradingState,
    TradingStateChanged,
)
from protocols.market import BookStale, SpecChanged, TradingStatus
from protocols.orders import Side
from protocols.portfolio import ReconciliationDrift
from protocols.risk import InstrumentHalted, InstrumentResumed
from tests.actors.risk.risk_kit import (
    CONFIG,
    EPOCH,
    INST,
    MS,
    SEC,
    SPEC,
    T0,
    approved,
    market,
    order,
    propose,
    ready,
    refused,
    snapshot,
    top,
)

# --------------------------------------------------------------------------------------------
# Daily loss, drawdown, drift, persistence


def test_daily_loss_moves_to_reducing_persists_and_a_new_day_does_not_resume() -> None:
    rs = ready(position=20)
    day = (EPOCH + T0) // DAY_NS
    effects = rs.on_portfolio(snapshot(T0, 20, daily=Decimal(-1_000)), T0, EPOCH + T0)
    assert effects == [
        CancelAll(None, "REDUCING: daily realized loss 1000 >= 1000"),
        TradingStateChanged(TradingState.ACTIVE, TradingState.REDUCING,
                            "daily realized loss 1000 >= 1000", "risk_gate", T0),
    ]
    record = rs.persistent_state()
    assert record.trading_state is TradingState.REDUCING and record.cause is Gate.DAILY_LOSS
    assert (record.daily.utc_day, record.daily.breached) == (day, True)
    assert record.daily.realized_pnl == Decimal(-1_000)

    fresh = RiskState(CONFIG, restored=record)  # a restart
    fresh.on_market_state(market(T0), T0)
    fresh.on_book_top(top(T0), T0)
    refused(fresh.check(propose(order()), T0), Gate.DAILY_LOSS)
    # Until the Portfolio speaks after a restart the position is unknown (taken as flat), so a
    # reduce-only cannot prove it reduces: refused as invalid, never let through blind.
    refused(fresh.check(propose(order(Side.SELL, reduce_only=True)), T0), Gate.INVALID_ORDER)
    tomorrow = EPOCH + (day + 1 - EPOCH // DAY_NS) * DAY_NS + T0
    assert fresh.on_portfolio(snapshot(T0, 20), T0, tomorrow) == []
    assert fresh.daily.utc_day == day + 1 and not fresh.daily.breached
    assert fresh.state is TradingState.REDUCING  # a new day resets the loss, not the state
    refused(fresh.check(propose(order()), T0), Gate.DAILY_LOSS)
    approved(fresh.check(propose(order(Side.SELL, reduce_only=True)), T0))
    fresh.set_trading_state(TradingState.ACTIVE, "new day", "control", T0, tomorrow)
    assert fresh.state is TradingState.ACTIVE
    approved(fresh.check(propose(order()), T0))


def test_resuming_while_the_loss_is_still_beyond_the_limit_goes_straight_back() -> None:
    rs = ready(position=20)
    rs.on_portfolio(snapshot(T0, 20, daily=Decimal(-1_500)), T0, EPOCH + T0)
    effects = rs.set_trading_state(TradingState.ACTIVE, "try", "control", T0, EPOCH + T0)
    assert [(e.old, e.new) for e in effects if isinstance(e, TradingStateChanged)] == [
        (TradingState.REDUCING, TradingState.ACTIVE), (TradingState.ACTIVE, TradingState.REDUCING)]
    assert rs.state is TradingState.REDUCING


def test_yesterdays_snapshot_is_no_loss_today() -> None:
    rs = ready(position=20)
    rs.on_portfolio(snapshot(T0, 20, daily=Decimal(-1_500)), T0, EPOCH + T0)
    tomorrow = EPOCH + T0 + DAY_NS
    rs.set_trading_state(TradingState.ACTIVE, "new day", "control", T0, tomorrow)
    assert rs.state is TradingState.ACTIVE and rs.daily.realized_pnl == 0


def test_drawdown_and_drift_move_to_reducing_never_to_active() -> None:
    rs = ready(position=20)
    effects = rs.on_portfolio(snapshot(T0, 20, peak=Decimal(3_000), equity=Decimal(500)), T0,
                              EPOCH + T0)
    assert effects[-1] == TradingStateChanged(TradingState.ACTIVE, TradingState.REDUCING,
                                              "drawdown 2500 >= 2500", "risk_gate", T0)
    refused(rs.check(propose(order()), T0), Gate.MAX_DRAWDOWN)
    rs2 = ready()
    drift = rs2.on_drift(ReconciliationDrift(INST, 3, 4, T0), T0)
    assert isinstance(drift[-1], TradingStateChanged) and drift[-1].source == "reconciliation"
    assert rs2.state is TradingState.REDUCING
    rs2.set_trading_state(TradingState.HALTED, "stop", "control", T0, EPOCH + T0)
    assert rs2.on_drift(ReconciliationDrift(INST, 3, 5, T0), T0) == []  # never de-escalates
    assert rs2.state is TradingState.HALTED


# --------------------------------------------------------------------------------------------
# Cancel all and halt: time regression, spec change


def test_time_regression_cancels_all_and_halts_the_instrument_only() -> None:
    rs = ready(position=20)
    rs.on_market_state(market(T0, inst="ETH-PERP"), T0)
    rs.on_book_top(top(T0, inst="ETH-PERP"), T0)
    assert rs.on_book_top(top(T0 + MS, venue_ns=EPOCH + 5 * SEC), T0 + MS) == []
    effects = rs.on_book_top(top(T0 + 2 * MS, venue_ns=EPOCH + 4 * SEC), T0 + 2 * MS)
    assert effects == [
        CancelAll(INST, "time_regression: venue time went back 1000000000 ns"),
        InstrumentHalted(INST, Gate.TIME_REGRESSION, "venue time went back 1000000000 ns",
                         T0 + 2 * MS),
    ]
    assert rs.state is TradingState.ACTIVE  # the account stays as it was
    now = T0 + 3 * MS
    refused(rs.check(propose(order()), now), Gate.TIME_REGRESSION,
            GateAction.CANCEL_ALL_AND_HALT)
    # reduce then stop: the position's exit is never blocked by a market gate
    approved(rs.check(propose(order(Side.SELL, 10, reduce_only=True, cid="c-mm-x1")), now))
    approved(rs.check(propose(order(inst="ETH-PERP")), now))
    # repeated regressions do not flood the budget with cancel-alls
    assert rs.on_book_top(top(now, venue_ns=EPOCH + 3 * SEC), now) == []
    rs.flatten_instrument(INST, "get out")
    approved(rs.check(propose(order(Side.SELL, reduce_only=True)), now))
    assert rs.persistent_state().halts[0][0] == INST
    assert rs.resume_instrument(INST, "checked", "control", now) == [
        InstrumentResumed(INST, "checked", "control", now)]
    approved(rs.check(propose(order()), now))


def test_book_stale_time_regression_halts_too() -> None:
    rs = ready()
    effects = rs.on_book_stale(BookStale(INST, "time_regression", T0), T0)
    assert isinstance(effects[0], CancelAll) and isinstance(effects[1], InstrumentHalted)


def test_spec_change_cancels_all_and_halts_once_whichever_message_brings_it() -> None:
    v2 = attrs.evolve(SPEC, tick_size=Decimal(1), spec_version=2)
    rs = ready()
    effects = rs.on_spec_changed(SpecChanged(INST, SPEC, v2, T0), T0)
    assert effects[0] == CancelAll(INST, "spec_change: spec v1 -> v2: tick_size, spec_version")
    assert rs.on_market_state(market(T0, spec=v2), T0) == []  # same news, no second halt
    refused(rs.check(propose(order()), T0), Gate.SPEC_CHANGE, GateAction.CANCEL_ALL_AND_HALT)
    rs2 = ready()
    effects = rs2.on_market_state(market(T0, spec=v2), T0)
    assert [type(e) for e in effects] == [CancelAll, InstrumentHalted]
    assert rs2.on_spec_changed(SpecChanged(INST, SPEC, v2, T0), T0) == []


def test_an_instrument_halt_can_be_configured_to_halt_the_account() -> None:
    rs = ready(config=attrs.evolve(CONFIG, halt_account_on_instrument_halt=True))
    effects = rs.on_book_stale(BookStale(INST, "time_regression", T0), T0)
    assert rs.state is TradingState.HALTED and rs.cause is Gate.TIME_REGRESSION
    assert CancelAll(None, "HALTED: BTC-PERP: the book saw time go back") in effects


def test_venue_reduce_only_status_blocks_new_orders_only() -> None:
    rs = ready(position=20)
    rs.on_market_state(market(T0, status=TradingStatus.REDUCE_ONLY), T0)
    refused(rs.check(propose(order()), T0), Gate.VENUE_HALT)
    approved(rs.check(propose(order(Side.SELL, reduce_only=True)), T0))
