"""The fake venue's rate limits as Binance counts them: fixed windows, the order count's 429
(without Retry-After, as Binance documents it), the weight's 429 with the seconds to the
window's end, and the `order_limit` fault that raises or lowers the order count."""

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
            assert exc.retry_after_s is None  # Binance: "without the Retry-After header"
            return placed
    return n


def test_spot_takes_100_orders_per_10_s_window_and_then_says_wait_to_its_end() -> None:
    assert place(VenueCounters("spot"), 150, now_ms=2_000) == 100


@pytest.mark.parametrize("limit", [10, 1_000])
def test_the_order_limit_fault_sets_the_orders_per_10_s(limit: int) -> None:
    assert place(VenueCounters("spot"), 2_000, now_ms=2_000, order_limit=limit) == limit


def test_the_weight_limit_says_wait_to_the_end_of_the_minute_and_still_counts() -> None:
    counters = VenueCounters("spot")
    counters.charge(5990, 0, now_ms=15_000)
    with pytest.raises(Throttled) as refused:
        counters.charge(20, 0, now_ms=15_000)
    assert (refused.value.code, refused.value.retry_after_s) == (-1003, 45)
    assert counters.used(15_000) == 6010  # the refused request's weight counts too
    assert counters.used(60_000) == 0  # a fixed window: the next minute starts from nothing
