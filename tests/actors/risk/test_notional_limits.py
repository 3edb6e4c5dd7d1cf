"""The gate's integer proofs against the Decimal rules they stand in for: a proof is only ever
made where the rule passes, and it is made wherever the rule's arithmetic is exact."""

from __future__ import annotations

import decimal
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.quantization import lots_to_qty, notional, ticks_to_price
from actors.risk.notional_limits import ExposureRoom, NotionalLimits
from actors.risk.views import InstrumentView, below_minimum
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import BookTop
from protocols.risk import DailyLoss


def _decimal(coefficient: int, exponent: int) -> Decimal:
    return Decimal(coefficient).scaleb(exponent)


def steps() -> st.SearchStrategy[Decimal]:
    """A positive spec step: 1, 5, 25, 1234... x 10 ** -12..3."""
    return st.builds(_decimal, st.sampled_from([1, 2, 5, 10, 25, 1234, 100000007]),
                     st.integers(-12, 3))


def amounts() -> st.SearchStrategy[Decimal]:
    """A non-negative money amount, from tiny to large, some with long coefficients."""
    return st.builds(_decimal, st.integers(0, 10**20), st.integers(-16, 6))


@st.composite
def specs(draw: st.DrawFn) -> InstrumentSpec:
    return InstrumentSpec(
        "X", "sim", draw(steps()), draw(steps()), draw(amounts()), draw(amounts()),
        Decimal("0.001"), Decimal("0.001"),
        draw(st.sampled_from(list(ContractType))), draw(steps()))


sizes = st.integers(1, 10**12) | st.integers(1, 100)
prices = st.integers(1, 10**10) | st.integers(1, 100)


def _units(spec: InstrumentSpec, ticks: int, lots: int) -> int:
    """The coefficient digits the Decimal rule's product reaches (its exactness)."""
    digits = 1
    for step in (spec.tick_size, spec.lot_step, spec.multiplier):
        digits *= int("".join(map(str, step.as_tuple().digits)))
    return ticks * lots * digits


@settings(max_examples=600, deadline=None)
@given(specs(), prices, sizes, amounts(), amounts())
def test_a_proven_pass_is_the_rules_pass_and_every_exact_pass_is_proven(
        spec: InstrumentSpec, ticks: int, lots: int, max_order: Decimal,
        max_total: Decimal) -> None:
    money = NotionalLimits(spec, max_order)
    exact = _units(spec, ticks, lots) < 10**50
    price = ticks_to_price(spec, ticks) if exact else None
    if exact:
        assert price is not None
        value = notional(spec, price, lots_to_qty(spec, lots))
        assert money.meets_minimum(ticks, lots) == (below_minimum(spec, lots, price) == "")
        assert money.within_order_notional(ticks, lots) == (value <= max_order)
    else:  # the rule would raise (Inexact): it must be the rule that runs
        assert not money.meets_minimum(ticks, lots)
        assert not money.within_order_notional(ticks, lots)
    assert not money.meets_minimum(None, lots)  # a market order: the rule decides
    assert not money.within_order_notional(None, lots)


@settings(max_examples=600, deadline=None)
@given(specs(), prices, sizes, st.tuples(amounts(), amounts()), st.integers(4, 40))
def test_a_proven_total_exposure_is_within_the_limit_in_the_threads_context(
        spec: InstrumentSpec, ticks: int, lots: int, limits: tuple[Decimal, Decimal],
        precision: int) -> None:
    held, max_total = limits
    money, room = NotionalLimits(spec, Decimal(1)), ExposureRoom(max_total)
    with decimal.localcontext() as context:
        context.prec = precision
        proven = money.within_room(ticks, lots, room.left(held))
        if _units(spec, ticks, lots) >= 10**50:
            assert not proven
            return
        total = held + notional(spec, ticks_to_price(spec, ticks), lots_to_qty(spec, lots))
        if proven:
            assert not total > max_total
        exact_sum = decimal.Context(prec=200).add(
            held, notional(spec, ticks_to_price(spec, ticks), lots_to_qty(spec, lots)))
        fits = len(max_total.normalize(decimal.Context(prec=200)).as_tuple().digits) <= precision
        if exact_sum <= max_total and fits:
            assert proven  # the usual case is proven, whatever the rounding
    # the same exposure again: the room is remembered, and worked out again for a new one
    assert money.within_room(ticks, lots, room.left(held)) == money.within_room(
        ticks, lots, room.left(Decimal(str(held))))


def test_no_proof_for_an_exposure_that_is_not_a_finite_non_negative_amount() -> None:
    spec = InstrumentSpec("X", "sim", Decimal("0.01"), Decimal("0.001"), 0, 0, 0, 0)
    money, room = NotionalLimits(spec, Decimal(100)), ExposureRoom(Decimal(100))
    assert money.within_room(100, 10, room.left(Decimal(0)))
    for held in (Decimal("NaN"), Decimal("Infinity"), Decimal(-1), Decimal(101)):
        assert not money.within_room(100, 10, room.left(held))
    assert not money.within_room(None, 10, room.left(Decimal(0)))  # a market order


def reference_shocked(view: InstrumentView, k: Decimal, warmup: int) -> bool:
    """`spread_shocked` as it was written before its integer proof."""
    before = view.spread_ewma_before
    if view.spread is None or before is None or view.spread_samples <= warmup:
        return False
    return Decimal(view.spread) > k * before


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 400), st.integers(0, 5 * 10**9)), min_size=1,
                max_size=30),
       st.builds(_decimal, st.integers(0, 10**6), st.integers(-6, 2)),
       st.integers(0, 5), st.integers(3, 30))
def test_the_spread_shock_is_the_decimal_rules_in_any_precision(
        tops: list[tuple[int, int]], k: Decimal, warmup: int, precision: int) -> None:
    view, now = InstrumentView("X"), 0
    with decimal.localcontext() as context:
        context.prec = precision
        for number, (spread, dt) in enumerate(tops):
            now += dt
            view.apply_top(BookTop("X", 1000, 1, 1000 + spread, 1, now, None, number), 10**9)
            assert view.spread_shocked(k, warmup) == reference_shocked(view, k, warmup)


def test_a_shock_is_still_seen() -> None:
    view = InstrumentView("X")
    for number, spread in enumerate([2, 2, 2, 2, 30]):
        view.apply_top(BookTop("X", 1000, 1, 1000 + spread, 1, number, None, number), 10**9)
    assert view.spread_shocked(Decimal(3), 3)
    assert not view.spread_shocked(Decimal(20), 3)


def test_the_daily_loss_is_rebuilt_with_every_field() -> None:
    """`AccountState._judge_account` builds the day's record field by field (not
    `attrs.evolve`, ~2 us a snapshot): a new field must be added there too."""
    assert [f.name for f in attrs.fields(DailyLoss)] == ["utc_day", "realized_pnl", "breached"]


@pytest.mark.parametrize("kind", list(ContractType))
def test_the_thresholds_sit_exactly_on_the_limits(kind: ContractType) -> None:
    spec = InstrumentSpec("X", "sim", Decimal("0.5"), Decimal("0.01"), Decimal("0.05"),
                          Decimal(10), 0, 0, kind)
    money, room = NotionalLimits(spec, Decimal(50)), ExposureRoom(Decimal(100))
    for ticks in (1, 3, 20, 20_000):
        for lots in range(1, 30):
            price = ticks_to_price(spec, ticks)
            value = notional(spec, price, lots_to_qty(spec, lots))
            assert money.meets_minimum(ticks, lots) == (below_minimum(spec, lots, price) == "")
            assert money.within_order_notional(ticks, lots) == (value <= 50)
            assert money.within_room(ticks, lots, room.left(Decimal(40))) == (value + 40 <= 100)


def test_the_spread_shock_at_ties_to_the_micro_tick() -> None:
    view = InstrumentView("X")
    for number in range(4):
        view.apply_top(BookTop("X", 1000, 1, 1002, 1, number, None, number), 10**9)
    for spread in (1, 2, 3):
        for before in range(spread * 10**6 - 3, spread * 10**6 + 4):
            view.spread, view._before_micro = spread, before
            for k in (Decimal(1), Decimal("0.999999"), Decimal("1.000001"), Decimal("1.0")):
                assert view.spread_shocked(k, 0) == reference_shocked(view, k, 0), (
                    spread, before, k)
