"""Rate limits counted as Binance counts them: fixed windows on the venue's clock. A token
bucket declared at the venue's limit passes twice it in one window; a fixed window passes the
limit and no more, opens again at the boundary, takes the venue's count from its answers when
it says more, and keeps a reserve of each window for exits. Time is virtual: integer ns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.execution.action_queue import ActionQueue
from actors.execution.fixed_window import FixedWindow
from actors.execution.token_bucket import (
    BatchPolicy,
    LimitModel,
    LimitUnit,
    RateBudget,
    RateLimit,
    TokenBucket,
    VenueLimits,
)
from protocols.orders import CancelIntent, OrderIntent, OrderType, Priority, Side

MS = 1_000_000
SEC = 1_000 * MS
WINDOW = 10 * SEC
FIXED = LimitModel.FIXED_WINDOW


def orders_10s(capacity: int = 100, **kw: object) -> RateLimit:
    return RateLimit("orders_10s", capacity, WINDOW, model=FIXED,  # type: ignore[arg-type]
                     unit=LimitUnit.ORDERS, **kw)


def passed_within(budget: RateBudget, start: int, span: int, step: int) -> int:
    """New orders let through, one every `step` ns from `start`, within `span` ns."""
    return sum(budget.try_spend(1, t, Priority.NEW) for t in range(start, start + span, step))


def test_a_token_bucket_at_the_venues_limit_passes_twice_it_in_one_window() -> None:
    # The gap this module closes: capacity at the window's start, the refill after.
    bucket = RateBudget((RateLimit("orders_10s", 100, WINDOW),), 0)
    assert passed_within(bucket, 0, WINDOW, 10 * MS) == 199


def test_a_fixed_window_refuses_the_order_past_its_capacity_until_the_boundary() -> None:
    window = RateBudget((orders_10s(100),), 0)
    assert passed_within(window, 0, WINDOW, 10 * MS) == 100
    assert window.next_available_ns(1, WINDOW - 1, Priority.NEW) == WINDOW
    assert window.try_spend(1, WINDOW, Priority.NEW)  # the boundary: a new window
    assert passed_within(window, WINDOW, WINDOW, 10 * MS) == 99


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3 * SEC), min_size=1, max_size=400),
       st.integers(0, WINDOW - 1))
def test_no_window_ever_holds_more_than_its_capacity(gaps: list[int], offset: int) -> None:
    window = RateBudget((orders_10s(20),), 0)
    window.set_venue_clock(offset)
    counted: dict[int, int] = {}
    t = 0
    for gap in gaps:
        t += gap
        if window.try_spend(1, t, Priority.NEW):
            index = (t + offset) // WINDOW
            counted[index] = counted.get(index, 0) + 1
    assert max(counted.values(), default=0) <= 20


def test_windows_are_aligned_to_the_venues_clock_not_to_our_start() -> None:
    window = RateBudget((orders_10s(10),), 0)
    window.set_venue_clock(1_700_000_007 * SEC)  # the venue's clock reads :07 at our 0
    assert passed_within(window, 0, 3 * SEC, 100 * MS) == 10
    assert window.next_available_ns(1, 1 * SEC, Priority.NEW) == 3 * SEC  # its :10
    assert passed_within(window, 3 * SEC, 1 * SEC, 100 * MS) == 10


def test_near_a_boundary_an_order_counts_in_both_windows_it_may_fall_in() -> None:
    window = FixedWindow(10, WINDOW, margin_ns=200 * MS)
    window.spend(5, 1 * SEC)
    window.spend(5, WINDOW - 100 * MS)  # within the margin: the next window is charged too
    # A full window: the next one opens a margin late, in case the venue is still in it.
    assert window.wait_ns(1, WINDOW - 50 * MS) == 250 * MS
    assert window.wait_ns(1, WINDOW + 150 * MS) == 50 * MS
    assert window.wait_ns(1, WINDOW + 200 * MS) == 0
    assert window.tokens(WINDOW + 200 * MS) == 5
    with pytest.raises(ValueError, match="under half its period"):
        FixedWindow(10, WINDOW, margin_ns=5 * SEC)


def test_the_venues_count_is_adopted_when_it_says_more_never_less() -> None:
    window = RateBudget((orders_10s(100),), 0)
    window.set_venue_clock(1_700_000_000 * SEC)  # our 0 is the venue's :00
    for t in range(30):
        window.try_spend(1, t * MS, Priority.NEW)
    assert window.adopt("orders_10s", 12, 40 * MS)  # older than our last orders: ours stand
    assert window.tokens(40 * MS) == {"orders_10s": 70}
    assert window.adopt("orders_10s", 90, 50 * MS)  # another client of the account
    assert window.tokens(50 * MS) == {"orders_10s": 10}
    assert not window.adopt("orders_1d", 5, 50 * MS)  # a limit this budget does not have


def test_the_venues_count_applies_to_the_window_its_clock_names() -> None:
    window = RateBudget((orders_10s(100),), 0)
    window.set_venue_clock(1_700_000_000 * SEC)
    # An answer the venue gave at :09 arrives after our :10: its count was the old window's.
    window.adopt("orders_10s", 95, WINDOW + 5 * MS, venue_ns=1_700_000_009 * SEC)
    assert window.tokens(WINDOW + 5 * MS) == {"orders_10s": 100}
    # The venue's clock is ahead of ours: at our :09 it counts in its next window already.
    window.adopt("orders_10s", 40, 19 * SEC, venue_ns=1_700_000_020 * SEC)
    assert window.tokens(19 * SEC) == {"orders_10s": 100}
    assert window.tokens(20 * SEC) == {"orders_10s": 60}
    # Resetting at the boundary: the count starts again.
    assert window.tokens(30 * SEC) == {"orders_10s": 100}


def test_a_reserve_of_each_window_is_left_for_reduce_only_orders_and_cancels() -> None:
    window = RateBudget((orders_10s(100, reserve=10),
                         RateLimit("request_weight", 6000, 60 * SEC, model=FIXED,
                                   reserve=300)), 0)
    assert passed_within(window, 0, SEC, 1 * MS) == 90  # a burst of new orders stops at 90
    assert window.try_spend(1, SEC, Priority.CANCEL)  # a cancel places no order
    assert sum(window.try_spend(1, SEC, Priority.REDUCE_ONLY) for _ in range(20)) == 10
    assert window.tokens(SEC) == {"orders_10s": 0, "request_weight": 5899}
    with pytest.raises(ValueError, match="reserve"):
        orders_10s(100, reserve=100)


def test_a_batch_of_orders_counts_each_order_and_one_requests_weight() -> None:
    limits = VenueLimits(limits=(orders_10s(10), RateLimit("request_weight", 100, 60 * SEC,
                                                           model=FIXED)),
                         batch=BatchPolicy(max_items=5, base_weight=5))
    queue = ActionQueue(limits, 0)
    for i in range(12):
        queue.put(OrderIntent(f"c-s-{i}", "BTC", Side.BUY, OrderType.LIMIT, 1, 100), 0)
    first = queue.dispatch(0)
    assert [len(b.intents) for b in first.batches] == [5, 5]
    assert queue.budget.tokens(0) == {"orders_10s": 0, "request_weight": 90}
    assert first.next_wakeup_ns == WINDOW  # the rest waits for the next window
    assert [len(b.intents) for b in queue.dispatch(WINDOW).batches] == [2]
    with pytest.raises(ValueError, match="6 orders"):
        ActionQueue(VenueLimits(limits=(orders_10s(5),),
                                batch=BatchPolicy(max_items=6)), 0)


def test_a_429_keeps_the_windows_counts_the_backoff_holds_instead() -> None:
    # A whole minute of weight lost to an order-count 429 would stop cancels for a minute.
    limits = VenueLimits(limits=(orders_10s(100), RateLimit("request_weight", 6000, 60 * SEC,
                                                            model=FIXED)))
    queue = ActionQueue(limits, 0)
    queue.on_rate_limited(0, 3 * SEC)
    queue.put(CancelIntent("c-s-1", "BTC"), 0)
    assert [b.priority for b in queue.dispatch(0).batches] == [Priority.CANCEL]
    assert queue.budget.tokens(0) == {"orders_10s": 100, "request_weight": 5999}


def _state(meter: FixedWindow | TokenBucket) -> tuple[object, ...]:
    return tuple(getattr(meter, slot) for slot in type(meter).__slots__)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("bucket", "window")), st.integers(1, 6),
                          st.sampled_from((SEC, WINDOW)), st.booleans(), st.integers(0, 3)),
                min_size=1, max_size=3),
       st.lists(st.tuples(st.sampled_from((0, 7 * MS, 30 * MS, 90 * MS, 400 * MS, 930 * MS)),
                          st.integers(1, 3), st.sampled_from(Priority), st.integers(0, 3)),
                min_size=1, max_size=150),
       st.integers(0, WINDOW - 1))
def test_charging_limit_by_limit_is_asking_them_all_then_spending(
        declared: list[tuple[str, int, int, bool, int]],
        requests: list[tuple[int, int, Priority, int]], offset: int) -> None:
    # try_spend charges each limit in turn (`take`) and gives back to those it charged when a
    # later one cannot pay; the rule it replaced asked every limit (`wait_ns`) and then
    # spent. Both must leave every limit in the same state after every request.
    limits = tuple(RateLimit(f"l{i}", capacity + reserve, period,
                             model=FIXED if kind == "window" else LimitModel.TOKEN_BUCKET,
                             unit=LimitUnit.ORDERS if orders else LimitUnit.WEIGHT,
                             reserve=reserve)
                   for i, (kind, capacity, period, orders, reserve) in enumerate(declared))
    budget, twin = (RateBudget(limits, 0, margin_ns=100 * MS) for _ in range(2))
    budget.set_venue_clock(offset)
    twin.set_venue_clock(offset)
    t = 0
    for gap, weight, kind, orders in requests:
        t += gap
        if not budget.affordable(weight, kind, orders):
            continue
        paid = budget.try_spend(weight, t, kind, orders=orders)
        costs = [(m, orders if by_orders else weight, reserve)
                 for m, reserve, by_orders in twin._by_kind[kind]]
        asked = all(not m.wait_ns(cost, t, reserve) for m, cost, reserve in costs if cost)
        if asked:
            for m, cost, _reserve in costs:
                if cost:
                    m.spend(cost, t)
        assert paid == asked
        assert [_state(m) for m in budget._meters] == [_state(m) for m in twin._meters]
