"""The report's small statistics, on inputs whose answers are known."""

from __future__ import annotations

import math
from decimal import Decimal

from actors.analytics.stats import money, percentile, rounded, runs, sharpe

M = 60 * 10**9


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert [percentile(values, q) for q in (5, 50, 90)] == [1.0, 3.0, 5.0]
    assert percentile([], 50) is None


def test_runs_of_same_side_fills() -> None:
    assert runs(["buy", "buy", "sell", "buy", "buy", "buy"]) == [2, 1, 3]


def test_money_is_exact_and_never_negative_zero() -> None:
    assert (money(Decimal("-0.00")), money(Decimal("1.2300")), money(Decimal("-5E-7"))) == \
        ("0", "1.23", "-0.0000005")
    assert rounded(-0.0000001) == 0.0


def test_sharpe_of_alternating_minutes() -> None:
    # +2, +0, +2, +0 ... per minute: mean 1, sample std sqrt(40/39), over 40 minutes
    equity = [(i * M, Decimal(2 * ((i + 2) // 2))) for i in range(40)]
    expected = 1 / math.sqrt(40 / 39) * math.sqrt(525_600)
    value = sharpe(equity, M, 525_600)
    assert value is not None and math.isclose(value, expected)
    assert sharpe(equity[:10], M, 525_600) is None  # ten minutes: not a ratio
