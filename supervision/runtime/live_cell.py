"""The live host's cell: a pykka actor that is its own inbox, run by an executor.

Every cell is a real `pykka.Actor`: it is registered in `pykka.ActorRegistry`, and its ref is a
`pykka.ActorRef` whose `tell` returns a `Refused` instead of blocking when a mailbox says no, and
whose `ask` works from any thread except the loop's own (where it would deadlock: behaviours use
`ctx.ask`). Mailbox access is serialised by a per-cell lock, because tells arrive from any thread.

A tell that finds the cell idle schedules it on its executor (`supervision.runtime.executors`:
the loop dispatcher's lanes, or a thread of its own). A cell whose turn empties its mailbox is
idle from that turn on (`LiveCell.run_one`): each hop of a chain is one dispatcher turn, not a
second one to find its mailbox empty.

Every message of a node pays for a tell and a turn, so they are kept to few calls
(`python -m benchmarks.message_floor` counts them): the lock is taken with `acquire` and
`release`, not `with` (half the cost); a tell to a FIFO mailbox below its capacity is the
policy's `put` done in `deliver` itself (at capacity the policy's own `put` decides); a turn
pops a FIFO lane in place and any other with `Mailbox.take_user` (the item and whether another
is behind it, one call); and a cell that is timed and nothing else (a node times every actor)
times `receive` in the turn's own frame, recording through its actor's own recorder
(`Cell.time_handling`). A traced or faulted cell goes through `_invoke`, as any system-lane
item does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

from protocols.runtime import ActorDead, Refused
from supervision.runtime.cell import RUNNING, RUNTIME_ITEMS, Cell
from supervision.runtime.context import HostServices
from supervision.runtime.executors import LoopDispatcher
from supervision.runtime.lifecycle import CellHandle, CellState, ExitReason
from supervision.runtime.mailbox import EMPTY, FifoMailbox

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, MailboxSpec, Ref

DEAD = CellState.DEAD


class LoopHost(HostServices, Protocol):
    """What a live cell needs of its host (`supervision.runtime.live.LiveHost`)."""

    @property
    def loop_thread_id(self) -> int | None:
        """The thread running the loop's dispatcher, once it runs."""


class TroupeRef(pykka.ActorRef):
    """A pykka ActorRef to a cell. Stable across restarts of the actor behind it."""

    def __init__(self, cell: LiveCell) -> None:
        super().__init__(cell)
        self._cell = cell
        self.name = cell.name
        # Instance attributes shadow the methods: one call from `ref.tell` to the mailbox.
        self.tell = cell.deliver  # type: ignore[method-assign,assignment]
        self.deliver_envelope = cell.deliver_envelope

    def __repr__(self) -> str:
        return f"<TroupeRef {self.name}>"

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        if block and threading.get_ident() == self._cell.host.loop_thread_id:
            raise RuntimeError(
                "a blocking ask on the event-loop thread would deadlock it; use ctx.ask"
            )
        return super().ask(message, block=block, timeout=timeout)

    @property
    def cell(self) -> LiveCell:
        return self._cell


class LiveCell(Cell, pykka.Actor):
    """A cell that is also a pykka actor. It is its own pykka inbox (put/get/empty)."""

    host: LoopHost

    def __init__(self, host: LoopHost, name: str, factory: Callable[[], Behaviour], *,
                 mailbox: MailboxSpec | None, parent: CellHandle | None, executor: Any) -> None:
        self._lock = threading.Lock()
        self._scheduled = False
        # This actor's handling-time recorder while timed and neither traced nor faulted: the
        # turn times `receive` itself (`run_one`). Set by `_select_invoke`.
        self._timed: Callable[[int], None] | None = None
        self.executor = executor
        self._enqueue, self._loop = _enqueuer(executor)
        pykka.Actor.__init__(self)
        Cell.__init__(self, host, name, factory, mailbox, parent)
        # The user lane when it is one FIFO deque: popped in place (`run_one`).
        self._fifo = self.mailbox._queue if isinstance(self.mailbox, FifoMailbox) else None
        self._actor_ref = self.ref  # type: ignore[assignment]
        pykka.ActorRegistry.register(self._actor_ref)

    # pykka's hooks --------------------------------------------------------------------------
    def _create_actor_inbox(self) -> Any:  # type: ignore[override]  # the cell is its inbox
        return self

    @property  # type: ignore[override]
    def actor_inbox(self) -> LiveCell:
        """The cell is its own inbox: a property, not one more attribute on every cell (see
        `Cell`'s class defaults: a timed cell stays within one shared key table)."""
        return self

    @actor_inbox.setter
    def actor_inbox(self, inbox: Any) -> None:  # pykka's __init__ sets it: to this cell
        assert inbox is self

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.request_start()

    def __str__(self) -> str:
        return f"{self.name} ({self.actor_urn})"

    def put(self, envelope: Envelope[Any]) -> None:
        """pykka's inbox protocol: ActorRef.ask and ActorRef.stop arrive here."""
        if isinstance(envelope.message, _ActorStop):
            self.deliver_system(_PykkaStop(envelope.reply_to))
            return
        refused = self.deliver_envelope(envelope)
        if refused is not None and envelope.reply_to is not None:
            error = ActorDead(f"{self.name} refused the message: {refused.reason}")
            envelope.reply_to.set_exception((ActorDead, error, None))

    def get(self) -> Any:
        with self._lock:
            return self.mailbox.pop()

    def empty(self) -> bool:
        return self.mailbox.user_depth() == 0 and not self.mailbox.system

    # Cell -----------------------------------------------------------------------------------
    def _make_ref(self) -> Ref:
        return TroupeRef(self)

    def deliver(self, message: Any) -> Refused | None:
        # The lock's acquire and release, not `with`: half the cost, twice a message.
        lock = self._lock
        lock.acquire()
        try:
            mailbox = self.mailbox
            if self.state is DEAD:
                mailbox.rejected += 1
                return Refused(self.name, "dead")
            fifo = self._fifo
            if fifo is not None and (depth := len(fifo)) < mailbox._limit:  # type: ignore[attr-defined]
                # What a FIFO policy's `put` does below its capacity, without the call.
                fifo.append(message)
                mailbox.enqueued += 1
                if depth >= mailbox.high_water:
                    mailbox.high_water = depth + 1
            else:  # the policy decides (a full FIFO refuses, or evicts its oldest)
                reason = mailbox.put(message)
                if reason is not None:
                    return Refused(self.name, reason)
            if self._scheduled:
                return None
            self._scheduled = True
        finally:
            lock.release()
        # The executor's `schedule`, without the call on the loop (see `_enqueuer`).
        self._enqueue(self)
        loop = self._loop
        if loop is not None and loop._sleeping:
            loop.told_while_sleeping()
        return None

    def deliver_envelope(self, envelope: Envelope[Any]) -> Refused | None:
        return self.deliver(envelope)

    def deliver_system(self, item: Any) -> None:
        lock = self._lock  # (a timer's firing comes this way: not `with`, as in `deliver`)
        lock.acquire()
        try:
            if self.state is DEAD and type(item) is not _PykkaStop:
                return
            self.mailbox.system.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        finally:
            lock.release()
        self._enqueue(self)
        loop = self._loop
        if loop is not None and loop._sleeping:
            loop.told_while_sleeping()

    def run_batch(self, budget: int) -> bool:
        """Handle up to `budget` items. True if the cell may have more (keep it scheduled)."""
        run_one = self.run_one
        return all(run_one() for _ in range(budget))

    def run_one(self) -> bool:
        """Handle one item. True if the cell may have more (keep it scheduled).

        The item whose pop empties the mailbox also ends the cell's schedule, under the same
        lock as the pop: a cell in a chain gets one executor turn per message, not a second one
        to find its mailbox empty. A tell that arrives while that item is handled schedules the
        cell again, as for any idle cell (it runs on one executor, so it is never handled twice
        at once); the executor says it is busy meanwhile (`LiveHost.settle`)."""
        mailbox = self.mailbox
        system = mailbox.system
        fifo = self._fifo
        lock = self._lock
        lock.acquire()
        try:
            if system:
                item = system.popleft()
                # Anything behind it? (A cell not RUNNING with user messages queued stays
                # scheduled: the item may be the StartCell that lets them run.)
                more = bool(system) or (bool(fifo) if fifo is not None
                                        else mailbox.user_depth() > 0)
            elif self.state is not RUNNING or (fifo is not None and not fifo):
                self._scheduled = False
                return False
            elif fifo is not None:  # (the system lane is empty: it is put to under the lock)
                item = fifo.popleft()
                more = bool(fifo)
            else:
                item, more = mailbox.take_user()
                if item is EMPTY:
                    self._scheduled = False
                    return False
            if not more:
                self._scheduled = False
        finally:
            lock.release()
        mailbox.handled += 1
        kind = type(item)
        if kind not in _NOT_USER:  # a user message: straight to the behaviour
            timed = self._timed
            behaviour = self.behaviour
            if timed is None or behaviour is None:  # (None: killed from another thread)
                self._invoke(item, None)
                return more
            # `_invoke_timed`, in the turn's own frame: a node times every actor.
            start = perf_counter_ns()
            self.last_message = kind
            self.last_message_ns = start
            try:
                behaviour.receive(item, self.ctx)  # type: ignore[arg-type]
            except BaseException as exc:
                self._handled(timed, perf_counter_ns() - start)
                self._fail(exc, during_start=False)
                return more
            try:
                timed(perf_counter_ns() - start)
            except Exception:
                self._hook_failed()
            if self._stop_requested:
                self._exit(ExitReason.NORMAL)
        elif kind is _PykkaStop:
            self._stop_through_pykka(item)
        else:
            self.process(item)
        return more

    def _stop_through_pykka(self, item: _PykkaStop) -> None:
        self.remove("stopped through pykka")
        if item.reply_to is not None:
            item.reply_to.set(None)

    def _select_invoke(self) -> None:
        super()._select_invoke()
        plain = self._tracer is None and self.fault is None
        self._timed = self._hook if plain else None

    def _on_dead(self) -> None:
        pykka.ActorRegistry.unregister(self._actor_ref)
        self.actor_stopped.set()


def _enqueuer(executor: Any) -> tuple[Callable[[Any], Any], LoopDispatcher | None]:
    """What a cell calls when a tell finds it idle, and the dispatcher to wake if it sleeps.
    On the loop's ready lane that is the run queue's own `append` (C, no frame of ours), then
    a look at `LoopDispatcher._sleeping`: `LoopDispatcher.schedule`, inlined in the cell's
    `deliver`, where every tell of a chain pays for it. Any other executor (the background
    lane, which notes when it starts waiting; a thread): its `schedule`."""
    if isinstance(executor, LoopDispatcher):
        return executor.ready_lane.append, executor
    return executor.schedule, None


class _PykkaStop:
    __slots__ = ("reply_to",)

    def __init__(self, reply_to: Any) -> None:
        self.reply_to = reply_to


_NOT_USER = RUNTIME_ITEMS | {_PykkaStop}
