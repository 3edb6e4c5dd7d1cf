"""Internal control messages between cells and their parents. Never seen by ordinary behaviours.

They travel in the system lane of a mailbox, so they are never refused, dropped or conflated and
always overtake user traffic. `Inspect` is the one that comes from outside the tree: a question
about an actor's state (the REPL's `state()`), answered by the cell between two messages.

The records name a cell by `CellHandle`, the protocol a cell offers its context, its parent and
the host's timers. The one implementation is `supervision.runtime.cell.Cell`, which imports this
module and `supervision.runtime.context`; naming the cell by protocol keeps both of them below
`cell` in the import graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from protocols.errors import TroupeError
from protocols.runtime import AskTimeout

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


class SelfMessage:
    """A timer firing or an ask's reply/timeout, addressed to one incarnation of one actor.

    `generation` ties it to the incarnation that asked: after a restart the old incarnation's
    timers and replies are stale and are dropped (and counted). `handle` is None for a reply,
    which claims the key whatever timer is behind it; a timer firing carries its host's timer
    handle, and the context keeps the firing itself under its key, so a timer that was replaced
    under the same key cannot fire in its successor's place.

    A plain slotted class, not attrs: one is made for every timer, and nothing changes it after
    the context has filled in `handle` (before any firing can be handled).
    """

    __slots__ = ("generation", "handle", "key", "message")

    def __init__(self, generation: int, key: Hashable, handle: Any, message: Any) -> None:
        self.generation = generation
        self.key = key
        self.handle = handle
        self.message = message

    def __repr__(self) -> str:
        return (f"SelfMessage(generation={self.generation}, key={self.key!r}, "
                f"message={self.message!r})")


class TimedTell:
    """A tell that travels until its due time (`Context.tell_at`): it waits in the host's timer
    queue like a timer, and when due the host hands the message to `target` as an ordinary tell
    (the user lane, the mailbox's policy). It belongs to no incarnation: like a message already on
    the wire, a restart of the sender does not recall it. A refusal when it lands (a full bounded
    mailbox, a dead actor) is counted for the sender, as `troupe_timed_tell_refused_total`."""

    __slots__ = ("ctx", "message", "target")
    cancelled = False  # a timed tell cannot be cancelled: the host's queue reads this

    def __init__(self, target: Any, message: Any, ctx: Any) -> None:
        self.target = target
        self.message = message
        self.ctx = ctx  # the sender's context, for the count of a refusal

    def fire(self) -> None:
        if self.target.tell(self.message) is not None:
            self.ctx.count("troupe_timed_tell_refused_total")


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
    """A scheduled self-message. Cancelling only marks it: the host's heap skips it lazily.
    What a host's timer queue holds is anything with `cancelled` and `fire()`: this, or a
    `TimedTell`."""

    __slots__ = ("cancelled", "cell", "message")

    def __init__(self, cell: CellHandle, message: SelfMessage) -> None:
        self.cell = cell
        self.message = message
        self.cancelled = False

    def fire(self) -> None:
        self.cell.deliver_system(self.message)


class InspectError(TroupeError):
    """An actor could not answer an `Inspect`: it is not running, or the question failed."""


class Inspect:
    """A question put to an actor's behaviour, answered on the actor's own thread.

    Send it with `cell.deliver_system(question)`, then `question.wait(timeout)`. `look` gets the
    running behaviour and returns whatever the asker wants to see; it must not change anything.
    """

    __slots__ = ("_done", "_error", "_result", "look")

    def __init__(self, look: Callable[[Any], Any]) -> None:
        self.look = look
        self._done = threading.Event()
        self._result: Any = None
        self._error: str | None = None

    def answer(self, name: str, state: CellState, behaviour: Any) -> None:
        """Called by the cell `name`, between two messages, with its running behaviour."""
        if behaviour is None or state is not CellState.RUNNING:
            self._error = f"{name} is {state.value}: no running incarnation to ask"
        else:
            try:
                self._result = self.look(behaviour)
            except Exception as exc:  # a bad question must never take the actor down
                self._error = f"{name} could not answer: {type(exc).__name__}: {exc}"
        self._done.set()

    def wait(self, timeout: float, name: str = "the actor") -> Any:
        if not self._done.wait(timeout):
            raise AskTimeout(f"no answer from {name} within {timeout:g}s")
        if self._error is not None:
            raise InspectError(self._error)
        return self._result
