"""Looking into running actors without disturbing them: `Inspect` through the system lane, the
tracer, the counters, and the operator's stop and restart of a supervised child (OTP's
terminate_child and restart_child). Each test runs on both hosts."""

from __future__ import annotations

import threading
import time

import pytest

from actors.behaviour import Behaviour
from protocols.runtime import AskTimeout
from supervision.runtime.introspection import inspect, statistics
from supervision.runtime.lifecycle import Inspect, InspectError
from supervision.runtime.mailbox import BoundedReject
from supervision.runtime.specs import ChildSpec, SupervisorSpec
from supervision.runtime.supervisor import RestartChild, Supervisor, TerminateChild, WhichChildren


class Counter(Behaviour):
    def __init__(self, journal=None):
        self.seen = 0
        self.journal = journal if journal is not None else []

    def on_start(self, ctx):
        self.journal.append("start")

    def on_stop(self, ctx):
        self.journal.append("stop")

    def receive(self, message, ctx):
        self.seen += 1
        return self.seen


def answered(host, cell, look, timeout=2.0):
    """`inspect` on the live host blocks its caller; the deterministic host answers once run."""
    if host.name == "live":
        return inspect(cell, look, timeout)
    question = Inspect(look)
    cell.deliver_system(question)
    host.settle()
    return question.wait(0)


def test_inspect_is_answered_on_the_actor_between_messages(host):
    ref = host.spawn("counter", Counter)
    for _ in range(3):
        ref.tell("tick")
    host.settle()
    cell = host.existing_cell("counter")
    assert answered(host, cell, lambda b: b.seen) == 3


def test_inspect_overtakes_a_full_mailbox(host):
    release = threading.Event()

    class Gated(Counter):
        def receive(self, message, ctx):
            release.wait(5)  # the live host: the first message holds the actor's thread
            return super().receive(message, ctx)

    ref = host.spawn("busy", Gated, mailbox=BoundedReject(5), blocking=True)
    host.settle()
    for _ in range(10):
        ref.tell("tick")
    cell = host.existing_cell("busy")
    assert cell.mailbox.stats().rejected >= 4  # the mailbox is full ...
    threading.Timer(0.1, release.set).start()
    assert answered(host, cell, lambda b: b.seen) <= 1  # ... and the question went first
    release.set()


def test_a_failing_question_is_an_error_for_the_asker_not_the_actor(host):
    ref = host.spawn("counter", Counter)
    host.settle()
    cell = host.existing_cell("counter")
    with pytest.raises(InspectError, match="ZeroDivisionError"):
        answered(host, cell, lambda b: 1 / 0)
    assert cell.state.value == "running" and cell.failures == 0
    assert host.ask(ref, "tick") == 1


@pytest.mark.live_only
def test_inspect_times_out_when_the_actor_never_gets_a_turn():
    from supervision.runtime.live import LiveHost

    busy = threading.Event()

    class Stuck(Behaviour):
        def receive(self, message, ctx):
            busy.set()
            time.sleep(0.5)

    with LiveHost() as host:
        ref = host.spawn("stuck", Stuck, blocking=True)
        ref.tell("sleep")
        assert busy.wait(2)
        with pytest.raises(AskTimeout, match=r"no answer from stuck within 0\.1s"):
            inspect(host.existing_cell("stuck"), lambda b: 1, 0.1)


def test_trace_sees_each_message_before_it_is_handled_and_stops_when_asked(host):
    ref = host.spawn("counter", Counter)
    host.settle()
    cell = host.existing_cell("counter")
    seen = []
    cell.trace(seen.append)
    ref.tell("a")
    ref.tell("b")
    host.settle()
    cell.trace(None)
    ref.tell("c")
    host.settle()
    assert seen == ["a", "b"]
    assert host.ask(ref, "d") == 4  # every message was handled, traced or not


def test_a_broken_tracer_stops_tracing_and_leaves_the_actor_alone(host):
    ref = host.spawn("counter", Counter)
    host.settle()
    cell = host.existing_cell("counter")
    cell.trace(lambda message: 1 / 0)
    ref.tell("a")
    host.settle()
    assert cell._tracer is None and cell.failures == 0
    assert host.ask(ref, "b") == 2


def test_statistics_name_the_kind_and_the_last_message_when_timed(host):
    host.on_handled = lambda actor, ns: None
    ref = host.spawn("counter", Counter)
    ref.tell(42)
    host.settle()
    stats = statistics(host.existing_cell("counter"), "loop")
    assert stats.kind == "Counter" and stats.state == "running"
    assert stats.last_message == "int" and stats.last_message_age_s is not None
    assert stats.mailbox.handled >= 1


def test_operator_stop_and_restart_of_a_child_spend_no_restart_intensity(host):
    journal = []
    spec = SupervisorSpec(children=(ChildSpec("w", lambda: Counter(journal)),), intensity=0)
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.settle()
    assert host.ask(sup, TerminateChild("w")) is True
    host.settle()
    assert journal == ["start", "stop"]
    assert [c.state for c in host.ask(sup, WhichChildren())] == ["stopped"]
    assert host.ask(sup, RestartChild("w")) is True
    host.settle()
    assert host.ask(sup, RestartChild("w")) is True  # running: stopped, then started again
    host.settle()
    assert journal == ["start", "stop", "start", "stop", "start"]
    assert [c.state for c in host.ask(sup, WhichChildren())] == ["running"]
    assert host.existing_cell("sup").state.value == "running"  # intensity 0 was not exceeded
    assert host.ask(sup, TerminateChild("nobody")) is False


@pytest.mark.live_only
def test_a_plain_thread_runs_a_call_on_the_loop_and_waits_for_it():
    from supervision.runtime.live import LiveHost

    with LiveHost() as host:
        bridge = host.dispatcher.bridge
        assert bridge.call_and_wait(threading.get_ident, timeout=2) == host.loop_thread_id
        with pytest.raises(ZeroDivisionError):
            bridge.call_and_wait(lambda: 1 / 0, timeout=2)  # the caller's error, not the loop's
        bridge.call_soon(time.sleep, 0.5)  # the loop is busy ...
        with pytest.raises(TimeoutError, match=r"within 0\.1 s"):
            bridge.call_and_wait(lambda: None, timeout=0.1)  # ... and we do not wait forever
        assert bridge.errors == 0
