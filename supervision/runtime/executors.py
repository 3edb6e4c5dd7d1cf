"""Where live cells run: the shared loop dispatcher, or a thread of their own.

A cell is "scheduled" from the moment a delivery finds it idle until a turn takes the last
message in its mailbox (or finds it empty); the cell's lock makes that flag and the mailbox
change together, so a message is never stranded in a mailbox that no executor will look at.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections import deque
from itertools import count
from typing import Any, Protocol

import trio

from supervision.runtime.bridge import LoopBridge
from supervision.runtime.idle_gc import IdleCollector
from supervision.runtime.lifecycle import CellHandle, TimedTell, TimerHandle

log = logging.getLogger("troupe.executor")


class Runnable(Protocol):
    """What an executor needs of a live cell (`supervision.runtime.live.LiveCell`)."""

    @property
    def name(self) -> str: ...

    def run_batch(self, budget: int) -> bool:
        """Handle up to `budget` items; True if the cell may have more (keep it scheduled)."""
        ...

    def run_one(self) -> bool:
        """`run_batch(1)`, one call shallower: the dispatcher's turn at its usual throughput."""
        ...


class LoopDispatcher:
    """Runs non-blocking cells and every timer, as one task on the trio loop.

    `throughput` is how many messages a cell handles per turn before the next ready cell gets
    one: small keeps a latency-sensitive chain from waiting behind a busy actor's backlog.
    `turn_budget_s` is how long the dispatcher works before yielding to other trio tasks.
    `background_wait_s` is how long the background lane waits, at most, while other cells are
    ready, before it gets a turn anyway (`BackgroundLane`). `collector` (an `IdleCollector`)
    collects garbage at the loop's quiet points: in trio's round after a chain run in place,
    before a sleep, and between turns once it is overdue.
    """

    def __init__(self, *, throughput: int = 1, turn_budget_s: float = 0.002,
                 background_wait_s: float = 0.002,
                 collector: IdleCollector | None = None) -> None:
        self.throughput = throughput
        self.collector = collector
        self._budget_ns = int(turn_budget_s * 1e9)
        self._ready: deque[Runnable] = deque()
        self._background: deque[Runnable] = deque()
        self.background_wait_ns = int(background_wait_s * 1e9)
        self._background_due_ns = 0  # when the waiting background lane gets a turn anyway
        self.background = BackgroundLane(self)
        self._timers: list[tuple[int, int, TimerHandle | TimedTell]] = []
        self._timer_lock = threading.Lock()
        self._sequence = count()
        self._sleeping = False
        self._draining = False
        self._wake_pending = False
        self._wake: trio.Event | None = None
        self._sleep_until_ns: int | None = None
        self.loop_thread_id: int | None = None
        self.bridge: LoopBridge | None = None
        self._deferred_wakes: list[ThreadExecutor] = []
        self._collection_posted = False  # `_collect_posted` handed to trio's next round
        self.turns = 0
        self.yields = 0
        self.wakes = 0  # sleeps ended by a wake-up (not by the next timer's deadline)
        self.crashes = 0

    # -- called from any thread ----------------------------------------------------------------
    def schedule(self, cell: Runnable, *, background: bool = False) -> None:
        if background:
            if not self._background:
                self._background_due_ns = time.monotonic_ns() + self.background_wait_ns
            self._background.append(cell)
            if self._sleeping:
                self._wake_up()  # the background lane is the dispatcher's, never run in place
            return
        self._ready.append(cell)
        if self._sleeping:
            self.told_while_sleeping()

    @property
    def ready_lane(self) -> deque[Runnable]:
        """The run queue of the order path. A live cell told while idle appends itself here and
        then calls `told_while_sleeping` if `_sleeping`: `schedule` without its frame."""
        return self._ready

    def told_while_sleeping(self) -> None:
        """A cell joined a run queue while the dispatcher sleeps."""
        if threading.get_ident() != self.loop_thread_id:
            self._wake_up()
            return
        if self._draining:
            return  # (a drain under way on this thread runs the cell, or says what it left)
        # A trio task on the loop (a websocket reader) told an actor while the dispatcher
        # sleeps: run the chain now, in this task. Waking the dispatcher instead costs a trio
        # scheduling round, whose I/O poll gives the GIL away to any busy thread. Only the
        # chain: the background lane and due timers are left to the dispatcher, so the
        # reader's next frame does not wait for a portfolio's marks or twenty requote timers.
        # Meanwhile the dispatcher is not `_sleeping`: this drain looks after what the chain
        # tells (each hop of it no longer calls here, nor wakes the dispatcher for a cell the
        # drain runs anyway), and what is left then is the dispatcher's: the other lane, a
        # chain cut short by the turn budget, a timer due before the one it sleeps until.
        # Wake it for those. (Nothing else would: a later tell to a cell still scheduled does
        # not schedule it again, and the dispatcher sleeps until its next timer, however far.)
        # Another thread's tell meanwhile is seen here or, once `_sleeping` again, wakes it.
        # The cells already ready (a turn the dispatcher paused in, `_pause`) wait for this
        # chain: it began with a frame read just now, they with work that was there before
        # it. Each cell's own mailbox keeps its order; only the turns between cells move.
        ready = self._ready
        ahead = None
        if len(ready) > 1:
            told = ready.pop()
            ahead = ready.copy()
            ready.clear()
            ready.append(told)
        self._sleeping = False
        try:
            left = self._drain(chain_only=True)
        finally:
            self._sleeping = True
            if ahead:
                ready.extendleft(reversed(ahead))
                left = True
        collector = self.collector
        if collector is not None and not self._collection_posted and collector.due() \
                and self.bridge is not None:
            # The chain is done, but the task that began it (a websocket reader) may have more
            # frames of the same read to tell at once, whose receipt has passed: collect in
            # trio's next round, once it has yielded.
            self._collection_posted = self.bridge.call_soon(self._collect_posted)
        timers, until = self._timers, self._sleep_until_ns
        if left or self._ready or self._background or (
                timers and (until is None or timers[0][0] < until)):
            self._wake_up()

    def _collect_posted(self) -> None:
        self._collection_posted = False
        if self.collector is not None:
            self.collector.collect_if_due()

    def start_timer(self, due_ns: int, cell: CellHandle, message: Any) -> TimerHandle:
        entry = TimerHandle(cell, message)
        # `post`, inlined: a strategy re-arms a timer per book top. The lock's acquire and
        # release, not `with`, which costs twice as much.
        lock = self._timer_lock
        lock.acquire()
        try:
            heapq.heappush(self._timers, (due_ns, next(self._sequence), entry))
        finally:
            lock.release()
        if self._sleeping:
            until = self._sleep_until_ns
            if until is None or due_ns < until:
                self._wake_up()
        return entry

    def post(self, due_ns: int, entry: TimerHandle | TimedTell) -> None:
        """Queue a timer entry (a `TimerHandle`, a `TimedTell`): `entry.fire()` when due."""
        with self._timer_lock:
            heapq.heappush(self._timers, (due_ns, next(self._sequence), entry))
        if self._sleeping:
            until = self._sleep_until_ns
            if until is None or due_ns < until:
                self._wake_up()

    @staticmethod
    def cancel_timer(entry: TimerHandle) -> None:
        entry.cancelled = True

    def _wake_up(self) -> None:
        if threading.get_ident() == self.loop_thread_id:
            if self._wake is not None:
                self._wake.set()
        elif not self._wake_pending and self.bridge is not None:
            self._wake_pending = True
            self.bridge.call_soon(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        if self._wake is not None:
            self._wake.set()

    # -- the loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        self.loop_thread_id = threading.get_ident()
        self.bridge = LoopBridge(trio.lowlevel.current_trio_token())
        if self.collector is not None:
            self.collector.start()
        try:
            while True:
                # One cancel scope until its deadline (the next timer's) passes, not one a
                # sleep: opening and closing a scope costs ~5 us, moving its deadline ~1.5 us,
                # and the dispatcher sleeps about once a frame.
                with trio.CancelScope() as scope:
                    await self._serve(scope)
        finally:
            if self.collector is not None:
                self.collector.stop()

    async def _serve(self, scope: trio.CancelScope) -> None:
        """Drain; sleep until woken or until the next timer is due (`scope`'s deadline);
        again. Never returns: the deadline cancels it, and `run` opens the next scope."""
        ready = self._ready
        # The timers' clock (monotonic ns) on trio's, for the deadline. Taken once a scope, so
        # an unchanged next timer leaves the deadline as it is (no trio call).
        offset = trio.current_time() - time.monotonic_ns() / 1e9
        await self._pause()  # woken by a deadline, maybe in the round a socket was read
        while True:
            if self._drain():
                self.yields += 1
                await self._pause()
                continue
            if self.collector is not None:
                self.collector.collect_if_due()  # about to sleep: the quietest point
            self._wake = trio.Event()
            self._sleeping = True
            next_due = self._next_due_ns()
            if ready or self._background or (next_due is not None
                                             and next_due <= time.monotonic_ns()):
                self._sleeping = False  # work arrived between the drain and here
                continue
            self._sleep_until_ns = next_due
            deadline = math.inf if next_due is None else next_due / 1e9 + offset
            if scope.deadline != deadline:
                scope.deadline = deadline
            try:
                await self._wake.wait()
                self.wakes += 1
            finally:
                self._sleeping = False
                self._sleep_until_ns = None
            await self._pause()

    async def _pause(self) -> None:
        """Let the loop's other tasks go first for a round: a websocket reader with a frame just
        read runs its chain in place meanwhile (`told_while_sleeping`), ahead of the cells
        this dispatcher has ready. Two checkpoints: trio runs the tasks its I/O poll woke in
        the round after the first, in either order with this one (it reverses half its
        rounds), and all of them before this one's second."""
        self._sleeping = True
        self._sleep_until_ns = -1  # (due timers: this dispatcher is about to look at them)
        try:
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
        finally:
            self._sleeping = False
            self._sleep_until_ns = None

    def defer_wake(self, executor: ThreadExecutor) -> bool:
        """Called by a thread executor about to wake its thread: during a drain, on the loop
        thread, the wake waits for the drain's end (True). A thread woken mid-drain would ask
        for the GIL at once and take it from the chain being run after a switch interval; woken
        after, it runs while the loop waits for its next event, and several tells to it in one
        drain wake it once. The wait is at most `turn_budget_s`."""
        if not self._draining or threading.get_ident() != self.loop_thread_id:
            return False
        self._deferred_wakes.append(executor)
        return True

    def _drain(self, *, chain_only: bool = False) -> bool:
        """Fire due timers and run ready cells. True if it stopped for the time budget.
        `chain_only`: run the ready cells only (no timer, no background turn); True if anything
        is left for the dispatcher."""
        self._draining = True
        try:
            if chain_only:
                return self._drain_chain()
            return self._drain_unguarded()
        finally:
            self._draining = False
            if self._deferred_wakes:
                wakes, self._deferred_wakes = self._deferred_wakes, []
                for executor in wakes:
                    executor.wake()

    def _drain_chain(self) -> bool:
        ready = self._ready
        clock = time.monotonic_ns
        deadline = clock() + self._budget_ns
        collector = self.collector
        while ready:
            self._run_lane(ready, 64)
            if collector is not None and collector.overdue():
                collector.collect_if_due()  # a loop that never goes quiet collects anyway
            if clock() > deadline:
                break
        timers = self._timers
        return bool(ready or self._background or (timers and timers[0][0] <= clock()))

    def _run_lane(self, lane: deque[Runnable], turns: int,
                  waiting: deque[Runnable] | None = None) -> int:
        """Up to `turns` turns of `lane`'s cells, in order: fewer if it empties, or once
        `waiting` (the background lane, while the ready lane runs) has a cell that has waited
        until its turn is due (`_background_due_ns`: a clock read a turn, only while it has
        one). Returns the turns taken. One frame for a run of turns, not one a turn: a chain's
        hop is ~1 us of the runtime's work, and a call ~50 ns of it."""
        throughput = self.throughput
        one = throughput == 1
        clock = time.monotonic_ns
        taken = 0
        while taken < turns and lane:
            if waiting and clock() >= self._background_due_ns:
                break
            cell = lane.popleft()
            taken += 1
            try:
                if cell.run_one() if one else cell.run_batch(throughput):
                    lane.append(cell)
            except BaseException:
                # The cell machinery itself broke (behaviour errors never get here): keep the
                # other actors running and count it.
                self.crashes += 1
                log.exception("dispatcher: cell %s crashed its executor turn", cell.name)
        self.turns += taken
        return taken

    def _drain_unguarded(self) -> bool:
        ready, background = self._ready, self._background
        wait_ns = self.background_wait_ns
        clock = time.monotonic_ns
        deadline = clock() + self._budget_ns
        timers = self._timers
        collector = self.collector
        while True:
            if timers:
                now = clock()
                if timers[0][0] <= now:
                    self._fire_due(now)
                if now > deadline:
                    return bool(ready or background)
            if not ready and not background:
                return False
            if collector is not None and collector.overdue():
                collector.collect_if_due()  # a loop that never goes quiet collects anyway
            left = 64
            while left:
                # The background lane's turn: when nothing else is ready, or when it has waited
                # `background_wait_s`; the ready lane's turns until then (no clock to read
                # while the background lane is empty).
                if background and (not ready or clock() >= self._background_due_ns):
                    self._run_lane(background, 1)
                    self._background_due_ns = clock() + wait_ns
                    left -= 1
                elif ready:
                    left -= self._run_lane(ready, left, background)
                else:
                    break
            if clock() > deadline:
                return bool(ready or background)

    def busy(self) -> bool:
        """Cells are ready to run, in either lane, or one is running now (a cell handling the
        last message of its mailbox is no longer scheduled: see `LiveCell.run_one`)."""
        return bool(self._ready or self._background) or self._draining

    def _fire_due(self, now: int) -> None:
        timers = self._timers
        due: list[TimerHandle | TimedTell] = []
        with self._timer_lock:
            while timers and timers[0][0] <= now:
                entry = heapq.heappop(timers)[2]
                if not entry.cancelled:
                    due.append(entry)
        for entry in due:
            entry.fire()

    def _next_due_ns(self) -> int | None:
        lock = self._timer_lock  # (before every sleep: not `with`, as in `start_timer`)
        lock.acquire()
        try:
            timers = self._timers
            while timers and timers[0][2].cancelled:
                heapq.heappop(timers)
            return timers[0][0] if timers else None
        finally:
            lock.release()

    def pending_timers(self) -> int:
        with self._timer_lock:
            return sum(1 for _, _, entry in self._timers if not entry.cancelled)


class BackgroundLane:
    """The executor of loop cells off the latency-critical path (a portfolio marking every
    book top, a monitor): the dispatcher runs them when no other cell is ready, and a turn
    after every `background_wait_s` (2 ms) that others kept them waiting, so they are late,
    never starved. (A turn in every few of the others' instead, as before, put a portfolio's
    snapshot, ~0.3-0.4 ms, in the middle of every burst of frames: 37 % of what the frames'
    orders waited for before their decode, measured by `benchmarks.tick_to_trade`.)
    Without it, each ready cell gets one message per turn in arrival order, and an order's
    next hop waits behind every reader of the same book top."""

    def __init__(self, dispatcher: LoopDispatcher) -> None:
        self.dispatcher = dispatcher

    def schedule(self, cell: Runnable) -> None:
        self.dispatcher.schedule(cell, background=True)


class ThreadExecutor:
    """One thread for one blocking cell: it may block as long as it likes without stalling
    anyone else. Messages to it queue in its mailbox under its policy meanwhile. Given the
    `loop` dispatcher, a tell from a cell the loop is running wakes the thread when the loop's
    drain ends, not mid-chain (`LoopDispatcher.defer_wake`)."""

    def __init__(self, name: str, loop: LoopDispatcher | None = None) -> None:
        self._loop = loop
        self._wake = threading.Event()
        self._closing = False
        self.running = False  # a turn is under way, its cell perhaps idle already (`settle`)
        self._cell: Runnable | None = None
        self._thread = threading.Thread(target=self._run, name=f"troupe:{name}", daemon=True)

    def bind(self, cell: Runnable) -> None:
        self._cell = cell
        self._thread.start()

    def schedule(self, cell: Runnable) -> None:
        loop = self._loop
        if loop is None or not loop.defer_wake(self):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        cell = self._cell
        assert cell is not None
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            self.running = True
            try:
                while cell.run_batch(64) and not self._closing:
                    pass
            except BaseException:
                log.exception("thread executor for %s crashed a turn", cell.name)
            finally:
                self.running = False
