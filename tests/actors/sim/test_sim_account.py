"""The simulated account: spot balances and reservations, perp margin and PnL, reduce-only.

V = 0.05 quote per tick per lot; a lot is 0.5 BTC. Spot fees: maker 2 bps, taker 5 bps; the
perp pays a 1 bp maker rebate and charges 5 bps taker. Default book:

    asks 1004 x 10 | 1002 x 5 | 1001 x 3        bids 999 x 4 | 998 x 6
"""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction as F

import pytest

from actors.sim.account import SimAccount
from protocols.orders import RejectCode
from protocols.portfolio import VenuePositions
from tests.actors.sim.sim_kit import (
    BUY,
    IOC,
    PERP_SYM,
    SELL,
    SYM,
    brief,
    cancel,
    limit,
    market,
    venue,
)

# --------------------------------------------------------------------------------------------
# Spot


def test_a_spot_buy_reserves_quote_with_its_fee_and_a_cancel_frees_it() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 999), 1)
    # 2 lots x 999 x 0.05 = 99.9, plus the 2 bps maker fee it may pay: 99.91998
    assert ex.account.reserved("USDT") == D("99.91998")
    assert ex.account.available("USDT") == D("9900.08002")
    ex.cancel(cancel("b1"), 2)
    assert ex.account.reserved("USDT") == 0 and ex.account.balance("USDT") == D(10000)


def test_a_spot_maker_buy_fill_moves_both_balances_and_releases_the_reservation() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 999), 1)
    ex.on_trade(SYM, 998, 1, SELL, 2)  # through our bid: filled 2 @ 999, fee 0.01998
    assert ex.account.balance("USDT") == D("9900.08002")  # 10000 - 99.9 - 0.01998
    assert ex.account.balance("BTC") == D("11.0")  # + 2 x 0.5
    assert ex.account.reserved("USDT") == 0
    assert ex.account.position(SYM) == 2


def test_a_crossing_spot_buy_reserves_at_the_taker_rate_and_keeps_the_rest_held() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 10, 1002), 1)  # takes 3 @ 1001 and 5 @ 1002, rests 2 @ 1002
    # Paid 150.15 + 250.5 and taker fees 0.075075 + 0.12525.
    assert ex.account.balance("USDT") == D("9599.149675")
    assert ex.account.balance("BTC") == D("14.0")
    # The resting 2 lots stay held at 1002 x 0.05 x 1.0005 = 50.12505 per lot.
    assert ex.account.reserved("USDT") == D("100.2501")


def test_a_spot_sell_reserves_base_and_its_fill_pays_quote_minus_the_fee() -> None:
    ex, _, _ = venue()
    ex.submit(limit("s1", SELL, 4, 1005), 1)
    assert ex.account.reserved("BTC") == D("2.0") and ex.account.available("BTC") == D("8.0")
    ex.on_trade(SYM, 1006, 1, BUY, 2)  # through our ask: 4 @ 1005 = 201 quote, fee 0.0402
    assert ex.account.balance("USDT") == D("10200.9598")
    assert ex.account.balance("BTC") == D("8.0") and ex.account.reserved("BTC") == 0


def test_a_spot_sell_of_more_base_than_held_is_refused() -> None:
    ex, _, _ = venue()
    [reject] = ex.submit(limit("s1", SELL, 21, 1005), 1)  # 21 lots = 10.5 BTC > 10
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS
    assert ex.account.reserved("BTC") == 0


def test_reservations_add_up_across_open_orders() -> None:
    ex, _, _ = venue(balances={"USDT": D(120)})
    ex.submit(limit("b1", BUY, 1, 999), 1)  # holds 49.95999
    ex.submit(limit("b2", BUY, 1, 999), 2)  # holds 49.95999: 20.08002 left
    [reject] = ex.submit(limit("b3", BUY, 1, 999), 3)
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS


def test_a_market_buy_is_held_at_the_worst_price_its_walk_reaches() -> None:
    # 10 lots walk 1001, 1002, 1004: held at 10 x 1004 x 0.05 x 1.0005 = 502.251, although
    # the fills cost 501.05 + 0.250525 in fees.
    ex, _, _ = venue(balances={"USDT": D(502)})
    [reject] = ex.submit(market("m1", BUY, 10), 1)
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS
    ex, _, _ = venue(balances={"USDT": D("502.3")})
    assert len(ex.submit(market("m1", BUY, 10), 1)) == 4
    assert ex.account.balance("USDT") == D("0.999475")
    assert ex.account.reserved("USDT") == 0


# --------------------------------------------------------------------------------------------
# Perp


def test_perp_orders_need_margin_for_the_worst_position_they_could_reach() -> None:
    ex, _, _ = venue(balances={"USDT": D(1000)})
    # 10 lots x 999 x 0.05 = 499.5 <= 1000
    assert brief(ex.submit(limit("b1", BUY, 10, 999, inst=PERP_SYM), 1)) == [("ack", "b1")]
    assert ex.account.margin_used("USDT") == D("499.5")
    # 21 lots of buys at up to 999: 1048.95 > 1000
    [reject] = ex.submit(limit("b2", BUY, 11, 998, inst=PERP_SYM), 2)
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS
    # Sells on the other side do not add to the buys: max(10 x 999, 10 x 1005) x 0.05 = 502.5
    assert brief(ex.submit(limit("s1", SELL, 10, 1005, inst=PERP_SYM), 3)) == [("ack", "s1")]
    assert ex.account.margin_used("USDT") == D("502.5")
    assert ex.account.reserved("USDT") == 0  # perp orders hold margin, not balance


def test_leverage_divides_the_margin_need() -> None:
    ex, _, _ = venue(balances={"USDT": D(1000)}, leverage=D(2))
    # 21 x 999 x 0.05 / 2 = 524.475
    assert len(ex.submit(limit("b1", BUY, 21, 999, inst=PERP_SYM), 1)) == 1
    # 41 x 999 x 0.05 / 2 = 1023.975 > 1000
    [reject] = ex.submit(limit("b2", BUY, 20, 999, inst=PERP_SYM), 2)
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS


def test_perp_fills_keep_an_average_cost_and_realize_pnl_on_reduction() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 1001, IOC, inst=PERP_SYM), 1)  # 2 @ 1001
    ex.submit(limit("b2", BUY, 2, 1002, IOC, inst=PERP_SYM), 2)  # 1 @ 1001, 1 @ 1002
    assert ex.account.position(PERP_SYM) == 4
    assert ex.account.average_price(PERP_SYM) == F(4005, 4)  # 1001.25
    ex.submit(market("m1", SELL, 3, inst=PERP_SYM), 3)  # 3 @ 999
    # realized = 3 x (999 - 1001.25) x 0.05 = -0.3375; the average stays
    assert ex.account.realized_pnl(PERP_SYM) == D("-0.3375")
    assert ex.account.average_price(PERP_SYM) == F(4005, 4)
    # taker fees: 0.05005 + 0.025025 + 0.02505 + 0.074925 = 0.17505
    assert ex.account.balance("USDT") == D("10000") - D("0.17505") - D("0.3375")
    assert ex.account.balance("BTC") == D(10)  # a perp never moves the base asset


def test_a_perp_fill_through_zero_opens_the_rest_at_the_fill_price() -> None:
    ex, _, _ = venue(bids=[(999, 10)])
    ex.submit(limit("b1", BUY, 1, 1001, IOC, inst=PERP_SYM), 1)
    ex.submit(limit("s1", SELL, 3, 999, IOC, inst=PERP_SYM), 2)  # one fill of 3 @ 999
    assert ex.account.position(PERP_SYM) == -2
    assert ex.account.average_price(PERP_SYM) == 999
    assert ex.account.realized_pnl(PERP_SYM) == D("-0.1")  # 1 x (999 - 1001) x 0.05


def test_an_order_that_only_reduces_is_not_refused_for_margin() -> None:
    ex, _, _ = venue(bids=[(800, 10)], asks=[(1000, 10)], balances={"USDT": D(60)},
                     leverage=D(10))
    ex.submit(limit("b1", BUY, 10, 1000, IOC, inst=PERP_SYM), 1)  # margin 50, fee 0.25
    ex.submit(limit("s1", SELL, 4, 800, IOC, inst=PERP_SYM), 2)  # realize -40, fee 0.08
    assert ex.account.balance("USDT") == D("19.67")
    assert ex.account.margin_used("USDT") == D(30)  # 6 x 1000 x 0.05 / 10: more than we have
    # Selling 2 more cannot make the worst case worse (max(6 x 1000, 4 x 1100)): accepted.
    assert brief(ex.submit(limit("s2", SELL, 2, 1100, inst=PERP_SYM), 3)) == [("ack", "s2")]
    # Buying 1 more raises the need to 7 x 1000 x 0.05 / 10 = 35: refused.
    [reject] = ex.submit(limit("b2", BUY, 1, 900, inst=PERP_SYM), 4)
    assert reject.code is RejectCode.INSUFFICIENT_FUNDS


# --------------------------------------------------------------------------------------------
# Reduce-only


def test_reduce_only_that_would_increase_the_position_is_refused() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 1001, IOC, inst=PERP_SYM), 1)  # long 2
    [reject] = ex.submit(limit("r1", BUY, 1, 990, reduce_only=True, inst=PERP_SYM), 2)
    assert (reject.code, reject.message) == (RejectCode.REDUCE_ONLY_WOULD_INCREASE,
                                             "-2022 ReduceOnly Order is rejected.")


def test_reduce_only_fills_are_capped_at_the_position_and_the_rest_expires() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 1001, IOC, inst=PERP_SYM), 1)  # long 2
    reports = ex.submit(limit("r1", SELL, 5, 998, IOC, reduce_only=True, inst=PERP_SYM), 2)
    assert brief(reports) == [("ack", "r1"), ("fill", "r1", 2, 999, "taker"), ("expired", "r1")]
    assert ex.account.position(PERP_SYM) == 0


def test_a_resting_reduce_only_fill_is_capped_too() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 1, 1001, IOC, inst=PERP_SYM), 1)  # long 1
    ex.submit(limit("r1", SELL, 3, 1005, reduce_only=True, inst=PERP_SYM), 2)
    assert brief(ex.on_trade(PERP_SYM, 1006, 5, BUY, 3)) == [
        ("fill", "r1", 1, 1005, "maker"), ("expired", "r1")]


def test_a_resting_reduce_only_order_expires_when_the_position_is_gone() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 1001, IOC, inst=PERP_SYM), 1)  # long 2
    ex.submit(limit("r1", SELL, 2, 1005, reduce_only=True, inst=PERP_SYM), 2)
    reports = ex.submit(market("m1", SELL, 2, inst=PERP_SYM), 3)  # flat by another order
    assert brief(reports) == [("ack", "m1"), ("fill", "m1", 2, 999, "taker"), ("expired", "r1")]
    assert ex.open_orders() == []


def test_spot_reduce_only_works_on_the_net_lots_bought_since_the_start() -> None:
    ex, _, _ = venue()
    [reject] = ex.submit(market("r0", SELL, 1, reduce_only=True), 1)  # 10 BTC held, 0 bought
    assert reject.code is RejectCode.REDUCE_ONLY_WOULD_INCREASE
    ex.submit(limit("b1", BUY, 2, 1001, IOC), 2)
    assert brief(ex.submit(market("r1", SELL, 3, reduce_only=True), 3)) == [
        ("ack", "r1"), ("fill", "r1", 2, 999, "taker"), ("expired", "r1")]


# --------------------------------------------------------------------------------------------
# Reporting and input checks


def test_positions_report_signed_lots_per_instrument_and_balances() -> None:
    ex, _, _ = venue(balances={"USDT": D(1000)})
    ex.submit(limit("s1", SELL, 2, 999, IOC, inst=PERP_SYM), 1)  # short 2 @ 999, fee 0.04995
    assert ex.positions(now_ns=9) == VenuePositions(
        positions=((PERP_SYM, -2), (SYM, 0)),
        balances=(("USDT", D("999.95005")),),
        recv_ns=9,
    )


def test_the_account_refuses_float_money_and_non_positive_leverage() -> None:
    with pytest.raises(TypeError, match="float"):
        SimAccount({"USDT": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="leverage"):
        SimAccount({"USDT": D(1)}, leverage=D(0))
