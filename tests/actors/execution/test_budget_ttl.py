"""A new order the rate limit holds past its TTL is dropped, not sent at a price decided long
ago, and its strategy hears of it when the TTL ends (not when the venue lets us send again), so
it re-decides on current data. Exits never expire: reduce-only orders and cancels wait."""

from __future__ import annotations

from actors.execution.ids import ActionQueue, RateLimit, VenueLimits
from protocols.codec import Side
from protocols.orders import CancelIntent, OrderIntent, OrderType, Priority, TimeInForce

SEC, MS = 1_000_000_000, 1_000_000
EVERY = frozenset(Priority)


def order(cid: str, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(cid, "X", Side.BUY, OrderType.LIMIT, 1, 100, TimeInForce.GTC, reduce_only)


def test_a_held_new_order_expires_at_its_ttl_and_exits_wait_for_the_venue() -> None:
    q = ActionQueue(VenueLimits((RateLimit("orders", 10, SEC),), backoff_blocks=EVERY,
                                new_order_ttl_ns=SEC), 0)
    q.on_rate_limited(0, retry_after_ns=7 * SEC)  # a 429: nothing goes for 7 s
    for intent in (order("new"), order("exit", reduce_only=True), CancelIntent("c", "X")):
        q.put(intent, 100 * MS)
    held = q.dispatch(100 * MS)
    assert held.batches == () and held.next_wakeup_ns == 1100 * MS  # the new order's TTL ends
    expired = q.dispatch(1100 * MS)
    assert [(d.intent.client_order_id, d.reason) for d in expired.drops] == [("new", "stale")]
    assert expired.batches == () and expired.next_wakeup_ns == 7 * SEC
    sent = q.dispatch(7 * SEC)
    assert [i.client_order_id for b in sent.batches for i in b.intents] == ["exit", "c"]


def test_a_queue_held_by_its_tokens_wakes_for_the_ttl_too() -> None:
    q = ActionQueue(VenueLimits((RateLimit("orders", 1, 10 * SEC),), new_order_ttl_ns=SEC), 0)
    q.put(order("first"), 0)
    assert len(q.dispatch(0).batches) == 1  # the one token of the next 10 s
    q.put(order("second"), 0)
    assert q.dispatch(0).next_wakeup_ns == SEC
    assert [d.reason for d in q.dispatch(SEC).drops] == ["stale"]
