"""A cell is an actor's stable address: one mailbox, and the current incarnation of a behaviour.

Restarting an actor replaces the behaviour instance and its context; the cell, its mailbox and
every reference to it stay. That is how a sender's ref survives restarts and why a message sent
while an actor restarts is kept (or refused by its mailbox policy, and counted), never lost.

The rules of an incarnation's life, in the order they apply:

1. `StartCell` builds a fresh instance from the factory and runs `on_start`. Success makes the cell
   RUNNING and tells a supervising parent `ChildStarted`. Any exception, in the factory or in
   `on_start`, is a failure like any other.
2. While RUNNING, system-lane items go first; user messages are handled one at a time.
3. An exception in `receive` (or any BaseException: one actor's failure never stops the others)
   discards the instance without `on_stop`, cancels its timers, stops the actors it spawned,
   tells its watchers `ActorDown` and the parent `ChildExit(ERROR)`. The mailbox keeps its
   messages for the next incarnation.
4. While not RUNNING, user messages wait in the mailbox. System items are still handled.
5. `StopCell` runs `on_stop` and acknowledges with `CellStopped`; `ctx.stop()` does the same after
   the current message but tells the parent `ChildExit(NORMAL)`.
6. `remove()` makes the cell DEAD: the backlog is dropped and counted, later tells are refused.

Hosts subclass `Cell` only to decide *where* it runs and how delivery is synchronised.

Handling time: a host may carry an `on_handled(actor_name, elapsed_ns)` hook (the node's metrics
sink sets one). While it is set, every cell of that host measures each call of `receive` with
`time.perf_counter_ns` and reports it after the call, whether it returned or raised. A hook that
also offers `for_actor(actor_name)` (the sink's `HandlingTimes`) is asked once per cell for a
recorder of that actor's times, called with the ns alone: no name to look up per message.
Cells without the hook run the untimed `_invoke`: timing is switched per cell (`time_handling`)
so the hot path pays nothing when nobody listens. On the deterministic host the figure is the
real time the behaviour's code took, not virtual time: it is a profile, and it feeds nothing
back. A timed cell also remembers the type of the last message it handled and when
(`last_message`, `last_message_ns` on the `perf_counter_ns` clock), for the REPL's `actors()`.

Introspection (`supervision.runtime.introspection`): an `Inspect` item in the system lane is
answered on the actor's own thread, between two messages, so nobody reads a behaviour's state
from another thread. A tracer (`trace`) sees each message just before `receive`; like timing,
tracing swaps `_invoke`, so an untraced cell pays nothing for it.

Fault injection (`inject_fault`, see `supervision.runtime.faults`) uses the same switch: an armed
cell fails matching messages as if `receive` had raised, and an unarmed one pays nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pykka._envelope import Envelope

from protocols.runtime import ActorDown, ChildTerminated, FailureRecord, Refused
from supervision.runtime.context import ActorContext
from supervision.runtime.faults import Fault, FaultState
from supervision.runtime.lifecycle import (
    CellHandle,
    CellState,
    CellStopped,
    ChildExit,
    ChildStarted,
    ExitReason,
    Inspect,
    SelfMessage,
    StartCell,
    StopCell,
)
from supervision.runtime.mailbox import Mailbox, Unbounded

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, MailboxSpec, Ref
    from supervision.runtime.context import HostServices

log = logging.getLogger("troupe.cell")

RUNNING = CellState.RUNNING
perf_counter_ns = time.perf_counter_ns


class RemoveCell:
    """Stop if running, then become DEAD. Sent to spawned children when their parent goes."""

    __slots__ = ()


class Cell:
    """Host-agnostic core. Subclasses provide `deliver`, `deliver_envelope`, `deliver_system`."""

    # Class defaults, set on an instance only when used: a cell that is never timed, traced or
    # faulted keeps fewer instance attributes (CPython shares one key table among a class's
    # instances up to 30 names; past that, every attribute read on the cell gets slower).
    last_message: type | None = None  # kept while handling is timed
    last_message_ns = 0
    _tracer: Callable[[Any], None] | None = None
    _hook: Callable[[int], None] | None = None  # this actor's on_handled(ns), while timed
    fault: FaultState | None = None
    failures = 0  # these four change only when something goes wrong
    restarts = 0
    stale = 0  # timer firings and replies addressed to an earlier incarnation
    last_failure: str | None = None

    def __init__(
        self,
        host: HostServices,
        name: str,
        factory: Callable[[], Behaviour],
        mailbox: MailboxSpec | None,
        parent: CellHandle | None,
    ) -> None:
        self.host = host
        self.name = name
        self.factory = factory
        self.mailbox: Mailbox = (mailbox or Unbounded()).build()
        self.parent = parent
        self.state = CellState.NEW
        self.behaviour: Behaviour | None = None
        self.ctx: ActorContext | None = None
        self.generation = 0
        self.children: list[CellHandle] = []
        self.starts = 0
        self.watchers: tuple[Ref, ...] = ()  # told ActorDown when an incarnation ends badly
        self._supervises = False
        self._stop_requested = False
        self.ref: Ref = self._make_ref()
        if getattr(host, "on_handled", None) is not None:
            self.time_handling(True)

    def _make_ref(self) -> Ref:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Cell {self.name} {self.state.value}>"

    @property
    def supervises(self) -> bool:
        return self._supervises

    # -- delivery: provided by the host's subclass ----------------------------------------
    def deliver(self, message: Any) -> Refused | None:
        raise NotImplementedError

    def deliver_envelope(self, envelope: Envelope[Any]) -> Refused | None:
        raise NotImplementedError

    def deliver_system(self, item: Any) -> None:
        raise NotImplementedError

    def _resumed(self) -> None:
        """The cell became RUNNING: make sure queued user messages get a turn."""

    # -- commands from parents ------------------------------------------------------------
    def request_start(self) -> None:
        self.deliver_system(StartCell())

    def adopt(self, child: CellHandle) -> None:
        self.children.append(child)

    def request_stop(self) -> None:
        self._stop_requested = True

    def kill(self) -> None:
        """Brutal kill: drop the incarnation without `on_stop` (a shutdown timeout expired)."""
        if self.state is RUNNING:
            self._discard_incarnation()
            self.state = CellState.STOPPED
            self._record("stop", "killed after shutdown timeout")
            self._tell_watchers("killed after shutdown timeout")

    def remove(self, why: str = "removed") -> None:
        if self.state is CellState.DEAD:
            return
        if self.state is RUNNING:
            self._run_on_stop()
        self._discard_incarnation()
        self.state = CellState.DEAD
        self.mailbox.clear(f"{self.name} {why}")
        self._on_dead()

    def _on_dead(self) -> None:
        """Host hook: unregister the address."""

    # -- processing ------------------------------------------------------------------------
    def process(self, item: Any) -> None:
        kind = type(item)
        if kind is SelfMessage:
            ctx = self.ctx
            if self.state is RUNNING and ctx is not None and ctx.claim(item):
                self._invoke(item.message, None)
            else:
                self.stale += 1
            return
        handler = _SYSTEM_ITEMS.get(kind)
        if handler is None:  # a user message: the common case, one lookup away
            self._invoke(item, None)
        else:
            handler(self, item)

    def _process_envelope(self, item: Envelope[Any]) -> None:
        self._invoke(item.message, item.reply_to)

    def _process_inspect(self, item: Inspect) -> None:
        item.answer(self.name, self.state, self.behaviour)

    def _invoke(self, message: Any, reply_to: Any) -> None:
        behaviour = self.behaviour
        if behaviour is None:
            return
        try:
            result = behaviour.receive(message, self.ctx)  # type: ignore[arg-type]
        except BaseException as exc:
            if reply_to is not None:
                reply_to.set_exception((type(exc), exc, exc.__traceback__))
            self._fail(exc, during_start=False)
            return
        if reply_to is not None:
            reply_to.set(result)
        if self._stop_requested:
            self._exit(ExitReason.NORMAL)

    def time_handling(self, on: bool) -> None:
        """Measure each `receive` for the host's `on_handled` hook, or stop measuring. The
        cell keeps the hook's recorder for this actor (the host sets it again on every cell
        when the hook changes)."""
        self._hook = _recorder_for(self.name, getattr(self.host, "on_handled", None) if on
                                   else None)
        self._select_invoke()

    def trace(self, tracer: Callable[[Any], None] | None) -> None:
        """Call `tracer(message)` before each `receive` (None: stop). The tracer runs on the
        actor's thread: it must be quick and must not raise (if it does, tracing stops)."""
        self._tracer = tracer
        self._select_invoke()

    def inject_fault(self, fault: Fault | None) -> None:
        """Arm `fault` on this cell (replacing any armed one), or disarm with None."""
        self.fault = None if fault is None else FaultState(fault)
        self._select_invoke()

    def _select_invoke(self) -> None:
        if self._tracer is not None or self.fault is not None:
            self._invoke = self._invoke_instrumented  # type: ignore[method-assign]
        elif self._hook is not None:
            self._invoke = self._invoke_timed  # type: ignore[method-assign]
        else:
            # Not `self.__dict__.pop`: reading __dict__ makes the cell's attributes a plain
            # dict, and every attribute read on it slower.
            with contextlib.suppress(AttributeError):
                del self._invoke

    def _invoke_instrumented(self, message: Any, reply_to: Any) -> None:
        """`_invoke` while traced or while a fault is armed: the tracer sees the message, then
        a matching fault fails it instead of `receive`."""
        tracer = self._tracer
        if tracer is not None:
            try:
                tracer(message)
            except Exception:
                log.exception("tracer failed for %s; tracing stopped", self.name)
                self.trace(None)
        state = self.fault
        if state is not None and self.behaviour is not None and state.matches(message):
            exc = state.fire(self.name)
            if state.spent:
                self.inject_fault(None)
            if reply_to is not None:
                reply_to.set_exception((type(exc), exc, None))
            self._fail(exc, during_start=False)
            return
        if self._hook is not None:
            self._invoke_timed(message, reply_to)
        else:
            Cell._invoke(self, message, reply_to)

    def _invoke_timed(self, message: Any, reply_to: Any) -> None:
        """`_invoke`, timed: kept apart so the untimed path stays as short as it was."""
        behaviour, hook = self.behaviour, self._hook
        if behaviour is None or hook is None:
            return
        start = perf_counter_ns()
        self.last_message = type(message)
        self.last_message_ns = start
        try:
            result = behaviour.receive(message, self.ctx)  # type: ignore[arg-type]
        except BaseException as exc:
            self._handled(hook, perf_counter_ns() - start)
            if reply_to is not None:
                reply_to.set_exception((type(exc), exc, exc.__traceback__))
            self._fail(exc, during_start=False)
            return
        elapsed = perf_counter_ns() - start
        try:
            hook(elapsed)
        except Exception:
            self._hook_failed()
        if reply_to is not None:
            reply_to.set(result)
        if self._stop_requested:
            self._exit(ExitReason.NORMAL)

    def _handled(self, hook: Callable[[int], None], elapsed_ns: int) -> None:
        try:
            hook(elapsed_ns)
        except Exception:
            self._hook_failed()

    def _hook_failed(self) -> None:
        # A broken hook must not fail the actor, nor log on every message.
        log.exception("on_handled hook failed for %s; no longer timing it", self.name)
        self.time_handling(False)

    def _from_child(self, item: Any) -> None:
        if self._supervises:
            if self.state is RUNNING:
                self._invoke(item, None)
            return
        if type(item) is ChildExit:
            child = item.cell
            if child in self.children:
                self.children.remove(child)
            child.remove("exited")
            if self.state is RUNNING:
                normal = not item.reason.abnormal
                self._invoke(ChildTerminated(child.name, normal, item.error), None)

    # -- incarnations ----------------------------------------------------------------------
    def _start_incarnation(self) -> None:
        if self.state is CellState.DEAD or self.state is RUNNING:
            return
        self.generation += 1
        self._stop_requested = False
        ctx = ActorContext(self, self.host, self.generation)
        self.ctx = ctx
        if self.starts:
            self.restarts += 1
            self._record("restart", self.last_failure or "")
        self.starts += 1
        try:
            behaviour = self.factory()
            self.behaviour = behaviour
            self._supervises = bool(getattr(behaviour, "supervises_children", False))
            behaviour.on_start(ctx)
        except BaseException as exc:
            self._fail(exc, during_start=True)
            return
        self.state = RUNNING
        if self.parent is not None and self.parent.supervises:
            self.parent.deliver_system(ChildStarted(self))
        self._resumed()
        if self._stop_requested:
            self._exit(ExitReason.NORMAL)

    def _stop_incarnation(self) -> None:
        if self.state is RUNNING:
            stopper = getattr(self.behaviour, "stop_children_then", None)
            if stopper is not None:
                # A supervisor stops its own children (in reverse order, with timeouts) first
                # and calls `finish_stop` when they are down.
                stopper(self.ctx, self.finish_stop)
                return
            self._run_on_stop()
            self._discard_incarnation()
            self.state = CellState.STOPPED
        self._ack_stop()

    def finish_stop(self) -> None:
        if self.state is RUNNING:
            self._run_on_stop()
            self._discard_incarnation()
            self.state = CellState.STOPPED
        self._ack_stop()

    def _ack_stop(self) -> None:
        if self.parent is not None:
            self.parent.deliver_system(CellStopped(self))
        else:
            self.host.orphan_stopped(self)  # type: ignore[attr-defined]

    def _exit(self, reason: ExitReason) -> None:
        """Leave without being asked: ctx.stop (NORMAL) or a supervisor's escalation (SHUTDOWN)."""
        if self.state is not RUNNING:
            return
        self._run_on_stop()
        self._discard_incarnation()
        self.state = CellState.STOPPED
        detail = "" if reason is ExitReason.NORMAL else "restart intensity exceeded"
        if reason is ExitReason.SHUTDOWN:
            self._record("escalation", detail)
        self._tell_parent(ChildExit(self, reason, detail, during_start=False))

    def escalate(self) -> None:
        self._exit(ExitReason.SHUTDOWN)

    def _fail(self, exc: BaseException, *, during_start: bool) -> None:
        self.failures += 1
        self.last_failure = f"{type(exc).__name__}: {exc}"
        log.error("actor %s failed%s: %s", self.name, " in on_start" if during_start else "",
                  self.last_failure, exc_info=(type(exc), exc, exc.__traceback__))
        self._discard_incarnation()
        self.state = CellState.FAILED
        self._record("failure", self.last_failure)
        self._tell_watchers(self.last_failure)
        self._tell_parent(ChildExit(self, ExitReason.ERROR, self.last_failure, during_start))

    def _tell_watchers(self, reason: str) -> None:
        for watcher in self.watchers:
            refused = watcher.tell(ActorDown(self.name, reason))
            if refused is not None:
                log.error("%s could not tell %s that it went down: %s", self.name,
                          watcher.name, refused.reason)

    def _tell_parent(self, exit_notice: ChildExit) -> None:
        if self.parent is not None:
            self.parent.deliver_system(exit_notice)
        else:
            self.host.orphan_exit(self, exit_notice)  # type: ignore[attr-defined]

    def _run_on_stop(self) -> None:
        behaviour = self.behaviour
        if behaviour is None:
            return
        try:
            behaviour.on_stop(self.ctx)  # type: ignore[arg-type]
        except BaseException as exc:
            # A failing stop hook must not keep the actor alive; record it and carry on.
            self.failures += 1
            self.last_failure = f"{type(exc).__name__} in on_stop: {exc}"
            log.error("actor %s: %s", self.name, self.last_failure)
            self._record("failure", self.last_failure)

    def _discard_incarnation(self) -> None:
        if self.ctx is not None:
            self.ctx.cancel_all_timers()
        for child in self.children:
            child.deliver_system(RemoveCell())
        self.children = []
        self.behaviour = None
        self.generation += 1

    def _record(self, kind: str, detail: str) -> None:
        counts = {"failure": self.failures, "restart": self.restarts}
        record = FailureRecord(
            actor=self.name, kind=kind, exception=detail, time_ns=self.host.monotonic_ns(),
            count=counts.get(kind, 1),
        )
        self.host.record(record)  # type: ignore[attr-defined]


def _recorder_for(actor: str, hook: Callable[[str, int], None] | None
                  ) -> Callable[[int], None] | None:
    """`hook`'s recorder of `actor`'s handling times: its `for_actor(actor)` if it has one,
    else `hook` with the name bound (by a closure: a `functools.partial`, calling Python from
    C, cost a deterministic backtest's timed turn 3 % more)."""
    if hook is None:
        return None
    for_actor = getattr(hook, "for_actor", None)
    if for_actor is not None:
        recorder: Callable[[int], None] = for_actor(actor)
        return recorder

    def record(elapsed_ns: int) -> None:
        hook(actor, elapsed_ns)

    return record


# What `Cell.process` does with each runtime item; anything else is a user message.
_SYSTEM_ITEMS: dict[type, Callable[[Cell, Any], None]] = {
    Envelope: Cell._process_envelope,
    StartCell: lambda cell, _: cell._start_incarnation(),
    StopCell: lambda cell, _: cell._stop_incarnation(),
    RemoveCell: lambda cell, _: cell.remove("stopped with its parent"),
    ChildExit: Cell._from_child,
    ChildStarted: Cell._from_child,
    CellStopped: Cell._from_child,
    Inspect: Cell._process_inspect,
}

# Every type `process` handles that is not a user message, for hosts that send user messages
# straight to `_invoke`.
RUNTIME_ITEMS: frozenset[type] = frozenset(_SYSTEM_ITEMS) | {SelfMessage}
