"""The hosts' short paths for one message keep what the long ones promise.

A deterministic cell delivers to a FIFO mailbox and pops it in place, and hands a user message
to `receive` without `_invoke`; a live cell delivers to a FIFO mailbox without its `put`, hands
a user message to `_invoke` without `process` (or times `receive` in its own turn, when timing
is all it does), and ends its schedule with the message that empties its mailbox. These tests
hold those paths to the mailboxes' own counts, to instrumentation switched on and off mid-run,
to failures and stops, to the live chain's one turn per hop, and to `settle` waiting for a cell
that handles its last message.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from actors.behaviour import Behaviour
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.live import LiveHost
from supervision.runtime.mailbox import (
    BoundedReject,
    ConflateByKey,
    DropOldest,
    FlowControl,
    StablePriority,
    Unbounded,
)


class Keep(Behaviour):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any, ctx: Any) -> Any:
        self.seen.append(message)
        return len(self.seen)


# FlowControl on the deterministic host queues past capacity: the next test.
@pytest.mark.parametrize(("host_kind", "policy"), [
    (DeterministicHost, Unbounded()), (DeterministicHost, BoundedReject(3)),
    (LiveHost, Unbounded()), (LiveHost, BoundedReject(3)), (LiveHost, FlowControl(3)),
], ids=["deterministic-unbounded", "deterministic-bounded_reject", "live-unbounded",
        "live-bounded_reject", "live-flow_control"])
def test_a_tell_counts_in_the_mailbox_as_the_policy_own_put_does(host_kind: Any,
                                                                 policy: Any) -> None:
    host = host_kind()
    if isinstance(host, LiveHost):
        host.start()
    try:
        ref = host.spawn("keeper", Keep, mailbox=policy)
        host.settle()
        host.stop(ref)  # stopped, not dead: tells queue for the next incarnation
        refusals = [ref.tell(i) is not None for i in range(5)]
        alone = policy.build()  # the same five messages put straight into the policy's mailbox
        expected = [alone.put(i) is not None for i in range(5)]
        stats, own = host.actor("keeper").mailbox, alone.stats()
        assert refusals == expected
        assert (stats.depth, stats.high_water, stats.enqueued, stats.rejected) == (
            own.depth, own.high_water, own.enqueued, own.rejected)
    finally:
        if isinstance(host, LiveHost):
            host.close()


@pytest.mark.parametrize("policy", [
    DropOldest(3), ConflateByKey(key=lambda m: m % 2, capacity=3),
    StablePriority(levels=2, priority=lambda m: m % 2, capacity=2),
], ids=["drop_oldest", "conflate_by_key", "stable_priority"])
def test_a_live_tell_to_any_other_policy_counts_as_its_own_put_does(policy: Any) -> None:
    # A live cell puts below a FIFO's capacity itself; at capacity, and for every other policy,
    # the policy's own `put` decides. Evictions and refusals must be counted as it counts them.
    with LiveHost() as host:
        ref = host.spawn("keeper", Keep, mailbox=policy)
        host.settle()
        host.stop(ref)  # stopped, not dead: tells queue for the next incarnation
        refusals = [ref.tell(i) is not None for i in range(7)]
        alone = policy.build()
        expected = [alone.put(i) is not None for i in range(7)]
        stats, own = host.actor("keeper").mailbox, alone.stats()
        assert refusals == expected
        assert (stats.depth, stats.high_water, stats.enqueued, stats.rejected, stats.dropped,
                stats.conflated) == (own.depth, own.high_water, own.enqueued, own.rejected,
                                     own.dropped, own.conflated)


def test_a_flow_control_tell_queues_past_capacity_and_counts_it() -> None:
    host = DeterministicHost()
    ref = host.spawn("keeper", Keep, mailbox=FlowControl(3))
    host.settle()
    host.stop(ref)
    assert [ref.tell(i) for i in range(5)] == [None] * 5  # nothing refused, on this host
    stats = host.actor("keeper").mailbox
    assert (stats.depth, stats.high_water, stats.enqueued, stats.rejected) == (5, 5, 5, 0)


def test_a_tracer_and_a_timing_hook_switched_on_mid_run_see_the_next_message() -> None:
    host = DeterministicHost()
    ref = host.spawn("keeper", Keep)
    ref.tell("untraced")
    host.run_until_idle()
    traced: list[Any] = []
    timed: list[str] = []
    host.cell("keeper").trace(traced.append)
    ref.tell("traced")
    host.run_until_idle()
    host.cell("keeper").trace(None)
    host.on_handled = lambda actor, ns: timed.append(actor)
    ref.tell("timed")
    host.run_until_idle()
    host.on_handled = None
    ref.tell("plain again")
    host.run_until_idle()
    keeper = host.cell("keeper").behaviour
    assert isinstance(keeper, Keep)
    assert keeper.seen == ["untraced", "traced", "timed", "plain again"]
    assert traced == ["traced"] and timed == ["keeper"]


class Hop(Behaviour):
    def __init__(self, after: Any, done: threading.Event | None = None) -> None:
        self.after = after
        self.done = done

    def receive(self, message: Any, ctx: Any) -> None:
        if self.after is not None:
            ctx.tell(self.after, message)
        elif self.done is not None:
            self.done.set()


def test_a_live_chain_takes_one_dispatcher_turn_per_hop() -> None:
    done = threading.Event()
    with LiveHost(freeze_gc=False) as host:
        last = host.spawn("hop4", lambda: Hop(None, done))
        third = host.spawn("hop3", lambda: Hop(last))
        second = host.spawn("hop2", lambda: Hop(third))
        first = host.spawn("hop1", lambda: Hop(second))
        host.settle()
        before = host.dispatcher.turns
        first.tell("order")
        assert done.wait(5)
        host.settle()
        # Before: eight, each hop's cell run once more to find its mailbox empty.
        assert host.dispatcher.turns - before == 4


class Slow(Behaviour):
    """Takes `seconds` over each message (blocking whatever runs it), then notes it."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.seen = seconds, 0

    def receive(self, message: Any, ctx: Any) -> None:
        time.sleep(self.seconds)
        self.seen += 1


@pytest.mark.parametrize("blocking", [False, True], ids=["loop", "thread"])
def test_settle_waits_for_a_cell_handling_its_last_message(blocking: bool) -> None:
    # The cell is no longer scheduled while it handles its mailbox's last message: settle must
    # still count it as busy, on the loop and on a thread of its own.
    with LiveHost(freeze_gc=False) as host:
        ref = host.spawn("slow", lambda: Slow(0.05), blocking=blocking)
        host.settle()
        ref.tell("one")
        time.sleep(0.01)  # it is handling it now
        host.settle()
        slow = host.cell("slow").behaviour
        assert isinstance(slow, Slow) and slow.seen == 1


class CountDown(Behaviour):
    """Tells itself the next number while handling the last one in its mailbox."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done

    def receive(self, message: int, ctx: Any) -> None:
        if message:
            ctx.tell(ctx.self_ref, message - 1)
        else:
            self.done.set()


def test_a_tell_to_a_cell_while_it_handles_its_last_message_is_not_stranded() -> None:
    done = threading.Event()
    with LiveHost(freeze_gc=False) as host:
        ref = host.spawn("countdown", lambda: CountDown(done))
        ref.tell(1_000)
        assert done.wait(5)
        host.settle()
        assert host.actor("countdown").mailbox.handled == 1_001 + 1  # and its start


class Burst(Behaviour):
    """Each "go" sends the next 50 numbers to `consumer`, noting each in the shared log."""

    def __init__(self, consumer: Any, log: list[tuple[str, int]]) -> None:
        self.consumer, self.log, self.sent = consumer, log, 0

    def receive(self, message: Any, ctx: Any) -> None:
        for _ in range(50):
            self.log.append(("sent", self.sent))
            ctx.tell(self.consumer, self.sent)
            self.sent += 1


class Note(Behaviour):
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log

    def receive(self, message: int, ctx: Any) -> None:
        self.log.append(("seen", message))


class Rally(Behaviour):
    """Bounces a number with its peer until 1,000, noting each: work that keeps the host
    busy all along."""

    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log, self.peer = log, None

    def receive(self, message: Any, ctx: Any) -> None:
        if type(message) is not int:
            self.peer = message
        elif message < 1_000:
            self.log.append(("rally", message))
            ctx.tell(self.peer, message + 1)


def test_a_waiting_sender_goes_on_once_the_mailbox_has_drained_not_when_all_is_idle() -> None:
    # The consumer checks for its waiting senders only while one waits; that check must still
    # come on the turn that drains it to half, not when nothing else is ready at the instant.
    log: list[tuple[str, int]] = []
    host = DeterministicHost()
    consumer = host.spawn("consumer", lambda: Note(log), mailbox=FlowControl(20))
    producer = host.spawn("producer", lambda: Burst(consumer, log))
    ping, pong = host.spawn("ping", lambda: Rally(log)), host.spawn("pong", lambda: Rally(log))
    ping.tell(pong)
    pong.tell(ping)
    host.settle()
    producer.tell("go")
    ping.tell(0)
    producer.tell("go")
    host.run_until_idle()
    second_burst = log.index(("sent", 50))
    assert ("rally", 999) not in log[:second_burst]  # the rally did not have to end first
    assert [n for kind, n in log if kind == "seen"] == list(range(100))


@pytest.mark.parametrize("host_kind", [DeterministicHost, LiveHost])
def test_a_timed_cell_keeps_its_attributes_within_one_shared_key_table(host_kind: Any) -> None:
    # CPython 3.11 shares one key table among a class's instances up to 30 names; a cell with
    # more has its attributes read through a plain dict on every message.
    host = host_kind()
    host.on_handled = lambda actor, ns: None
    if isinstance(host, LiveHost):
        host.start()
    try:
        ref = host.spawn("timed", Keep)
        assert host.ask(ref, "one") == 1  # timed: it keeps its last message and when
        cell = host.cell("timed")
        assert cell.last_message is str
        assert len(vars(cell)) <= 30
    finally:
        if isinstance(host, LiveHost):
            host.close()


class Flaky(Behaviour):
    """Fails on "boom", stops itself on "stop", notes anything else."""

    def __init__(self, seen: list[Any]) -> None:
        self.seen = seen

    def receive(self, message: Any, ctx: Any) -> None:
        if message == "boom":
            raise ValueError("boom")
        if message == "stop":
            ctx.stop()
        self.seen.append(message)


class PerActorHook:
    """An `on_handled` hook that hands each cell a recorder of its own (`for_actor`)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.recorded: list[tuple[str, int]] = []
        self.called = 0

    def __call__(self, actor: str, ns: int) -> None:
        self.called += 1

    def for_actor(self, actor: str) -> Any:
        self.asked.append(actor)
        return lambda ns: self.recorded.append((actor, ns))


def test_a_live_cell_timed_in_its_own_turn_keeps_failures_tracing_faults_and_stop() -> None:
    # A timed live cell times `receive` in its turn's own frame; a failure, a tracer, an armed
    # fault, the hook switched off and `ctx.stop` must behave as through `_invoke`.
    from supervision.runtime.faults import Fault
    from supervision.runtime.specs import ChildSpec, SupervisorSpec
    from supervision.runtime.supervisor import Supervisor

    seen: list[Any] = []
    hook = PerActorHook()

    def send(ref: Any, *messages: Any) -> None:
        for message in messages:
            ref.tell(message)
            host.settle()
            host.advance(0.01)

    with LiveHost(freeze_gc=False) as host:
        host.on_handled = hook
        spec = SupervisorSpec([ChildSpec("flaky", lambda: Flaky(seen))], intensity=50,
                              period_s=60.0)
        sup = host.spawn("sup", lambda: Supervisor(spec))
        host.settle()
        host.advance(0.01)
        cell = host.cell("sup/flaky")
        send(cell.ref, "a", "boom", "b")
        assert seen == ["a", "b"] and (cell.failures, cell.restarts) == (1, 1)
        timed = [ns for actor, ns in hook.recorded if actor == "sup/flaky"]
        assert len(timed) == 3 and all(ns > 0 for ns in timed)  # the failing one too
        assert cell.last_message is str
        traced: list[Any] = []
        cell.trace(traced.append)
        send(cell.ref, "c")
        cell.trace(None)
        cell.inject_fault(Fault(times=1))
        send(cell.ref, "d", "e")
        assert traced == ["c"] and seen == ["a", "b", "c", "e"] and cell.failures == 2
        assert len([a for a, _ in hook.recorded if a == "sup/flaky"]) == 5  # c and e
        host.on_handled = None
        send(cell.ref, "f")
        assert seen[-1] == "f"
        assert len([a for a, _ in hook.recorded if a == "sup/flaky"]) == 5  # not timed
        host.on_handled = hook
        starts = cell.starts
        send(cell.ref, "stop", "g")  # a normal exit; a permanent child is started again
        assert seen[-2:] == ["stop", "g"] and cell.starts == starts + 1
        assert cell.failures == 2
        assert hook.called == 0  # every cell recorded through its own recorder
        assert hook.asked.count("sup/flaky") == 2  # once when timed, once when timed again
        host.stop(sup)
