"""Fault injection on a cell, a child's own restart limit, and watchers told ActorDown: on both
hosts, through a real supervisor."""

from __future__ import annotations

import pytest

from actors.behaviour import Behaviour
from protocols.runtime import ActorDown
from supervision.runtime.faults import Fault, InjectedFault
from supervision.runtime.specs import ChildSpec, RestartLimit, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren
from supervision.testing import Probe, received


class Echo(Behaviour):
    def __init__(self, seen):
        self.seen = seen

    def receive(self, message, ctx):
        self.seen.append(message)
        return message


def tree(host, seen, *, limit=None, watchers=(), intensity=50):
    children = [ChildSpec("echo", lambda: Echo(seen), limit=limit, watchers=watchers),
                ChildSpec("other", lambda: Echo([]))]
    sup = host.spawn("sup", lambda: Supervisor(SupervisorSpec(children, intensity=intensity,
                                                              period_s=60.0)))
    host.settle()
    host.advance(0.01)
    return sup, {c.id: c for c in host.ask(sup, WhichChildren())}


def send(host, ref, *messages):
    for message in messages:
        ref.tell(message)
        host.settle()
        host.advance(0.01)


def test_a_fault_armed_for_n_messages_fails_exactly_n_then_disarms(host):
    seen = []
    _, kids = tree(host, seen)
    cell = host.cell("sup/echo")
    cell.inject_fault(Fault(times=2))
    send(host, kids["echo"].ref, "a", "b", "c", "d")
    assert seen == ["c", "d"]  # the failing messages were consumed, as a raising one would be
    assert cell.failures == 2 and cell.restarts == 2
    assert cell.fault is None
    assert cell.last_failure == "InjectedFault: injected fault in sup/echo (#2)"


def test_a_fault_can_target_one_message_type_only(host):
    seen = []
    _, kids = tree(host, seen)
    host.cell("sup/echo").inject_fault(Fault(times=None, message_type="int"))
    send(host, kids["echo"].ref, "a", 1, "b", 2, "c")
    assert seen == ["a", "b", "c"]
    assert host.cell("sup/echo").failures == 2


def test_an_ask_to_a_faulted_actor_gets_the_injected_fault(deterministic):
    seen = []
    _, kids = tree(deterministic, seen)
    deterministic.cell("sup/echo").inject_fault(Fault())
    with pytest.raises(InjectedFault):
        deterministic.ask(kids["echo"].ref, "q")
    assert deterministic.ask(kids["echo"].ref, "q") == "q"  # restarted, the fault spent


def test_a_child_past_its_own_limit_is_given_up_alone(host):
    seen = []
    watcher = host.spawn("watcher", Probe)
    sup, kids = tree(host, seen, limit=RestartLimit(intensity=2, period_s=60.0),
                     watchers=(watcher,))
    host.cell("sup/echo").inject_fault(Fault(times=None))
    send(host, kids["echo"].ref, 1, 2, 3, 4)
    children = {c.id: c.state for c in host.ask(sup, WhichChildren())}
    assert children == {"other": "running"}  # the supervisor and the sibling carry on
    assert host.cell("sup/echo").state.value == "dead"
    give_ups = host.log.records(kind="give_up")
    assert [r.actor for r in give_ups] == ["sup/echo"]
    assert "own restart limit 2 in 60.0s exceeded" in give_ups[0].exception
    downs = received(host, watcher, ActorDown)
    assert len(downs) == 3 and all(d.actor == "sup/echo" for d in downs)
    assert "InjectedFault" in downs[0].reason


def test_fault_validation():
    with pytest.raises(ValueError, match="positive int or None"):
        Fault(times=0)
    assert Fault(times=None, message_type="BookTop").describe() == \
        "every message of type BookTop (injected fault)"
