"""The Hyperliquid adapter's pure parts: nonces that never repeat (bursts, a stuck or stepped-
back clock, restarts) and batches that never mix ALO with IOC/GTC."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.codec import Side
from protocols.orders import CancelIntent, OrderIntent, OrderType, TimeInForce
from supervision.fakevenue.hyperliquid_desk import NonceWindow
from supervision.venues.hyperliquid.batching import ActionBatcher, lane_of
from supervision.venues.hyperliquid.nonces import NonceStore, NonceWindowError

T0 = 1_796_000_000_000
MS = 1_000_000


def test_nonces_start_at_the_clock_and_never_repeat_in_a_burst() -> None:
    store = NonceStore(T0)
    burst = [store.next(T0) for _ in range(500)]  # the clock does not move
    assert burst[0] == T0 and burst == sorted(set(burst))
    assert store.next(T0 - 5000) == burst[-1] + 1  # a clock stepping back changes nothing


def test_nonces_never_repeat_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "venue.nonce"
    seen: list[int] = []
    now = T0
    for _restart in range(5):
        store = NonceStore(now, path)
        seen += [store.next(now) for _ in range(700)]  # runs 700 ms ahead of the clock
        now += 1  # restarted one millisecond later: the clock alone would repeat
    assert seen == sorted(set(seen))
    window = NonceWindow()
    assert all(window.check(n, now) is None for n in seen)


def test_a_nonce_beyond_the_venue_window_is_refused() -> None:
    store = NonceStore(T0 + 2 * 24 * 3600 * 1000)  # a clock two days fast, then corrected
    with pytest.raises(NonceWindowError, match="ahead of the clock"):
        store.next(T0)
    with pytest.raises(ValueError):
        NonceStore(0)


def test_the_venue_keeps_the_100_highest() -> None:
    window = NonceWindow()
    assert window.check(T0, T0) is None
    assert "duplicate" in (window.check(T0, T0) or "")
    for n in range(1, 101):
        assert window.check(T0 + n, T0) is None
    assert "lowest" in (window.check(T0 - 1, T0) or "")  # below the 100 highest
    assert "window" in (window.check(T0 + 2 * 24 * 3600 * 1000, T0) or "")


def order(cid: str, tif: TimeInForce) -> OrderIntent:
    return OrderIntent(cid, "BTC", Side.BUY, OrderType.LIMIT, 1, 100, tif)


def test_batches_keep_alo_apart_and_wait_one_period() -> None:
    batcher = ActionBatcher(100 * MS)
    batcher.add([order("a", TimeInForce.POST_ONLY), order("i", TimeInForce.IOC),
                 CancelIntent("c", "BTC")], 0)
    batcher.add([order("g", TimeInForce.GTC), order("b", TimeInForce.POST_ONLY)], 50 * MS)
    assert batcher.due(99 * MS) == [] and batcher.next_due_ns() == 100 * MS
    due = batcher.due(100 * MS)
    assert [(lane, [i.client_order_id for i in batch]) for lane, batch in due] == [
        ("cancel", ["c"]), ("taker", ["i", "g"]), ("alo", ["a", "b"])]
    for lane, batch in due:
        assert {lane_of(i) for i in batch} == {lane}
    assert len(batcher) == 0 and batcher.next_due_ns() is None


def test_a_long_lane_goes_out_as_several_actions() -> None:
    batcher = ActionBatcher(0, max_batch=3)
    batcher.add([order(str(i), TimeInForce.IOC) for i in range(7)], 0)
    assert [len(b) for _lane, b in batcher.due(0)] == [3, 3, 1]
