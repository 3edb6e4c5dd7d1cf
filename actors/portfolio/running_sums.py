"""The ledger's running sums over its holdings: integers where a mark moves them.

A mid is the portfolio's common message (thousands a run against a few fills), and the value of
a holding at its mark is a whole number of a small quote unit: qty x mark_x2 x V/2, where V/2
(tick x lot x multiplier / 2) is a decimal over 2. Over D, the least common denominator of the
instruments' V/2, that is the integer `units` x qty x mark_x2. What only a fill (or an opening
shift) changes, the average cost and realized PnL, stays an exact `Fraction`. So:

    unrealized = marked / D - cost      marked = sum of units x qty x mark_x2      (ints)
    notional   = gross / D              gross  = sum of units x |qty| x mark_x2
    equity     = base + marked / D      cost   = sum of qty x avg x V              (Fractions,
                                        base   = realized after fees - cost         fills only)
    a new peak  <=>  marked > floor((peak - base) x D)

A new mark adds two integer products and tests the peak with one integer comparison; nothing
is rounded, and the figures are the same exact values as a sum over the holdings
(`tests/actors/portfolio/test_ledger.py` recounts them after every event).

`over(n, d)` is `to_decimal(Fraction(n, d))` without building the Fraction: a quotient of two
integers has one Decimal form whatever their common factors (its ideal exponent is 0), and one
rounding (half-even to 50 digits) when it does not terminate.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from protocols.instruments import _EXACT

__all__ = ["ExactDecimal", "RunningSums", "over", "to_decimal"]

_ROUNDED = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)
_ZERO = Fraction(0)


def over(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator: exact when it terminates in base 10, else rounded half-even to
    50 digits."""
    num, den = Decimal(numerator), Decimal(denominator)
    try:
        return _EXACT.divide(num, den)
    except decimal.Inexact:
        return _ROUNDED.divide(num, den)


def to_decimal(value: Fraction) -> Decimal:
    """Exact when the fraction terminates in base 10; otherwise rounded half-even to 50 digits."""
    return over(value.numerator, value.denominator)


class ExactDecimal:
    """A Fraction's Decimal, remembered while the same Fraction object stands (a snapshot
    repeats what only fills change: realized, fees, the daily figure)."""

    __slots__ = ("decimal", "value")

    def __init__(self) -> None:
        self.value: Fraction | None = None
        self.decimal = Decimal(0)

    def of(self, value: Fraction) -> Decimal:
        if value is not self.value:
            self.value, self.decimal = value, to_decimal(value)
        return self.decimal


class RunningSums:
    """The sums above, over every holding of one ledger. `halves` are the instruments' V/2."""

    __slots__ = ("_bound", "_peak", "base", "cost", "denominator", "gross", "marked")

    def __init__(self, halves: Iterable[Fraction]) -> None:
        self.denominator = math.lcm(1, *(half.denominator for half in halves))
        self.marked = 0
        self.gross = 0
        self.cost = _ZERO
        self.base = _ZERO
        self._peak: Fraction | None = _ZERO  # None: base + _bound / D, built when asked
        self._bound = 0  # equity > peak <=> marked > _bound

    def units(self, half: Fraction) -> int:
        """V/2 in units of 1/D (a whole number by the choice of D)."""
        units = half * self.denominator
        assert units.denominator == 1
        return units.numerator

    def scaled(self, value: Fraction) -> int | None:
        """value x D when that is a whole number (then a figure is an integer over D)."""
        den = value.denominator
        return value.numerator * (self.denominator // den) if self.denominator % den == 0 \
            else None

    def unrealized(self) -> Fraction:
        return Fraction(self.marked, self.denominator) - self.cost

    def equity(self) -> Fraction:
        return self.base + Fraction(self.marked, self.denominator)

    def peak(self) -> Fraction:
        if self._peak is None:
            self._peak = self.base + Fraction(self._bound, self.denominator)
        return self._peak

    def rebase(self, base: Fraction) -> None:
        """What fills changed (realized after fees, or the cost of the positions) moved `base`:
        the peak stays, its bound in marks moves."""
        peak = self.peak()
        self.base = base
        self._bound = math.floor((peak - base) * self.denominator)

    def update_peak(self) -> None:
        if self.marked > self._bound:
            self._bound = self.marked
            self._peak = None
