"""Each mailbox policy on its own, then as senders see it through a host."""

from __future__ import annotations

import pytest
from pykka._envelope import Envelope

from actors.behaviour import Behaviour
from protocols.runtime import ActorDead, Refused
from supervision.runtime.lifecycle import StopCell
from supervision.runtime.mailbox import (
    EMPTY,
    BoundedReject,
    ConflateByKey,
    DropOldest,
    StablePriority,
    Unbounded,
)


def drain(mailbox):
    items = []
    while (item := mailbox.pop()) is not EMPTY:
        items.append(item)
    return items


def test_bounded_reject_refuses_at_capacity_and_counts():
    mailbox = BoundedReject(2).build()
    assert mailbox.put("a") is None
    assert mailbox.put("b") is None
    assert mailbox.put("c") == "full"
    stats = mailbox.stats()
    assert (stats.depth, stats.rejected, stats.enqueued, stats.high_water) == (2, 1, 2, 2)
    assert drain(mailbox) == ["a", "b"]


def test_drop_oldest_evicts_the_oldest_and_counts():
    mailbox = DropOldest(3).build()
    for item in "abcde":
        assert mailbox.put(item) is None
    assert drain(mailbox) == ["c", "d", "e"]
    assert mailbox.stats().dropped == 2


def test_drop_oldest_fails_an_evicted_ask_instead_of_leaving_it_hanging():
    class Future:
        error = None

        def set_exception(self, exc_info=None):  # pykka's contract: the tuple, else the current
            import sys

            Future.error = (exc_info or sys.exc_info())[1]

    mailbox = DropOldest(1).build()
    mailbox.put(Envelope("question", reply_to=Future()))
    mailbox.put("newer")
    assert isinstance(Future.error, ActorDead)


def test_conflate_keeps_newest_per_key_in_the_older_ones_place():
    mailbox = ConflateByKey(key=lambda m: m[0] if m[0] != "fill" else None).build()
    for message in [("BTC", 1), ("ETH", 1), ("fill", 1), ("BTC", 2), ("fill", 2), ("BTC", 3)]:
        assert mailbox.put(message) is None
    # BTC keeps its first position with its newest content; fills are never conflated.
    assert drain(mailbox) == [("BTC", 3), ("ETH", 1), ("fill", 1), ("fill", 2)]
    stats = mailbox.stats()
    assert stats.conflated == 2
    assert stats.high_water == 4


def test_conflate_capacity_bounds_distinct_keys():
    mailbox = ConflateByKey(key=lambda m: m, capacity=2).build()
    assert mailbox.put("a") is None
    assert mailbox.put("b") is None
    assert mailbox.put("a") is None  # a replacement never needs room
    assert mailbox.put("c") == "full"
    assert mailbox.stats().rejected == 1


def test_stable_priority_is_fifo_within_a_level_and_lower_level_first():
    mailbox = StablePriority(levels=3, priority=lambda m: m[0]).build()
    for message in [(2, "new1"), (1, "cancel1"), (2, "new2"), (0, "reduce1"), (1, "cancel2"),
                    (0, "reduce2")]:
        assert mailbox.put(message) is None
    assert [m[1] for m in drain(mailbox)] == [
        "reduce1", "reduce2", "cancel1", "cancel2", "new1", "new2"]


def test_stable_priority_capacity_never_refuses_level_zero():
    mailbox = StablePriority(levels=2, priority=lambda m: m[0], capacity=1).build()
    assert mailbox.put((1, "a")) is None
    assert mailbox.put((1, "b")) == "priority_full"
    for i in range(5):
        assert mailbox.put((0, i)) is None
    assert mailbox.stats().rejected == 1
    assert mailbox.level_depths() == (5, 1)


@pytest.mark.parametrize("spec", [Unbounded(), BoundedReject(1), DropOldest(1),
                                  ConflateByKey(key=lambda m: "same"),
                                  StablePriority(levels=2, priority=lambda m: 1)])
def test_system_lane_jumps_ahead_and_is_never_refused(spec):
    mailbox = spec.build()
    mailbox.put("user")
    mailbox.put("user2")
    stop = StopCell()
    mailbox.put_system(stop)
    assert mailbox.pop() is stop
    assert mailbox.pop() in ("user", "user2")


@pytest.mark.parametrize("spec", [
    Unbounded(), BoundedReject(4), DropOldest(4),
    ConflateByKey(key=lambda m: None if m % 3 == 0 else m % 5, capacity=4),
    StablePriority(levels=3, priority=lambda m: m % 3, capacity=3),
], ids=["unbounded", "bounded_reject", "drop_oldest", "conflate_by_key", "stable_priority"])
def test_taking_a_user_item_says_whether_another_is_behind_it(spec):
    # `take_user` (a live cell's turn, in one call) against `_pop_user` and `user_depth`, on
    # twin mailboxes given the same random puts and takes.
    import random

    rng = random.Random(7)
    taken, popped = spec.build(), spec.build()
    for _ in range(2_000):
        if rng.random() < 0.55:
            message = rng.randrange(100)
            assert taken.put(message) == popped.put(message)
        else:
            item, more = taken.take_user()
            assert item == popped._pop_user()  # the same message, or EMPTY for both
            assert more == (popped.user_depth() > 0) == (taken.user_depth() > 0)
        assert taken.stats() == popped.stats()
    assert drain(taken) == drain(popped)


def test_policies_validate_their_capacity():
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        BoundedReject(0)


class Gate(Behaviour):
    """Holds nothing; the test fills its mailbox while the host is not running it."""

    def __init__(self):
        self.seen = []

    def receive(self, message, ctx):
        self.seen.append(message)
        return len(self.seen)


def test_sender_gets_a_typed_refusal_from_a_full_mailbox(deterministic):
    ref = deterministic.spawn("gate", Gate, mailbox=BoundedReject(2))
    deterministic.run_until_idle()
    results = [ref.tell(i) for i in range(4)]  # the host does not run between tells
    assert results[:2] == [None, None]
    assert results[2] == Refused("gate", "full")
    assert not results[3]
    deterministic.run_until_idle()
    info = deterministic.actor("gate")
    assert info.mailbox.rejected == 2
    assert info.mailbox.handled >= 2
    assert deterministic.cell("gate").behaviour.seen == [0, 1]


def test_handled_depth_and_high_water_are_readable_on_both_hosts(host):
    ref = host.spawn("gate", Gate, mailbox=DropOldest(1000))
    for i in range(50):
        ref.tell(i)
    host.settle()
    info = host.actor("gate")
    assert info.mailbox.policy == "drop_oldest"
    assert info.mailbox.depth == 0
    assert info.mailbox.enqueued == 50
    assert info.mailbox.handled >= 50  # plus the start message in the system lane
    assert 1 <= info.mailbox.high_water <= 50
    assert host.ask(ref, "count") == 51
