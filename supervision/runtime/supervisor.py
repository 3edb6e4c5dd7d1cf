"""The supervisor behaviour: OTP restart semantics, run on any host like any other actor.

A supervisor never blocks. Starting and stopping children are asynchronous steps kept in one
queue and taken one at a time, which is what gives OTP's ordering guarantees: children start in
spec order, each only after the previous one is up; they stop in reverse order, each within its
shutdown timeout or killed. Child exits are handled in the order they arrive.

Deliberate differences from OTP, each for a trading node's sake:
- A child's cell (its address and mailbox) outlives its incarnations and even a restart of the
  supervisor itself, so refs held elsewhere stay valid and queued messages survive.
- A failure in a child's start hook is counted like any failure and restarted under the same
  intensity rules, also at first start: a venue connection that cannot connect at boot should
  retry with back-off, not abort the node. (OTP aborts the supervisor's own start instead.)
- A child may carry its own `RestartLimit`: past it, that child alone is given up (removed, and
  recorded as `give_up` under its own name) and its restarts never count against the
  supervisor's intensity, so one strategy that cannot run does not take its siblings down.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import attrs

from actors.behaviour import Behaviour
from protocols.runtime import FailureRecord
from supervision.runtime.lifecycle import (
    CellHandle,
    CellState,
    CellStopped,
    ChildExit,
    ChildStarted,
    StopCell,
)
from supervision.runtime.specs import ChildSpec, Restart, Strategy, SupervisorSpec

if TYPE_CHECKING:
    from actors.behaviour import Ref
    from supervision.runtime.cell import Cell
    from supervision.runtime.context import ActorContext

RUNNING = CellState.RUNNING


def supervisor_child(
    spec: SupervisorSpec, id: str, *, restart: Restart = Restart.PERMANENT,
    shutdown_s: float | None = None,
) -> ChildSpec:
    """A supervisor running `spec`, as a child of another. OTP's default shutdown for
    supervisors is `infinity`: a supervisor gets all the time its own children's timeouts need."""
    return ChildSpec(id, lambda: Supervisor(spec), restart=restart, shutdown_s=shutdown_s)


@attrs.frozen(slots=True)
class WhichChildren:
    """Ask a supervisor for its children, like OTP's `which_children/1`."""


@attrs.frozen(slots=True)
class TerminateChild:
    """Stop a child and leave it stopped, like OTP's `terminate_child/2`: an operator's stop,
    not a failure, so it is not restarted and does not count against the restart intensity.
    Answered with True if the child is ours (the stop itself happens in the step queue)."""

    id: str


@attrs.frozen(slots=True)
class RestartChild:
    """Stop a child if it runs, then start a fresh incarnation (OTP's `terminate_child/2`
    followed by `restart_child/2`). An operator's restart: no restart intensity is spent."""

    id: str


@attrs.frozen(slots=True)
class ChildInfo:
    id: str
    name: str
    ref: Ref
    state: str
    restart: Restart
    restarts: int


@attrs.frozen(slots=True)
class _StopTimeout:
    cell: Cell


@attrs.frozen(slots=True)
class _RestartDue:
    ids: tuple[str, ...]


class _Child:
    __slots__ = ("attempts", "cell", "restarts", "spec", "started_ns")

    def __init__(self, spec: ChildSpec, cell: Cell) -> None:
        self.spec = spec
        self.cell = cell
        self.attempts = 0  # consecutive back-off attempts
        self.started_ns: int | None = None
        self.restarts: deque[int] = deque()  # for the child's own limit, if it has one


_Op = tuple[str, Any]  # ("start", child) | ("stop", child) | ("remove", child) | ("call", fn)


class Supervisor(Behaviour):
    supervises_children = True

    def __init__(self, spec: SupervisorSpec) -> None:
        self.spec = spec
        self._children: list[_Child] = []
        self._restarts: deque[int] = deque()
        self._ops: deque[_Op] = deque()
        self._current: _Op | None = None
        self._awaiting_restart: set[str] = set()
        self._closing = False  # giving up or stopping: no more restarts

    # -- lifecycle ---------------------------------------------------------------------------
    def on_start(self, ctx: ActorContext) -> None:  # type: ignore[override]
        for child_spec in self.spec.children:
            self._children.append(_Child(child_spec, self._cell_for(ctx, child_spec)))
        for child in self._children:
            self._ops.append(("start", child))
        self._next(ctx)

    def stop_children_then(self, ctx: ActorContext, done: Callable[[], None]) -> None:
        """Our own cell was asked to stop: children go first, in reverse order."""
        self._close(ctx)
        self._ops.append(("call", done))
        self._next(ctx)

    def snapshot(self) -> Any:
        return {
            "strategy": self.spec.strategy.value,
            "children": [(c.spec.id, c.cell.state.value) for c in self._children],
            "recent_restarts": len(self._restarts),
        }

    # -- messages ------------------------------------------------------------------------------
    def receive(self, message: Any, ctx: ActorContext) -> Any:  # type: ignore[override]
        kind = type(message)
        current = self._current
        if kind is ChildStarted:
            child = self._child_of(message.cell)
            if child is not None:
                child.started_ns = ctx.monotonic_ns()
            if current is not None and current[0] == "start" and current[1] is child:
                self._current = None
        elif kind is CellStopped:
            if current is not None and current[0] in ("stop", "remove") \
                    and current[1].cell is message.cell:
                self._finish_stop(ctx, current)
        elif kind is _StopTimeout:
            if current is not None and current[0] in ("stop", "remove") \
                    and current[1].cell is message.cell:
                message.cell.kill()
                self._finish_stop(ctx, current)
        elif kind is ChildExit:
            self._on_exit(message, ctx)
        elif kind is _RestartDue:
            for child in self._children:
                if child.spec.id in message.ids and not self._closing:
                    self._ops.append(("start", child))
        elif kind is TerminateChild or kind is RestartChild:
            accepted = self._operator_request(message)
            self._next(ctx)
            return accepted
        elif kind is WhichChildren:
            return [
                ChildInfo(c.spec.id, c.cell.name, c.cell.ref, c.cell.state.value,
                          c.spec.restart, c.cell.restarts)
                for c in self._children
            ]
        else:
            ctx.log.warning("supervisor ignored unexpected message %r", message)
        self._next(ctx)
        return None

    def _on_exit(self, notice: ChildExit, ctx: ActorContext) -> None:
        child = self._child_of(notice.cell)
        if child is None:
            return
        current = self._current
        if current is not None and current[1] is child:
            if current[0] == "start":
                self._current = None  # the start failed; handled as a failure below
            elif current[0] in ("stop", "remove"):
                self._finish_stop(ctx, current)  # it went while we were stopping it anyway
                return
        if self._closing:
            return
        restart = child.spec.restart
        if restart is Restart.TEMPORARY:
            self._remove(child, "temporary child exited")
            return
        if restart is Restart.TRANSIENT and not notice.reason.abnormal:
            return
        if child.spec.id in self._awaiting_restart:
            return  # already part of a restart in progress
        if child.spec.limit is not None and not self._child_restart_allowed(ctx, child):
            self._give_up_child(ctx, child, notice)
            return
        if not self._restart_allowed(ctx):
            self._give_up(ctx, child, notice)
            return
        self._restart(ctx, child)

    def _operator_request(self, message: TerminateChild | RestartChild) -> bool:
        child = next((c for c in self._children if c.spec.id == message.id), None)
        if child is None or self._closing:
            return False
        self._ops.append(("stop", child))
        if type(message) is RestartChild:
            self._ops.append(("start", child))
        return True

    # -- decisions -----------------------------------------------------------------------------
    def _restart_allowed(self, ctx: ActorContext) -> bool:
        now = ctx.monotonic_ns()
        period_ns = int(self.spec.period_s * 1e9)
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > period_ns:
            self._restarts.popleft()
        return len(self._restarts) <= self.spec.intensity

    def _child_restart_allowed(self, ctx: ActorContext, child: _Child) -> bool:
        limit = child.spec.limit
        assert limit is not None
        now = ctx.monotonic_ns()
        child.restarts.append(now)
        while child.restarts and now - child.restarts[0] > int(limit.period_s * 1e9):
            child.restarts.popleft()
        return len(child.restarts) <= limit.intensity

    def _restart(self, ctx: ActorContext, failed: _Child) -> None:
        children = self._children
        strategy = self.spec.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            group = [failed]
        elif strategy is Strategy.ONE_FOR_ALL:
            group = list(children)
        else:
            group = children[children.index(failed):]
        for sibling in reversed(group):
            if sibling is not failed:
                temporary = sibling.spec.restart is Restart.TEMPORARY
                self._ops.append(("remove" if temporary else "stop", sibling))
        to_start = [c for c in group if c.spec.restart is not Restart.TEMPORARY]
        self._awaiting_restart.update(c.spec.id for c in to_start)
        delay = self._backoff_delay(ctx, failed)
        if delay > 0:
            ctx.schedule(delay, _RestartDue(tuple(c.spec.id for c in to_start)))
        else:
            self._ops.extend(("start", c) for c in to_start)

    def _backoff_delay(self, ctx: ActorContext, child: _Child) -> float:
        backoff = self.spec.backoff
        if backoff is None:
            return 0.0
        started = child.started_ns
        if started is not None and ctx.monotonic_ns() - started >= backoff.reset_after_s * 1e9:
            child.attempts = 0
        delay = backoff.delay(child.attempts, ctx.random.random())
        child.attempts += 1
        return delay

    def _give_up(self, ctx: ActorContext, child: _Child, notice: ChildExit) -> None:
        ctx.host.record(FailureRecord(  # type: ignore[attr-defined]
            actor=ctx.name, kind="give_up",
            exception=f"restart intensity {self.spec.intensity} in {self.spec.period_s}s "
                      f"exceeded by {child.spec.id}: {notice.error}",
            time_ns=ctx.monotonic_ns(), count=len(self._restarts),
        ))
        ctx.log.error("supervisor %s gives up: %s failed too often", ctx.name, child.spec.id)
        self._close(ctx)
        self._ops.append(("call", ctx.cell.escalate))

    def _give_up_child(self, ctx: ActorContext, child: _Child, notice: ChildExit) -> None:
        limit = child.spec.limit
        assert limit is not None
        ctx.host.record(FailureRecord(  # type: ignore[attr-defined]
            actor=child.cell.name, kind="give_up",
            exception=f"own restart limit {limit.intensity} in {limit.period_s}s exceeded: "
                      f"{notice.error}",
            time_ns=ctx.monotonic_ns(), count=len(child.restarts),
        ))
        ctx.log.error("supervisor %s gives up on %s: it failed too often", ctx.name,
                      child.spec.id)
        self._remove(child, "given up: restarted too often")

    def _close(self, ctx: ActorContext) -> None:
        self._closing = True
        self._ops.clear()
        self._awaiting_restart.clear()
        for child in reversed(self._children):
            temporary = child.spec.restart is Restart.TEMPORARY
            self._ops.append(("remove" if temporary else "stop", child))

    # -- the step queue ------------------------------------------------------------------------
    def _next(self, ctx: ActorContext) -> None:
        while self._current is None and self._ops:
            op = self._ops.popleft()
            kind, target = op
            if kind == "call":
                target()
                continue
            child: _Child = target
            if child not in self._children:
                continue
            cell = child.cell
            if kind == "start":
                self._awaiting_restart.discard(child.spec.id)
                if cell.state is RUNNING:
                    continue
                self._current = op
                cell.request_start()
                return
            if cell.state is not RUNNING:
                if kind == "remove":
                    self._remove(child, "stopped with its siblings")
                continue
            shutdown = child.spec.shutdown_s
            if shutdown == 0:
                cell.kill()  # OTP brutal_kill
                if kind == "remove":
                    self._remove(child, "killed with its siblings")
                continue
            self._current = op
            cell.deliver_system(StopCell())
            if shutdown is not None:
                ctx.schedule(shutdown, _StopTimeout(cell), key=("shutdown", child.spec.id))

    def _finish_stop(self, ctx: ActorContext, op: _Op) -> None:
        kind, child = op
        ctx.cancel_timer(("shutdown", child.spec.id))
        self._current = None
        if kind == "remove":
            self._remove(child, "stopped with its siblings")

    def _remove(self, child: _Child, why: str) -> None:
        if child in self._children:
            self._children.remove(child)
        child.cell.remove(why)

    # -- helpers -------------------------------------------------------------------------------
    def _child_of(self, cell: CellHandle) -> _Child | None:
        for child in self._children:
            if child.cell is cell:
                return child
        return None

    def _cell_for(self, ctx: ActorContext, spec: ChildSpec) -> Cell:
        """Reuse the child's cell from an earlier incarnation of this supervisor: same address."""
        name = f"{ctx.name}/{spec.id}"
        existing: Cell | None = ctx.host.existing_cell(name)  # type: ignore[attr-defined]
        if existing is not None and existing.state is not CellState.DEAD:
            if existing.state is RUNNING:
                existing.kill()  # left running by an incarnation of ours that crashed
            existing.parent = ctx.cell
            existing.factory = spec.factory
            existing.watchers = spec.watchers
            return existing
        # Every host builds `Cell`s; its protocol only promises the handle a context needs.
        cell = cast("Cell", ctx.host.create_cell(
            name, spec.factory, mailbox=spec.mailbox, blocking=spec.blocking, parent=ctx.cell
        ))
        cell.watchers = spec.watchers
        return cell
