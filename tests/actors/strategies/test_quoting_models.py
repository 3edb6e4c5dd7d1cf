"""The market maker's maths against hand-computed values, and the float -> tick boundary.

Reference case used throughout (units: ticks, seconds, lots):
    s = 100, gamma = 0.1, sigma = 2, T - t = 10, k = 1.5, A = 1
    gamma * sigma^2 * (T - t) = 0.1 * 4 * 10 = 4
    (2 / gamma) * ln(1 + gamma / k) = 20 * ln(16/15) = 20 * 0.0645385211... = 1.2907704227...
"""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategies.quoting_models import (
    DecayMode,
    EwmaVolatility,
    FlowGuard,
    Horizon,
    HorizonMode,
    PricingModel,
    QuoteBound,
    as_optimal_spread,
    as_quotes,
    as_reservation_price,
    bounded_quote,
    decayed_exit_price,
    exit_decay_fraction,
    glft_half_spreads,
    model_quotes,
    quote_ticks,
)
from protocols.codec import Side as BookSide
from protocols.instruments import InstrumentSpec
from protocols.market import TradePrint
from protocols.orders import Side

SPEC = InstrumentSpec("BTC-PERP", "test", D("0.01"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))
LN_16_15 = 0.06453852113757118  # ln(1 + 0.1/1.5), by hand: 16/15 = 1.0666..., ln = 0.0645385


# --- Avellaneda-Stoikov ------------------------------------------------------------------------


def test_reservation_price_hand_computed() -> None:
    # r = s - q gamma sigma^2 (T - t) = 100 - 2 * 0.1 * 4 * 10 = 92
    assert as_reservation_price(100.0, 2, 0.1, 2.0, 10.0) == pytest.approx(92.0, abs=1e-12)
    assert as_reservation_price(100.0, -2, 0.1, 2.0, 10.0) == pytest.approx(108.0, abs=1e-12)
    assert as_reservation_price(100.0, 0, 0.1, 2.0, 10.0) == 100.0


def test_optimal_spread_hand_computed() -> None:
    # 4 + 20 * ln(16/15) = 5.2907704227...
    assert as_optimal_spread(0.1, 2.0, 10.0, 1.5) == pytest.approx(5.290770422751424, abs=1e-12)
    assert as_optimal_spread(0.1, 2.0, 10.0, 1.5) == pytest.approx(4 + 20 * LN_16_15, abs=1e-12)


def test_as_quotes_are_reservation_plus_minus_half_spread() -> None:
    bid, ask = as_quotes(100.0, 2, gamma=0.1, sigma=2.0, tau=10.0, k=1.5)
    assert bid == pytest.approx(92 - 2.645385211375712, abs=1e-12)  # 89.3546147886
    assert ask == pytest.approx(92 + 2.645385211375712, abs=1e-12)  # 94.6453852114


def test_at_the_horizon_only_the_markup_is_left() -> None:
    # T - t = 0: no inventory term, spread = (2/gamma) ln(1 + gamma/k)
    bid, ask = as_quotes(100.0, 5, gamma=0.1, sigma=2.0, tau=0.0, k=1.5)
    assert (bid + ask) / 2 == pytest.approx(100.0)
    assert ask - bid == pytest.approx(20 * LN_16_15)


def test_bad_parameters_refused() -> None:
    with pytest.raises(ValueError, match="gamma"):
        as_optimal_spread(0.0, 2.0, 10.0, 1.5)
    with pytest.raises(ValueError, match="k must be positive"):
        as_optimal_spread(0.1, 2.0, 10.0, float("nan"))


# --- Gueant-Lehalle-Fernandez-Tapia ---------------------------------------------------------------

# omega = sqrt(sigma^2 gamma / (2 k A) * (1 + gamma/k)^(1 + k/gamma))
#       = sqrt(0.4 / 3 * (16/15)^16) = sqrt(0.1333... * 2.8084039656) = sqrt(0.3744538621)
OMEGA = 0.6119263534747131
BASE = 10 * LN_16_15  # (1/gamma) ln(1 + gamma/k) = 0.6453852114


def test_glft_flat_inventory_is_symmetric() -> None:
    d_bid, d_ask = glft_half_spreads(0, 0.1, 2.0, 1.5, 1.0)
    assert d_bid == pytest.approx(BASE + OMEGA / 2, abs=1e-12)  # 0.9513483881
    assert d_ask == pytest.approx(0.9513483881130682, abs=1e-12)


def test_glft_long_inventory_hand_computed() -> None:
    d_bid, d_ask = glft_half_spreads(2, 0.1, 2.0, 1.5, 1.0)
    assert d_bid == pytest.approx(BASE + 2.5 * OMEGA, abs=1e-12)  # 2.1752010951
    assert d_ask == pytest.approx(BASE - 1.5 * OMEGA, abs=1e-12)  # -0.2725043188: ask below mid
    assert d_bid - d_ask == pytest.approx(2 * 2 * OMEGA)  # skew is 2 q omega
    assert d_bid + d_ask == pytest.approx(2 * BASE + OMEGA)  # total spread independent of q


def test_model_quotes_dispatches_and_skews() -> None:
    glft = model_quotes(PricingModel.GLFT, s=100.0, q=0, gamma=0.1, sigma=2.0, k=1.5, tau=99.0)
    assert glft == pytest.approx((100 - 0.9513483881130682, 100 + 0.9513483881130682))
    flat = model_quotes(PricingModel.AVELLANEDA_STOIKOV, s=100.0, q=0, gamma=0.1, sigma=2.0,
                        k=1.5, tau=10.0)
    long = model_quotes(PricingModel.AVELLANEDA_STOIKOV, s=100.0, q=3, gamma=0.1, sigma=2.0,
                        k=1.5, tau=10.0, skew_per_lot=0.5)
    # Long inventory lowers both quotes: 3 * 4 (A-S) + 3 * 0.5 (extra skew) = 13.5 ticks.
    assert long[0] == pytest.approx(flat[0] - 13.5) and long[1] == pytest.approx(flat[1] - 13.5)


# --- the float -> tick boundary -----------------------------------------------------------------


def test_quote_ticks_rounds_buys_down_and_sells_up() -> None:
    assert quote_ticks(SPEC, 89.3546, Side.BUY) == 89
    assert quote_ticks(SPEC, 94.6453, Side.SELL) == 95
    assert quote_ticks(SPEC, -0.5, Side.BUY) == -1  # floor: refused later as non-positive
    assert quote_ticks(SPEC, 100.0, Side.BUY) == quote_ticks(SPEC, 100.0, Side.SELL) == 100
    assert type(quote_ticks(SPEC, 100.0, Side.SELL)) is int


def test_quote_ticks_ignores_float_noise() -> None:
    noisy_up = 100.00000000000001  # 0.1 + 0.2 style residue: must not cost a sell a whole tick
    noisy_down = 99.99999999999999
    assert quote_ticks(SPEC, noisy_up, Side.SELL) == 100
    assert quote_ticks(SPEC, noisy_down, Side.BUY) == 100
    assert quote_ticks(SPEC, 100.000001, Side.SELL) == 101  # a real fraction still rounds up


def test_quote_ticks_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        quote_ticks(SPEC, math.inf, Side.BUY)


# --- horizon, volatility ------------------------------------------------------------------------


def test_horizon_modes() -> None:
    rolling = Horizon(HorizonMode.ROLLING, window_s=30.0)
    assert rolling.remaining_s(0) == rolling.remaining_s(10**18) == 30.0
    fixed = Horizon(HorizonMode.FIXED, session_end_epoch_ns=10 * 10**9)
    assert fixed.remaining_s(4 * 10**9) == 6.0
    assert fixed.remaining_s(11 * 10**9) == 0.0 and fixed.ended(11 * 10**9)
    with pytest.raises(ValueError, match="session_end"):
        Horizon(HorizonMode.FIXED)


def test_ewma_volatility_hand_computed() -> None:
    vol = EwmaVolatility(halflife_s=2.0, min_samples=2)
    vol.update(100.0, 0)
    vol.update(101.0, 10**9)  # r1 = ln(1.01) over 1 s: first sample is the estimate
    r1 = math.log(1.01)
    assert vol.variance_per_s == pytest.approx(r1 * r1)
    assert not vol.ready
    vol.update(100.0, 3 * 10**9)  # r2 = ln(100/101) over 2 s; alpha = 1 - 2^(-2/2) = 0.5
    r2 = math.log(100 / 101)
    expected = r1 * r1 + 0.5 * (r2 * r2 / 2 - r1 * r1)
    assert vol.variance_per_s == pytest.approx(expected)
    assert vol.ready
    assert vol.sigma_ticks(100.0) == pytest.approx(100 * math.sqrt(expected))


def test_ewma_volatility_merges_updates_closer_than_min_dt() -> None:
    vol = EwmaVolatility(halflife_s=2.0, min_samples=1)
    vol.update(100.0, 0)
    vol.update(150.0, 100_000)  # 0.1 ms later: ignored, the reference stays at 100
    assert vol.samples == 0
    vol.update(101.0, 10**9)
    assert vol.variance_per_s == pytest.approx(math.log(1.01) ** 2)


# --- the max-hold exit ----------------------------------------------------------------------------


def test_exit_decay_fraction_linear_and_exponential() -> None:
    assert exit_decay_fraction(-1.0, 10.0, DecayMode.LINEAR) == 0.0
    assert exit_decay_fraction(2.5, 10.0, DecayMode.LINEAR) == 0.25
    assert exit_decay_fraction(25.0, 10.0, DecayMode.LINEAR) == 1.0
    assert exit_decay_fraction(10.0, 10.0, DecayMode.EXPONENTIAL) == pytest.approx(1 - math.e**-1)


def test_decayed_exit_price_moves_only_toward_the_touch() -> None:
    # Long, entry 100 + target 10: a sell exit from 110 down to the best ask at 101.
    prices = [decayed_exit_price(110.0, 101.0, Side.SELL, f / 10) for f in range(11)]
    assert prices[0] == 110.0 and prices[-1] == 101.0
    assert prices == sorted(prices, reverse=True)
    # Short: a buy exit from 90 up to the best bid at 99.
    assert decayed_exit_price(90.0, 99.0, Side.BUY, 0.5) == 94.5
    # Target already beyond the touch: keep it; moving "toward the touch" would move away.
    assert decayed_exit_price(105.0, 108.0, Side.SELL, 0.9) == 105.0


# --- adverse flow ---------------------------------------------------------------------------------


def _print(i: int, side: BookSide, t_ns: int, qty: int = 1) -> TradePrint:
    return TradePrint("BTC-PERP", 100, qty, side, f"t{i}", t_ns)


def test_flow_guard_needs_one_sided_and_heavy() -> None:
    guard = FlowGuard(window_s=1.0, same_side_ratio=0.8, min_count=5)
    for i in range(3):
        guard.add(_print(i, BookSide.BUY, i))
    assert not guard.toxic(10)  # one-sided but light: 3 prints
    guard.add(_print(3, BookSide.SELL, 3))
    guard.add(_print(4, BookSide.SELL, 4))
    assert not guard.toxic(10)  # heavy (5 prints) but two-way: 3/5 = 60% buys
    guard.add(_print(5, BookSide.BUY, 5))
    guard.add(_print(6, BookSide.BUY, 6))
    guard.add(_print(7, BookSide.BUY, 7))
    assert not guard.toxic(10)  # 6/8 = 75% buys, below 80%
    guard.add(_print(8, BookSide.BUY, 8))
    guard.add(_print(9, BookSide.BUY, 9))
    assert guard.toxic(10)  # 8/10 = 80% buys
    assert guard.clears_in_s(10) == pytest.approx(1.0 - 10e-9)  # oldest print at t=0
    assert not guard.toxic(10**9 + 10)  # the window has emptied


def test_flow_guard_heavy_by_size() -> None:
    guard = FlowGuard(window_s=1.0, same_side_ratio=0.8, min_count=100, min_qty=50)
    guard.add(_print(0, BookSide.SELL, 0, qty=30))
    assert not guard.toxic(1)
    guard.add(_print(1, BookSide.SELL, 1, qty=30))
    assert guard.toxic(2)


def _toxic_by_definition(seen: list[TradePrint], now_ns: int, *, window_ns: int, ratio: float,
                         min_count: int, min_qty: int | None) -> tuple[bool, list[TradePrint]]:
    """The rule from scratch, and the prints it keeps: those still in the window (after the
    last of the leading ones that have left it: the guard drops them from the front),
    one-sided and heavy."""
    left = 0
    for i, trade in enumerate(seen):
        if trade.recv_ns <= now_ns - window_ns:
            left = i + 1
        else:
            break
    inside = seen[left:]
    n = len(inside)
    buys = sum(t.aggressor is BookSide.BUY for t in inside)
    heavy = n >= min_count or (min_qty is not None and sum(t.qty for t in inside) >= min_qty)
    return n > 0 and heavy and max(buys, n - buys) >= ratio * n, inside


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(BookSide), st.integers(1, 40),
                                st.integers(0, 400), st.booleans()), max_size=80),
       min_count=st.integers(1, 12), min_qty=st.one_of(st.none(), st.integers(1, 300)),
       ratio=st.sampled_from([0.5, 0.7, 0.8, 1.0]))
def test_the_flow_guards_running_sums_judge_as_the_window_recounted(
        steps: list[tuple[BookSide, int, int, bool]], min_count: int, min_qty: int | None,
        ratio: float) -> None:
    """Prints arrive (each `dt` ns after the last, possibly late: `recv_ns` behind the
    clock), the guard is asked at some of them: its kept sums answer as a recount would."""
    guard = FlowGuard(window_s=1e-6, same_side_ratio=ratio, min_count=min_count,
                      min_qty=min_qty)  # a 1,000 ns window
    seen: list[TradePrint] = []
    now = 0
    for i, (side, qty, dt, ask) in enumerate(steps):
        now += dt
        trade = _print(i, side, now - (dt if i % 3 == 0 else 0), qty)
        guard.add(trade)
        seen.append(trade)
        if ask:
            expected, seen = _toxic_by_definition(seen, now, window_ns=1000, ratio=ratio,
                                                  min_count=min_count, min_qty=min_qty)
            assert guard.toxic(now) is expected
            assert list(guard.prints) == [(t.recv_ns, t.aggressor is BookSide.BUY, t.qty)
                                          for t in seen]


def test_the_symmetric_model_centres_a_fixed_spread_on_the_mid_whatever_the_inventory() -> None:
    for q in (-5, 0, 7):
        bid, ask = model_quotes(PricingModel.SYMMETRIC, s=100.0, q=q, gamma=0.1, sigma=2.0,
                                k=1.5, tau=1.0, fixed_spread=1.5)
        assert (bid, ask) == (99.25, 100.75)
    with pytest.raises(ValueError, match="fixed spread"):
        model_quotes(PricingModel.SYMMETRIC, s=100.0, q=0, gamma=0.1, sigma=2.0, k=1.5,
                     tau=1.0)


def test_bounded_quote_post_only_stops_at_the_touch_and_model_lets_the_price_through() -> None:
    touch = {"bid": 99, "ask": 101}
    assert bounded_quote(Side.SELL, 95, **touch, bound=QuoteBound.POST_ONLY) == 101
    assert bounded_quote(Side.SELL, 95, **touch, bound=QuoteBound.POST_ONLY,
                         allow_inside=True) == 100
    assert bounded_quote(Side.BUY, 104, **touch, bound=QuoteBound.POST_ONLY, offset=2) == 97
    assert bounded_quote(Side.BUY, 90, **touch, bound=QuoteBound.POST_ONLY) == 90
    assert bounded_quote(Side.SELL, 95, **touch, bound=QuoteBound.MODEL) == 95
    assert bounded_quote(Side.BUY, 104, **touch, bound=QuoteBound.MODEL) == 104
