"""Messages the runtime itself delivers to behaviours, and the records it keeps.

Every class is an attrs frozen, slotted class: cheap to build on the hot path, hashable, and
impossible to mutate after another actor has seen it.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.errors import TroupeError


@attrs.frozen(slots=True)
class Refused:
    """A mailbox said no. Returned to the sender of a `tell`; never raised.

    `reason` is one of `"full"` (bounded-reject at capacity), `"dead"` (the actor was removed for
    good) or `"priority_full"` (a priority level at its capacity).
    """

    actor: str
    reason: str

    def __bool__(self) -> bool:
        # `if ctx.tell(...):` reads as "if it was delivered"; a refusal is falsy.
        return False


@attrs.frozen(slots=True)
class Reply:
    """The answer to `ctx.ask`, delivered to the asker as an ordinary message.

    Exactly one `Reply` arrives per ask: the value, the receiver's exception, or `AskTimeout`.
    """

    correlation: int
    tag: Any
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class AskTimeout(TroupeError):
    """No reply arrived within the ask's timeout. The request may still have been handled."""


class ActorDead(TroupeError):
    """The target of an ask was removed for good, or stopped before handling the request."""


@attrs.frozen(slots=True)
class Timer:
    """Wraps nothing: timers deliver the caller's own message. Kept for introspection only."""

    key: Any
    due_ns: int


@attrs.frozen(slots=True)
class ChildTerminated:
    """Sent to an actor when a child it spawned with `ctx.spawn` stops, normally or not."""

    child: str
    normal: bool
    reason: str


@attrs.frozen(slots=True)
class ActorDown:
    """Sent to each of an actor's watchers (`ChildSpec.watchers`) when one of its incarnations
    ends abnormally: it raised, or it was killed. Whatever it left behind is for the watcher to
    clean up; a restart, if any, follows as its supervisor decides."""

    actor: str
    reason: str


@attrs.frozen(slots=True)
class FailureRecord:
    """One entry of the supervision log: a failure, restart, escalation or give-up.

    `kind` is `"failure"`, `"restart"`, `"escalation"`, `"stop"` or `"give_up"`. `count` is the
    actor's running total of that kind. Times are the host's monotonic clock in ns (virtual time on
    the deterministic host) so records order the same way in a backtest and live.
    """

    actor: str
    kind: str
    exception: str
    time_ns: int
    count: int
