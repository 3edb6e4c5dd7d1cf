"""Queue position: the two models on their own, then inside the exchange, answers by hand.

Notation in the comments: front = lots ahead of us, back = displayed - front, chg = the
decrease not explained by trades, p = f(back) / (f(back) + f(front)) with f(x) = x ** n,
est = front - (1 - p) * chg + min(back - p * chg, 0), ahead = min(est, displayed).
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from actors.sim.queue_models import PowerProbQueue, QueuePosition, RiskAverseQueue
from tests.actors.sim.sim_kit import BUY, SELL, SYM, brief, limit, venue

# --------------------------------------------------------------------------------------------
# The models alone


@pytest.mark.parametrize("model", [RiskAverseQueue(), PowerProbQueue(2)])
def test_a_new_order_is_behind_everything_displayed(model: object) -> None:
    assert model.place(7) == QueuePosition(F(7))  # type: ignore[attr-defined]
    assert model.place(0).ahead == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", [RiskAverseQueue(), PowerProbQueue(2)])
def test_trades_at_our_price_eat_the_queue_front_and_the_excess_is_ours(model: object) -> None:
    pos = model.place(5)  # type: ignore[attr-defined]
    pos = model.trade(pos, 3)  # type: ignore[attr-defined]
    assert (pos.ahead, pos.filled_lots()) == (2, 0)
    pos = model.trade(pos, 4)  # type: ignore[attr-defined]
    assert (pos.ahead, pos.filled_lots()) == (-2, 2)  # 2 lots went past the front into us
    assert pos.at_front().ahead == 0


def test_a_fraction_of_a_lot_past_the_front_is_not_a_fill() -> None:
    pos = QueuePosition(F(1, 2))
    pos = RiskAverseQueue().trade(pos, 2)  # ahead 1/2 - 2 = -3/2: one whole lot reached us
    assert pos.filled_lots() == 1
    assert QueuePosition(F(-1, 2)).filled_lots() == 0


def test_risk_averse_depth_decrease_does_not_advance_us_except_to_the_displayed_depth() -> None:
    model = RiskAverseQueue()
    pos = model.place(5)
    pos = model.depth(pos, 10, 7)  # 3 cancelled: assumed behind us
    assert pos.ahead == 5
    pos = model.depth(pos, 7, 3)  # the level is only 3 deep now: we cannot be 5 back
    assert pos.ahead == 3


def test_risk_averse_depth_increase_joins_behind_us() -> None:
    model = RiskAverseQueue()
    assert model.depth(model.place(5), 5, 12).ahead == 5


def test_power_prob_splits_a_cancel_by_the_queue_on_each_side() -> None:
    # front 1, back 3 (displayed 4 -> 2, chg 2).
    # n = 1: p = 3 / (3 + 1) = 3/4; est = 1 - 1/4 * 2 + min(3 - 3/2, 0) = 1/2
    assert PowerProbQueue(1).depth(QueuePosition(F(1)), 4, 2).ahead == F(1, 2)
    # n = 2: p = 9 / (9 + 1) = 9/10; est = 1 - 1/10 * 2 = 4/5: a steeper f blames the back more
    assert PowerProbQueue(2).depth(QueuePosition(F(1)), 4, 2).ahead == F(4, 5)
    # front 4, back 1 (5 -> 1, chg 4), n = 1: p = 1/5; est = 4 - 4/5 * 4 + min(1 - 4/5, 0) = 4/5
    assert PowerProbQueue(1).depth(QueuePosition(F(4)), 5, 1).ahead == F(4, 5)


def test_power_prob_never_estimates_more_than_is_displayed_or_less_than_nothing() -> None:
    # front 3, back 1 (4 -> 1, chg 3), n = 0: p = 1/2; est = 3 - 3/2 + min(1 - 3/2, 0) = 1
    assert PowerProbQueue(0).depth(QueuePosition(F(3)), 4, 1).ahead == 1
    # front 1, back 10 (11 -> 1, chg 10), n = 0: est = 1 - 5 + min(10 - 5, 0) = -4 -> 0
    assert PowerProbQueue(0).depth(QueuePosition(F(1)), 11, 1).ahead == 0


def test_power_prob_does_not_count_a_traded_decrease_twice() -> None:
    model = PowerProbQueue(1)
    pos = model.trade(model.place(4), 2)  # front 4 -> 2; 2 lots traded at the level
    assert pos == QueuePosition(F(2), traded=2)
    # The book reports 10 -> 6: 2 of the 4 are the trade we saw, chg = 10 - 6 - 2 = 2.
    # front 2, back 10 - 2 = 8: p = 8/10; est = 2 - 1/5 * 2 + min(8 - 8/5, 0) = 8/5
    pos = model.depth(pos, 10, 6)
    assert pos == QueuePosition(F(8, 5), traded=0)
    # Had the trade been counted again (chg 4), est would be 2 - 1/5 * 4 = 6/5: it is not.


def test_power_prob_depth_increase_joins_behind_us() -> None:
    assert PowerProbQueue(3).depth(QueuePosition(F(3)), 10, 14).ahead == 3


def test_power_prob_rounds_ahead_up_to_its_resolution() -> None:
    # front 1, back 3, 4 -> 2, n = 3: p = 27/28; est = 1 - 1/28 * 2 = 13/14 = 0.928...
    model = PowerProbQueue(3, resolution=F(1, 100))
    assert model.depth(QueuePosition(F(1)), 4, 2).ahead == F(93, 100)  # up: further back


def test_power_prob_probability_with_nothing_on_either_side_is_one() -> None:
    assert PowerProbQueue(2).probability_behind(F(0), F(0)) == 1


@pytest.mark.parametrize("n", [-1, 1.5, "2"])
def test_power_prob_needs_a_non_negative_int_exponent(n: object) -> None:
    with pytest.raises(ValueError, match="n must be"):
        PowerProbQueue(n)  # type: ignore[arg-type]


def test_models_refuse_negative_quantities() -> None:
    with pytest.raises(ValueError, match="qty"):
        RiskAverseQueue().trade(QueuePosition(F(1)), -1)
    with pytest.raises(ValueError, match="displayed"):
        PowerProbQueue(2).depth(QueuePosition(F(1)), 3, -1)


# --------------------------------------------------------------------------------------------
# Inside the exchange. Book: bids 999 x 4 | 998 x 6, asks 1001 x 3 | 1002 x 5 | 1004 x 10.


def test_a_resting_ask_fills_only_after_the_queue_ahead_has_traded() -> None:
    ex, _, _ = venue()
    ex.submit(limit("s1", SELL, 2, 1001), 1)  # 3 lots ahead
    assert ex.on_trade(SYM, 1001, 2, BUY, 2) == []  # ahead 3 -> 1: a touch, but no fill
    assert brief(ex.on_trade(SYM, 1001, 2, BUY, 3)) == [("fill", "s1", 1, 1001, "maker")]
    assert ex.open_orders()[0].ahead == 0  # 1 -> -1: one lot reached us, we are at the front
    assert brief(ex.on_trade(SYM, 1001, 5, BUY, 4)) == [("fill", "s1", 1, 1001, "maker")]
    assert ex.open_orders() == []


def test_a_trade_through_our_price_fills_us_in_full() -> None:
    ex, _, _ = venue()
    ex.submit(limit("s1", SELL, 2, 1001), 1)
    ex.submit(limit("b1", BUY, 3, 999), 1)
    assert brief(ex.on_trade(SYM, 1002, 1, BUY, 2)) == [("fill", "s1", 2, 1001, "maker")]
    assert ex.on_trade(SYM, 1000, 1, SELL, 3) == []  # above our bid: not through it
    assert brief(ex.on_trade(SYM, 998, 1, SELL, 4)) == [("fill", "b1", 3, 999, "maker")]


def test_a_trade_on_the_other_side_does_not_move_our_queue() -> None:
    ex, _, _ = venue()
    ex.submit(limit("b1", BUY, 1, 999), 1)
    assert ex.on_trade(SYM, 999, 10, BUY, 2) == []  # a buyer lifting at 999 is not our queue
    assert ex.open_orders()[0].ahead == 4


def test_our_own_earlier_order_at_a_price_is_ahead_of_our_later_one() -> None:
    ex, _, _ = venue()
    ex.submit(limit("a", BUY, 2, 999), 1)  # 4 ahead
    ex.submit(limit("b", BUY, 2, 999), 2)  # 4 market lots ahead, and our "a"
    # A sell of 5 at 999: 4 market lots, then 1 to "a"; "b" waits behind the rest of "a".
    assert brief(ex.on_trade(SYM, 999, 5, SELL, 3)) == [("fill", "a", 1, 999, "maker")]
    # Next sell of 2: "a" gets its last lot, then 1 reaches "b".
    assert brief(ex.on_trade(SYM, 999, 2, SELL, 4)) == [
        ("fill", "a", 1, 999, "maker"), ("fill", "b", 1, 999, "maker")]


def _cancels_after_we_joined(model: object) -> list[object]:
    """Our bid joins 4 lots at 999, 4 more join behind us, then 4 lots are cancelled, then a
    sell of 3 trades at 999."""
    ex, book, _ = venue(model=model)  # type: ignore[arg-type]
    ex.submit(limit("b1", BUY, 1, 999), 1)  # ahead 4
    book.apply_updates([(BUY, 999, 8)], recv_ns=2)
    ex.on_depth_change(SYM, 2)  # +4 behind us: ahead 4
    book.apply_updates([(BUY, 999, 4)], recv_ns=3)
    ex.on_depth_change(SYM, 3)
    ahead = ex.open_orders()[0].ahead
    return [ahead, *ex.on_trade(SYM, 999, 3, SELL, 4)]


def test_risk_averse_assumes_the_cancels_were_behind_us() -> None:
    # 8 -> 4: ahead = min(4, 4) = 4; the trade of 3 leaves 1 ahead: no fill.
    assert _cancels_after_we_joined(RiskAverseQueue()) == [4]


def test_power_prob_moves_us_up_for_cancels_likely_ahead_of_us() -> None:
    # front 4, back 4, n = 2: p = 16/32 = 1/2; est = 4 - 1/2 * 4 + min(4 - 2, 0) = 2.
    # The trade of 3: 2 - 3 = -1, one lot reaches us.
    ahead, fill = _cancels_after_we_joined(PowerProbQueue(2))
    assert ahead == 2
    assert brief([fill]) == [("fill", "b1", 1, 999, "maker")]


def test_power_prob_in_the_exchange_subtracts_trades_seen_before_the_depth_update() -> None:
    ex, book, _ = venue(model=PowerProbQueue(1))
    ex.submit(limit("b1", BUY, 5, 999), 1)  # ahead 4
    book.apply_updates([(BUY, 999, 10)], recv_ns=2)
    ex.on_depth_change(SYM, 2)  # 6 joined behind us: ahead 4
    ex.on_trade(SYM, 999, 2, SELL, 3)  # ahead 2, 2 traded since the last depth update
    book.apply_updates([(BUY, 999, 6)], recv_ns=4)  # 10 -> 6: 2 traded, 2 cancelled
    ex.on_depth_change(SYM, 4)
    # chg = 10 - 6 - 2 = 2; front 2, back 10 - 2 = 8: p = 8/10; est = 2 - 1/5 * 2 = 8/5.
    # (Counting the trade again, chg = 4, would give 2 - 1/5 * 4 = 6/5.)
    assert ex.open_orders()[0].ahead == F(8, 5)
