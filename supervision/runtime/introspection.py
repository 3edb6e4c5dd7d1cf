"""Read-only views of a host's actors: what the REPL, /metrics and tests look at."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import attrs

from protocols.runtime import FailureRecord
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


class InMemoryMetrics:
    """The default metrics sink: plain dicts. The node swaps in a Prometheus-backed sink."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}

    def count(self, actor: str, metric: str, amount: float, labels: dict[str, str]) -> None:
        key = (actor, metric, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0) + amount

    def observe(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None:
        key = (actor, metric, tuple(sorted(labels.items())))
        self.observations.setdefault(key, []).append(value)

    def gauge(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None:
        self.gauges[(actor, metric, tuple(sorted(labels.items())))] = value

    def total(self, metric: str, actor: str | None = None) -> float:
        return sum(v for (a, m, _), v in self.counters.items()
                   if m == metric and (actor is None or a == actor))
