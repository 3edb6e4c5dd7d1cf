"""The pure risk rules: every gate with its action, the order they are judged in, and the two
promises that matter most: a cancel always passes, and a reduce-only exit is never blocked by a
rate, exposure, staleness, divergence or band gate (NautilusTrader's HALTED-blocks-exits bug)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs
import pytest

from actors.risk.limits import RiskConfig
from actors.risk.rules import Approved, RiskState
from protocols.commands import CancelAll
from protocols.decisions import (
    Gate,
    GateAction,
    Proposal,
    RiskRefused,
    TradingState,
    TradingStateChanged,
)
from protocols.instruments import ContractType
from protocols.market import BookStale, SpecChanged, TradingStatus
from protocols.orders import CancelIntent, ReplaceIntent, Side
from protocols.risk import RiskPersistentState
from tests.actors.risk.risk_kit import (
    ASK,
    BID,
    CONFIG,
    EPOCH,
    INST,
    MID_X2,
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
# Each gate tripped: its action on a new order, and a reduce-only exit and a cancel still pass


def _stale_book(rs: RiskState) -> tuple[Proposal, int]:
    return propose(order()), T0 + CONFIG.stale_book_ms * MS + 1


def _book_stale_msg(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_book_stale(BookStale(INST, "gap", T0), T0)
    return propose(order()), T0


def _stale_oracle(rs: RiskState) -> tuple[Proposal, int]:
    later = T0 + CONFIG.stale_oracle_ms * MS + 1
    rs.on_book_top(top(later), later)  # the book is fresh, the oracle is not
    return propose(order()), later


def _divergence_holding(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_market_state(market(T0, mark_x2=MID_X2 * 102 // 100), T0)  # 200 bps away
    return propose(order(qty=25)), T0


def _spread_shock(rs: RiskState) -> tuple[Proposal, int]:
    for i in range(1, 5):
        rs.on_book_top(top(T0 + i * MS), T0 + i * MS)
    now = T0 + 5 * MS
    rs.on_book_top(top(now, BID - 10, ASK + 10), now)  # spread 22 ticks vs an EWMA of 2
    return propose(order(qty=25, price=BID - 10)), now


def _oi_cap(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_market_state(market(T0, oi_capped=True), T0)
    return propose(order()), T0


def _venue_halt(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_market_state(market(T0, status=TradingStatus.HALTED), T0)
    return propose(order()), T0


def _position_limit(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_portfolio(snapshot(T0, 58), T0, EPOCH + T0)
    return propose(order(qty=5)), T0


def _total_exposure(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_portfolio(snapshot(T0, 20, exposure=Decimal(19_900)), T0, EPOCH + T0)
    return propose(order(qty=5)), T0


def _order_notional(rs: RiskState) -> tuple[Proposal, int]:
    return propose(order(qty=51)), T0  # 51 lots x 100 = 5_100 > 5_000


def _price_band(rs: RiskState) -> tuple[Proposal, int]:
    return propose(order(price=BID * 94 // 100)), T0  # 6 % below the mid, band 5 %


def _order_rate(rs: RiskState) -> tuple[Proposal, int]:
    for i in range(CONFIG.rate_per_strategy.count):
        approved(rs.check(propose(order(price=BID - i)), T0))
    return propose(order(price=BID - 10)), T0


def _duplicate(rs: RiskState) -> tuple[Proposal, int]:
    approved(rs.check(propose(order(cid="c-mm-first")), T0))
    return propose(order(cid="c-mm-second")), T0


def _daily_loss(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_portfolio(snapshot(T0, 20, daily=Decimal(-1_000)), T0, EPOCH + T0)
    return propose(order()), T0


def _drawdown(rs: RiskState) -> tuple[Proposal, int]:
    rs.on_portfolio(snapshot(T0, 20, peak=Decimal(5_000), equity=Decimal(2_500)), T0,
                    EPOCH + T0)
    return propose(order()), T0


TRIPS: list[tuple[str, Callable[[RiskState], tuple[Proposal, int]], Gate, GateAction]] = [
    ("stale_book", _stale_book, Gate.STALE_BOOK, GateAction.BLOCK_NEW),
    ("book_stale_message", _book_stale_msg, Gate.STALE_BOOK, GateAction.BLOCK_NEW),
    ("stale_oracle", _stale_oracle, Gate.STALE_ORACLE, GateAction.BLOCK_NEW),
    ("divergence_holding", _divergence_holding, Gate.MARK_MID_DIVERGENCE, GateAction.SCALE),
    ("spread_shock", _spread_shock, Gate.SPREAD_SHOCK, GateAction.SCALE),
    ("open_interest_cap", _oi_cap, Gate.OPEN_INTEREST_CAP, GateAction.BLOCK_NEW),
    ("venue_halt", _venue_halt, Gate.VENUE_HALT, GateAction.BLOCK_NEW),
    ("position_limit", _position_limit, Gate.POSITION_LIMIT, GateAction.BLOCK_NEW),
    ("total_exposure", _total_exposure, Gate.TOTAL_EXPOSURE, GateAction.BLOCK_NEW),
    ("order_notional", _order_notional, Gate.ORDER_NOTIONAL, GateAction.BLOCK_NEW),
    ("price_band", _price_band, Gate.PRICE_BAND, GateAction.BLOCK_NEW),
    ("order_rate", _order_rate, Gate.ORDER_RATE, GateAction.BLOCK_NEW),
    ("duplicate_intent", _duplicate, Gate.DUPLICATE_INTENT, GateAction.BLOCK_NEW),
    ("daily_loss", _daily_loss, Gate.DAILY_LOSS, GateAction.BLOCK_NEW),
    ("max_drawdown", _drawdown, Gate.MAX_DRAWDOWN, GateAction.BLOCK_NEW),
]


@pytest.mark.parametrize(("trip", "gate", "action"), [t[1:] for t in TRIPS],
                         ids=[t[0] for t in TRIPS])
def test_each_gate_acts_and_never_blocks_an_exit_or_a_cancel(trip, gate, action) -> None:
    rs = ready(position=20)
    new, now = trip(rs)
    decision = rs.check(new, now)
    if action is GateAction.SCALE:
        assert isinstance(decision, Approved) and decision.scaled is not None
        assert decision.scaled.gate is gate
        assert decision.proposal.intent.qty == new.intent.qty // 5
    else:
        refused(decision, gate, action)
    # A reduce-only exit at a price far from the mid, bigger than the notional cap, repeated
    # past the rate limit and identical each time: still passes, unscaled.
    for i in range(CONFIG.rate_per_strategy.count + 2):
        exit_ = order(Side.SELL, 20, BID * 90 // 100, reduce_only=True, cid=f"c-mm-exit{i}")
        approved(rs.check(propose(exit_), now), exit_)
        approved(rs.check(propose(order(Side.SELL, 20, None, reduce_only=True)), now))
    cancel = CancelIntent("c-mm-anything", INST)
    approved(rs.check(propose(cancel), now), cancel)


def test_a_cancel_passes_everything_at_once() -> None:
    rs = ready(position=20)
    rs.on_spec_changed(SpecChanged(INST, SPEC, attrs.evolve(SPEC, spec_version=2), T0), T0)
    rs.on_book_stale(BookStale(INST, "gap", T0), T0)
    rs.set_trading_state(TradingState.HALTED, "kill switch", "control", T0, EPOCH + T0)
    for inst in (INST, "NEVER-SEEN"):
        cancel = CancelIntent("c-mm-1", inst)
        approved(rs.check(propose(cancel), T0 + 3_600 * SEC), cancel)
    assert rs.refusals == {}


# --------------------------------------------------------------------------------------------
# Trading states


def test_reducing_allows_only_reduce_only_and_cancels() -> None:
    rs = ready(position=-20)  # short: a BUY reduces
    effects = rs.set_trading_state(TradingState.REDUCING, "operator", "control", T0, EPOCH + T0)
    assert effects == [CancelAll(None, "REDUCING: operator"),
                       TradingStateChanged(TradingState.ACTIVE, TradingState.REDUCING,
                                           "operator", "control", T0)]
    refused(rs.check(propose(order(Side.SELL)), T0), Gate.TRADING_STATE)
    refused(rs.check(propose(order(Side.BUY)), T0), Gate.TRADING_STATE)
    exit_ = order(Side.BUY, reduce_only=True)
    approved(rs.check(propose(exit_), T0), exit_)


def test_halted_blocks_reduce_only_unless_an_explicit_flatten() -> None:
    rs = ready(position=20)
    rs.set_trading_state(TradingState.HALTED, "kill switch", "control", T0, EPOCH + T0)
    exit_ = order(Side.SELL, 10, reduce_only=True)
    refused(rs.check(propose(exit_), T0), Gate.TRADING_STATE, GateAction.CANCEL_ALL_AND_HALT)
    assert rs.flatten_instrument("ETH-PERP", "other one") == [
        CancelAll("ETH-PERP", "flatten: other one")]
    refused(rs.check(propose(exit_), T0), Gate.TRADING_STATE, GateAction.CANCEL_ALL_AND_HALT)
    assert rs.flatten_instrument(INST, "desk") == [CancelAll(INST, "flatten: desk")]
    approved(rs.check(propose(exit_), T0), exit_)
    # a flatten is no licence for anything else
    refused(rs.check(propose(order(Side.BUY)), T0), Gate.TRADING_STATE,
            GateAction.CANCEL_ALL_AND_HALT)
    refused(rs.check(propose(order(Side.SELL, 25, reduce_only=True)), T0), Gate.INVALID_ORDER)
    # ACTIVE ends the flatten: the next halt needs a new one
    rs.set_trading_state(TradingState.ACTIVE, "resume", "control", T0, EPOCH + T0)
    rs.set_trading_state(TradingState.HALTED, "again", "control", T0, EPOCH + T0)
    refused(rs.check(propose(order(Side.SELL, 10, reduce_only=True)), T0),
            Gate.TRADING_STATE, GateAction.CANCEL_ALL_AND_HALT)
    rs.flatten_instrument(None, "everything")
    approved(rs.check(propose(order(Side.SELL, 10, reduce_only=True)), T0))


@pytest.mark.parametrize(("position", "side", "qty"), [
    (0, Side.SELL, 5),     # flat: nothing to reduce
    (20, Side.BUY, 5),     # long and buying: increases
    (20, Side.SELL, 25),   # more than the position: flips
    (-20, Side.SELL, 5),   # short and selling
])
def test_a_reduce_only_that_would_not_reduce_is_invalid(position, side, qty) -> None:
    rs = ready(position=position)
    refused(rs.check(propose(order(side, qty, reduce_only=True)), T0), Gate.INVALID_ORDER)


def test_reduce_only_replace_of_an_unknown_order_must_fit_the_position() -> None:
    rs = ready(position=20)
    approved(rs.check(propose(ReplaceIntent("c-mm-old", INST, 20, BID, reduce_only=True)), T0))
    refused(rs.check(propose(ReplaceIntent("c-mm-old", INST, 21, BID, reduce_only=True)), T0),
            Gate.INVALID_ORDER)


# --------------------------------------------------------------------------------------------
# Scaling


def test_scaling_rounds_down_to_the_lot_and_refuses_below_the_venue_minimum() -> None:
    rs = ready(position=20)
    rs.on_market_state(market(T0, mark_x2=MID_X2 * 102 // 100), T0)
    decision = approved(rs.check(propose(order(qty=29, cid="c-mm-29")), T0))
    assert decision.proposal.intent.qty == 5  # 29 / 5 = 5.8 -> 5 lots
    assert decision.proposal.intent.client_order_id == "c-mm-29"
    assert decision.scaled is not None
    assert (decision.scaled.original_qty, decision.scaled.qty) == (29, 5)
    # 24 / 5 -> 4 lots, below min_qty 0.05 (5 lots): refused by the scaling gate itself
    refused(rs.check(propose(order(qty=24)), T0), Gate.MARK_MID_DIVERGENCE, GateAction.SCALE)
    tiny = attrs.evolve(SPEC, min_qty=Decimal("0.01"), min_notional=Decimal(1))
    rs = ready(position=20)
    rs.on_market_state(market(T0, spec=tiny, mark_x2=MID_X2 * 102 // 100), T0)
    rs.resume_instrument(INST, "checked", "test", T0)
    too_small = rs.check(propose(order(qty=4)), T0)
    refused(too_small, Gate.MARK_MID_DIVERGENCE, GateAction.SCALE)
    assert isinstance(too_small, RiskRefused) and "below one lot" in too_small.detail


def test_divergence_blocks_when_flat_and_scales_when_holding() -> None:
    rs = ready(position=0)
    rs.on_market_state(market(T0, mark_x2=MID_X2 * 102 // 100), T0)
    refused(rs.check(propose(order(qty=25)), T0), Gate.MARK_MID_DIVERGENCE)
    rs.on_portfolio(snapshot(T0, 10), T0, EPOCH + T0)
    decision = approved(rs.check(propose(order(qty=25)), T0))
    assert decision.scaled is not None and decision.proposal.intent.qty == 5


def test_spread_shock_needs_a_warm_ewma_and_is_judged_before_the_sample() -> None:
    rs = ready()
    now = T0 + MS
    rs.on_book_top(top(now, BID - 10, ASK + 10), now)  # the 2nd sample: the EWMA is not warm
    assert approved(rs.check(propose(order(qty=25, price=BID - 10)), now)).scaled is None
    rs = ready()
    for i in range(1, 4):
        rs.on_book_top(top(T0 + i * MS), T0 + i * MS)
    # After a long quiet spell the shock, once folded in, nearly *is* the EWMA: judging it
    # against the EWMA after the sample would never see it. It is judged against the one before.
    now = T0 + 600 * SEC
    rs.on_market_state(market(now), now)
    rs.on_book_top(top(now, BID - 10, ASK + 10), now)
    view = rs.views[INST]
    assert view.spread_ewma is not None and view.spread_ewma > 21
    decision = approved(rs.check(propose(order(qty=25, price=BID - 10)), now))
    assert decision.scaled is not None and decision.scaled.gate is Gate.SPREAD_SHOCK


# --------------------------------------------------------------------------------------------
# Duplicates and resends


def test_duplicate_intent_within_the_window_but_not_after() -> None:
    rs = ready()
    approved(rs.check(propose(order(cid="c-mm-a")), T0))
    refused(rs.check(propose(order(cid="c-mm-b")), T0 + 999 * MS), Gate.DUPLICATE_INTENT)
    refused(rs.check(propose(order(cid="c-mm-c"), strategy="mm"), T0), Gate.DUPLICATE_INTENT)
    approved(rs.check(propose(order(cid="c-mm-d"), strategy="other"), T0))  # other strategy
    approved(rs.check(propose(order(qty=11, cid="c-mm-e")), T0))  # other qty
    approved(rs.check(propose(order(cid="c-mm-f")), T0 + CONFIG.duplicate_window_ms * MS))


def test_a_resend_with_the_same_id_passes_unchanged_and_uncounted() -> None:
    rs = ready(position=20)
    rs.on_market_state(market(T0, mark_x2=MID_X2 * 102 // 100), T0)
    first = order(qty=25, cid="c-mm-7")
    sent = approved(rs.check(propose(first), T0)).proposal.intent
    assert sent.qty == 5
    rs.on_market_state(market(T0), T0)  # the divergence is gone
    for _ in range(CONFIG.rate_per_strategy.count + 2):  # a resend is not a new order
        again = approved(rs.check(propose(first), T0))
        assert again.resend and again.proposal.intent == sent  # the same order, as first sent
    assert rs.resends == CONFIG.rate_per_strategy.count + 2
    refused(rs.check(propose(attrs.evolve(first, qty=26)), T0), Gate.INVALID_ORDER)
    # a resend is still judged by the state of the world: halted means not sent
    rs.set_trading_state(TradingState.HALTED, "stop", "control", T0, EPOCH + T0)
    refused(rs.check(propose(first), T0), Gate.TRADING_STATE, GateAction.CANCEL_ALL_AND_HALT)


# --------------------------------------------------------------------------------------------
# One reason, in the written order


def test_every_refusal_has_one_reason_the_first_in_rule_order() -> None:
    rs = ready(position=58)
    rs.on_market_state(market(T0, oi_capped=True), T0)
    bad = order(qty=60, price=BID * 90 // 100)  # band, notional, position and OI all broken
    stale = T0 + CONFIG.stale_book_ms * MS + 1
    rs.on_market_state(market(stale, oi_capped=True), stale)
    refused(rs.check(propose(bad), stale), Gate.STALE_BOOK)
    rs.on_book_top(top(stale), stale)
    refused(rs.check(propose(bad), stale), Gate.OPEN_INTEREST_CAP)
    rs.on_market_state(market(stale), stale)
    refused(rs.check(propose(bad), stale), Gate.PRICE_BAND)
    refused(rs.check(propose(attrs.evolve(bad, price=BID)), stale), Gate.ORDER_NOTIONAL)
    refused(rs.check(propose(attrs.evolve(bad, qty=5, price=BID)), stale), Gate.POSITION_LIMIT)
    assert sum(rs.refusals.values()) == 5
    assert set(rs.refusals) == {Gate.STALE_BOOK, Gate.OPEN_INTEREST_CAP, Gate.PRICE_BAND,
                                Gate.ORDER_NOTIONAL, Gate.POSITION_LIMIT}


def test_price_band_boundary_is_inclusive() -> None:
    rs = ready()
    rs.on_book_top(top(T0, 19_999, 20_001), T0)  # mid 20_000 ticks: 5 % is exactly 1_000 ticks
    approved(rs.check(propose(order(Side.BUY, price=19_000)), T0))
    approved(rs.check(propose(order(Side.SELL, price=21_000)), T0))
    refused(rs.check(propose(order(Side.BUY, price=18_999)), T0), Gate.PRICE_BAND)
    refused(rs.check(propose(order(Side.SELL, price=21_001)), T0), Gate.PRICE_BAND)


def test_a_refused_order_uses_no_rate_slot_and_leaves_no_duplicate() -> None:
    rs = ready(config=attrs.evolve(CONFIG, duplicate_window_ms=5_000))
    for _ in range(10):
        refused(rs.check(propose(order(price=BID // 2)), T0), Gate.PRICE_BAND)
        refused(rs.check(propose(order(qty=55)), T0), Gate.ORDER_NOTIONAL)
    for i in range(CONFIG.rate_per_strategy.count):
        approved(rs.check(propose(order(price=BID - i)), T0))
    refused(rs.check(propose(order(price=BID - 9)), T0), Gate.ORDER_RATE)
    later = T0 + SEC  # the rate window has passed, the duplicate window has not
    rs.on_book_top(top(later), later)
    approved(rs.check(propose(order(price=BID - 9)), later))  # the refusal left no trace
    refused(rs.check(propose(order(price=BID - 3)), later), Gate.DUPLICATE_INTENT)


def test_order_rate_is_a_sliding_window_per_strategy_and_per_instrument() -> None:
    rs = ready()
    for i in range(4):
        approved(rs.check(propose(order(price=BID - i), strategy="a"), T0 + i * MS))
    refused(rs.check(propose(order(price=BID - 9), strategy="a"), T0 + 4 * MS), Gate.ORDER_RATE)
    approved(rs.check(propose(order(price=BID - 9), strategy="b"), T0 + 4 * MS))
    approved(rs.check(propose(order(price=BID - 8), strategy="b"), T0 + 4 * MS))
    refused(rs.check(propose(order(price=BID - 7), strategy="c"), T0 + 4 * MS), Gate.ORDER_RATE)
    # replaces count too
    refused(rs.check(propose(ReplaceIntent("c-mm-1", INST, 10, BID), "c"), T0 + 5 * MS),
            Gate.ORDER_RATE)
    approved(rs.check(propose(order(price=BID - 7), strategy="a"), T0 + SEC + MS))


def test_position_limit_lets_an_order_shrink_a_position_above_the_limit() -> None:
    rs = ready(position=70)  # above the limit of 60 (the limit was lowered)
    refused(rs.check(propose(order(Side.BUY, 5)), T0), Gate.POSITION_LIMIT)
    approved(rs.check(propose(order(Side.SELL, 5)), T0))


def test_spot_needs_no_oracle_but_a_perp_does() -> None:
    spot = attrs.evolve(SPEC, symbol="BTC-USDT", contract_type=ContractType.SPOT)
    rs = RiskState(CONFIG)
    rs.on_market_state(market(T0, spec=spot, mark_x2=None, inst="BTC-USDT"), T0)
    rs.on_book_top(top(T0, inst="BTC-USDT"), T0)
    approved(rs.check(propose(order(inst="BTC-USDT")), T0))
    rs.on_market_state(market(T0, mark_x2=None), T0)
    rs.on_book_top(top(T0), T0)
    refused(rs.check(propose(order()), T0), Gate.STALE_ORACLE)


def test_unknown_instrument_and_below_minimum_are_invalid() -> None:
    rs = ready()
    refused(rs.check(propose(order(inst="DOGE-PERP")), T0), Gate.INVALID_ORDER)
    refused(rs.check(propose(order(qty=4)), T0), Gate.INVALID_ORDER)  # 0.04 < min 0.05
    refused(rs.check(propose("not an intent"), T0), Gate.INVALID_ORDER)


def test_config_refuses_floats_and_persistent_state_is_plain_data() -> None:
    with pytest.raises(ValueError):
        RiskConfig(max_total_exposure=1000.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RiskConfig(scale_numerator=5, scale_denominator=5)
    record = ready().persistent_state()
    assert isinstance(record, RiskPersistentState)
    assert RiskState(CONFIG, restored=record).persistent_state() == record
