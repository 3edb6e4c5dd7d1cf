"""The deterministic host: same behaviours, seed and inputs give the same run."""

from __future__ import annotations

from actors.behaviour import Behaviour
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.specs import Backoff, ChildSpec, Strategy, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren
from supervision.testing import Probe


class Gossip(Behaviour):
    """Passes a token around with random delays and fails now and then: a busy little system."""

    def __init__(self, trace, peers):
        self.trace = trace
        self.peers = peers

    def receive(self, message, ctx):
        self.trace.append((ctx.monotonic_ns(), ctx.name, message))
        if message == "fail":
            raise RuntimeError("scheduled failure")
        hops = message
        if hops <= 0:
            return None
        peer = self.peers[ctx.random.randrange(len(self.peers))]
        if ctx.random.random() < 0.8:
            ctx.tell(peer, hops - 1)
        else:  # a restart cancels its incarnation's timers, and this token with them
            ctx.schedule(ctx.random.random() / 10, hops - 1)
        if ctx.random.random() < 0.02:
            ctx.tell(ctx.self_ref, "fail")
        return None


def run_system(seed):
    host = DeterministicHost(seed=seed)
    trace = []
    peers = []
    spec = SupervisorSpec(
        children=tuple(ChildSpec(f"g{i}", lambda: Gossip(trace, peers)) for i in range(5)),
        strategy=Strategy.ONE_FOR_ONE, intensity=1000, period_s=1.0,
        backoff=Backoff(min_s=0.01, max_s=0.5, jitter=0.5),
    )
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.run_until_idle()
    peers.extend(c.ref for c in host.ask(sup, WhichChildren()))
    for i, peer in enumerate(peers):
        peer.tell(200 + i)
    host.run_until_idle()
    restarts = [(r.actor, r.kind, r.time_ns) for r in host.log.records()]
    return trace, restarts


def test_same_seed_same_run():
    first = run_system(seed=42)
    second = run_system(seed=42)
    assert len(first[0]) > 500
    assert first[1]  # failures, restarts with jittered back-off all happened
    assert first == second


def test_another_seed_gives_another_run():
    assert run_system(seed=1)[0] != run_system(seed=2)[0]


class TimerProbe(Probe):
    """A probe that arms timers as it starts (and one more on "kick")."""

    def on_start(self, ctx):
        ctx.schedule(1.0, "timer-a")
        ctx.schedule(1.0, "timer-b")
        ctx.schedule(0.5, "kick")

    def receive(self, message, ctx):
        super().receive(message, ctx)
        if message == "kick":
            ctx.schedule(0.5, "late-timer")  # due at 1.0 too, but scheduled after a and b


def test_events_run_in_time_then_sequence_order():
    host = DeterministicHost()
    trace = []
    host.spawn("r", lambda: TimerProbe(trace))
    host.run_until_idle()
    assert trace == [
        (500_000_000, "kick"),
        (1_000_000_000, "timer-a"),
        (1_000_000_000, "timer-b"),
        (1_000_000_000, "late-timer"),
    ]


def test_virtual_time_only_moves_when_nothing_is_ready():
    host = DeterministicHost(start_ns=5)
    trace = []
    ref = host.spawn("r", lambda: TimerProbe(trace))
    for i in range(3):
        ref.tell(f"now-{i}")
    host.settle()
    assert trace == [(5, "now-0"), (5, "now-1"), (5, "now-2")]
    host.advance(10.0)
    assert host.monotonic_ns() == 5 + 10_000_000_000
