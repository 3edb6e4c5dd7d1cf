"""The deterministic host: one thread, a virtual clock, one event order.

Events run in (virtual time, sequence) order. Messages sent "now" go to a FIFO of ready tokens,
one token per queued item, so they run in exactly the order they were sent across the whole
system. Timers wait in a heap keyed by (due time, sequence). Time only moves when nothing is
ready: it jumps to the earliest timer, and every timer due at that instant fires, in sequence
order, before anything sent at that instant (they were all scheduled earlier, so they are older).

The same behaviours, seed and inputs therefore give the same message order and the same results,
run after run: what backtests and most tests need. A behaviour cannot tell it is here.

Flow control (`FlowControl` mailboxes): a tell that leaves such a mailbox at or over its capacity
is queued all the same, and the actor that sent it waits: its turns (tokens) are parked until the
mailbox has drained to half its capacity, or until nothing else is ready at that instant. So a
fast producer (a replay) and a slow consumer run in step, nothing is refused or lost, memory stays
bounded, and virtual time never passes while a sender waits.

The cost of one message is the host's own hot path, so each cell picks its paths once, when it
is made and when its instrumentation changes: a tell to a FIFO mailbox (`Unbounded`,
`BoundedReject`, `FlowControl`) is the policy's put done in `deliver` itself, and a turn of a
cell that nobody times, traces or faults pops a FIFO lane in place and calls `receive` without
`_invoke` (`DeterministicCell._fast_turn`). A timed tell is one entry in the timer queue, not an
object with a method. `python -m benchmarks.message_floor` gives each of these in nanoseconds.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

from pykka._envelope import Envelope

from protocols.runtime import ActorDead, AskTimeout, FailureRecord, Refused
from supervision.runtime.cell import _SYSTEM_ITEMS, RUNNING, Cell
from supervision.runtime.context import AskRefused
from supervision.runtime.introspection import (
    ActorInfo,
    InMemoryMetrics,
    SupervisionLog,
    actor_info,
)
from supervision.runtime.lifecycle import (
    CellHandle,
    CellState,
    ChildExit,
    ExitReason,
    StopCell,
    TimerHandle,
)
from supervision.runtime.mailbox import (
    EMPTY,
    BoundedRejectMailbox,
    FifoMailbox,
    FlowControlMailbox,
    UnboundedMailbox,
)

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, MailboxSpec, Ref
    from supervision.runtime.context import ActorContext, MetricsSink

DEAD = CellState.DEAD


class _Wire:
    """Marks a timed tell's entry in the timer queue (it is never cancelled)."""

    __slots__ = ()
    cancelled = False


_WIRE = _Wire()
DEFAULT_EPOCH_NS = 1_700_000_000_000_000_000  # 2023-11-14: any fixed epoch keeps runs identical


class LocalRef:
    """A ref on the deterministic host. `tell` is the cell's own bound method: one call deep."""

    __slots__ = ("_cell", "deliver_envelope", "name", "tell")

    def __init__(self, cell: DeterministicCell) -> None:
        self._cell = cell
        self.name = cell.name
        self.tell = cell.deliver
        self.deliver_envelope = cell.deliver_envelope

    def __repr__(self) -> str:
        return f"<LocalRef {self.name}>"

    @property
    def cell(self) -> DeterministicCell:
        return self._cell


class DeterministicCell(Cell):
    host: DeterministicHost
    waiting_on: FlowControlMailbox | None = None  # this actor waits for that mailbox to drain
    parked = 0  # turns deferred while it waits
    _queue: deque[Any] | None = None  # the user lane when it is one FIFO deque (fast pops)

    def _make_ref(self) -> Ref:
        self._token = self.host._ready.append
        mailbox = self.mailbox
        kind = type(mailbox)
        if isinstance(mailbox, FifoMailbox):
            self._queue = mailbox._queue
        # Instance attributes shadow the methods: each cell pays for its own policy only.
        if kind is FlowControlMailbox:
            self.deliver = self._deliver_flow  # type: ignore[method-assign]
        elif kind is BoundedRejectMailbox or kind is UnboundedMailbox:
            self.deliver = self._deliver_fifo  # type: ignore[method-assign]
        self._select_turn()
        return LocalRef(self)

    # -- delivery ---------------------------------------------------------------------------
    def deliver(self, message: Any) -> Refused | None:
        if self.state is DEAD:
            self.mailbox.rejected += 1
            return Refused(self.name, "dead")
        reason = self.mailbox.put(message)
        if reason is None:
            self._token(self)
            return None
        return Refused(self.name, reason)

    def _deliver_fifo(self, message: Any) -> Refused | None:
        """`deliver` for `Unbounded` and `BoundedReject`: their `put`, without the call."""
        if self.state is DEAD:
            self.mailbox.rejected += 1
            return Refused(self.name, "dead")
        mailbox: BoundedRejectMailbox = self.mailbox  # type: ignore[assignment]
        queue = mailbox._queue
        depth = len(queue)
        if depth >= mailbox._limit:
            mailbox.rejected += 1
            return Refused(self.name, "full")
        queue.append(message)
        mailbox.enqueued += 1
        if depth >= mailbox.high_water:
            mailbox.high_water = depth + 1
        self._token(self)
        return None

    def _deliver_flow(self, message: Any) -> Refused | None:
        """`deliver` for `FlowControl`: queued whatever the depth; a full mailbox holds the
        sender (`FlowControlMailbox.accept`, without the call)."""
        if self.state is DEAD:
            self.mailbox.rejected += 1
            return Refused(self.name, "dead")
        mailbox: FlowControlMailbox = self.mailbox  # type: ignore[assignment]
        queue = mailbox._queue
        queue.append(message)
        mailbox.enqueued += 1
        depth = len(queue)
        if depth > mailbox.high_water:
            mailbox.high_water = depth
        if depth >= mailbox._limit:
            self.host._hold_sender(self)
        self._token(self)
        return None

    def deliver_envelope(self, envelope: Envelope[Any]) -> Refused | None:
        return self.deliver(envelope)

    def deliver_system(self, item: Any) -> None:
        if self.state is DEAD:
            return
        self.mailbox.system.append(item)
        self._token(self)

    def _resumed(self) -> None:
        for _ in range(self.mailbox.user_depth()):
            self._token(self)

    def _on_dead(self) -> None:
        mailbox = self.mailbox
        if type(mailbox) is FlowControlMailbox and mailbox.waiters:
            self.host._release(self)

    # -- turns: the host calls `run_one` once per token -------------------------------------
    def _select_invoke(self) -> None:
        super()._select_invoke()
        if getattr(self, "_token", None) is not None:  # after _make_ref
            self._select_turn()

    def _select_turn(self) -> None:
        """`run_one` is the fast turn unless `_invoke` is instrumented (timed, traced, a fault
        armed); while senders wait for this cell's FlowControl mailbox, each turn then checks
        whether they may go on (`_run_one_flow`: only then, not on every turn)."""
        plain = self._hook is not None or self._tracer is not None or self.fault is not None
        turn = self._plain_turn if plain else self._fast_turn
        self._turn = turn
        waited_on = type(self.mailbox) is FlowControlMailbox and self.mailbox.waiters
        self.run_one = self._run_one_flow if waited_on else turn  # type: ignore[method-assign]

    def run_one(self) -> None:  # replaced per cell by _select_turn
        self._plain_turn()

    def _plain_turn(self) -> None:
        mailbox = self.mailbox
        if mailbox.system:
            item = mailbox.system.popleft()
        elif self.state is RUNNING:
            item = mailbox._pop_user()
            if item is EMPTY:
                return
            if type(item) not in _SYSTEM_ITEMS:  # a user message: straight to the behaviour
                mailbox.handled += 1
                self._invoke(item, None)
                return
        else:
            return  # the message waits for the next incarnation; _resumed re-arms it
        mailbox.handled += 1
        self.process(item)

    def _fast_turn(self) -> None:
        """`_plain_turn` for an uninstrumented cell, in one frame: a FIFO lane is popped in
        place and a user message goes to `receive` without `_invoke` (its body, inlined)."""
        mailbox = self.mailbox
        if mailbox.system:  # a timer's firing, a reply, a lifecycle item
            mailbox.handled += 1
            self.process(mailbox.system.popleft())
            return
        if self.state is not RUNNING:
            return  # the message waits for the next incarnation; _resumed re-arms it
        queue = self._queue
        if queue is None:
            item = mailbox._pop_user()
            if item is EMPTY:
                return
        elif queue:
            item = queue.popleft()
        else:
            return  # a token whose message was conflated, evicted or dropped
        mailbox.handled += 1
        if type(item) in _SYSTEM_ITEMS:  # an ask's envelope
            self.process(item)
            return
        try:
            self.behaviour.receive(item, self.ctx)  # type: ignore[union-attr,arg-type]
        except BaseException as exc:
            self._fail(exc, during_start=False)
            return
        if self._stop_requested:
            self._exit(ExitReason.NORMAL)

    def _run_one_flow(self) -> None:
        self._turn()
        mailbox: FlowControlMailbox = self.mailbox  # type: ignore[assignment]
        if mailbox.waiters and len(mailbox._queue) <= mailbox._limit >> 1:
            self.host._release(self)


class _Answer:
    """A future for host.ask: filled synchronously by the cell that answers."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def set(self, value: Any = None) -> None:
        self.done, self.value = True, value

    def set_exception(self, exc_info: Any = None) -> None:
        import sys

        self.done, self.error = True, (exc_info or sys.exc_info())[1]


_NOT_ASKED = _Answer()  # stands for "no ask": never done, so a run goes on until idle


class DeterministicHost:
    """Runs behaviours in virtual time. Drive it with `run_until_idle`, `advance` or `ask`."""

    name = "deterministic"

    def __init__(
        self,
        *,
        seed: int = 0,
        start_ns: int = 0,
        epoch_ns: int = DEFAULT_EPOCH_NS,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.seed = seed
        self.metrics: MetricsSink = metrics or InMemoryMetrics()
        self.log = SupervisionLog()
        self.root_exits: list[ChildExit] = []
        self.on_root_exit: Callable[[ChildExit], None] | None = None
        self.on_record: Callable[[FailureRecord], None] | None = None  # after the log has it
        self._on_handled: Callable[[str, int], None] | None = None
        self._now = start_ns
        self._epoch = epoch_ns
        self._ready: deque[DeterministicCell] = deque()
        # (due, sequence, TimerHandle) or a timed tell's (due, sequence, _WIRE, tell, message,
        # sender): the sequence is unique, so entries never compare beyond it.
        self._timers: list[tuple[Any, ...]] = []
        self._sequence = count()
        self._cells: dict[str, DeterministicCell] = {}
        self._current: DeterministicCell | None = None  # the cell whose turn it is
        self._holding: list[DeterministicCell] = []  # cells whose mailbox senders wait on

    @property
    def on_handled(self) -> Callable[[str, int], None] | None:
        """Called with (actor, ns) after each `receive`; the ns are real, not virtual, time (a
        profile of the behaviour's code). Setting it switches timing on or off in every cell."""
        return self._on_handled

    @on_handled.setter
    def on_handled(self, hook: Callable[[str, int], None] | None) -> None:
        self._on_handled = hook
        for cell in self._cells.values():
            cell.time_handling(hook is not None)

    # -- HostServices ---------------------------------------------------------------------
    def monotonic_ns(self) -> int:
        return self._now

    def time_ns(self) -> int:
        return self._epoch + self._now

    def start_timer(self, due_ns: int, cell: CellHandle, message: Any) -> TimerHandle:
        timer = TimerHandle(cell, message)
        now = self._now
        heapq.heappush(self._timers, (due_ns if due_ns > now else now, next(self._sequence),
                                      timer))
        return timer

    def tell_at(self, due_ns: int, target: Ref, message: Any, sender: ActorContext) -> None:
        # One queue entry, no object of its own: (due, sequence, _WIRE, tell, message, sender).
        now = self._now
        heapq.heappush(self._timers, (due_ns if due_ns > now else now, next(self._sequence),
                                      _WIRE, target.tell, message, sender))

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
    ) -> DeterministicCell:
        existing = self._cells.get(name)
        if existing is not None and existing.state is not DEAD:
            raise ValueError(f"an actor named {name!r} already exists")
        cell = DeterministicCell(self, name, factory, mailbox, parent)
        self._cells[name] = cell
        return cell

    def record(self, record: FailureRecord) -> None:
        self.log.record(record)
        self.metrics.count(record.actor, "troupe_supervision_events_total", 1,
                           {"kind": record.kind})
        if self.on_record is not None:
            self.on_record(record)

    def orphan_exit(self, cell: Cell, notice: ChildExit) -> None:
        self.root_exits.append(notice)
        if self.on_root_exit is not None:
            self.on_root_exit(notice)

    def orphan_stopped(self, cell: Cell) -> None:
        """A top-level actor acknowledged a stop; nothing waits on the deterministic host."""

    # -- driving ---------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None = None,
        blocking: bool = False,
    ) -> Ref:
        """Create and start a top-level actor (it has no parent: its exits go to `root_exits`)."""
        cell = self.create_cell(name, factory, mailbox=mailbox, blocking=blocking)
        cell.request_start()
        return cell.ref

    def tell(self, ref: Ref, message: Any) -> Refused | None:
        return ref.tell(message)

    def stop(self, ref: Ref, *, timeout: float = 5.0) -> bool:
        """Stop a top-level actor (a supervisor stops its children first) and run until done."""
        cell: DeterministicCell = ref.cell  # type: ignore[attr-defined]
        cell.deliver_system(StopCell())
        self.run_until_idle(max_seconds=timeout)
        return cell.state is not RUNNING

    def settle(self, timeout: float = 5.0) -> None:
        """Run whatever is ready now, without letting virtual time pass."""
        self._run(self._now, advance_clock=False)

    def run_until_idle(self, max_seconds: float = 3600.0) -> None:
        """Run ready work and due timers until nothing is left within `max_seconds` of virtual
        time from now. Periodic timers would run forever: the bound keeps a test finite."""
        self._run(self._now + int(max_seconds * 1e9), advance_clock=False)

    def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass, running everything due in that span."""
        self._run(self._now + int(seconds * 1e9), advance_clock=True)

    def ask(self, ref: Ref, message: Any, *, timeout: float = 5.0) -> Any:
        answer = _Answer()
        reply_to: Any = answer
        refused = ref.deliver_envelope(Envelope(message, reply_to=reply_to))  # type: ignore[attr-defined]
        if refused is not None:
            raise AskRefused(refused)
        self._run(self._now + int(timeout * 1e9), advance_clock=False, until=answer)
        if not answer.done:
            raise AskTimeout(f"no reply from {ref.name} within {timeout}s of virtual time")
        if answer.error is not None:
            raise answer.error
        return answer.value

    # -- flow control ------------------------------------------------------------------------
    def _hold_sender(self, consumer: DeterministicCell) -> None:
        """`consumer`'s mailbox is full after a tell: the actor whose turn it is waits for it
        to drain, and the consumer checks after each of its turns whether it has."""
        sender = self._current
        if sender is None or sender.waiting_on is not None or sender is consumer:
            return  # the driver, an actor already waiting, or a tell to itself
        mailbox: FlowControlMailbox = consumer.mailbox  # type: ignore[assignment]
        sender.waiting_on = mailbox
        mailbox.waits += 1
        if not mailbox.waiters:
            self._holding.append(consumer)
            consumer.run_one = consumer._run_one_flow  # type: ignore[method-assign]
        mailbox.waiters.append(sender)

    def _release(self, consumer: DeterministicCell) -> None:
        """`consumer`'s mailbox has drained (or cannot): its waiting senders get their parked
        turns back."""
        mailbox: FlowControlMailbox = consumer.mailbox  # type: ignore[assignment]
        ready = self._ready
        for sender in mailbox.waiters:
            sender.waiting_on = None
            if sender.parked:
                ready.extend([sender] * sender.parked)
                sender.parked = 0
        mailbox.waiters.clear()
        self._holding.remove(consumer)
        consumer.run_one = consumer._turn  # type: ignore[method-assign]

    def _run(self, deadline_ns: int, *, advance_clock: bool, until: _Answer | None = None) -> None:
        ready = self._ready
        timers = self._timers
        pop_ready = ready.popleft
        heappop = heapq.heappop
        answer = until if until is not None else _NOT_ASKED
        while True:
            while ready and not answer.done:
                cell = pop_ready()
                if cell.waiting_on is None:
                    self._current = cell
                    cell.run_one()
                else:
                    cell.parked += 1
            if answer.done:
                self._current = None
                return
            self._current = None
            if self._holding:  # nothing else is ready at this instant: the waiting go on
                for consumer in list(self._holding):
                    self._release(consumer)
                continue
            while timers and timers[0][2].cancelled:
                heappop(timers)
            if not timers or timers[0][0] > deadline_ns:
                break
            due = timers[0][0]
            self._now = due
            while timers and timers[0][0] == due:
                entry = heappop(timers)
                timer = entry[2]
                if timer is _WIRE:  # a timed tell lands: an ordinary tell, now
                    if entry[3](entry[4]) is not None:
                        entry[5].count("troupe_timed_tell_refused_total")
                elif not timer.cancelled:
                    timer.fire()
        if advance_clock and deadline_ns > self._now:
            self._now = deadline_ns

    # -- introspection ----------------------------------------------------------------------
    def actors(self) -> list[ActorInfo]:
        return [actor_info(cell, "deterministic") for cell in self._cells.values()]

    def actor(self, name: str) -> ActorInfo:
        cell = self._cells.get(name)
        if cell is None:
            raise ActorDead(f"no actor named {name!r}")
        return actor_info(cell, "deterministic")

    def existing_cell(self, name: str) -> DeterministicCell | None:
        return self._cells.get(name)

    def cell(self, name: str) -> DeterministicCell:
        return self._cells[name]

    def pending_timers(self) -> int:
        return sum(1 for entry in self._timers if not entry[2].cancelled)
