"""The risk gate's spread EWMA in integers gives the values (to the 1e-6 quantum) and so the
decisions of the 28-digit Decimal formula it replaced, which this test keeps as the reference."""

from __future__ import annotations

import decimal
import random
from decimal import Decimal
from fractions import Fraction

from actors.risk.views import InstrumentView, _decay_q64, _decayed, _round_half_even
from protocols.market import BookTop

_REF = decimal.Context(prec=28)
_TABLE = decimal.Context(prec=40)  # the precision the decay's table of halves is built in


def reference_ewma(previous: Decimal, spread: int, dt_ns: int, half_life_ns: int) -> Decimal:
    if dt_ns <= 0:
        decay = Decimal(1)
    elif dt_ns >= 64 * half_life_ns:
        decay = Decimal(0)
    else:
        decay = _REF.power(Decimal(2), _REF.divide(Decimal(-dt_ns), Decimal(half_life_ns)))
    value = decay * previous + (1 - decay) * Decimal(spread)
    return value.quantize(Decimal("0.000001"), context=_REF)


def test_the_integer_ewma_matches_the_decimal_formula_sample_for_sample() -> None:
    rng = random.Random(7)
    for run in range(100):
        half_life = rng.choice([10**6, 10**9, 60 * 10**9])
        view, expected, now = InstrumentView("X"), None, 0
        for i in range(60):
            dt = rng.choice([1, 10**6, rng.randrange(1, 5 * 10**9), rng.randrange(10**8)])
            spread = rng.choice([1, 1, 2, 3, rng.randrange(1, 5_000)])
            previous_ns, now = now, now + dt
            view.apply_top(BookTop("X", 1000, 1, 1000 + spread, 1, now, None, i, (), ()),
                           half_life)
            before = expected
            expected = Decimal(spread) if expected is None else reference_ewma(
                expected, spread, now - previous_ns, half_life)
            assert view.spread_ewma == expected, (run, i)
            assert str(view.spread_ewma) == str(expected) or i == 0
            # what a shock is judged on: the EWMA as it was, to the digit
            assert str(view.spread_ewma_before) == str(before), (run, i)


def test_the_fixed_point_decay_is_exact_at_whole_half_lives() -> None:
    one = 1 << 64
    assert _decay_q64(0, 10) == one
    assert _decay_q64(10, 10) == one // 2
    assert _decay_q64(30, 10) == one // 8
    assert _decay_q64(640, 10) == 0
    root_half = decimal.Context(prec=40).power(Decimal(2), Decimal("-0.5")) * one
    assert abs(_decay_q64(5, 10) - root_half) < one * Decimal("1e-15")


def loop_decay_q64(dt_ns: int, half_life_ns: int) -> int:
    """The decay as first written: one step per bit of the fraction, high bit first (the
    whole half-lives and the fraction's bits taken here from an exact `Fraction`)."""
    ratio = Fraction(dt_ns, half_life_ns)
    if ratio <= 0:
        return 1 << 64
    if ratio >= 64:
        return 0
    halvings = int(ratio)
    bits = int((ratio - halvings) * (1 << 48))
    value = 1 << 64
    for k in range(1, 49):
        if bits >> (48 - k) & 1:
            half = int(_TABLE.power(Decimal(2), Decimal(-1) / (1 << k)) * (1 << 64))
            value = (value * half) >> 64
    return value >> halvings


def test_the_table_of_high_bits_gives_the_integers_of_the_bit_by_bit_loop() -> None:
    """The decay takes its first twelve steps from a table: the very same integers, so the
    EWMA and the gate's decisions do not move by one unit."""
    rng = random.Random(11)
    cases = [(1, 10), (5, 10), (9, 10), (2**47, 2**48), (2**48 - 1, 2**48)]
    cases += [(rng.randrange(1, 10**11), rng.choice([10**6, 10**9, 3 * 10**10]))
              for _ in range(400)]
    for dt, half_life in cases:
        assert _decay_q64(dt, half_life) == loop_decay_q64(dt, half_life), (dt, half_life)


def test_the_float_estimate_settles_only_what_the_integers_would() -> None:
    """`_decayed` answers from a float estimate unless the exact value could be near a
    rounding tie: over random and deliberately tied inputs, it equals the integer formula."""
    rng = random.Random(5)
    cases = []
    for _ in range(20_000):
        half_life = rng.choice([10**6, 10**9, 30 * 10**9, 60 * 10**9])
        dt = rng.choice([rng.randrange(1, 10**8), rng.randrange(1, 64 * half_life),
                         rng.randrange(1, 10**4)])
        diff = rng.choice([rng.randrange(-10**7, 10**7), rng.randrange(-10**13, 10**13),
                           rng.randrange(-3, 4), rng.choice([-1, 1]) * (1 << 51) + 3])
        cases.append((diff, dt, half_life))
    # Exact ties: whole half-lives halve an odd difference to k + 1/2.
    cases += [(2 * k + 1, n * 10**9, 10**9) for k in range(-50, 50) for n in (1, 2, 3)]
    cases += [(0, 5, 10), (7, 0, 10), (7, -3, 10), (7, 640, 10), (7, 639, 10)]
    for diff, dt, half_life in cases:
        exact = diff if dt <= 0 else _round_half_even(_decay_q64(dt, half_life) * diff, 64)
        assert _decayed(diff, dt, half_life) == exact, (diff, dt, half_life)
