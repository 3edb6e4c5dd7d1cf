"""SimExchange matching: order types, partial fills, fees, refusals, cancels, replaces.

The book, unless a test says otherwise (ticks and lots; V = 0.05 quote per tick per lot):

    asks 1004 x 10 | 1002 x 5 | 1001 x 3        bids 999 x 4 | 998 x 6
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.quantization import lots_to_qty, notional, ticks_to_price
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange
from actors.sim.matching import SimInstrument, check_filters
from actors.sim.queue_models import PowerProbQueue
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Ack,
    CancelAck,
    CancelReject,
    CancelRejectCode,
    Expired,
    Fill,
    Liquidity,
    Reject,
    RejectCode,
)
from tests.actors.sim.sim_kit import (
    BUY,
    FOK,
    IOC,
    PERP_SYM,
    POST,
    SELL,
    SPEC,
    SPOT,
    SYM,
    brief,
    cancel,
    limit,
    market,
    replace,
    state,
    venue,
)

# --------------------------------------------------------------------------------------------
# Order types


def test_a_limit_order_below_the_ask_rests_behind_the_displayed_level() -> None:
    ex, _book, _ = venue()
    reports = ex.submit(limit("b1", BUY, 2, 999), now_ns=5)
    assert reports == [Ack("b1", "1", venue_ns=5)]
    [order] = ex.open_orders()
    assert (order.client_order_id, order.side, order.price, order.qty) == ("b1", BUY, 999, 2)
    assert order.ahead == 4  # the 4 lots displayed at 999 are in front of us
    assert ex.resting_prices(SYM) == {(BUY, 999)}


def test_an_order_that_improves_the_level_is_first_in_its_queue() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 1000), now_ns=5)
    assert ex.open_orders()[0].ahead == 0


def test_a_crossing_gtc_order_takes_what_it_can_and_rests_the_rest() -> None:
    ex, _, _ = venue()
    reports = ex.submit(limit("b1", BUY, 10, 1002), now_ns=7)
    assert brief(reports) == [
        ("ack", "b1"),
        ("fill", "b1", 3, 1001, "taker"),  # best level first, at the level's price
        ("fill", "b1", 5, 1002, "taker"),
    ]
    [order] = ex.open_orders()
    assert (order.price, order.qty, order.ahead, order.filled) == (1002, 2, 0, 8)


def test_a_market_order_walks_the_book_across_levels() -> None:
    ex, _, _ = venue()
    reports = ex.submit(market("m1", BUY, 10), now_ns=7)
    assert brief(reports) == [
        ("ack", "m1"),
        ("fill", "m1", 3, 1001, "taker"),
        ("fill", "m1", 5, 1002, "taker"),
        ("fill", "m1", 2, 1004, "taker"),
    ]
    assert ex.open_orders() == []


def test_a_market_order_larger_than_the_book_expires_the_remainder() -> None:
    ex, _, _ = venue()
    reports = ex.submit(market("m1", SELL, 15), now_ns=7)
    assert brief(reports) == [
        ("ack", "m1"),
        ("fill", "m1", 4, 999, "taker"),
        ("fill", "m1", 6, 998, "taker"),
        ("expired", "m1"),
    ]


def test_a_market_order_on_an_empty_side_is_acked_and_expires() -> None:
    ex, _, _ = venue(asks=[])
    assert brief(ex.submit(market("m1", BUY, 1), now_ns=7)) == [("ack", "m1"), ("expired", "m1")]
    assert ex.statistics().fills == 0


def test_ioc_fills_what_crosses_and_expires_the_rest() -> None:
    ex, _, _ = venue()
    reports = ex.submit(limit("i1", BUY, 5, 1001, IOC), now_ns=7)
    assert brief(reports) == [("ack", "i1"), ("fill", "i1", 3, 1001, "taker"), ("expired", "i1")]
    assert ex.open_orders() == []


def test_ioc_that_does_not_cross_expires_without_trading() -> None:
    ex, _, _ = venue()
    assert brief(ex.submit(limit("i1", BUY, 5, 1000, IOC), now_ns=7)) == [
        ("ack", "i1"), ("expired", "i1")]


def test_fok_fills_in_full_when_the_book_holds_enough() -> None:
    ex, _, _ = venue()
    reports = ex.submit(limit("f1", BUY, 8, 1002, FOK), now_ns=7)
    assert brief(reports) == [
        ("ack", "f1"), ("fill", "f1", 3, 1001, "taker"), ("fill", "f1", 5, 1002, "taker")]


def test_fok_that_cannot_fill_in_full_expires_and_trades_nothing() -> None:
    ex, _, _ = venue()
    before = ex.account.balances()
    reports = ex.submit(limit("f1", BUY, 9, 1002, FOK), now_ns=7)  # 3 + 5 = 8 < 9 within 1002
    assert brief(reports) == [("ack", "f1"), ("expired", "f1")]
    assert ex.account.balances() == before
    assert ex.account.reserved("USDT") == 0
    # Nothing was taken: the whole book is still there for the next order.
    assert brief(ex.submit(limit("f2", BUY, 8, 1002, FOK), now_ns=8))[1:] == [
        ("fill", "f2", 3, 1001, "taker"), ("fill", "f2", 5, 1002, "taker")]


def test_post_only_that_would_cross_is_refused_with_binances_message() -> None:
    ex, _, _ = venue()
    [reject] = ex.submit(limit("p1", BUY, 1, 1001, POST), now_ns=7)
    assert reject == Reject("p1", RejectCode.POST_ONLY_WOULD_TAKE,
                            "-2010 Order would immediately match and take.", venue_ns=7)
    assert ex.open_orders() == []


def test_post_only_that_does_not_cross_rests() -> None:
    ex, _, _ = venue()
    assert brief(ex.submit(limit("p1", SELL, 2, 1002, POST), now_ns=7)) == [("ack", "p1")]
    assert ex.open_orders()[0].ahead == 5


# --------------------------------------------------------------------------------------------
# Liquidity we took is not offered twice


def test_liquidity_we_took_is_not_offered_again_until_the_feed_changes_the_level() -> None:
    ex, book, _ = venue()
    ex.submit(limit("i1", BUY, 3, 1001, IOC), now_ns=1)  # lifts all 3 lots at 1001
    # The recorded feed still shows 1001 x 3, but those lots are ours now.
    assert brief(ex.submit(limit("i2", BUY, 3, 1001, IOC), now_ns=2)) == [
        ("ack", "i2"), ("expired", "i2")]
    assert ex.on_depth_change(SYM, now_ns=3) == []  # nothing changed: still taken
    book.apply_updates([(SELL, 1001, 2)], recv_ns=4)  # the feed moves on: its figure wins
    ex.on_depth_change(SYM, now_ns=4)
    assert brief(ex.submit(limit("i3", BUY, 3, 1001, IOC), now_ns=5)) == [
        ("ack", "i3"), ("fill", "i3", 2, 1001, "taker"), ("expired", "i3")]


def test_a_resting_remainder_is_not_filled_again_by_the_level_it_emptied() -> None:
    ex, book, _ = venue()
    ex.submit(limit("b1", BUY, 5, 1001), now_ns=1)  # takes 3 @ 1001, rests 2 @ 1001
    assert ex.on_depth_change(SYM, now_ns=2) == []  # the ask at 1001 is the one we emptied
    book.apply_updates([(SELL, 1001, 1)], recv_ns=3)  # a new seller shows 1 lot at 1001
    assert brief(ex.on_depth_change(SYM, now_ns=3)) == [("fill", "b1", 1, 1001, "maker")]
    assert ex.open_orders()[0].qty == 1


def test_a_book_that_crosses_our_resting_bid_fills_it_as_maker_at_our_price() -> None:
    ex, book, _ = venue()
    ex.submit(limit("b1", BUY, 2, 999), now_ns=1)
    # The market drops: bids at 999 and 998 are gone and a seller shows 5 lots at 998.
    book.apply_updates([(BUY, 999, 0), (BUY, 998, 0), (SELL, 998, 5)], recv_ns=2)
    [fill] = ex.on_depth_change(SYM, now_ns=2)
    assert (fill.qty, fill.price, fill.liquidity) == (2, 999, Liquidity.MAKER)
    assert ex.open_orders() == []


def test_a_crossing_fill_is_capped_by_the_quantity_that_crosses() -> None:
    ex, book, _ = venue()
    ex.submit(limit("s1", SELL, 4, 1001), now_ns=1)  # rests behind 3 lots
    book.apply_updates([(SELL, 1001, 0), (BUY, 1001, 1)], recv_ns=2)  # a buyer bids 1 at 1001
    assert brief(ex.on_depth_change(SYM, now_ns=2)) == [("fill", "s1", 1, 1001, "maker")]
    assert ex.open_orders()[0].qty == 3
    assert ex.on_depth_change(SYM, now_ns=3) == []  # that bid is spent until the feed moves


# --------------------------------------------------------------------------------------------
# Fees


def test_taker_and_maker_fees_are_exact_in_the_quote_asset() -> None:
    ex, _, _ = venue()
    [_, taker] = ex.submit(limit("i1", BUY, 3, 1001, IOC), now_ns=1)
    # 3 lots x 1001 ticks x V 0.05 = 150.15 quote; taker 5 bps = 0.075075
    assert taker.fee == D("0.075075") and taker.fee_asset == "USDT"
    ex.submit(limit("b1", BUY, 2, 999), now_ns=2)
    [maker] = ex.on_trade(SYM, 998, 1, SELL, now_ns=3)  # a sell through our bid
    # 2 x 999 x 0.05 = 99.9 quote; maker 2 bps = 0.01998
    assert (maker.liquidity, maker.fee) == (Liquidity.MAKER, D("0.01998"))
    assert ex.statistics().fees == {"USDT": D("0.095055")}


def test_a_negative_maker_fee_is_a_rebate() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 999, inst=PERP_SYM), now_ns=1)
    [fill] = ex.on_trade(PERP_SYM, 998, 1, SELL, now_ns=2)
    assert fill.fee == D("-0.00999")  # 99.9 quote x -1 bp
    assert ex.account.balance("USDT") == D("10000.00999")


def test_fill_ids_are_sequential_and_reports_carry_venue_time_only() -> None:
    ex, _, _ = venue()
    reports = ex.submit(market("m1", BUY, 10), now_ns=42)
    fills = [r for r in reports if isinstance(r, Fill)]
    assert [f.fill_id for f in fills] == ["sim-1", "sim-2", "sim-3"]
    assert all(r.venue_ns == 42 and r.recv_ns == 0 for r in reports)
    assert ex.submit(market("m2", SELL, 1), now_ns=43)[1].fill_id == "sim-4"


# --------------------------------------------------------------------------------------------
# Refusals: each has Binance's code and changes nothing


def _refusal_cases() -> list[tuple[str, dict[str, object], object, RejectCode, str]]:
    coarse = attrs.evolve(SPOT, price_multiple=5, lot_multiple=2)
    big_min = attrs.evolve(SPOT, spec=attrs.evolve(SPEC, min_qty=D("1.0")))
    price_filter = "-1013 Filter failure: PRICE_FILTER"
    lot_size = "-1013 Filter failure: LOT_SIZE"
    return [
        ("off the venue's tick", {"spot": coarse}, limit("x", BUY, 2, 997),
         RejectCode.INVALID_PRICE, price_filter),
        ("off the venue's lot", {"spot": coarse}, limit("x", BUY, 3, 995),
         RejectCode.INVALID_QUANTITY, lot_size),
        ("below min_qty", {"spot": big_min}, limit("x", BUY, 1, 995),
         RejectCode.INVALID_QUANTITY, lot_size),
        # 1 lot x 30 ticks x 0.05 = 1.5 quote < 20
        ("below min notional", {}, limit("x", BUY, 1, 30),
         RejectCode.MIN_NOTIONAL, "-1013 Filter failure: NOTIONAL"),
        # "rest" holds 2 x 995 x 0.05 x 1.0002 = 99.5199 of 199.4, leaving 99.8801, less than
        # 2 x 999 x 0.05 x (1 + 2 bps maker fee) = 99.91998
        ("insufficient quote", {"balances": {"USDT": D("199.4"), "BTC": D(0)}},
         limit("x", BUY, 2, 999), RejectCode.INSUFFICIENT_FUNDS,
         "-2010 Account has insufficient balance for requested action."),
        ("post-only would take", {}, limit("x", SELL, 1, 999, POST),
         RejectCode.POST_ONLY_WOULD_TAKE, "-2010 Order would immediately match and take."),
        ("reduce-only with no position", {}, limit("x", SELL, 1, 1005, reduce_only=True),
         RejectCode.REDUCE_ONLY_WOULD_INCREASE, "-2022 ReduceOnly Order is rejected."),
        ("duplicate client order id", {}, limit("rest", BUY, 1, 990),
         RejectCode.DUPLICATE_CLIENT_ORDER_ID, "-2010 Duplicate order sent."),
        ("unknown instrument", {}, limit("x", BUY, 1, 990, inst="ETHUSDT"),
         RejectCode.OTHER, "-1121 Invalid symbol."),
    ]


@pytest.mark.parametrize(("case", "setup", "intent", "code", "message"), _refusal_cases(),
                         ids=[c[0] for c in _refusal_cases()])
def test_a_refusal_has_binances_code_and_message_and_changes_nothing(
    case: str, setup: dict[str, object], intent: object, code: RejectCode, message: str
) -> None:
    ex, _, _ = venue(**setup)  # type: ignore[arg-type]
    assert len(ex.submit(limit("rest", BUY, 2, 995), now_ns=1)) == 1  # state to leave alone
    before = state(ex)
    [report] = ex.submit(intent, now_ns=2)  # type: ignore[arg-type]
    assert report == Reject(intent.client_order_id, code, message, venue_ns=2)  # type: ignore[attr-defined]
    assert state(ex) == before
    assert ex.statistics().rejects == {code: 1}


def test_a_market_orders_notional_is_judged_at_the_touch() -> None:
    ex, _, _ = venue(bids=[(30, 5)])  # 1 lot at the 30-tick bid is worth 1.5 quote
    [reject] = ex.submit(market("m1", SELL, 1), now_ns=1)
    assert reject.code is RejectCode.MIN_NOTIONAL
    ex, _, _ = venue()  # at the 999 bid, 1 lot is worth 49.95 >= 20
    assert brief(ex.submit(market("m1", SELL, 1), now_ns=1))[1] == ("fill", "m1", 1, 999, "taker")


def test_a_client_order_id_can_never_be_reused_but_a_refused_one_can() -> None:
    ex, _, _ = venue()
    ex.submit(limit("a", BUY, 1, 995), now_ns=1)
    ex.cancel(cancel("a"), now_ns=2)  # done, but the id stays used
    [dup] = ex.submit(limit("a", BUY, 1, 995), now_ns=3)
    assert dup.code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
    [refused] = ex.submit(limit("b", BUY, 1, 1001, POST), now_ns=4)
    assert refused.code is RejectCode.POST_ONLY_WOULD_TAKE
    assert brief(ex.submit(limit("b", BUY, 1, 995, POST), now_ns=5)) == [("ack", "b")]


# --------------------------------------------------------------------------------------------
# Cancels


def test_cancel_acks_and_frees_the_reservation() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 2, 999), now_ns=1)
    assert ex.account.reserved("USDT") > 0
    assert ex.cancel(cancel("b1"), now_ns=2) == [CancelAck("b1", venue_ns=2)]
    assert ex.open_orders() == [] and ex.account.reserved("USDT") == 0
    assert ex.statistics().cancels == 1


@pytest.mark.parametrize("how", ["never sent", "already filled", "already cancelled",
                                 "other instrument"])
def test_cancel_of_an_unknown_or_finished_order_is_refused(how: str) -> None:
    ex, _, _ = venue()
    target = cancel("b1")
    if how == "already filled":
        ex.submit(limit("b1", BUY, 1, 1001), now_ns=1)
    elif how == "already cancelled":
        ex.submit(limit("b1", BUY, 1, 999), now_ns=1)
        ex.cancel(cancel("b1"), now_ns=1)
    elif how == "other instrument":
        ex.submit(limit("b1", BUY, 1, 999), now_ns=1)
        target = cancel("b1", inst=PERP_SYM)
    before = state(ex)
    assert ex.cancel(target, now_ns=2) == [
        CancelReject("b1", CancelRejectCode.UNKNOWN_ORDER, "-2011 Unknown order sent.",
                     venue_ns=2)]
    assert state(ex)[:3] == before[:3]  # orders, positions, balances


def test_cancel_all_acks_every_resting_order_of_one_instrument_or_all() -> None:
    ex, _, _ = venue()
    ex.submit(limit("a", BUY, 1, 999), now_ns=1)
    ex.submit(limit("b", SELL, 1, 1005), now_ns=1)
    ex.submit(limit("c", BUY, 1, 990, inst=PERP_SYM), now_ns=1)
    assert ex.cancel_all(PERP_SYM, now_ns=2) == [CancelAck("c", venue_ns=2)]
    assert ex.cancel_all(None, now_ns=3) == [CancelAck("a", venue_ns=3),
                                             CancelAck("b", venue_ns=3)]
    assert ex.open_orders() == [] and ex.cancel_all(None, now_ns=4) == []


def test_a_batch_cancel_by_id_refuses_what_does_not_rest_and_cancels_the_rest() -> None:
    # The failsafe's cancel of one strategy's orders sends the ids our side thinks are open; by
    # the time it arrives one may have filled, been cancelled, or never have arrived. The venue
    # answers those with a typed refusal, as a real venue does, and cancels the others.
    ex, _, _ = venue()
    ex.submit(limit("filled", BUY, 1, 1001), now_ns=1)
    ex.submit(limit("rests", BUY, 1, 999), now_ns=1)
    ex.submit(limit("perp", BUY, 1, 990, inst=PERP_SYM), now_ns=1)
    unknown = CancelRejectCode.UNKNOWN_ORDER
    assert ex.cancel_ids(["filled", "rests", "on the wire", "perp"], now_ns=2) == [
        CancelReject("filled", unknown, "-2011 Unknown order sent.", venue_ns=2),
        CancelAck("rests", venue_ns=2),
        CancelReject("on the wire", unknown, "-2011 Unknown order sent.", venue_ns=2),
        CancelAck("perp", venue_ns=2),
    ]
    assert ex.open_orders() == [] and ex.statistics().cancel_rejects == 2


# --------------------------------------------------------------------------------------------
# Replace


def test_a_size_decrease_at_the_same_price_keeps_the_queue_place() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 3, 999), now_ns=1)
    ex.on_trade(SYM, 999, 3, SELL, now_ns=2)  # 3 of the 4 ahead traded: ahead 1
    assert ex.replace(replace("b1", 2, 999), now_ns=3) == [Ack("b1", "1", venue_ns=3)]
    [order] = ex.open_orders()
    assert (order.qty, order.ahead) == (2, 1)


def test_a_size_increase_goes_to_the_back_of_the_queue() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 3, 999), now_ns=1)
    ex.on_trade(SYM, 999, 3, SELL, now_ns=2)  # ahead 4 -> 1
    ex.replace(replace("b1", 5, 999), now_ns=3)
    [order] = ex.open_orders()
    assert (order.qty, order.ahead) == (5, 4)  # behind all 4 lots the view shows at 999


def test_a_price_change_goes_to_the_back_of_the_new_level() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 3, 999), now_ns=1)
    ex.replace(replace("b1", 3, 998), now_ns=2)
    [order] = ex.open_orders()
    assert (order.price, order.ahead) == (998, 6)
    assert ex.resting_prices(SYM) == {(BUY, 998)}


def test_a_gtc_replaced_across_the_spread_takes_liquidity_then_rests() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 4, 999), now_ns=1)
    assert brief(ex.replace(replace("b1", 4, 1001), now_ns=2)) == [
        ("ack", "b1"), ("fill", "b1", 3, 1001, "taker")]
    [order] = ex.open_orders()
    assert (order.price, order.qty, order.ahead) == (1001, 1, 0)


def test_a_post_only_order_cannot_be_replaced_across_the_spread() -> None:
    ex, _, _ = venue()
    ex.submit(limit("p1", BUY, 2, 999, POST), now_ns=1)
    before = state(ex)
    [reject] = ex.replace(replace("p1", 2, 1001), now_ns=2)
    assert reject.code is RejectCode.POST_ONLY_WOULD_TAKE
    assert state(ex)[:3] == before[:3]


def test_a_replace_that_fails_a_filter_or_the_balance_leaves_the_order_as_it_was() -> None:
    ex, _, _ = venue(spot=attrs.evolve(SPOT, price_multiple=3),
                     balances={"USDT": D("200"), "BTC": D(0)})
    ex.submit(limit("b1", BUY, 3, 999), now_ns=1)
    before = state(ex)
    [tick] = ex.replace(replace("b1", 3, 998), now_ns=2)
    assert (tick.code, tick.message) == (RejectCode.INVALID_PRICE,
                                         "-1013 Filter failure: PRICE_FILTER")
    # 5 x 999 x 0.05 x 1.0002 = 249.8 > 200
    [funds] = ex.replace(replace("b1", 5, 999), now_ns=3)
    assert funds.code is RejectCode.INSUFFICIENT_FUNDS
    assert state(ex)[:3] == before[:3]


def test_a_replace_of_an_unknown_order_is_refused() -> None:
    ex, _, _ = venue()
    assert ex.replace(replace("zz", 1, 999), now_ns=1) == [
        Reject("zz", RejectCode.UNKNOWN_ORDER, "-2011 Unknown order sent.", venue_ns=1)]


# --------------------------------------------------------------------------------------------
# Statistics and determinism


def test_statistics_count_orders_fills_rejects_cancels_and_fees() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 10, 1002), now_ns=1)  # 2 taker fills, rests 2
    ex.on_trade(SYM, 1001, 1, SELL, now_ns=2)  # a sell through our 1002 bid: 1 maker fill
    ex.submit(limit("p1", BUY, 1, 1004, POST), now_ns=3)
    ex.cancel(cancel("nope"), now_ns=4)
    ex.submit(limit("i1", SELL, 1, 1010, IOC), now_ns=5)
    stats = ex.statistics()
    assert (stats.orders, stats.fills, stats.maker_fills, stats.taker_fills) == (2, 3, 1, 2)
    assert (stats.filled_lots, stats.expired, stats.cancel_rejects, stats.resting) == (10, 1, 1, 0)
    assert stats.rejects == {RejectCode.POST_ONLY_WOULD_TAKE: 1}


def _session(seed: int, model_n: int | None) -> list[object]:
    model = PowerProbQueue(model_n) if model_n is not None else None
    ex, book, _ = venue(model=model, seed=seed)
    reports: list[object] = []
    reports += ex.submit(limit("b1", BUY, 3, 999), 1)
    reports += ex.submit(limit("s1", SELL, 2, 1002), 2)
    reports += ex.submit(market("m1", BUY, 4), 3)
    book.apply_updates([(BUY, 999, 9), (SELL, 1002, 2)], recv_ns=4)
    reports += ex.on_depth_change(SYM, 4)
    book.apply_updates([(BUY, 999, 3)], recv_ns=5)
    reports += ex.on_depth_change(SYM, 5)
    reports += ex.on_trade(SYM, 999, 5, SELL, 6)
    reports += ex.on_trade(SYM, 1002, 3, BUY, 7)
    reports += ex.replace(replace("b1", 2, 999), 8)
    reports += ex.cancel_all(None, 9)
    return [*reports, ex.positions(), ex.account.balances(), ex.statistics()]


@pytest.mark.parametrize("model_n", [None, 2])
def test_the_same_inputs_give_the_same_reports_whatever_the_seed(model_n: int | None) -> None:
    first = _session(seed=1, model_n=model_n)
    assert first == _session(seed=1, model_n=model_n) == _session(seed=99, model_n=model_n)
    assert any(isinstance(r, Fill) for r in first)
    assert any(isinstance(r, Expired | CancelAck) for r in first)


def test_an_exchange_without_a_view_treats_the_book_as_empty() -> None:
    account = SimAccount({"USDT": D(1000)})
    ex = SimExchange({SYM: SPOT}, account, PowerProbQueue(2), random.Random(0))
    assert brief(ex.submit(limit("b1", BUY, 1, 999), 1)) == [("ack", "b1")]
    assert ex.open_orders()[0].ahead == 0
    assert ex.on_depth_change(SYM, 2) == []
    with pytest.raises(ValueError, match="unknown instrument"):
        ex.attach_depth("ETHUSDT", object())  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(units=st.tuples(st.sampled_from(["0.01", "0.1", "0.5", "1", "0.00001"]),
                       st.sampled_from(["0.001", "0.00001", "1", "0.1", "0.25"])),
       minimums=st.tuples(st.sampled_from(["0", "0.0001", "0.3", "0.002", "2"]),
                          st.sampled_from(["0", "5", "10", "0.37", "100.5"])),
       lots=st.integers(1, 500), reference=st.integers(1, 200_000))
def test_the_filters_in_whole_units_decide_as_the_decimal_rules(units, minimums, lots, reference):
    """The lot-size and notional filters compare integers worked out once per instrument;
    they refuse exactly what lots x lot_step < min_qty and price x qty < min_notional refuse."""
    (tick, lot), (min_qty, min_notional) = units, minimums
    spec = InstrumentSpec("X", "binance", D(tick), D(lot), D(min_qty), D(min_notional), D(0),
                          D(0))
    instrument = SimInstrument(spec, "B", "Q")
    qty = lots_to_qty(spec, lots)
    expected = None
    if qty < spec.min_qty:
        expected = RejectCode.INVALID_QUANTITY
    elif notional(spec, ticks_to_price(spec, reference), qty) < spec.min_notional:
        expected = RejectCode.MIN_NOTIONAL
    verdict = check_filters(instrument, reference, lots, reference)
    assert (verdict[0] if verdict else None) == expected
