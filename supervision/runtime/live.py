"""The live host: pykka actors, run where their nature says.

Actors that never block share one dispatcher, a task on a trio event loop next to the node's
network I/O. The dispatcher drains a run queue of cells without returning to trio between hops,
so a message passes through a chain of actors without a thread handoff and without giving the
GIL away: a chain finishes inside one GIL slice. (Thread-per-actor pays a GIL handoff per hop,
up to the 5 ms switch interval each when any other Python thread is busy.) After
`turn_budget_s` of continuous work the dispatcher yields to trio so sockets are still served.

Actors spawned with `blocking=True` (a synchronous ccxt call, a disk flush) get a thread of
their own, running the same cell code, so they cannot stall the loop.

Every cell is a real `pykka.Actor` (`supervision.runtime.live_cell`: the cell, its ref, and how
a tell schedules it and a turn runs it).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pykka
import trio

from protocols.runtime import ActorDead, AskTimeout, FailureRecord, Refused
from supervision.runtime.affinity import CpuPlan, LoopPinning, plan_for
from supervision.runtime.cell import RUNNING, Cell
from supervision.runtime.executors import LoopDispatcher, ThreadExecutor
from supervision.runtime.idle_gc import IdleCollector
from supervision.runtime.introspection import (
    ActorInfo,
    ActorStatistics,
    InMemoryMetrics,
    SupervisionLog,
    actor_info,
    statistics,
)
from supervision.runtime.lifecycle import (
    CellHandle,
    CellState,
    ChildExit,
    StopCell,
    TimedTell,
    TimerHandle,
)
from supervision.runtime.live_cell import LiveCell

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, MailboxSpec, Ref
    from supervision.runtime.context import MetricsSink

log = logging.getLogger("troupe.live")
DEAD = CellState.DEAD
# The GIL's switch interval while a live host serves. A thread that wants the GIL (the loop,
# woken by a frame) waits until the holder lets go, and a busy Python thread (ccxt building or
# parsing a request, the journal encoding) lets go only when it blocks or after the interval:
# at CPython's default of 5 ms, every frame that lands during such a burst waits up to 5 ms. At
# 0.5 ms that wait is ten times shorter; the cost, a forced switch every 0.5 ms while two
# threads both run Python, is a few microseconds each (the live node has a handful of threads,
# not the 64 where a short interval hurt throughput). See docs/benchmarks.md, tick-to-trade.
SWITCH_INTERVAL_S = 0.0005


_FROZEN: list[bool] = []  # once per process: the start-up heap is frozen


def _freeze_start_up() -> None:
    if not _FROZEN:
        _FROZEN.append(True)
        gc.collect()
        gc.freeze()


@contextlib.contextmanager
def _switch_interval(seconds: float | None) -> Iterator[None]:
    """`sys.setswitchinterval(seconds)` for the block (None: leave it), restored after unless
    someone changed it meanwhile."""
    if seconds is None:
        yield
        return
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    ours = sys.getswitchinterval()  # as the interpreter rounded it
    try:
        yield
    finally:
        if sys.getswitchinterval() == ours:
            sys.setswitchinterval(before)


class LiveHost:
    """Real time, real threads. Use `start()`/`close()` from ordinary code, or `await serve()`
    inside a trio program (the node does, so its network tasks share the loop).

    `switch_interval_s` is the interpreter's GIL switch interval while the host serves
    (`SWITCH_INTERVAL_S`, 0.5 ms; None leaves the process's own). With `freeze_gc`, the first
    host to serve in a process collects once and freezes what survives (`gc.freeze`: the
    modules, ccxt's tables, the configuration): a full collection, which stops the loop, then
    scans only what was made since. A node's heap at start is ~210k objects: a full collection
    of it costs ~60-70 ms of CPU (0.2-0.4 s of wall time measured under load). What is built
    after that (a node's venue clients, books, actors: ~12k objects) `freeze_heap` freezes when
    start-up is over; the node calls it when it first reports ready for trading.

    `background`: name prefixes of loop actors off the latency-critical path, which run on the
    dispatcher's background lane (`executors.BackgroundLane`): after the others, never
    starved.

    `gc_when_idle`: while the host serves, the cycle collector runs between chains, when the
    loop is quiet, instead of inside whichever chain's allocations cross its threshold
    (`supervision.runtime.idle_gc`); False leaves it to the interpreter.

    `loop_cpus` (Linux): while the host serves, the thread running its loop runs on these CPUs
    alone, and every other thread of the process and its child processes, those started later
    included, on the CPUs left (`supervision.runtime.affinity`; restored after). Empty: no
    pinning. CPUs this process may not use, or all of them, raise `PinningError` here."""

    name = "live"

    def __init__(
        self,
        *,
        seed: int = 0,
        metrics: MetricsSink | None = None,
        throughput: int = 1,
        turn_budget_s: float = 0.002,
        switch_interval_s: float | None = SWITCH_INTERVAL_S,
        freeze_gc: bool = True,
        background: tuple[str, ...] = (),
        loop_cpus: tuple[int, ...] = (),
        gc_when_idle: bool = True,
    ) -> None:
        self.seed = seed
        self.cpu_plan: CpuPlan | None = plan_for(loop_cpus)
        self.pinning: LoopPinning | None = None  # while serving with a plan
        self.background = background
        self.switch_interval_s = switch_interval_s
        self.freeze_gc = freeze_gc
        self.metrics: MetricsSink = metrics or InMemoryMetrics()
        self.log = SupervisionLog()
        self.root_exits: list[ChildExit] = []
        self.on_root_exit: Callable[[ChildExit], None] | None = None
        self.on_record: Callable[[FailureRecord], None] | None = None  # after the log has it
        self._on_handled: Callable[[str, int], None] | None = None
        self.dispatcher = LoopDispatcher(throughput=throughput, turn_budget_s=turn_budget_s,
                                         collector=IdleCollector() if gc_when_idle else None)
        # The dispatcher's own method: a context's timer is one call from `ctx.schedule` deep.
        self.start_timer = self.dispatcher.start_timer  # type: ignore[method-assign]
        self._cells: dict[str, LiveCell] = {}
        self._roots: list[LiveCell] = []
        self._threads: list[ThreadExecutor] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._cancel: trio.CancelScope | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    @property
    def on_handled(self) -> Callable[[str, int], None] | None:
        """Called with (actor, ns) after each `receive`, on the thread that ran it. Setting it
        switches timing on or off in every cell."""
        return self._on_handled

    @on_handled.setter
    def on_handled(self, hook: Callable[[str, int], None] | None) -> None:
        with self._lock:
            self._on_handled = hook
            cells = list(self._cells.values())
        for cell in cells:
            cell.time_handling(hook is not None)

    # -- HostServices --------------------------------------------------------------------------
    monotonic_ns = staticmethod(time.monotonic_ns)
    time_ns = staticmethod(time.time_ns)

    @property
    def loop_thread_id(self) -> int | None:
        return self.dispatcher.loop_thread_id

    def start_timer(self, due_ns: int, cell: CellHandle, message: Any) -> TimerHandle:
        return self.dispatcher.start_timer(due_ns, cell, message)

    def tell_at(self, due_ns: int, target: Ref, message: Any, sender: Any) -> None:
        self.dispatcher.post(due_ns, TimedTell(target, message, sender))

    def cancel_timer(self, handle: TimerHandle) -> None:
        handle.cancelled = True

    def create_cell(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None = None,
        blocking: bool = False,
        parent: CellHandle | None = None,
    ) -> LiveCell:
        with self._lock:
            existing = self._cells.get(name)
            if existing is not None and existing.state is not DEAD:
                raise ValueError(f"an actor named {name!r} already exists")
            executor: Any = (ThreadExecutor(name, self.dispatcher) if blocking
                              else self.dispatcher.background
                              if self.background and name.startswith(self.background)
                              else self.dispatcher)
            cell = LiveCell(self, name, factory, mailbox=mailbox, parent=parent,
                            executor=executor)
            self._cells[name] = cell
        if blocking:
            executor.bind(cell)
            self._threads.append(executor)
        return cell

    def existing_cell(self, name: str) -> LiveCell | None:
        with self._lock:
            return self._cells.get(name)

    def record(self, record: FailureRecord) -> None:
        with self._lock:
            self.log.record(record)
        self.metrics.count(record.actor, "troupe_supervision_events_total", 1,
                           {"kind": record.kind})
        if self.on_record is not None:
            self.on_record(record)

    def orphan_exit(self, cell: Cell, notice: ChildExit) -> None:
        with self._changed:
            self.root_exits.append(notice)
            self._changed.notify_all()
        if self.on_root_exit is not None:
            self.on_root_exit(notice)

    def orphan_stopped(self, cell: Cell) -> None:
        with self._changed:
            self._changed.notify_all()

    def freeze_heap(self) -> int:
        """Collect the young generations and freeze what is alive now (with `freeze_gc`; else
        nothing): full collections, which stop the loop, then skip it. The freeze itself
        takes microseconds. Returns `gc.get_freeze_count()`."""
        if self.freeze_gc:
            gc.collect(1)
            gc.freeze()
        return gc.get_freeze_count()

    # -- running ---------------------------------------------------------------------------------
    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the dispatcher in the current trio run until cancelled. While it runs, the
        interpreter's switch interval is `switch_interval_s` (then restored)."""
        if self.freeze_gc:
            _freeze_start_up()
        with trio.CancelScope() as scope, _switch_interval(self.switch_interval_s), \
                self._pinned():
            self._cancel = scope
            self._token = trio.lowlevel.current_trio_token()
            dispatcher_started = trio.Event()

            async def dispatcher() -> None:
                dispatcher_started.set()
                await self.dispatcher.run()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(dispatcher)
                await dispatcher_started.wait()
                await trio.lowlevel.checkpoint()
                task_status.started()
                self._started.set()

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[None]:
        if self.cpu_plan is None:
            yield
            return
        pinning = LoopPinning(self.cpu_plan)
        pinning.start()
        self.pinning = pinning
        try:
            yield
        finally:
            pinning.stop()

    def start(self) -> LiveHost:
        """Run the loop on a background thread (for code that is not itself a trio program)."""
        if self._thread is not None:
            raise RuntimeError("host already started")
        self._thread = threading.Thread(target=lambda: trio.run(self.serve), name="troupe:loop",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the trio loop did not start within 10 s")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop every top-level actor (newest first, each within `timeout`), then the loop."""
        for cell in reversed(self._roots):
            self.stop(cell.ref, timeout=timeout)
        for executor in self._threads:
            executor.close()
        if self._cancel is not None and self._token is not None:
            scope = self._cancel
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(scope.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
        for executor in self._threads:
            executor.join(timeout)
        # The loop is gone: no hook can run any more. Leave pykka's process-wide registry as we
        # found it, and refuse later tells as to any dead actor.
        with self._lock:
            cells = list(self._cells.values())
        for cell in cells:
            if cell.state is not DEAD:
                with cell._lock:
                    cell.state = DEAD
                cell._on_dead()

    def __enter__(self) -> LiveHost:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- driving ---------------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None = None,
        blocking: bool = False,
    ) -> Ref:
        cell = self.create_cell(name, factory, mailbox=mailbox, blocking=blocking)
        self._roots.append(cell)
        cell.request_start()
        return cell.ref

    def tell(self, ref: Ref, message: Any) -> Refused | None:
        return ref.tell(message)

    def ask(self, ref: Ref, message: Any, *, timeout: float = 5.0) -> Any:
        try:
            return ref.ask(message, timeout=timeout)  # type: ignore[attr-defined]
        except pykka.Timeout as exc:
            raise AskTimeout(f"no reply from {ref.name} within {timeout}s") from exc

    def stop(self, ref: Ref, *, timeout: float = 5.0) -> bool:
        """Stop a top-level actor (a supervisor stops its children first) and wait for it."""
        cell: LiveCell = ref.cell  # type: ignore[attr-defined]
        cell.deliver_system(StopCell())
        deadline = time.monotonic() + timeout
        with self._changed:
            while cell.state is RUNNING:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no actor has work queued (timers may still be pending)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            busy = self.dispatcher.busy() or any(
                c._scheduled for c in list(self._cells.values())
            ) or any(executor.running for executor in self._threads)
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:
                return
            time.sleep(0.002)
        raise TimeoutError(f"actors still busy after {timeout}s")

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)
        self.settle()

    # -- introspection -----------------------------------------------------------------------------
    def actors(self) -> list[ActorInfo]:
        with self._lock:
            cells = list(self._cells.values())
        return [actor_info(c, self._where(c)) for c in cells]

    def statistics(self) -> list[ActorStatistics]:
        """Every actor's counters, without asking any actor anything (see `introspection`)."""
        with self._lock:
            cells = list(self._cells.values())
        return [statistics(c, self._where(c)) for c in cells]

    def actor(self, name: str) -> ActorInfo:
        cell = self.existing_cell(name)
        if cell is None:
            raise ActorDead(f"no actor named {name!r}")
        return actor_info(cell, self._where(cell))

    def _where(self, cell: LiveCell) -> str:
        on_loop = cell.executor in (self.dispatcher, self.dispatcher.background)
        return "loop" if on_loop else "thread"

    def cell(self, name: str) -> LiveCell:
        cell = self.existing_cell(name)
        if cell is None:
            raise KeyError(name)
        return cell

    def pending_timers(self) -> int:
        return self.dispatcher.pending_timers()
