"""What a behaviour may rely on, checked on both hosts with the same test code."""

from __future__ import annotations

import pytest

from actors.behaviour import Behaviour
from protocols.runtime import AskTimeout, ChildTerminated, Refused, Reply
from supervision.runtime.specs import Backoff, ChildSpec, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren
from supervision.testing import SEEN, Probe, ShowReceived


def commands(message, ctx):
    """A probe's answers: "fail" fails it, "exit" stops it, anything else is echoed back."""
    if message == "fail":
        raise RuntimeError("asked to fail")
    if message == "exit":
        ctx.stop()
        return None
    return message


def echo_probe():
    """Records what it receives; answers asks with the message; fails or exits on command."""
    return Probe(reply=commands)


def test_tell_delivers_in_send_order(host):
    ref = host.spawn("rec", echo_probe)
    for i in range(100):
        assert ref.tell(i) is None
    assert host.ask(ref, SEEN) == list(range(100))


def test_ask_returns_the_value_receive_returned(host):
    ref = host.spawn("rec", echo_probe)
    assert host.ask(ref, "hello") == "hello"


def test_ask_carries_the_receivers_exception_back(host):
    ref = host.spawn("rec", echo_probe)
    with pytest.raises(RuntimeError, match="asked to fail"):
        host.ask(ref, "fail")


class Asker(Behaviour):
    """Asks a peer from inside a behaviour; reports every Reply it gets."""

    def __init__(self, peer_name, timeout):
        self.peer_name = peer_name
        self.timeout = timeout
        self.replies = []
        self.peer = None

    def receive(self, message, ctx):
        if isinstance(message, Reply):
            self.replies.append((message.tag, message.value, type(message.error).__name__))
            return None
        if message == "replies":
            return list(self.replies)
        self.peer = message
        ctx.ask(self.peer, "ping", timeout=self.timeout, tag="t1")
        ctx.ask(self.peer, "fail", timeout=self.timeout, tag="t2")
        return None


def test_ctx_ask_delivers_exactly_one_reply_per_ask(host):
    peer = host.spawn("peer", echo_probe)
    asker = host.spawn("asker", lambda: Asker("peer", timeout=1.0))
    asker.tell(peer)
    host.settle()
    host.advance(0.05)
    replies = host.ask(asker, "replies")
    assert sorted(replies) == [("t1", "ping", "NoneType"), ("t2", None, "RuntimeError")]


def test_host_ask_to_an_actor_that_cannot_answer_raises_ask_timeout(host):
    ref = host.spawn("broken", echo_probe)
    ref.tell("fail")  # a top-level actor with no supervisor stays failed; messages wait
    host.settle()
    with pytest.raises(AskTimeout):
        host.ask(ref, SEEN, timeout=0.05)


def test_ctx_ask_times_out_once_and_the_late_answer_is_dropped_and_counted(host):
    child = ChildSpec("slow", echo_probe)
    spec = SupervisorSpec(children=(child,), backoff=Backoff(min_s=0.1, max_s=0.1, jitter=0.0))
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.settle()
    slow = host.ask(sup, WhichChildren())[0].ref
    slow.tell("fail")  # restarts only after the 0.1 s back-off
    host.settle()
    asker = host.spawn("asker", lambda: Asker("slow", timeout=0.02))
    asker.tell(slow)
    host.settle()
    host.advance(0.3)
    replies = host.ask(asker, "replies")
    assert sorted(replies) == [("t1", None, "AskTimeout"), ("t2", None, "AskTimeout")]
    assert host.actor("asker").stale_messages == 2  # both late answers arrived and were dropped


class Ticker(Behaviour):
    def __init__(self):
        self.ticks = []

    def on_start(self, ctx):
        ctx.schedule(0.02, "tick", key="tick")
        ctx.schedule(0.01, "once")
        ctx.schedule(0.03, "cancelled", key="gone")
        ctx.cancel_timer("gone")

    def receive(self, message, ctx):
        if message == "ticks":
            return list(self.ticks)
        self.ticks.append(message)
        if message == "tick" and self.ticks.count("tick") < 3:
            ctx.schedule(0.02, "tick", key="tick")
        return None


def test_timers_fire_in_due_order_and_a_cancelled_timer_never_fires(host):
    ref = host.spawn("ticker", Ticker)
    host.advance(0.15)
    assert host.ask(ref, "ticks") == ["once", "tick", "tick", "tick"]


class Rescheduler(Behaviour):
    """Re-arms one keyed timer on every message: only the last arming may fire."""

    def __init__(self):
        self.fired = 0

    def receive(self, message, ctx):
        if message == "poke":
            ctx.schedule(0.05, "due", key="debounce")
        elif message == "due":
            self.fired += 1
        elif message == "fired":
            return self.fired
        return None


def test_a_keyed_timer_is_replaced_not_duplicated(host):
    ref = host.spawn("debounce", Rescheduler)
    for _ in range(5):
        ref.tell("poke")
    host.settle()
    host.advance(0.2)
    assert host.ask(ref, "fired") == 1


class Clocked(Behaviour):
    def receive(self, message, ctx):
        return (ctx.monotonic_ns(), ctx.time_ns())


def test_clock_is_injected_and_monotonic(host):
    ref = host.spawn("clock", Clocked)
    first = host.ask(ref, "now")
    host.advance(0.01)
    second = host.ask(ref, "now")
    assert second[0] - first[0] >= 10_000_000
    assert second[1] > first[1]


class Parent(Behaviour):
    def __init__(self):
        self.events = []
        self.child = None

    def receive(self, message, ctx):
        if isinstance(message, ChildTerminated):
            self.events.append((message.child, message.normal))
            return None
        if message == "spawn":
            self.child = ctx.spawn("kid", echo_probe)
            return self.child
        if message == "events":
            return list(self.events)
        return None


def test_spawned_child_reports_its_end_to_the_parent(host):
    parent = host.spawn("parent", Parent)
    child = host.ask(parent, "spawn")
    assert host.ask(child, "hi") == "hi"
    child.tell("fail")
    host.settle()
    host.advance(0.01)
    assert host.ask(parent, "events") == [("parent/kid", False)]
    assert child.tell("after") == Refused("parent/kid", "dead")


def test_a_normal_exit_of_a_spawned_child_is_reported_as_normal(host):
    parent = host.spawn("parent", Parent)
    child = host.ask(parent, "spawn")
    child.tell("exit")
    host.settle()
    host.advance(0.01)
    assert host.ask(parent, "events") == [("parent/kid", True)]


def test_stopping_a_parent_stops_its_spawned_children(host):
    parent = host.spawn("parent", Parent)
    host.ask(parent, "spawn")
    host.stop(parent)
    host.settle()
    host.advance(0.01)
    states = {a.name: a.state for a in host.actors()}
    assert states == {"parent": "stopped", "parent/kid": "dead"}


class Seeded(Behaviour):
    def receive(self, message, ctx):
        return [ctx.random.randrange(1_000_000) for _ in range(3)]


def test_random_is_seeded_per_actor_and_host_seed(host):
    a = host.spawn("a", Seeded)
    b = host.spawn("b", Seeded)
    first_a, first_b = host.ask(a, "draw"), host.ask(b, "draw")
    assert first_a != first_b
    host.stop(a)
    other = host.spawn("a2", Seeded)
    assert host.ask(other, "draw") != first_a


class Greedy(Behaviour):
    def receive(self, message, ctx):
        ctx.count("troupe_test_messages", 1, kind="x")
        ctx.gauge("troupe_test_depth", 3.0)
        ctx.observe("troupe_test_latency_seconds", 0.001)


def _told_three_messages(host, name, behaviour):
    ref = host.spawn(name, behaviour)
    for _ in range(3):
        ref.tell("m")
    host.settle()


def test_metrics_recorded_through_the_context(host):
    _told_three_messages(host, "metered", Greedy)
    assert host.metrics.total("troupe_test_messages", actor="metered") == 3


class BoundCounter(Behaviour):
    """Counts each message twice: through a counter bound once, and through `count`."""

    def __init__(self) -> None:
        self.bound = None

    def receive(self, message, ctx):
        if self.bound is None:
            self.bound = ctx.bind_count("troupe_test_messages", kind="x", actor_kind="y")
        self.bound()
        self.bound(2)
        ctx.count("troupe_test_messages", 1, actor_kind="y", kind="x")


def test_a_bound_counter_counts_into_the_same_series_as_count(host):
    _told_three_messages(host, "bound", BoundCounter)
    assert host.metrics.total("troupe_test_messages", actor="bound") == 12
    series = {key for key in host.metrics.counters if key[1] == "troupe_test_messages"}
    assert series == {("bound", "troupe_test_messages", (("actor_kind", "y"), ("kind", "x")))}


class Courier(Behaviour):
    """Told a peer, sends it three messages: two timed (out of due order), one at once."""

    def receive(self, message, ctx):
        if message == "fail":
            raise RuntimeError("asked to fail")
        now = ctx.monotonic_ns()
        ctx.tell_at(now + 40_000_000, message, "late")
        ctx.tell_at(now + 20_000_000, message, "early")
        ctx.tell(message, "now")
        return now


def test_a_timed_tell_lands_at_its_due_time_even_if_its_sender_fails_meanwhile(host):
    peer = host.spawn("peer", echo_probe)
    courier = host.spawn("courier", Courier)
    sent = host.ask(courier, peer)
    courier.tell("fail")  # a message on its way is not recalled by its sender's end
    host.settle()
    assert host.ask(peer, SEEN) == ["now"]
    host.advance(0.1)
    records = host.ask(peer, ShowReceived(with_time=True))
    assert [m for _, m in records] == ["now", "early", "late"]
    assert records[1][0] - sent >= 20_000_000 and records[2][0] - sent >= 40_000_000


def test_a_timed_tell_the_target_refuses_when_it_lands_is_counted_for_its_sender(host):
    parent = host.spawn("parent", Parent)
    peer = host.ask(parent, "spawn")
    courier = host.spawn("courier", Courier)
    # Stopped before the courier sends, so both wires land on a dead peer however long the
    # stop takes on a loaded machine (stopping after could outlast the first wire's 20 ms).
    host.stop(parent)  # and so its child, the peer: dead, it refuses what lands later
    host.ask(courier, peer)
    host.advance(0.1)
    assert host.metrics.total("troupe_timed_tell_refused_total", actor="courier") == 2


def test_a_bound_counter_on_a_sink_that_cannot_bind_goes_through_its_count():
    from supervision.runtime.deterministic import DeterministicHost
    from supervision.runtime.introspection import InMemoryMetrics

    class CountOnly(InMemoryMetrics):
        bind_count = None  # type: ignore[assignment]  # a sink without bound counters

    metrics = CountOnly()
    host = DeterministicHost(metrics=metrics)
    ref = host.spawn("bound", BoundCounter)
    ref.tell("m")
    host.settle()
    assert metrics.total("troupe_test_messages", actor="bound") == 4


def test_a_bound_counter_on_the_prometheus_sink_counts_under_its_labels():
    from supervision.metrics.prometheus import PrometheusMetrics
    from supervision.runtime.deterministic import DeterministicHost

    metrics = PrometheusMetrics()
    host = DeterministicHost(metrics=metrics)
    ref = host.spawn("bound", BoundCounter)
    ref.tell("m")
    ref.tell("m")
    host.settle()
    assert metrics.total("troupe_test_messages", actor="bound") == 8
    assert metrics.registry.get_sample_value(
        "troupe_test_messages_total", {"kind": "x", "actor_kind": "y"}) == 8
