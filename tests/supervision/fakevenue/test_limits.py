"""The fake venue's rate limits as Binance counts them: fixed windows, the order count's 429
with the seconds to the window's end, and the `order_limit` fault that raises or lowers it."""

from __future__ import annotations

import pytest

from supervision.fakevenue.limits import Throttled, VenueCounters


def place(counters: VenueCounters, n: int, now_ms: int, order_limit: int = 0) -> int:
    """Orders placed one request each until the venue refuses; how many went through."""
    for placed in range(n):
        try:
            counters.charge(1, 1, now_ms, order_limit=order_limit)
        except Throttled as exc:
            assert exc.status == 429 and exc.code == -1015
            assert exc.retry_after_s == 8  # at 2 s into the 10 s window
            return placed
    return n


def test_spot_takes_100_orders_per_10_s_window_and_then_says_wait_to_its_end() -> None:
    assert place(VenueCounters("spot"), 150, now_ms=2_000) == 100


@pytest.mark.parametrize("limit", [10, 1_000])
def test_the_order_limit_fault_sets_the_orders_per_10_s(limit: int) -> None:
    assert place(VenueCounters("spot"), 2_000, now_ms=2_000, order_limit=limit) == limit
