"""The fake context records every effect and moves time only when told: what a strategy's unit
test relies on."""

from __future__ import annotations

from typing import Any

from actors.behaviour import Behaviour, Context
from actors.testing import Asked, FakeContext, MetricPoint
from protocols.runtime import Refused


class Busy(Behaviour):
    """Uses every door of its context."""

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(1.0, "tick", key="tick")
        ctx.schedule(0.5, "early")

    def receive(self, message: Any, ctx: Context) -> Any:
        if message == "tick":
            ctx.schedule(1.0, "tick", key="tick")  # re-armed: a periodic timer
        elif message == "echo-self":
            ctx.tell(ctx.self_ref, "from-self")
        elif message == "work":
            ctx.tell(self.peer, "hello")
            ctx.ask(self.peer, "question", timeout=2.0, tag="q")
            ctx.count("jobs_total", kind="work")
            ctx.count("jobs_total", 2, kind="work")
            ctx.gauge("depth", 3)
            ctx.observe("latency_s", 0.25)
            ctx.spawn("child", Behaviour)
            ctx.stop()
        return (ctx.monotonic_ns(), ctx.time_ns(), message)

    peer: Any = None


def test_timers_fire_in_due_order_at_their_due_time_and_rearm() -> None:
    ctx, busy = FakeContext("busy"), Busy()
    ctx.start(busy)
    assert sorted(ctx.timers, key=str) == sorted(["tick", ("timer", 2)], key=str)
    assert ctx.advance(2.5, busy) == ["early", "tick", "tick"]
    assert ctx.monotonic_ns() == 2_500_000_000
    assert ctx.timers["tick"].due_ns == 3_000_000_000


def test_the_clocks_move_together_and_can_be_set() -> None:
    ctx = FakeContext(monotonic_ns=10, epoch_ns=1_000)
    ctx.advance(1e-9)
    assert (ctx.monotonic_ns(), ctx.time_ns()) == (11, 1_001)
    ctx.set_clock(epoch_ns=5_000)
    ctx.set_clock(monotonic_ns=20)
    assert (ctx.monotonic_ns(), ctx.time_ns()) == (20, 5_009)


def test_every_effect_is_recorded() -> None:
    ctx, busy = FakeContext("busy"), Busy()
    busy.peer = ctx.ref("peer")
    ctx.deliver(busy, "work")
    assert ctx.ref("peer").messages == ["hello"] and ctx.sent_to("peer") == ["hello"]
    assert ctx.asks == [Asked("peer", "question", 2.0, "q", 1)]
    assert ctx.counter("jobs_total", kind="work") == 3
    assert ctx.gauge_value("depth") == 3
    assert MetricPoint("observe", "latency_s", 0.25, {}) in ctx.metrics
    assert [name for name, _ in ctx.spawned] == ["child"] and ctx.stopped


def test_a_message_told_to_self_queues_behind_the_current_one() -> None:
    ctx, busy = FakeContext(), Busy()
    results = ctx.deliver(busy, "echo-self")
    assert [r[2] for r in results] == ["echo-self"]
    assert ctx.sent == [("actor", "from-self")]


def test_a_refusing_ref_answers_like_a_full_mailbox_and_random_is_seeded() -> None:
    ctx = FakeContext(seed=3)
    assert ctx.tell(ctx.ref("gate", refuse="full"), "x") == Refused("gate", "full")
    assert ctx.ref("gate").messages == []
    assert ctx.random.random() == FakeContext(seed=3).random.random()


def test_a_timed_tell_waits_in_flight_until_advance_reaches_its_due_time() -> None:
    ctx = FakeContext("wire")
    peer = ctx.ref("peer")
    ctx.tell_at(2_000_000_000, peer, "late")
    ctx.tell_at(1_000_000_000, peer, "early")
    assert peer.messages == [] and [m.message for m in ctx.in_flight] == ["late", "early"]
    ctx.advance(1.5)
    assert peer.messages == ["early"] and ctx.sent_to("peer") == ["early"]
    ctx.advance(1.0)
    assert peer.messages == ["early", "late"] and ctx.in_flight == []


def test_a_bound_counter_is_recorded_like_count() -> None:
    ctx = FakeContext("busy")
    add = ctx.bind_count("jobs_total", kind="work")
    add()
    add(2)
    assert ctx.counter("jobs_total", kind="work") == 3
    assert ctx.metrics[-1] == MetricPoint("count", "jobs_total", 2, {"kind": "work"})
