"""The action budget's pure core: token buckets, priorities, coalescing, staleness, batching,
backoff. Time is virtual: integers of nanoseconds passed in."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.execution.ids import (
    ActionQueue,
    BatchPolicy,
    RateBudget,
    RateLimit,
    TokenBucket,
    VenueLimits,
    priority_of,
)
from protocols.orders import (
    CancelIntent,
    Dispatch,
    Intent,
    OrderIntent,
    OrderType,
    Priority,
    ReplaceIntent,
    Side,
)

MS = 1_000_000
SEC = 1_000 * MS


def new(i: int | str, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(
        f"c-s-{i}", "BTC", Side.BUY, OrderType.LIMIT, 1, 100, reduce_only=reduce_only
    )


def cancel(i: int | str) -> CancelIntent:
    return CancelIntent(f"c-s-{i}", "BTC")


def replace(i: int | str, price: int, reduce_only: bool = False) -> ReplaceIntent:
    return ReplaceIntent(f"c-s-{i}", "BTC", 1, price, reduce_only)


def per_second(n: int = 10, **kw: object) -> VenueLimits:
    return VenueLimits(limits=(RateLimit("per_second", n, SEC),), **kw)  # type: ignore[arg-type]


def sent(d: Dispatch) -> list[Intent]:
    return [i for b in d.batches for i in b.intents]


def exhaust(q: ActionQueue, now: int) -> None:
    """Spend every main token, so the next one arrives one token interval after `now`."""
    q.budget.drain(now)


# --------------------------------------------------------------------------------------------
# Token buckets


def test_bucket_refills_evenly_in_exact_integer_time() -> None:
    b = TokenBucket(capacity=10, period_ns=SEC, now_ns=0)
    assert b.tokens(0) == 10
    b.spend(10, 0)
    assert b.wait_ns(1, 0) == 100 * MS
    assert b.wait_ns(3, 0) == 300 * MS
    assert b.tokens(250 * MS) == 2
    assert b.wait_ns(3, 250 * MS) == 50 * MS
    assert b.tokens(10 * SEC) == 10  # capped at capacity


def test_bucket_wait_rounds_up_never_down() -> None:
    b = TokenBucket(capacity=3, period_ns=SEC, now_ns=0)  # one token per 333,333,333.3 ns
    b.spend(3, 0)
    wait = b.wait_ns(1, 0)
    assert wait == 333_333_334
    assert b.wait_ns(1, wait - 1) == 1 and b.wait_ns(1, wait) == 0


def test_bucket_ignores_a_clock_that_goes_backwards() -> None:
    b = TokenBucket(capacity=10, period_ns=SEC, now_ns=5 * SEC)
    b.spend(10, 5 * SEC)
    assert b.tokens(1 * SEC) == 0
    assert b.tokens(5 * SEC + 100 * MS) == 1


def test_per_second_and_per_window_budgets_are_both_enforced() -> None:
    budget = RateBudget([RateLimit("1s", 10, SEC), RateLimit("60s", 25, 60 * SEC)], now_ns=0)
    assert sum(budget.try_spend(1, 0, Priority.NEW) for _ in range(11)) == 10  # per second
    assert budget.next_available_ns(1, 0, Priority.NEW) == 100 * MS
    assert sum(budget.try_spend(1, SEC, Priority.NEW) for _ in range(11)) == 10
    # At 2 s the per-second bucket is full again, but the window has 25 - 20 + 2 * 25/60 left.
    assert sum(budget.try_spend(1, 2 * SEC, Priority.NEW) for _ in range(11)) == 5
    assert budget.tokens(2 * SEC) == {"1s": 5, "60s": 0}
    # 0.8333 tokens left in the window: the next one is 1/6 token * 2.4 s/token away.
    assert budget.next_available_ns(1, 2 * SEC, Priority.NEW) == 2 * SEC + 400 * MS
    assert not budget.try_spend(1, 2 * SEC + 400 * MS - 1, Priority.NEW)
    assert budget.try_spend(1, 2 * SEC + 400 * MS, Priority.NEW)


def test_limit_scoped_to_some_kinds() -> None:
    orders_only = RateLimit("orders", 1, SEC, frozenset({Priority.NEW, Priority.REDUCE_ONLY}))
    budget = RateBudget([orders_only, RateLimit("weight", 100, SEC)], now_ns=0)
    assert budget.try_spend(1, 0, Priority.NEW)
    assert not budget.try_spend(1, 0, Priority.REDUCE_ONLY)
    assert budget.try_spend(1, 0, Priority.CANCEL)  # cancels are not counted as orders


def test_cancel_allowance_usable_when_the_main_budget_is_exhausted() -> None:
    budget = RateBudget([RateLimit("1s", 2, SEC)], 0, cancel_allowance=RateLimit("c", 3, SEC))
    assert budget.try_spend(1, 0, Priority.NEW) and budget.try_spend(1, 0, Priority.NEW)
    assert not budget.try_spend(1, 0, Priority.NEW)
    assert not budget.try_spend(1, 0, Priority.REDUCE_ONLY)  # the allowance is for cancels
    assert [budget.try_spend(1, 0, Priority.CANCEL) for _ in range(4)] == [True] * 3 + [False]
    assert budget.allowance_tokens(0) == 0
    assert budget.next_available_ns(1, 0, Priority.CANCEL) == SEC // 3 + 1


def test_impossible_weight_is_a_configuration_error() -> None:
    budget = RateBudget([RateLimit("1s", 5, SEC)], 0)
    with pytest.raises(ValueError):
        budget.try_spend(6, 0, Priority.NEW)
    with pytest.raises(ValueError):
        ActionQueue(per_second(5, cancel_weight=6), 0)
    with pytest.raises(ValueError):
        ActionQueue(per_second(5, batch=BatchPolicy(max_items=50, items_per_extra_weight=10)), 0)
    # A heavy cancel is fine where the cancel allowance can pay for it.
    ActionQueue(per_second(5, cancel_weight=6, cancel_allowance=RateLimit("c", 10, SEC)), 0)


# --------------------------------------------------------------------------------------------
# Priorities


def test_strict_priority_reduce_only_then_cancel_then_new() -> None:
    q = ActionQueue(per_second(100), 0)
    q.put(new(1), 0)
    q.put(cancel(9), 0)
    q.put(new(2, reduce_only=True), 0)
    q.put(new(3), 0)
    q.put(replace(8, 101, reduce_only=True), 0)
    d = q.dispatch(0)
    assert sent(d) == [new(2, True), replace(8, 101, True), cancel(9), new(1), new(3)]
    assert [b.priority for b in d.batches] == [0, 0, 1, 2, 2]
    assert d.next_wakeup_ns is None and d.drops == ()


def test_priority_of_intents() -> None:
    assert priority_of(replace(1, 5)) is Priority.NEW
    assert priority_of(replace(1, 5, reduce_only=True)) is Priority.REDUCE_ONLY
    assert priority_of(cancel(1)) is Priority.CANCEL


def test_flood_reduce_only_and_cancel_jump_100k_new_orders() -> None:
    q = ActionQueue(per_second(10), 0)
    for i in range(100_000):
        q.put(new(i), 0)
    first = q.dispatch(0)
    assert sent(first) == [new(i) for i in range(10)]
    assert first.next_wakeup_ns == 100 * MS
    q.put(cancel("x"), 1 * MS)
    q.put(new("exit", reduce_only=True), 2 * MS)
    assert q.dispatch(3 * MS).batches == ()
    assert sent(q.dispatch(100 * MS)) == [new("exit", reduce_only=True)]
    assert sent(q.dispatch(200 * MS)) == [cancel("x")]
    assert sent(q.dispatch(300 * MS)) == [new(10)]
    assert q.statistics(300 * MS).depth == {
        Priority.REDUCE_ONLY: 0,
        Priority.CANCEL: 0,
        Priority.NEW: 100_000 - 11,
    }


def test_cancel_from_allowance_passes_a_waiting_reduce_only_but_new_orders_do_not() -> None:
    limits = per_second(2, cancel_allowance=RateLimit("cancels", 5, SEC))
    q = ActionQueue(limits, 0)
    exhaust(q, 0)
    q.put(new(1, reduce_only=True), 0)
    q.put(cancel(2), 0)
    q.put(new(3), 0)
    d = q.dispatch(0)
    assert sent(d) == [cancel(2)]  # paid by the allowance; the main budget stays reserved
    assert d.next_wakeup_ns == 500 * MS
    assert sent(q.dispatch(500 * MS)) == [new(1, reduce_only=True)]
    assert sent(q.dispatch(1000 * MS)) == [new(3)]


# --------------------------------------------------------------------------------------------
# Backoff after 429


def test_429_blocks_new_orders_but_not_cancels_or_reduce_only() -> None:
    q = ActionQueue(per_second(10), 0)
    until = q.on_rate_limited(0)  # no Retry-After: the minimum backoff, 1 s
    assert until == SEC
    q.put(new(1), 0)
    q.put(cancel(2), 0)
    q.put(new(3, reduce_only=True), 0)
    assert q.dispatch(0).batches == ()  # the 429 drained the buckets: wait for a token
    assert sent(q.dispatch(100 * MS)) == [new(3, reduce_only=True)]
    d = q.dispatch(200 * MS)
    assert sent(d) == [cancel(2)] and d.next_wakeup_ns == SEC
    stats = q.statistics(200 * MS)
    assert stats.blocked == frozenset({Priority.NEW}) and stats.blocked_until_ns == SEC
    assert q.dispatch(SEC - 1).batches == ()
    assert sent(q.dispatch(SEC)) == [new(1)]


def test_retry_after_is_honoured() -> None:
    q = ActionQueue(per_second(10), 0)
    q.on_rate_limited(0, retry_after_ns=7 * SEC)
    q.put(new(1), 0)
    d = q.dispatch(SEC)
    assert d.batches == () and d.next_wakeup_ns == 7 * SEC
    assert q.dispatch(7 * SEC - 1).batches == ()
    assert sent(q.dispatch(7 * SEC)) == [new(1)]


def test_backoff_doubles_without_retry_after_and_resets_after_success() -> None:
    q = ActionQueue(per_second(10, backoff_min_ns=SEC, backoff_max_ns=5 * SEC), 0)
    assert q.on_rate_limited(0) == SEC
    assert q.on_rate_limited(SEC) == 3 * SEC
    assert q.on_rate_limited(3 * SEC) == 7 * SEC
    assert q.on_rate_limited(7 * SEC) == 12 * SEC  # capped at 5 s
    q.on_success(11 * SEC)  # a reply to a request sent before the 429: does not count
    assert q.statistics(11 * SEC).backoff_ns == 5 * SEC
    q.on_success(12 * SEC)
    assert q.statistics(12 * SEC).backoff_ns == SEC
    assert q.on_rate_limited(20 * SEC) == 21 * SEC


def test_venue_that_blocks_everything_on_429() -> None:
    q = ActionQueue(per_second(10, backoff_blocks=frozenset(Priority)), 0)
    q.on_rate_limited(0, retry_after_ns=2 * SEC)
    q.put(cancel(1), 0)
    q.put(new(2, reduce_only=True), 0)
    d = q.dispatch(SEC)
    assert d.batches == () and d.next_wakeup_ns == 2 * SEC
    assert sent(q.dispatch(2 * SEC)) == [new(2, reduce_only=True), cancel(1)]


def test_ip_ban_blocks_everything() -> None:
    q = ActionQueue(per_second(10), 0)
    q.on_banned(0, until_ns=60 * SEC)
    q.put(cancel(1), 0)
    assert q.dispatch(59 * SEC).batches == ()
    assert q.statistics(59 * SEC).blocked == frozenset(Priority)
    assert sent(q.dispatch(60 * SEC)) == [cancel(1)]


# --------------------------------------------------------------------------------------------
# Staleness, coalescing, cancels of unsent orders


def test_stale_new_order_is_dropped_not_sent_late() -> None:
    q = ActionQueue(per_second(1, new_order_ttl_ns=500 * MS), 0)
    exhaust(q, 0)
    q.put(new(1), 0)
    q.put(new(2), 600 * MS)
    d = q.dispatch(SEC)
    assert sent(d) == [new(2)]
    assert [(x.intent, x.reason, x.enqueued_ns, x.dropped_ns) for x in d.drops] == [
        (new(1), "stale", 0, SEC)
    ]


def test_ttl_per_put_and_cancels_never_stale() -> None:
    q = ActionQueue(per_second(1), 0)
    exhaust(q, 0)
    q.put(cancel(1), 0, ttl_ns=1)
    q.put(new(2, reduce_only=True), 0, ttl_ns=10 * MS)
    d = q.dispatch(SEC)
    assert sent(d) == [cancel(1)]
    assert [(x.intent, x.reason) for x in d.drops] == [(new(2, True), "stale")]


def test_newer_replace_supersedes_the_queued_one_and_keeps_its_turn() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    assert q.put(replace("a", 100), 0) == ()
    q.put(new("b"), 1)
    drops = q.put(replace("a", 101), 2)
    assert [(x.intent, x.reason) for x in drops] == [(replace("a", 100), "superseded")]
    assert q.put(replace("a", 102), 3)[0].intent == replace("a", 101)
    assert sent(q.dispatch(200 * MS)) == [replace("a", 102), new("b")]
    assert q.statistics(200 * MS).dropped == 2


def test_replace_that_changes_level_is_requeued() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    q.put(replace("a", 100), 0)
    drops = q.put(replace("a", 99, reduce_only=True), 1)
    assert [x.reason for x in drops] == ["superseded"]
    assert sent(q.dispatch(100 * MS)) == [replace("a", 99, True)]
    assert q.dispatch(SEC).batches == ()


def test_cancel_of_a_queued_order_drops_both() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    q.put(new(1), 0)
    drops = q.put(cancel(1), 5)
    assert [(x.intent, x.reason) for x in drops] == [
        (new(1), "cancelled_before_send"),
        (cancel(1), "cancelled_before_send"),
    ]
    assert q.dispatch(SEC).batches == () and q.statistics(SEC).depth[Priority.NEW] == 0


def test_replace_of_a_queued_order_amends_it() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    q.put(new(1), 0)
    assert [x.reason for x in q.put(replace(1, 250), 1)] == ["merged"]
    (order,) = sent(q.dispatch(100 * MS))
    assert isinstance(order, OrderIntent) and order.price == 250


def test_duplicates_and_replace_after_cancel_are_dropped() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    q.put(cancel(1), 0)
    assert [x.reason for x in q.put(cancel(1), 0)] == ["duplicate"]
    assert [x.reason for x in q.put(replace(1, 5), 0)] == ["cancel_pending"]
    q.put(new(2), 0)
    assert [x.reason for x in q.put(new(2), 0)] == ["duplicate"]


def test_drop_level_for_a_halt() -> None:
    q = ActionQueue(per_second(10), 0)
    exhaust(q, 0)
    for i in range(3):
        q.put(new(i), 0)
    q.put(cancel(9), 0)
    drops = q.drop_level(Priority.NEW, 5, "halted")
    assert [(x.intent, x.reason) for x in drops] == [(new(i), "halted") for i in range(3)]
    assert sent(q.dispatch(SEC)) == [cancel(9)]


# --------------------------------------------------------------------------------------------
# Batching


def batching(**kw: object) -> VenueLimits:
    policy = BatchPolicy(max_items=5, window_ns=100 * MS, base_weight=1, items_per_extra_weight=2)
    return per_second(10, batch=policy, **kw)


def test_batching_packs_new_orders_within_the_window() -> None:
    q = ActionQueue(batching(), 0)
    q.put(new(1), 0)
    assert q.dispatch(0) == Dispatch((), (), 100 * MS)
    q.put(new(2), 30 * MS)
    q.put(new(3), 60 * MS)
    assert q.dispatch(99 * MS).batches == ()
    d = q.dispatch(100 * MS)
    assert [(b.intents, b.weight) for b in d.batches] == [((new(1), new(2), new(3)), 2)]
    q.put(new(4), 150 * MS)
    assert q.dispatch(150 * MS).next_wakeup_ns == 250 * MS
    assert sent(q.dispatch(250 * MS)) == [new(4)]


def test_full_batch_goes_at_once_and_weight_follows_the_policy() -> None:
    q = ActionQueue(batching(), 0)
    for i in range(7):
        q.put(new(i), 0)
    d = q.dispatch(0)
    assert [(len(b.intents), b.weight) for b in d.batches] == [(5, 3)]
    assert d.next_wakeup_ns == 100 * MS


def test_urgent_actions_do_not_wait_for_the_window_and_batch_by_type() -> None:
    q = ActionQueue(batching(), 0)
    q.put(cancel(1), 0)
    q.put(cancel(2), 0)
    q.put(new(3, reduce_only=True), 0)
    q.put(replace(4, 9, reduce_only=True), 0)
    q.put(new(5, reduce_only=True), 0)
    d = q.dispatch(0)
    assert [b.intents for b in d.batches] == [
        (new(3, True),),
        (replace(4, 9, True),),
        (new(5, True),),
        (cancel(1), cancel(2)),
    ]


def test_statistics_report_depth_tokens_and_counters() -> None:
    q = ActionQueue(per_second(10, cancel_allowance=RateLimit("c", 4, SEC)), 0)
    for i in range(12):
        q.put(new(i), 0)
    q.dispatch(0)
    stats = q.statistics(0)
    assert stats.depth == {Priority.REDUCE_ONLY: 0, Priority.CANCEL: 0, Priority.NEW: 2}
    assert stats.tokens == {"per_second": 0}
    assert stats.cancel_tokens == 4
    assert (stats.sent, stats.dropped, stats.rate_limited) == (10, 0, 0)
    assert stats.blocked == frozenset() and stats.blocked_until_ns is None


# --------------------------------------------------------------------------------------------
# Property: nothing is lost, the budget is never overspent, urgent levels are never passed

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 5), st.just(False)),
        st.tuples(st.just("replace"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("advance"), st.integers(0, 300), st.just(False)),
        st.tuples(st.just("dispatch"), st.just(0), st.just(False)),
        st.tuples(st.just("429"), st.integers(0, 2), st.just(False)),
    ),
    max_size=80,
)


def play(ops: list[tuple[str, int, bool]], q: ActionQueue,
         dispatch: Callable[[int], object]) -> Iterator[tuple[int, Intent]]:
    """Play OPS on `q`: time advances, dispatches (through `dispatch(now)`) and 429s happen
    here; each put step is yielded as (now, intent) for the caller to put. Intents: a new
    order (a fresh id when flagged), a cancel, a replace (reduce-only when flagged)."""
    now = 0
    for serial, (op, arg, flag) in enumerate(ops, 1):
        if op == "advance":
            now += arg * MS
        elif op == "dispatch":
            dispatch(now)
        elif op == "429":
            q.on_rate_limited(now, None if arg == 0 else arg * SEC)
        elif op == "new":
            yield now, new(f"{arg}_{serial}" if flag else arg)
        elif op == "cancel":
            yield now, cancel(arg)
        else:
            yield now, replace(arg, 100 + serial, reduce_only=flag)


@settings(max_examples=300, deadline=None)
@given(OPS, st.booleans())
def test_every_intent_is_sent_or_dropped_once_and_the_budget_holds(
    ops: list[tuple[str, int, bool]], batched: bool
) -> None:
    policy = BatchPolicy(max_items=3, window_ns=50 * MS) if batched else None
    limits = VenueLimits(limits=(RateLimit("r", 5, SEC),), batch=policy, new_order_ttl_ns=SEC)
    q = ActionQueue(limits, 0)
    puts = 0
    sent_log: list[tuple[int, int]] = []  # (time, weight)
    dropped = 0

    def dispatch(now: int) -> None:
        nonlocal dropped
        d = q.dispatch(now)
        dropped += len(d.drops)
        sent_log.extend((now, b.weight) for b in d.batches)
        prios = [b.priority for b in d.batches]
        assert prios == sorted(prios)
        if Priority.NEW in prios:  # new orders never go while something urgent waits
            depth = q.statistics(now).depth
            assert depth[Priority.REDUCE_ONLY] == depth[Priority.CANCEL] == 0
        # Never a wake-up in the past (a busy loop), never a queued intent without one (stranded).
        assert d.next_wakeup_ns is None or d.next_wakeup_ns > now
        assert (d.next_wakeup_ns is None) == (not any(q.statistics(now).depth.values()))

    now = 0
    for now, intent in play(ops, q, dispatch):
        puts += 1
        dropped += len(q.put(intent, now))
    now += 3_600 * SEC  # long enough for every backoff, window and bucket
    for _ in range(200):
        dispatch(now)
        if not any(q.statistics(now).depth.values()):
            break
        now += SEC
    assert not any(q.statistics(now).depth.values())
    assert puts == q.sent + dropped
    # A token bucket of C per P never spends more than C + (t_j - t_i) * C / P over [t_i, t_j].
    for i, (ti, _) in enumerate(sent_log):
        total = 0
        for tj, w in sent_log[i:]:
            total += w
            assert (total - 5) * SEC <= (tj - ti) * 5


@settings(max_examples=300, deadline=None)
@given(OPS, st.booleans(), st.sampled_from([None, 0, SEC]))
def test_send_now_is_put_then_dispatch_when_that_sends_the_intent_alone(
    ops: list[tuple[str, int, bool]], batched: bool, ttl: int | None
) -> None:
    """The budget's shortcut for an intent that would go out at once: from any state the
    queue reaches, `send_now` either returns exactly what `put` + `dispatch` would have sent
    (that intent alone, no drops, no wake-up, the same statistics after), or refuses and
    leaves the queue as it was."""
    policy = BatchPolicy(max_items=3, window_ns=50 * MS) if batched else None
    limits = VenueLimits(limits=(RateLimit("r", 5, SEC),), batch=policy, new_order_ttl_ns=ttl)
    q = ActionQueue(limits, 0)
    for now, intent in play(ops, q, q.dispatch):
        short, slow = copy.deepcopy(q), copy.deepcopy(q)
        before = short.statistics(now)
        batch = short.send_now(intent, now)
        if batch is None:
            assert short.statistics(now) == before
        else:
            drops = slow.put(intent, now)
            assert drops == () and slow.dispatch(now) == Dispatch((batch,), (), None)
            assert short.statistics(now) == slow.statistics(now)
        q.put(intent, now)  # the queue itself goes on the long way, to reach every state


def test_send_now_sends_on_an_empty_queue_and_refuses_behind_a_backlog_or_a_backoff() -> None:
    q = ActionQueue(per_second(2), 0)
    assert q.send_now(new(1), 0) is not None and q.sent == 1
    q.put(new(2), 0)  # queued (not dispatched): the next one must wait its turn
    assert q.send_now(cancel(3), 0) is None
    assert sent(q.dispatch(0)) == [new(2)]
    q.on_rate_limited(0, SEC)  # a 429: new orders held back for a second, cancels still go
    assert q.send_now(cancel(5), 0) is None  # the 429 emptied the buckets
    assert q.send_now(new(4), SEC // 2) is None  # a token again, but new orders are held
    batch = q.send_now(cancel(5), SEC // 2)
    assert batch is not None and batch.intents == (cancel(5),)
