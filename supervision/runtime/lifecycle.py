"""Internal control messages between cells and their parents. Never seen by ordinary behaviours.

They travel in the system lane of a mailbox, so they are never refused, dropped or conflated and
always overtake user traffic.

The records name a cell by `CellHandle`, the protocol a cell offers its context, its parent and
the host's timers. The one implementation is `supervision.runtime.cell.Cell`, which imports this
module and `supervision.runtime.context`; naming the cell by protocol keeps both of them below
`cell` in the import graph.
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from actors.behaviour import Ref


class CellState(Enum):
    NEW = "new"  # created, never started
    RUNNING = "running"
    FAILED = "failed"  # instance discarded; waiting for its parent to decide
    STOPPED = "stopped"  # stopped on request or exited; may be started again by a supervisor
    DEAD = "dead"  # removed for good: every later message is refused with reason "dead"


class ExitReason(Enum):
    """OTP's exit reasons, as far as restart decisions care."""

    NORMAL = "normal"  # the actor asked to stop (ctx.stop)
    SHUTDOWN = "shutdown"  # a supervisor gave up after its restart intensity was exceeded
    ERROR = "error"  # an exception in on_start, receive or a stop hook

    @property
    def abnormal(self) -> bool:
        # OTP: a transient child is restarted only for a reason other than normal or shutdown.
        return self is ExitReason.ERROR


class CellHandle(Protocol):
    """A cell as its context, its parent and the host's timers use it."""

    @property
    def name(self) -> str: ...

    @property
    def ref(self) -> Ref: ...

    @property
    def supervises(self) -> bool:
        """Its current behaviour supervises its children (it wants `ChildStarted`)."""
        ...

    def deliver_system(self, item: Any) -> None: ...

    def request_start(self) -> None: ...

    def request_stop(self) -> None: ...

    def adopt(self, child: CellHandle) -> None: ...

    def escalate(self) -> None: ...

    def remove(self, why: str = ...) -> None: ...


@attrs.frozen(slots=True)
class StartCell:
    pass


@attrs.frozen(slots=True)
class StopCell:
    """Stop the current instance (running on_stop) and acknowledge with `CellStopped`."""


@attrs.frozen(slots=True)
class SelfMessage:
    """A timer firing or an ask's reply/timeout, addressed to one incarnation of one actor.

    `generation` ties it to the incarnation that asked: after a restart the old incarnation's
    timers and replies are stale and are dropped (and counted). `handle` is None for a reply,
    which claims the key whatever timer is behind it; a timer firing carries its own handle, so a
    timer that was replaced under the same key cannot fire in its successor's place.
    """

    generation: int
    key: Hashable
    handle: Any
    message: Any


@attrs.frozen(slots=True)
class ChildExit:
    """A child stopped without being asked: an exception, ctx.stop, or an escalation."""

    cell: CellHandle
    reason: ExitReason
    error: str
    during_start: bool


@attrs.frozen(slots=True)
class ChildStarted:
    cell: CellHandle


@attrs.frozen(slots=True)
class CellStopped:
    """Acknowledges a `StopCell`."""

    cell: CellHandle


class TimerHandle:
    """A scheduled self-message. Cancelling only marks it: the host's heap skips it lazily."""

    __slots__ = ("cancelled", "cell", "message")

    def __init__(self, cell: CellHandle, message: SelfMessage) -> None:
        self.cell = cell
        self.message = message
        self.cancelled = False
