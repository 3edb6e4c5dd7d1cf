"""Properties only the live host has: threads, the trio bridge, and pykka itself."""

from __future__ import annotations

import gc
import sys
import threading
import time

import pykka
import pytest
import trio

from actors.behaviour import Behaviour
from protocols.runtime import Refused
from supervision.runtime.live import SWITCH_INTERVAL_S, LiveHost
from supervision.runtime.specs import ChildSpec, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren


class Echo(Behaviour):
    def receive(self, message, ctx):
        return message


class Gated(Behaviour):
    """Blocks its own thread until the test releases it, as a synchronous REST call would."""

    def __init__(self, entered, release, journal=None):
        self.entered = entered
        self.release = release
        self.journal = journal if journal is not None else []

    def receive(self, message, ctx):
        self.entered.set()
        self.release.wait(10)
        return message

    def on_stop(self, ctx):
        self.journal.append("stopped")


def test_a_blocking_actor_does_not_stall_the_actors_on_the_loop(live):
    entered, release = threading.Event(), threading.Event()
    blocker = live.spawn("rest", lambda: Gated(entered, release), blocking=True)
    echo = live.spawn("echo", Echo)
    blocker.tell("slow call")
    assert entered.wait(5)
    # The blocking actor is mid-call on its own thread; the loop actors still answer.
    assert [live.ask(echo, i, timeout=2) for i in range(20)] == list(range(20))
    release.set()
    assert live.ask(blocker, "done", timeout=5) == "done"
    assert {a.name: a.executor for a in live.actors()} == {"rest": "thread", "echo": "loop"}


def test_an_exception_in_a_callback_handed_to_trio_does_not_kill_the_loop(live):
    echo = live.spawn("echo", Echo)
    live.ask(echo, "warm")
    bridge = live.dispatcher.bridge

    def explode():
        raise ValueError("bad callback")

    ran = threading.Event()
    assert bridge.call_soon(explode)
    assert bridge.call_soon(ran.set)
    assert ran.wait(5)
    assert bridge.errors == 1
    assert live.ask(echo, "still alive") == "still alive"


class Catastrophe(BaseException):
    """Not an Exception: pykka would stop every actor in the process for this."""


class Doomed(Behaviour):
    def receive(self, message, ctx):
        raise Catastrophe("not an Exception")


@pytest.mark.parametrize("error", [Catastrophe, KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_one_actor_stops_only_that_actor(host, error):
    class Raiser(Behaviour):
        def receive(self, message, ctx):
            raise error("boom")

    doomed = host.spawn("doomed", Raiser)
    bystander = host.spawn("bystander", Echo)
    doomed.tell("go")
    host.settle()
    assert host.ask(bystander, "fine") == "fine"
    assert host.actor("doomed").state == "failed"
    assert host.actor("bystander").state == "running"


def test_actors_are_pykka_actors_found_through_the_registry(live):
    ref = live.spawn("echo", Echo)
    assert isinstance(ref, pykka.ActorRef)
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is ref
    assert ref.ask("via pykka", timeout=2) == "via pykka"
    assert ref.stop(timeout=2) is True  # pykka's stop removes the actor for good
    assert ref.tell("late") == Refused("echo", "dead")
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_a_blocking_ask_on_the_loop_thread_is_refused_instead_of_deadlocking(live):
    class AsksBlocking(Behaviour):
        def receive(self, message, ctx):
            try:
                message.ask("x", timeout=1)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

    echo = live.spawn("echo", Echo)
    asker = live.spawn("asker", AsksBlocking)
    assert "would deadlock" in live.ask(asker, echo)


def test_tells_from_many_threads_all_arrive_once_in_per_sender_order(live):
    class Collector(Behaviour):
        def __init__(self):
            self.seen = []

        def receive(self, message, ctx):
            if message == "seen":
                return list(self.seen)
            self.seen.append(message)
            return None

    ref = live.spawn("collector", Collector)
    senders, per_sender = 4, 5000

    def send(sender):
        for i in range(per_sender):
            assert ref.tell((sender, i)) is None

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live.settle()
    seen = live.ask(ref, "seen")
    assert len(seen) == senders * per_sender
    for sender in range(senders):
        assert [i for s, i in seen if s == sender] == list(range(per_sender))


def test_a_child_that_outlives_its_shutdown_timeout_is_killed_and_the_stop_goes_on(live):
    entered, release = threading.Event(), threading.Event()
    journal = []
    spec = SupervisorSpec(children=(
        ChildSpec("first", lambda: Gated(threading.Event(), threading.Event(), journal)),
        ChildSpec("stuck", lambda: Gated(entered, release, journal), blocking=True,
                  shutdown_s=0.1),
    ))
    sup = live.spawn("sup", lambda: Supervisor(spec))
    stuck = {c.id: c.ref for c in live.ask(sup, WhichChildren())}["stuck"]
    stuck.tell("block")
    assert entered.wait(5)
    assert live.stop(sup, timeout=5)
    # "stuck" was killed without on_stop after 0.1 s; "first" was then stopped normally.
    assert journal == ["stopped"]
    assert live.actor("sup/stuck").state == "stopped"
    assert live.log.records(actor="sup/stuck", kind="stop")[0].exception.startswith("killed")
    release.set()


def test_brutal_kill_skips_on_stop(host):
    journal = []
    spec = SupervisorSpec(children=(
        ChildSpec("k", lambda: Gated(threading.Event(), threading.Event(), journal),
                  shutdown_s=0),
    ))
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.settle()
    assert host.stop(sup)
    host.settle()
    assert journal == []
    assert host.actor("sup/k").state == "stopped"


def test_closing_the_host_unregisters_its_actors_from_pykka():
    from supervision.runtime.live import LiveHost

    host = LiveHost().start()
    ref = host.spawn("echo", Echo)
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is ref
    host.close()
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is None
    assert ref.tell("late") == Refused("echo", "dead")


def test_the_switch_interval_is_short_while_the_host_serves_and_restored_after():
    # A busy Python thread (ccxt) keeps the GIL for up to the switch interval before the loop,
    # woken by a frame, can run: the live host shortens it while it serves.
    before = sys.getswitchinterval()
    host = LiveHost().start()
    try:
        assert host.ask(host.spawn("echo", Echo), "x") == "x"
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S, rel=0.01)
        assert before > SWITCH_INTERVAL_S
    finally:
        host.close()
    assert sys.getswitchinterval() == before
    untouched = LiveHost(switch_interval_s=None).start()
    try:
        assert sys.getswitchinterval() == before
    finally:
        untouched.close()


class Recorder(Behaviour):
    def __init__(self, handled):
        self.handled = handled

    def receive(self, message, ctx):
        if message == "record":
            self.handled.set()


class TellsThenWaits(Behaviour):
    """Tells a thread actor, then keeps the loop (GIL released) long enough for that thread to
    have handled it, had it been woken at once; notes whether it had."""

    def __init__(self, target, handled, seen):
        self.target, self.handled, self.seen = target, handled, seen

    def receive(self, message, ctx):
        ctx.tell(self.target, "record")
        self.seen.append(self.handled.wait(0.2))


def test_a_thread_actor_told_during_a_chain_is_woken_when_the_loop_has_run_it():
    # Woken mid-chain, the thread would take the GIL from the chain after a switch interval.
    handled, seen = threading.Event(), []
    with LiveHost() as host:
        writer = host.spawn("writer", lambda: Recorder(handled), blocking=True)
        host.ask(writer, "started?")
        teller = host.spawn("teller", lambda: TellsThenWaits(writer, handled, seen))
        host.tell(teller, "go")
        assert handled.wait(5)
    assert seen == [False]


class Slow(Behaviour):
    """A burst becomes a hundred messages to itself, each taking a millisecond."""

    def __init__(self, handled):
        self.handled = handled

    def receive(self, message, ctx):
        if message == "burst":
            for i in range(100):
                ctx.tell(ctx.self_ref, i)
            return
        time.sleep(0.001)
        self.handled.append(message)


def test_a_drain_a_loop_task_started_and_the_turn_budget_cut_short_is_finished_without_new_tells():
    # A loop task (a websocket reader) telling a sleeping dispatcher drains in place; cut short by
    # the turn budget, the rest must still run: a later tell to the same, still scheduled, cell
    # would not schedule it again, and with no timer armed nothing else wakes the dispatcher.
    handled: list[int] = []
    host = LiveHost(turn_budget_s=0.002)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            slow = host.spawn("slow", lambda: Slow(handled))
            await trio.sleep(0.05)
            slow.tell("burst")  # drains in place, and overruns the budget
            with trio.move_on_after(2):
                while len(handled) < 100:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert handled == list(range(100))


def test_a_chain_run_in_place_leaves_due_timers_and_the_background_lane_to_the_dispatcher():
    # A websocket reader's tell runs the frame's chain at once, in its task; what else is due
    # (a portfolio's marks, twenty requote timers) waits for the dispatcher, so the reader's
    # next frame does not queue behind it. It still runs, without a new tell to wake it.
    order: list[str] = []
    host = LiveHost(background=("marks",))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            marks = host.spawn("marks", lambda: Note("marks", order))
            gate = host.spawn("gate", lambda: Note("gate", order))
            strategy = host.spawn("strategy", lambda: Note("strategy", order, gate))
            book = host.spawn("book", lambda: FanOut(marks, strategy, order))
            timed = host.spawn("timed", lambda: Note("timer", order))
            await trio.sleep(0.05)
            host.tell_at(time.monotonic_ns() - 1, timed, "due", None)  # due, not yet fired
            book.tell("top")  # the reader's tell: drains in place
            assert order == ["strategy", "gate"]  # the chain, and only it
            with trio.move_on_after(2):
                while len(order) < 4:
                    await trio.sleep(0.005)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert sorted(order[2:]) == ["marks", "timer"]


def test_a_chain_a_loop_task_begins_while_the_dispatcher_pauses_runs_before_its_ready_cells():
    # The dispatcher, working through other cells' backlog, pauses after each turn budget so
    # trio can read the sockets. A frame read then (a websocket reader's tell) starts a chain
    # that runs at once, in the reader's task, ahead of the cells the dispatcher still has
    # ready; those go on afterwards, each in its own order.
    handled: list[object] = []
    host = LiveHost(turn_budget_s=0.002)
    seen_at_tell: list[object] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            busy = [host.spawn(f"busy{i}", lambda: Slow(handled)) for i in range(3)]
            gate = host.spawn("gate", lambda: Note("gate", handled))
            book = host.spawn("book", lambda: Note("book", handled, gate))
            await trio.sleep(0.05)
            for cell in busy:
                host.tell_at(time.monotonic_ns(), cell, "burst", None)  # the dispatcher's work
            while len(handled) < 5:
                await trio.sleep(0)  # this task runs only while the dispatcher pauses
            before = len(handled)
            book.tell("top")
            seen_at_tell.extend(handled[before:])
            with trio.move_on_after(5):
                while len(handled) < 302:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen_at_tell == ["book", "gate"]  # the whole chain, in place, before any backlog
    assert len(handled) == 302
    numbers = [m for m in handled if isinstance(m, int)]
    assert sorted(numbers) == sorted(list(range(100)) * 3)


def test_the_first_host_to_serve_freezes_the_start_up_heap_out_of_the_collector():
    # A full collection stops the loop for as long as it scans; what start-up made lives on.
    with LiveHost() as host:
        assert host.ask(host.spawn("echo", Echo), "x") == "x"
    assert gc.get_freeze_count() > 1000


def test_freezing_the_heap_when_start_up_is_over_keeps_what_it_made_out_of_full_collections():
    # A node builds its clients, books and actors after the host serves: frozen at readiness,
    # they no longer lengthen every full collection of the trading day.
    with LiveHost() as host:
        made_since = [[i] for i in range(500)]
        before = gc.get_freeze_count()
        assert host.freeze_heap() >= before + 500
        assert not any(obj is made_since[0] for obj in gc.get_objects())
    assert LiveHost(freeze_gc=False).freeze_heap() == gc.get_freeze_count()  # left alone


class Note(Behaviour):
    """Notes its name; tells `then` (if any) on."""

    def __init__(self, name, order, then=None):
        self.name, self.order, self.then = name, order, then

    def receive(self, message, ctx):
        self.order.append(self.name)
        if self.then is not None:
            ctx.tell(self.then, message)


class FanOut(Behaviour):
    """Like a book publishing its top: to a reader off the order path first, then the chain;
    with `spin`, it then keeps itself busy with that many more messages."""

    def __init__(self, first, chain, order, spin=0):
        self.first, self.chain, self.order, self.spin = first, chain, order, spin

    def receive(self, message, ctx):
        if message == "top":
            ctx.tell(self.first, "top")
            ctx.tell(self.chain, "top")
            for i in range(self.spin):
                ctx.tell(ctx.self_ref, i)
        else:
            self.order.append("spin")


def test_actors_on_the_background_lane_run_after_the_order_path_not_before():
    order: list[str] = []
    with LiveHost(background=("marks",)) as host:
        gate = host.spawn("gate", lambda: Note("gate", order))
        strategy = host.spawn("strategy", lambda: Note("strategy", order, gate))
        marks = host.spawn("marks", lambda: Note("marks", order))
        host.tell(host.spawn("book", lambda: FanOut(marks, strategy, order)), "top")
        host.settle()
        assert [a.executor for a in host.actors() if a.name == "marks"] == ["loop"]
    assert order == ["strategy", "gate", "marks"]  # without the lane: marks, strategy, gate


class BusyBook(Behaviour):
    """A book whose top is followed by a backlog of its own: `backlog` messages of `work_s`
    each, queued on the loop before the lane's reader is first passed over."""

    def __init__(self, marks, chain, order, backlog, work_s):
        self.marks, self.chain, self.order = marks, chain, order
        self.backlog, self.work_s = backlog, work_s

    def receive(self, message, ctx):
        if message == "top":
            ctx.tell(self.marks, "top")
            ctx.tell(self.chain, "top")
            for i in range(self.backlog):
                ctx.tell(ctx.self_ref, i)
            return
        until = time.perf_counter() + self.work_s
        while time.perf_counter() < until:
            pass
        self.order.append("spin")


def test_the_background_lane_gets_a_turn_once_it_has_waited_while_the_loop_is_busy():
    # 40 messages of 0.5 ms each keep the order path ready for 20 ms: the lane waits at most
    # `background_wait_s` (2 ms) plus the turn in progress, never the whole burst. (However
    # slow the machine, each turn takes at least its 0.5 ms: the lane's turn comes after at
    # most five of them.)
    order: list[str] = []
    with LiveHost(background=("marks",)) as host:
        marks = host.spawn("marks", lambda: Note("marks", order))
        chain = host.spawn("chain", lambda: Note("chain", order))
        book = host.spawn("book", lambda: BusyBook(marks, chain, order, 40, 0.0005))
        host.settle()  # the actors' start-up turns are behind us: count from the top alone
        host.tell(book, "top")
        host.settle()
    assert len(order) == 42
    assert order.index("marks") <= 7  # late (the burst went first), not starved


def test_a_chain_run_in_place_wakes_the_dispatcher_only_for_what_it_leaves():
    # Each hop of a chain run in a loop task tells a cell while the dispatcher sleeps: that
    # drain runs it. Only what the chain leaves (here the background lane's marks) wakes it.
    order: list[str] = []
    host = LiveHost(background=("marks",))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            gate = host.spawn("gate", lambda: Note("gate", order))
            strategy = host.spawn("strategy", lambda: Note("strategy", order, gate))
            book = host.spawn("book", lambda: Note("book", order, strategy))
            marks = host.spawn("marks", lambda: Note("marks", order))
            await trio.sleep(0.05)
            before = host.dispatcher.wakes
            book.tell("top")  # the reader's tell: three hops, in place
            await trio.sleep(0.05)
            assert order == ["book", "strategy", "gate"]
            assert host.dispatcher.wakes == before  # nothing left: nothing to wake it for
            host.spawn("fan", lambda: FanOut(marks, book, order)).tell("top")
            with trio.move_on_after(2):
                while "marks" not in order:
                    await trio.sleep(0.005)
            assert host.dispatcher.wakes == before + 1  # for the marks (the start ran in place)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert order[3:] == ["book", "strategy", "gate", "marks"]


class Alarm(Behaviour):
    """Arms a timer per (key, delay) told to it; notes each firing with its lateness."""

    def __init__(self, fired):
        self.fired = fired

    def receive(self, message, ctx):
        verb, key, value = message
        if verb == "arm":
            ctx.schedule(value, ("fired", key, ctx.monotonic_ns() + int(value * 1e9)), key=key)
            return
        self.fired.append((key, ctx.monotonic_ns() - value))
        if key == "again" and len([k for k, _ in self.fired if k == "again"]) < 20:
            self.receive(("arm", "again", 0.002), ctx)


def test_timers_fire_on_time_across_the_dispatchers_sleeps():
    # The dispatcher sleeps until the next timer under one cancel scope, moving its deadline,
    # and opens a new scope when a deadline passes: a timer armed earlier than the one it
    # sleeps for must wake it then, and a timer re-armed on each firing must keep firing.
    fired: list[tuple[str, int]] = []
    with LiveHost() as host:
        alarm = host.spawn("alarm", lambda: Alarm(fired))
        alarm.tell(("arm", "late", 3.0))
        time.sleep(0.05)  # asleep until the late one
        alarm.tell(("arm", "soon", 0.05))
        alarm.tell(("arm", "again", 0.002))
        deadline = time.monotonic() + 2
        while len(fired) < 21 and time.monotonic() < deadline:
            time.sleep(0.01)
    keys = [key for key, _ in fired]
    assert keys.count("again") == 20 and keys.count("soon") == 1 and "late" not in keys
    assert all(late >= 0 for _, late in fired)  # never early
    assert dict(fired)["soon"] < 1_000_000_000  # not held until the late one's deadline


def test_a_timer_armed_by_a_chain_run_in_place_fires_on_time():
    # While a loop task's chain runs in place the dispatcher is not woken on each tell; a timer
    # the chain arms before the one the dispatcher sleeps until must still wake it in time.
    fired: list[tuple[str, int]] = []
    host = LiveHost()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            alarm = host.spawn("alarm", lambda: Alarm(fired))
            relay = host.spawn("relay", lambda: Relay(alarm))
            alarm.tell(("arm", "late", 3.0))
            await trio.sleep(0.05)  # the dispatcher sleeps until the late one
            relay.tell(("arm", "soon", 0.02))  # the reader's tell: relay -> alarm, in place
            with trio.move_on_after(2):
                while not fired:
                    await trio.sleep(0.005)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [key for key, _ in fired] == ["soon"]
    assert 0 <= fired[0][1] < 1_000_000_000  # not held until the late one's deadline


class Relay(Behaviour):
    def __init__(self, then):
        self.then = then

    def receive(self, message, ctx):
        ctx.tell(self.then, message)
