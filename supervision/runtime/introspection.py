"""Read-only views of a host's actors: what the REPL, /metrics and tests look at.

Two ways to look, chosen by what is read:

- counters a cell keeps for itself (mailbox statistics, restarts, the last message's type) are
  plain numbers and references, read from any thread: `statistics(cell)`;
- a behaviour's own state is only ever read on the actor's thread: `Inspect` travels through the
  system lane of the actor's mailbox (so it overtakes a backlog and is never refused), the cell
  runs the question between two messages, and the asker waits on the answer with a timeout.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from protocols.runtime import FailureRecord
from supervision.runtime.lifecycle import CellState, Inspect, InspectError
from supervision.runtime.mailbox import MailboxStats

if TYPE_CHECKING:
    from supervision.runtime.cell import Cell


@attrs.frozen(slots=True)
class ActorInfo:
    name: str
    state: str
    mailbox: MailboxStats
    restarts: int
    failures: int
    last_failure: str | None
    stale_messages: int
    executor: str
    snapshot: Any


def actor_info(cell: Cell, executor: str) -> ActorInfo:
    behaviour = cell.behaviour
    try:
        snapshot = behaviour.snapshot() if behaviour is not None else None
    except Exception as exc:  # introspection must never take an actor down
        snapshot = f"<snapshot failed: {type(exc).__name__}>"
    return ActorInfo(
        name=cell.name,
        state=cell.state.value,
        mailbox=cell.mailbox.stats(),
        restarts=cell.restarts,
        failures=cell.failures,
        last_failure=cell.last_failure,
        stale_messages=cell.stale,
        executor=executor,
        snapshot=snapshot,
    )


@attrs.frozen(slots=True)
class ActorStatistics:
    """One actor's counters, read without disturbing it. `last_message_age_s` is None when
    the host does not time handling or the actor has handled nothing yet."""

    name: str
    kind: str  # the behaviour's class, "-" when no incarnation is running
    executor: str  # "loop" (the shared dispatcher) or "thread" (its own)
    state: str
    mailbox: MailboxStats
    restarts: int
    failures: int
    last_failure: str | None
    last_message: str | None
    last_message_age_s: float | None
    parent: str | None


def statistics(cell: Cell, executor: str) -> ActorStatistics:
    behaviour = cell.behaviour
    last = cell.last_message
    age = None if last is None else (time.perf_counter_ns() - cell.last_message_ns) / 1e9
    return ActorStatistics(
        name=cell.name,
        kind="-" if behaviour is None else type(behaviour).__name__,
        executor=executor,
        state=cell.state.value,
        mailbox=cell.mailbox.stats(),
        restarts=cell.restarts,
        failures=cell.failures,
        last_failure=cell.last_failure,
        last_message=None if last is None else last.__name__,
        last_message_age_s=age,
        parent=None if cell.parent is None else cell.parent.name,
    )


def inspect(cell: Cell, look: Callable[[Any], Any], timeout: float) -> Any:
    """Ask `cell`'s running behaviour `look(behaviour)` through its system lane and wait."""
    if cell.state is CellState.DEAD:
        raise InspectError(f"{cell.name} is dead")
    question = Inspect(look)
    cell.deliver_system(question)
    return question.wait(timeout, cell.name)


class SupervisionLog:
    """Every failure, restart, escalation and give-up, newest last, bounded."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: deque[FailureRecord] = deque(maxlen=capacity)
        self.totals: dict[str, int] = {}

    def record(self, record: FailureRecord) -> None:
        self._records.append(record)
        self.totals[record.kind] = self.totals.get(record.kind, 0) + 1

    def records(self, actor: str | None = None, kind: str | None = None) -> list[FailureRecord]:
        return [
            r for r in self._records
            if (actor is None or r.actor == actor) and (kind is None or r.kind == kind)
        ]


class _BoundCount:
    """One counter of `InMemoryMetrics`, its key built once (`Context.bind_count`)."""

    __slots__ = ("_counters", "_key")

    def __init__(self, counters: dict[Any, float], key: Any) -> None:
        self._counters = counters
        self._key = key

    def __call__(self, amount: float = 1) -> None:
        counters, key = self._counters, self._key
        counters[key] = counters.get(key, 0) + amount


class InMemoryMetrics:
    """The default metrics sink: plain dicts. The node swaps in a Prometheus-backed sink."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}

    def count(self, actor: str, metric: str, amount: float, labels: dict[str, str]) -> None:
        key = (actor, metric, tuple(sorted(labels.items())) if labels else ())
        counters = self.counters
        counters[key] = counters.get(key, 0) + amount

    def bind_count(self, actor: str, metric: str, labels: dict[str, str]) -> _BoundCount:
        return _BoundCount(self.counters, (actor, metric, tuple(sorted(labels.items()))))

    def observe(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None:
        key = (actor, metric, tuple(sorted(labels.items())))
        self.observations.setdefault(key, []).append(value)

    def gauge(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None:
        self.gauges[(actor, metric, tuple(sorted(labels.items())) if labels else ())] = value

    def total(self, metric: str, actor: str | None = None) -> float:
        return sum(v for (a, m, _), v in self.counters.items()
                   if m == metric and (actor is None or a == actor))
