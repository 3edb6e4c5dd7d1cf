"""The quote pricer is the models composed, to the bit: `model_quotes` then `quote_ticks` and
`bounded_quote` per side, compared over random inputs for every model and bound; and
`quote_ticks`' float shortcut against its exact Decimal definition, near-whole prices above all.
"""

from __future__ import annotations

import math
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors.strategies.quote_pricer import QuotePricer
from actors.strategies.quoting_models import (
    PricingModel,
    QuoteBound,
    _quote_ticks_exact,
    bounded_quote,
    model_quotes,
    quote_ticks,
)
from protocols.instruments import InstrumentSpec
from protocols.orders import Side

SPEC = InstrumentSpec("BTC-PERP", "test", D("0.01"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))

positive = st.floats(min_value=1e-12, max_value=1e3, allow_nan=False)


def _bits(x: float) -> str:
    """A float to the bit (NaN equal to NaN, -0.0 not equal to 0.0)."""
    return x.hex() if not math.isnan(x) else "nan"


CASES = st.fixed_dictionaries({
    "model": st.sampled_from(PricingModel), "bound": st.sampled_from(QuoteBound),
    "allow_inside": st.booleans(), "offset": st.integers(0, 3),
    "bid": st.integers(1, 10**8), "spread": st.integers(1, 50), "q": st.integers(-10**7, 10**7),
    "gamma": st.one_of(positive, st.just(2e-10)), "k": st.one_of(positive, st.just(0.02)),
    "a": positive, "sigma": st.floats(0.0, 1e4), "tau": st.floats(-10.0, 1e4),
    "skew": st.one_of(st.just(0.0), st.floats(-1.0, 1.0)), "fixed": positive})


@settings(max_examples=600, deadline=None)
@given(case=CASES)
@example(case={"model": PricingModel.AVELLANEDA_STOIKOV, "bound": QuoteBound.POST_ONLY,
               "allow_inside": False, "offset": 0, "bid": 6_170_000, "spread": 1, "q": 30_000,
               "gamma": 2e-10, "k": 0.02, "a": 1.0, "sigma": 3.1, "tau": 60.0, "skew": 0.0,
               "fixed": 1.0})  # the benchmarks' market maker
def test_the_pricer_quotes_what_the_models_composed_quote(case: dict[str, Any]) -> None:
    model, q, sigma, tau = case["model"], case["q"], case["sigma"], case["tau"]
    bid = case["bid"]
    ask = bid + case["spread"]
    s = (bid + ask) / 2.0
    knobs = {"gamma": case["gamma"], "k": case["k"], "a": case["a"],
             "skew_per_lot": case["skew"], "fixed_spread": case["fixed"]}
    bounds = {"bound": case["bound"], "allow_inside": case["allow_inside"],
              "offset": case["offset"]}
    pricer = QuotePricer(model, **knobs, **bounds)
    floats = model_quotes(model, s=s, q=q, sigma=sigma, tau=tau, **knobs)
    fast = pricer.model_quotes(s, q, sigma, tau)
    assert [_bits(x) for x in fast] == [_bits(x) for x in floats]
    try:
        expected: tuple[int, int] | type[Exception] = tuple(  # type: ignore[assignment]
            bounded_quote(side, quote_ticks(SPEC, price, side), bid=bid, ask=ask, **bounds)
            for side, price in ((Side.BUY, floats[0]), (Side.SELL, floats[1])))
    except (ValueError, ArithmeticError) as exc:  # non-finite or huge prices: both refuse
        expected = type(exc)
    if isinstance(expected, tuple):
        assert pricer.quotes(SPEC, s, q, sigma, tau, bid=bid, ask=ask) == expected
    else:
        with pytest.raises(expected):
            pricer.quotes(SPEC, s, q, sigma, tau, bid=bid, ask=ask)


def test_the_pricer_refuses_what_the_models_refuse() -> None:
    with pytest.raises(ValueError, match="gamma must be positive"):
        QuotePricer(PricingModel.AVELLANEDA_STOIKOV, gamma=0.0, k=1.0)
    with pytest.raises(ValueError, match="a must be positive"):
        QuotePricer(PricingModel.GLFT, gamma=0.1, k=1.0, a=float("nan"))
    with pytest.raises(ValueError, match="positive fixed spread"):
        QuotePricer(PricingModel.SYMMETRIC, gamma=0.1, k=1.0)


def _near_whole(whole: int, ulps: int) -> float:
    """`ulps` floats away from a whole number of ticks."""
    x = float(whole)
    step = math.inf if ulps > 0 else -math.inf
    for _ in range(abs(ulps)):
        x = math.nextafter(x, step)
    return x


prices = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e17),
    st.builds(_near_whole, st.integers(-5, 2**53), st.integers(-40, 40)),
    st.builds(lambda w, d: w + d, st.integers(0, 10**9),
              st.sampled_from([1e-9, -1e-9, 5e-10, -5e-10, 1e-8, -1e-8, 1.1e-8, -1.1e-8,
                               0.99e-8, -0.99e-8, 0.5, 0.0])),
)


@settings(max_examples=3000, deadline=None)
@given(price=prices, side=st.sampled_from(Side))
@example(price=100.00000000000001, side=Side.SELL)
@example(price=99.99999999999999, side=Side.BUY)
@example(price=100.0000000049, side=Side.SELL)
@example(price=100.0000000051, side=Side.SELL)
@example(price=100.9999999951, side=Side.BUY)
@example(price=100.9999999949, side=Side.BUY)
@example(price=1.0 - 1e-17, side=Side.SELL)
@example(price=2.0 ** 52 - 0.5, side=Side.SELL)
def test_quote_ticks_shortcut_rounds_as_the_exact_decimal_does(price: float, side: Side) -> None:
    try:
        expected: int | type[Exception] = _quote_ticks_exact(price, side)
    except ArithmeticError as exc:  # beyond the Decimal context's precision: so is the shortcut
        expected = type(exc)
    if isinstance(expected, int):
        assert quote_ticks(SPEC, price, side) == expected
    else:
        with pytest.raises(expected):
            quote_ticks(SPEC, price, side)


def test_quote_ticks_near_whole_falls_back_to_the_exact_rounding() -> None:
    # Within 1e-9 of a whole tick the noise rounds away; just beyond, a real fraction stays.
    assert quote_ticks(SPEC, 100.0000000004, Side.SELL) == 100
    assert quote_ticks(SPEC, 100.000000002, Side.SELL) == 101
    assert quote_ticks(SPEC, 100.9999999996, Side.BUY) == 101
    assert quote_ticks(SPEC, 100.999999998, Side.BUY) == 100
    with pytest.raises(ValueError, match="finite"):
        quote_ticks(SPEC, math.nan, Side.SELL)
