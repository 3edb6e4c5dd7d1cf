"""Small, deterministic statistics for reports: percentiles, means, Sharpe, rounding for JSON.

Statistics (bps, ratios, seconds) are floats rounded to a fixed number of digits, so a report is
byte-identical run after run; money stays `Decimal` and is written as an exact string.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

__all__ = ["STAT_DIGITS", "mean", "money", "percentile", "rounded", "runs", "sharpe"]

STAT_DIGITS = 6


def rounded(value: float | Decimal | None, digits: int = STAT_DIGITS) -> float | None:
    """A float fit for JSON and stable across runs (no -0.0); None stays None."""
    if value is None:
        return None
    out = round(float(value), digits)
    return 0.0 if out == 0 else out


def money(value: Decimal) -> str:
    """Exact, in plain notation, never `-0`."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`: always one of the values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def runs(sides: Sequence[str]) -> list[int]:
    """Lengths of the runs of equal consecutive items: [buy, buy, sell] -> [2, 1]."""
    out: list[int] = []
    previous = None
    for side in sides:
        if side == previous:
            out[-1] += 1
        else:
            out.append(1)
            previous = side
    return out


def sharpe(equity: Sequence[tuple[int, Decimal]], bucket_ns: int,
           periods_per_year: float, min_buckets: int = 30) -> float | None:
    """Annualized Sharpe ratio of equity changes over fixed buckets (the last equity in each
    bucket, carried over empty ones); None with fewer than `min_buckets` changes (a handful of
    minutes annualized is noise, not a ratio) or no variation."""
    if len(equity) < 2:
        return None
    start = equity[0][0]
    closes: dict[int, Decimal] = {}
    for at, value in equity:
        closes[(at - start) // bucket_ns] = value
    last_bucket = max(closes)
    series, current = [], Decimal(0)
    for bucket in range(last_bucket + 1):
        current = closes.get(bucket, current)
        series.append(float(current))
    changes = [b - a for a, b in zip([0.0, *series], series, strict=False)]
    if len(changes) < max(2, min_buckets):
        return None
    mu = math.fsum(changes) / len(changes)
    var = math.fsum((c - mu) ** 2 for c in changes) / (len(changes) - 1)
    if var <= 0:
        return None
    return mu / math.sqrt(var) * math.sqrt(periods_per_year)
