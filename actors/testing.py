"""A fake `Context`, so a behaviour (a strategy, a risk gate...) is unit-tested with no host.

    ctx = FakeContext("mm1", seed=3)
    gate, journal = ctx.ref("gate"), ctx.ref("journal")
    mm = MarketMaker(config, gate, journal)
    ctx.start(mm)
    ctx.deliver(mm, BookTop("BTCUSDT", 9990, 5, 10010, 5, ctx.monotonic_ns()))
    proposals = gate.messages            # what the strategy proposed, in order
    ctx.advance(0.5, mm)                 # the clock moves; due timers fire, in order

Everything a behaviour does through its context is recorded: tells (`sent`), asks (`asks`),
pending timers (`timers`), timed tells on their way (`in_flight`: handed to their targets, and
recorded in `sent`, when `advance` reaches their due time), metrics (`metrics`, with `counter`
and `gauge_value` to read them), children (`spawned`) and `stopped`. The clock moves only when
the test says so (`advance`, `set_clock`); `random` is seeded. Messages a behaviour tells itself
queue like a mailbox and are delivered by `deliver` after the message that caused them, as a
host would.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable
from itertools import count
from typing import Any

import attrs

from actors.behaviour import Counting, Gauging
from protocols.runtime import Refused

__all__ = ["Asked", "FakeContext", "FakeRef", "InFlight", "MetricPoint", "Scheduled"]

_NS = 1_000_000_000
EPOCH_2024_NS = 1_704_067_200 * _NS  # 2024-01-01T00:00:00Z: a fixed, readable wall clock


class FakeRef:
    """An address that keeps what it is told. `refuse` (a reason such as "full") makes every
    tell come back refused, like a full mailbox."""

    def __init__(self, name: str, refuse: str | None = None) -> None:
        self.name = name
        self.refuse = refuse
        self.messages: list[Any] = []

    def tell(self, message: Any) -> Refused | None:
        if self.refuse is not None:
            return Refused(self.name, self.refuse)
        self.messages.append(message)
        return None

    def of_type(self, cls: type | tuple[type, ...]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, cls)]

    def __repr__(self) -> str:
        return f"<FakeRef {self.name}>"


@attrs.frozen(slots=True)
class Asked:
    target: str
    message: Any
    timeout: float
    tag: Any
    correlation: int


@attrs.frozen(slots=True)
class Scheduled:
    key: Hashable
    due_ns: int
    message: Any
    seq: int


@attrs.frozen(slots=True)
class InFlight:
    """A `tell_at` not yet due."""

    due_ns: int
    target: Any
    message: Any
    seq: int


@attrs.frozen(slots=True)
class MetricPoint:
    kind: str  # "count", "observe" or "gauge"
    metric: str
    value: float
    labels: dict[str, str]


class FakeContext:
    """A `actors.behaviour.Context` that records instead of acting. See the module docstring."""

    def __init__(self, name: str = "actor", *, seed: int = 0, monotonic_ns: int = 0,
                 epoch_ns: int = EPOCH_2024_NS) -> None:
        self._name = name
        self._self_ref = FakeRef(name)
        self._random = random.Random(seed)
        self._mono = monotonic_ns
        self._epoch_offset = epoch_ns - monotonic_ns
        self._seq = count(1)
        self._inbox: deque[Any] = deque()
        self.refs: dict[str, FakeRef] = {}
        self.sent: list[tuple[str, Any]] = []
        self.asks: list[Asked] = []
        self.timers: dict[Hashable, Scheduled] = {}
        self.in_flight: list[InFlight] = []
        self.metrics: list[MetricPoint] = []
        self.spawned: list[tuple[str, Callable[[], Any]]] = []
        self.stopped = False

    # -- wiring -----------------------------------------------------------------------------
    def ref(self, name: str, *, refuse: str | None = None) -> FakeRef:
        """The recording address `name` (one object per name)."""
        ref = self.refs.get(name)
        if ref is None:
            ref = self.refs[name] = FakeRef(name, refuse)
        elif refuse is not None:
            ref.refuse = refuse
        return ref

    # -- driving a behaviour ----------------------------------------------------------------
    def start(self, behaviour: Any) -> None:
        behaviour.on_start(self)
        self._drain(behaviour)

    def deliver(self, behaviour: Any, *messages: Any) -> list[Any]:
        """`receive` each message, then whatever the behaviour told itself meanwhile, in order.
        Returns the values `receive` returned for `messages`."""
        results = []
        for message in messages:
            results.append(behaviour.receive(message, self))
            self._drain(behaviour)
        return results

    def stop_behaviour(self, behaviour: Any) -> None:
        behaviour.on_stop(self)

    def advance(self, seconds: float, behaviour: Any = None) -> list[Any]:
        """Move the clock by `seconds`. Timers that fall due fire in (due, arming) order, at
        their due time, into `behaviour` (and may arm more). Returns the fired messages."""
        target = self._mono + round(seconds * _NS)
        fired = []
        while True:
            due: list[Scheduled | InFlight] = [t for t in self.timers.values()
                                               if t.due_ns <= target]
            due += [t for t in self.in_flight if t.due_ns <= target]
            if not due:
                break
            timer = min(due, key=lambda t: (t.due_ns, t.seq))
            if isinstance(timer, InFlight):
                self.in_flight.remove(timer)
                self._mono = max(self._mono, timer.due_ns)
                self.sent.append((timer.target.name, timer.message))
                timer.target.tell(timer.message)
                continue
            del self.timers[timer.key]
            self._mono = max(self._mono, timer.due_ns)
            fired.append(timer.message)
            if behaviour is not None:
                self.deliver(behaviour, timer.message)
        self._mono = target
        return fired

    def set_clock(self, *, monotonic_ns: int | None = None, epoch_ns: int | None = None) -> None:
        """Set either clock; the other keeps its offset unless given too."""
        if monotonic_ns is not None:
            self._mono = monotonic_ns
        if epoch_ns is not None:
            self._epoch_offset = epoch_ns - self._mono

    def _drain(self, behaviour: Any) -> None:
        while self._inbox:
            behaviour.receive(self._inbox.popleft(), self)

    # -- reading what happened ----------------------------------------------------------------
    def sent_to(self, name: str) -> list[Any]:
        return [message for target, message in self.sent if target == name]

    def counter(self, metric: str, **labels: str) -> float:
        """The total counted for `metric`, over points whose labels include `labels`."""
        return sum(p.value for p in self._points("count", metric, labels))

    def gauge_value(self, metric: str, **labels: str) -> float | None:
        points = self._points("gauge", metric, labels)
        return points[-1].value if points else None

    def _points(self, kind: str, metric: str, labels: dict[str, str]) -> list[MetricPoint]:
        return [p for p in self.metrics if p.kind == kind and p.metric == metric
                and labels.items() <= p.labels.items()]

    # -- the Context protocol ---------------------------------------------------------------
    @property
    def self_ref(self) -> FakeRef:
        return self._self_ref

    @property
    def name(self) -> str:
        return self._name

    @property
    def random(self) -> random.Random:
        return self._random

    def tell(self, target: Any, message: Any) -> Refused | None:
        self.sent.append((target.name, message))
        if target is self._self_ref:
            self._inbox.append(message)
            return None
        result: Refused | None = target.tell(message)
        return result

    def tell_at(self, due_ns: int, target: Any, message: Any) -> None:
        self.in_flight.append(InFlight(due_ns, target, message, next(self._seq)))

    def ask(self, target: Any, message: Any, *, timeout: float, tag: Any = None) -> int:
        correlation = next(self._seq)
        self.asks.append(Asked(target.name, message, timeout, tag, correlation))
        return correlation

    def schedule(self, delay: float, message: Any, *, key: Hashable | None = None) -> Hashable:
        seq = next(self._seq)
        key = ("timer", seq) if key is None else key
        self.timers[key] = Scheduled(key, self._mono + max(0, int(delay * _NS)), message, seq)
        return key

    def cancel_timer(self, key: Hashable) -> bool:
        return self.timers.pop(key, None) is not None

    def monotonic_ns(self) -> int:
        return self._mono

    def time_ns(self) -> int:
        return self._mono + self._epoch_offset

    def spawn(self, name: str, factory: Callable[[], Any], *, mailbox: Any = None,
              blocking: bool = False) -> FakeRef:
        """Records the child (its factory is not run) and returns its recording address."""
        self.spawned.append((name, factory))
        return self.ref(f"{self._name}/{name}")

    def stop(self) -> None:
        self.stopped = True

    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        self.metrics.append(MetricPoint("count", metric, amount, labels))

    def bind_count(self, metric: str, **labels: str) -> Counting:
        def add(amount: float = 1) -> None:
            self.count(metric, amount, **labels)

        return add

    def observe(self, metric: str, value: float, **labels: str) -> None:
        self.metrics.append(MetricPoint("observe", metric, value, labels))

    def gauge(self, metric: str, value: float, **labels: str) -> None:
        self.metrics.append(MetricPoint("gauge", metric, value, labels))

    def bind_gauge(self, metric: str, **labels: str) -> Gauging:
        def set_value(value: float) -> None:
            self.gauge(metric, value, **labels)

        return set_value
