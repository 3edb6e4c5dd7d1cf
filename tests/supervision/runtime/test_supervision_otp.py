"""Supervision rules, one test per rule of OTP's `supervisor` documentation, on both hosts.

Each test names the rule it checks. Timings are short so the live host runs them quickly; the
deterministic host runs the same code in virtual time.
"""

from __future__ import annotations

import pytest

from actors.behaviour import Behaviour
from protocols.runtime import Refused
from supervision.runtime.lifecycle import ExitReason
from supervision.runtime.mailbox import BoundedReject
from supervision.runtime.specs import Backoff, ChildSpec, Restart, Strategy, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren, supervisor_child


class Worker(Behaviour):
    def __init__(self, name, journal, fail_start=False):
        self.name = name
        self.journal = journal
        self.fail_start = fail_start
        self.seen = []

    def on_start(self, ctx):
        self.journal.append(("start", self.name))
        if self.fail_start:
            raise RuntimeError("cannot start")

    def on_stop(self, ctx):
        self.journal.append(("stop", self.name))

    def receive(self, message, ctx):
        if message == "fail":
            raise RuntimeError(f"{self.name} failed")
        if message == "exit":
            ctx.stop()
            return None
        if message == "seen":
            return list(self.seen)
        self.seen.append(message)
        return message


def specs(journal, names="abc", restart=Restart.PERMANENT, **kwargs):
    return tuple(
        ChildSpec(n, (lambda n=n: Worker(n, journal)), restart=restart, **kwargs) for n in names
    )


def start(host, spec, name="sup"):
    ref = host.spawn(name, lambda: Supervisor(spec))
    host.settle()
    host.advance(0.01)
    children = {c.id: c for c in host.ask(ref, WhichChildren())}
    return ref, children


def fail(host, ref, message="fail"):
    ref.tell(message)
    host.settle()
    host.advance(0.02)


def test_children_start_in_order_and_stop_in_reverse_order(host):
    journal = []
    sup, _ = start(host, SupervisorSpec(children=specs(journal)))
    assert journal == [("start", "a"), ("start", "b"), ("start", "c")]
    journal.clear()
    host.stop(sup)
    host.settle()
    assert journal == [("stop", "c"), ("stop", "b"), ("stop", "a")]


def test_one_for_one_restarts_only_the_failed_child(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal), strategy=Strategy.ONE_FOR_ONE))
    journal.clear()
    fail(host, kids["b"].ref)
    assert journal == [("start", "b")]  # the failed instance gets no on_stop; siblings untouched


def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "abcd"),
                                         strategy=Strategy.ONE_FOR_ALL))
    journal.clear()
    fail(host, kids["b"].ref)
    assert journal == [("stop", "d"), ("stop", "c"), ("stop", "a"),
                       ("start", "a"), ("start", "b"), ("start", "c"), ("start", "d")]


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "abcd"),
                                         strategy=Strategy.REST_FOR_ONE))
    journal.clear()
    fail(host, kids["b"].ref)
    assert journal == [("stop", "d"), ("stop", "c"),
                       ("start", "b"), ("start", "c"), ("start", "d")]


def test_permanent_child_is_restarted_even_after_a_normal_exit(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "a")))
    journal.clear()
    fail(host, kids["a"].ref, "exit")
    assert journal == [("stop", "a"), ("start", "a")]


def test_transient_child_is_restarted_after_a_failure_but_not_after_a_normal_exit(host):
    journal = []
    sup, kids = start(host, SupervisorSpec(children=specs(journal, "ab",
                                                          restart=Restart.TRANSIENT),
                                           intensity=5))
    journal.clear()
    fail(host, kids["a"].ref)
    assert journal == [("start", "a")]
    journal.clear()
    fail(host, kids["b"].ref, "exit")
    assert journal == [("stop", "b")]
    states = {c.id: c.state for c in host.ask(sup, WhichChildren())}
    assert states == {"a": "running", "b": "stopped"}


def test_transient_supervisor_that_gives_up_with_shutdown_is_not_restarted(host):
    journal = []
    inner = SupervisorSpec(children=specs(journal, "x"), intensity=0)
    outer = SupervisorSpec(children=(supervisor_child(inner, "inner", restart=Restart.TRANSIENT),),
                           intensity=5)
    sup, kids = start(host, outer, name="outer")
    x = host.ask(kids["inner"].ref, WhichChildren())[0].ref
    journal.clear()
    fail(host, x)  # intensity 0: the inner supervisor gives up with reason shutdown
    assert journal == []  # x had failed: a failed instance gets no on_stop
    states = {c.id: c.state for c in host.ask(sup, WhichChildren())}
    assert states == {"inner": "stopped"}  # OTP: shutdown is not abnormal for a transient child


def test_temporary_child_is_never_restarted_and_is_removed(host):
    journal = []
    sup, kids = start(host, SupervisorSpec(children=specs(journal, "ab",
                                                          restart=Restart.TEMPORARY)))
    journal.clear()
    fail(host, kids["a"].ref)
    assert journal == []
    assert [c.id for c in host.ask(sup, WhichChildren())] == ["b"]
    assert kids["a"].ref.tell("hello") == Refused("sup/a", "dead")
    assert host.log.records(actor="sup", kind="give_up") == []  # not counted as a restart


def test_temporary_sibling_stopped_by_one_for_all_is_removed_not_restarted(host):
    journal = []
    children = (ChildSpec("a", lambda: Worker("a", journal)),
                ChildSpec("t", lambda: Worker("t", journal), restart=Restart.TEMPORARY),
                ChildSpec("c", lambda: Worker("c", journal)))
    sup, kids = start(host, SupervisorSpec(children=children, strategy=Strategy.ONE_FOR_ALL))
    journal.clear()
    fail(host, kids["c"].ref)
    assert journal == [("stop", "t"), ("stop", "a"), ("start", "a"), ("start", "c")]
    assert [c.id for c in host.ask(sup, WhichChildren())] == ["a", "c"]


def test_default_intensity_allows_one_restart_in_five_seconds_then_gives_up(deterministic):
    host = deterministic
    journal = []
    spec = SupervisorSpec(children=specs(journal, "ab"))
    assert (spec.intensity, spec.period_s) == (1, 5.0)  # OTP's defaults
    _, kids = start(host, spec)
    journal.clear()
    fail(host, kids["a"].ref)
    assert journal == [("start", "a")]
    host.advance(4.0)
    journal.clear()
    fail(host, kids["a"].ref)  # the second restart within 5 s
    assert journal == [("stop", "b")]  # everything stopped, in reverse order; nothing restarted
    [exit_notice] = host.root_exits
    assert exit_notice.reason is ExitReason.SHUTDOWN
    [give_up] = host.log.records(actor="sup", kind="give_up")
    assert "sup/a" in give_up.exception or "a:" in give_up.exception
    assert host.log.records(actor="sup", kind="escalation")


def test_restarts_older_than_the_period_do_not_count(deterministic):
    host = deterministic
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "a")))
    for _ in range(5):
        fail(host, kids["a"].ref)
        host.advance(5.5)
    assert host.root_exits == []
    assert host.actor("sup/a").restarts == 5


def test_intensity_and_period_are_configurable(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "a"), intensity=3,
                                         period_s=10.0))
    for _ in range(3):
        fail(host, kids["a"].ref)
    assert host.root_exits == []
    fail(host, kids["a"].ref)
    assert [n.reason for n in host.root_exits] == [ExitReason.SHUTDOWN]


def test_escalation_makes_the_parent_restart_the_subtree_behind_stable_refs(host):
    journal = []
    inner = SupervisorSpec(children=specs(journal, "x"), intensity=0)
    outer = SupervisorSpec(children=(supervisor_child(inner, "inner"),), intensity=3)
    _sup, kids = start(host, outer, name="outer")
    x_before = host.ask(kids["inner"].ref, WhichChildren())[0].ref
    journal.clear()
    fail(host, x_before)
    host.advance(0.05)
    assert journal == [("start", "x")]  # inner gave up, outer restarted it, it restarted x
    x_after = host.ask(kids["inner"].ref, WhichChildren())[0].ref
    assert x_after is x_before
    assert host.ask(x_before, "still here") == "still here"
    assert host.log.records(actor="outer/inner", kind="escalation")
    assert host.actor("outer/inner").restarts == 1


def test_a_failing_start_hook_counts_as_a_failure(host):
    journal = []
    attempts = []

    def flaky():
        attempts.append(1)
        return Worker("f", journal, fail_start=len(attempts) > 1)

    _sup, kids = start(host, SupervisorSpec(children=(ChildSpec("f", flaky),), intensity=2))
    fail(host, kids["f"].ref)  # runtime failure, then the restart's on_start fails twice
    host.advance(0.05)
    assert len(attempts) == 3
    assert [n.reason for n in host.root_exits] == [ExitReason.SHUTDOWN]
    failures = host.log.records(actor="sup/f", kind="failure")
    assert [r.count for r in failures] == [1, 2, 3]


def test_a_restarted_actor_keeps_its_address_and_its_queued_messages(host):
    journal = []
    spec = SupervisorSpec(children=specs(journal, "a"),
                          backoff=Backoff(min_s=0.05, max_s=0.05, jitter=0.0))
    _, kids = start(host, spec)
    ref = kids["a"].ref
    ref.tell("fail")
    for i in range(3):
        assert ref.tell(i) is None  # sent while the actor waits for its restart
    host.settle()
    host.advance(0.15)
    assert host.ask(ref, "seen") == [0, 1, 2]


def test_messages_sent_during_a_restart_are_refused_by_policy_and_counted(host):
    journal = []
    spec = SupervisorSpec(
        children=(ChildSpec("a", lambda: Worker("a", journal), mailbox=BoundedReject(2)),),
        backoff=Backoff(min_s=0.05, max_s=0.05, jitter=0.0),
    )
    _, kids = start(host, spec)
    ref = kids["a"].ref
    ref.tell("fail")
    host.settle()
    results = [ref.tell(i) for i in range(4)]
    assert results[:2] == [None, None]
    assert results[2:] == [Refused("sup/a", "full")] * 2
    host.advance(0.15)
    assert host.ask(ref, "seen") == [0, 1]
    assert host.actor("sup/a").mailbox.rejected == 2


def test_backoff_doubles_between_restarts_and_resets_after_a_stable_period(deterministic):
    host = deterministic
    journal = []
    spec = SupervisorSpec(children=specs(journal, "a"), intensity=100, period_s=1000.0,
                          backoff=Backoff(min_s=0.1, max_s=0.4, jitter=0.0, reset_after_s=5.0))
    _, kids = start(host, spec)
    ref = kids["a"].ref
    starts = []
    for _ in range(4):
        ref.tell("fail")
        before = host.monotonic_ns()
        host.run_until_idle()
        starts.append(round((host.monotonic_ns() - before) / 1e9, 3))
    assert starts == [0.1, 0.2, 0.4, 0.4]  # capped at max_s
    host.advance(6.0)  # stable for longer than reset_after_s
    ref.tell("fail")
    before = host.monotonic_ns()
    host.run_until_idle()
    assert round((host.monotonic_ns() - before) / 1e9, 3) == 0.1


def test_backoff_jitter_is_bounded_and_reproducible():
    backoff = Backoff(min_s=1.0, max_s=8.0, jitter=0.5)
    assert backoff.delay(0, 0.0) == 1.0
    assert backoff.delay(2, 0.999) == pytest.approx(4.0 * 1.4995)
    assert backoff.delay(10, 0.0) == 8.0


def test_every_failure_restart_and_escalation_is_recorded(deterministic):
    host = deterministic
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "a"), intensity=1))
    host.advance(1.0)
    fail(host, kids["a"].ref)
    host.advance(1.0)
    fail(host, kids["a"].ref)
    kinds = [(r.actor, r.kind, r.count) for r in host.log.records()]
    assert kinds == [
        ("sup/a", "failure", 1), ("sup/a", "restart", 1),
        ("sup/a", "failure", 2), ("sup", "give_up", 2), ("sup", "escalation", 1),
    ]
    failure = host.log.records(kind="failure")[0]
    assert failure.exception == "RuntimeError: a failed"
    assert failure.time_ns == 1_000_000_000 + 10_000_000


def test_supervision_events_reach_the_metrics_sink(host):
    journal = []
    _, kids = start(host, SupervisorSpec(children=specs(journal, "a"), intensity=5))
    fail(host, kids["a"].ref)
    counters = host.metrics.counters
    assert counters[("sup/a", "troupe_supervision_events_total", (("kind", "failure"),))] == 1
    assert counters[("sup/a", "troupe_supervision_events_total", (("kind", "restart"),))] == 1


def test_duplicate_child_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate child ids: a"):
        SupervisorSpec(children=specs([], "aba"))
