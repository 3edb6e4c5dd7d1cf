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

__all__ = ["ExposureRoom", "NotionalLimits"]

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

    __slots__ = ("_exact_units", "_inverse", "_max_order", "_min_lots", "_min_notional",
                 "_unit", "spec")

    def __init__(self, spec: InstrumentSpec, max_order_notional: Decimal) -> None:
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
        factors = (spec.tick_size, spec.lot_step, spec.multiplier)
        scales = (*factors, spec.min_qty, spec.min_notional, max_order_notional)
        sane = all(abs(_exponent(d)) <= _SANE_EXPONENT for d in scales)
        coefficients = 1
        for factor in factors:
            coefficients *= _coefficient(factor)
        # ticks x lots below this: every step of the Decimal rule is exact in 50 digits (the
        # mid's halving, which could add a digit, is not on this path: market orders are not
        # proven). 0 where nothing can be proven.
        self._exact_units = -(-_EXACT_DIGITS // coefficients) if sane else 0

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

    def within_room(self, ticks: int | None, lots: int, room: tuple[int, int] | None) -> bool:
        """Proven: the notional of `lots` at `ticks` fits in `room` (`ExposureRoom.left`), so
        the total exposure it leaves, added in the thread's context, is within the limit."""
        if ticks is None or room is None:
            return False
        units = ticks * lots
        if not 0 < units < self._exact_units:
            return False
        unit = self._unit
        return (lots if self._inverse else units) * unit[0] * room[1] <= room[0] * unit[1]


class ExposureRoom:
    """What the account's total exposure leaves under `max_total_exposure`, as an exact
    fraction, worked out once per exposure the portfolio reports (every instrument's proposals
    ask about the same one)."""

    __slots__ = ("_digits", "_for", "_limit", "_limit_value", "_room")

    def __init__(self, max_total_exposure: Decimal) -> None:
        sane = abs(_exponent(max_total_exposure)) <= _SANE_EXPONENT
        self._limit_value = max_total_exposure if sane else None
        self._limit = max_total_exposure.as_integer_ratio() if sane else (0, 1)
        self._digits = _significant_digits(max_total_exposure) if sane else 0
        self._for: Decimal | None = None  # the exposure `_room` was worked out for
        self._room: tuple[int, int] | None = None

    def left(self, total_exposure: Decimal) -> tuple[int, int] | None:
        """limit - `total_exposure` as (numerator, denominator), or None: no proof for an
        exposure that is not finite, negative or already above the limit (so the sum of the
        exposure and a notional that fits is within the limit's scale, far from the context's
        exponent limits), nor while the thread's context cannot hold the limit exactly."""
        if total_exposure is not self._for:
            self._room = self._work_out(total_exposure)
            self._for = total_exposure
        if decimal.getcontext().prec < self._digits:
            return None
        return self._room

    def _work_out(self, held: Decimal) -> tuple[int, int] | None:
        limit = self._limit_value
        if limit is None or not held.is_finite() or not 0 <= held <= limit:
            return None
        numerator, denominator = held.as_integer_ratio()
        return (self._limit[0] * denominator - numerator * self._limit[1],
                self._limit[1] * denominator)
