"""Declarative supervision specs, after Erlang/OTP's `supervisor` module.

The vocabulary is OTP's on purpose; its documentation is the reference for every rule here:

- strategy: `one_for_one` restarts only the failed child; `one_for_all` stops every other child
  (in reverse start order) and restarts them all (in start order); `rest_for_one` does that for
  the failed child and the children started after it.
- restart: a `permanent` child is always restarted; a `transient` child only after an abnormal
  exit (an exception: not a normal stop and not a supervisor's `shutdown`); a `temporary` child is
  never restarted, and is removed when it exits or when a sibling's failure stops it.
- intensity and period: if more than `intensity` restarts happen within `period_s` seconds, the
  supervisor stops all its children and exits with reason `shutdown`, which its own supervisor
  handles like any child exit (OTP default: 1 restart in 5 s).
- shutdown: how long a child may take to stop before it is killed. `0` is OTP's `brutal_kill`,
  `None` is `infinity` (the default for a child that is itself a supervisor).

`Backoff` adds Akka's exponential back-off between restarts, for children whose restart costs a
venue something (a reconnect storm gets an API key banned).

A supervisor nests under another as `supervision.runtime.supervisor.supervisor_child(spec, id)`:
these specs are data and know nothing of the behaviour that runs them.

Two additions of ours, per child:
- `limit`: the child's own restart intensity. A child restarted more often than that is given up
  alone: removed for good (recorded as `give_up` under the child's name), while its supervisor
  and siblings carry on. OTP would wrap the child in a supervisor of its own, marked temporary;
  this is the same behaviour without a second name for every strategy.
- `watchers`: refs told `protocols.runtime.ActorDown` whenever an incarnation of the child ends
  abnormally, so the orders a crashed strategy left behind are somebody's job (Erlang's monitors,
  set up by whoever assembles the tree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, MailboxSpec, Ref


class Strategy(Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class Backoff:
    """Delay before the n-th consecutive restart: min(max_s, min_s * 2**n) * (1 + jitter * u),
    u uniform in [0, 1) from the supervisor's seeded random. The count n returns to 0 once a child
    has run for `reset_after_s` without failing."""

    min_s: float = attrs.field(default=0.1, validator=_non_negative)
    max_s: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.2, validator=_non_negative)
    reset_after_s: float = attrs.field(default=60.0, validator=_non_negative)

    def delay(self, attempt: int, unit_random: float) -> float:
        base = min(self.max_s, self.min_s * (2 ** min(attempt, 62)))
        return base * (1.0 + self.jitter * unit_random)


@attrs.frozen
class RestartLimit:
    """At most `intensity` restarts within `period_s` seconds."""

    intensity: int = attrs.field(default=1, validator=_non_negative)
    period_s: float = attrs.field(default=5.0, validator=_non_negative)


@attrs.frozen
class ChildSpec:
    id: str
    factory: Callable[[], Behaviour]
    restart: Restart = Restart.PERMANENT
    shutdown_s: float | None = attrs.field(default=5.0, validator=_non_negative)
    mailbox: MailboxSpec | None = None
    blocking: bool = False
    limit: RestartLimit | None = None  # past it, this child alone is given up
    watchers: tuple[Ref, ...] = attrs.field(default=(), converter=tuple)


def _as_tuple(children: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    return tuple(children)


@attrs.frozen
class SupervisorSpec:
    children: tuple[ChildSpec, ...] = attrs.field(converter=_as_tuple)
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = attrs.field(default=1, validator=_non_negative)
    period_s: float = attrs.field(default=5.0, validator=_non_negative)
    backoff: Backoff | None = None

    @children.validator
    def _unique_ids(self, _attr: attrs.Attribute[Any], children: tuple[ChildSpec, ...]) -> None:
        ids = [child.id for child in children]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate child ids: {', '.join(duplicates)}")
