"""One instrument's money limits as integer thresholds: the proof that a limit order passes.

The rules judge an order's money in `Decimal`, as the venue and the ledger count it:
`views.below_minimum` (qty = lots x lot_step against `min_qty`, notional against
`min_notional`) and `RiskState._exposure` (notional against `max_order_notional`, then the
total exposure the order would leave against `max_total_exposure`). For a limit order each of
those is a function of two ints, its price in ticks and its size in lots: its notional is
`ticks x lots x V` (V = tick_size x lot_step x multiplier; an inverse contract's is `lots x
lot_step x multiplier`, whatever the price). So each limit is one integer threshold on
`ticks x lots` (or on lots), worked out once per spec from the exact fractions of the spec's
and the config's `Decimal`s, and the check of a proposal is a multiplication and a comparison
where the `Decimal` check built six numbers in two contexts.

The thresholds only ever prove a PASS. Whatever they cannot prove goes to the `Decimal` rule
as written, which decides it and words the refusal, so a refusal, its gate and its text are
the rule's own. They prove nothing for a market order (its price is the mid's), nor where a
step of the `Decimal` rule could be inexact: the money context keeps 50 digits and traps
`Inexact`, so the proof needs `ticks x lots` times the spec's coefficients under 10 ** 50
(where the rule would raise, the rule still runs, and raises). The total exposure is added in
the thread's own context (28 digits by default, rounding): the sum `S` of the exposure held
and the order's notional is proven not to exceed the limit `L` exactly, and since rounding is
monotonic and leaves `L` as it is when `L` fits the context's precision (read on each check),
the rounded sum does not exceed `L` either.
`tests/actors/risk/test_notional_limits.py` compares every proof with the `Decimal` rule over
random specs, sizes, prices and limits.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from protocols.instruments import ContractType, InstrumentSpec

__all__ = ["NotionalLimits"]

_EXACT_DIGITS = 10 ** 50  # the money context's precision (`protocols.instruments._EXACT`)
_SANE_EXPONENT = 1_000  # beyond it, no proof: the contexts' exponent limits are not reasoned on


def _coefficient(value: Decimal) -> int:
    """|value|'s coefficient (its digits as an int, trailing zeros kept)."""
    return int("".join(map(str, value.as_tuple().digits)))


def _floor_div(a: tuple[int, int], b: tuple[int, int]) -> int:
    """floor((a0 / a1) / (b0 / b1)) for positive denominators a1, b1 and b0 > 0."""
    return (a[0] * b[1]) // (a[1] * b[0])


def _ceil_div(a: tuple[int, int], b: tuple[int, int]) -> int:
    return -((-a[0] * b[1]) // (a[1] * b[0]))


def _exponent(value: Decimal) -> int:
    """A finite value's exponent (a non-finite one's counts as beyond any sane scale)."""
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else _SANE_EXPONENT + 1


def _significant_digits(value: Decimal) -> int:
    return len(value.normalize(decimal.Context(prec=1_000)).as_tuple().digits)


class NotionalLimits:
    """The money limits of one spec under one config, as thresholds on `ticks x lots` (a
    linear contract's notional, in units of V) or on lots (an inverse contract's)."""

    __slots__ = ("_exact_units", "_exposure_for", "_exposure_units", "_inverse", "_max_order",
                 "_max_total", "_max_total_digits", "_max_total_value", "_min_lots",
                 "_min_notional", "_unit", "spec")

    def __init__(self, spec: InstrumentSpec, max_order_notional: Decimal,
                 max_total_exposure: Decimal) -> None:
        self.spec = spec
        self._inverse = spec.contract_type is ContractType.INVERSE
        lot, mult = spec.lot_step.as_integer_ratio(), spec.multiplier.as_integer_ratio()
        unit = (lot[0] * mult[0], lot[1] * mult[1])
        if not self._inverse:
            tick = spec.tick_size.as_integer_ratio()
            unit = (unit[0] * tick[0], unit[1] * tick[1])
        self._unit = unit  # one unit's notional, a fraction (numerator, denominator)
        self._min_lots = _ceil_div(spec.min_qty.as_integer_ratio(), lot)
        self._min_notional = _ceil_div(spec.min_notional.as_integer_ratio(), unit)
        self._max_order = _floor_div(max_order_notional.as_integer_ratio(), unit)
        self._max_total_value = max_total_exposure
        self._max_total = max_total_exposure.as_integer_ratio()
        self._max_total_digits = _significant_digits(max_total_exposure)
        factors = (spec.tick_size, spec.lot_step, spec.multiplier)
        scales = (*factors, spec.min_qty, spec.min_notional, max_order_notional,
                  max_total_exposure)
        sane = all(abs(_exponent(d)) <= _SANE_EXPONENT for d in scales)
        coefficients = 1
        for factor in factors:
            coefficients *= _coefficient(factor)
        # ticks x lots below this: every step of the Decimal rule is exact in 50 digits (the
        # mid's halving, which could add a digit, is not on this path: market orders are not
        # proven). 0 where nothing can be proven.
        self._exact_units = -(-_EXACT_DIGITS // coefficients) if sane else 0
        self._exposure_for: Decimal | None = None  # the total exposure the next field is for
        self._exposure_units = -1

    def meets_minimum(self, ticks: int | None, lots: int) -> bool:
        """Proven: `views.below_minimum(spec, lots, price of ticks)` finds nothing short."""
        if ticks is None:
            return False
        units = ticks * lots
        if not 0 < units < self._exact_units:
            return False
        return lots >= self._min_lots and (
            lots if self._inverse else units) >= self._min_notional

    def within_order_notional(self, ticks: int | None, lots: int) -> bool:
        """Proven: the notional of `lots` at `ticks` is not above `max_order_notional`."""
        if ticks is None:
            return False
        units = ticks * lots
        return 0 < units < self._exact_units and (
            lots if self._inverse else units) <= self._max_order

    def within_total_exposure(self, ticks: int | None, lots: int,
                              total_exposure: Decimal) -> bool:
        """Proven: `total_exposure + notional(lots at ticks)`, added in the thread's context,
        is not above `max_total_exposure`."""
        if ticks is None:
            return False
        units = ticks * lots
        if not 0 < units < self._exact_units:
            return False
        if total_exposure is not self._exposure_for:
            self._exposure_units = self._room(total_exposure)
            self._exposure_for = total_exposure
        return ((lots if self._inverse else units) <= self._exposure_units
                and decimal.getcontext().prec >= self._max_total_digits)

    def _room(self, total_exposure: Decimal) -> int:
        """The most units whose notional keeps the exact sum within the limit (-1: no proof,
        for an exposure that is not finite, negative, or already above the limit: the sum of
        a non-negative exposure and a notional within the limit is within the limit's scale,
        so no exponent limit of the context is near)."""
        if not total_exposure.is_finite() or not 0 <= total_exposure <= self._max_total_value:
            return -1
        held = total_exposure.as_integer_ratio()
        limit = self._max_total
        room = (limit[0] * held[1] - held[0] * limit[1], limit[1] * held[1])
        return _floor_div(room, self._unit)
