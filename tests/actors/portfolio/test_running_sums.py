"""The running sums' integer quotient: one Decimal form for a value, however it is reached."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from actors.portfolio.running_sums import RunningSums, over, to_decimal


@given(st.integers(-10**30, 10**30), st.sampled_from([1, 2, 3, 7, 20, 2 * 10**10, 3 * 10**8]),
       st.integers(1, 10**6))
def test_a_quotient_has_one_decimal_form_whatever_the_common_factor(n, d, k):
    assert str(over(n * k, d * k)) == str(over(n, d)) == str(to_decimal(Fraction(n, d)))


def test_a_quotient_that_does_not_terminate_rounds_half_even_to_50_digits():
    assert over(1, 3) == Decimal("0." + "3" * 50)
    assert over(2, 3) == Decimal("0." + "6" * 49 + "7")


def test_the_peak_is_tested_in_integers_and_kept_through_a_change_of_base():
    sums = RunningSums([Fraction(1, 20), Fraction(1, 4)])  # V/2 of two instruments: D = 20
    assert (sums.denominator, sums.units(Fraction(1, 4))) == (20, 5)
    sums.marked = 7
    sums.update_peak()
    assert sums.peak() == Fraction(7, 20)
    sums.rebase(Fraction(1, 3))  # a fill moved the base: the peak stays where it was
    assert sums.peak() == Fraction(7, 20)
    sums.marked = 0  # equity 1/3 < 7/20: no new peak
    sums.update_peak()
    assert sums.peak() == Fraction(7, 20)
    sums.marked = 1  # equity 1/3 + 1/20 = 23/60 > 21/60
    sums.update_peak()
    assert sums.peak() == Fraction(23, 60)
