"""Pinning the event loop to CPUs of its own, and keeping everything else off them (Linux).

Trading operators give the event-loop thread a core of its own so the OS never preempts it for
another thread of the process (a journal flush, a REST reader, a pykka thread): measured on a
2-core machine, the unpinned loop thread of a 20-instrument node was preempted ~11,500 times in
15 s and spent ~1 s runnable but not running; pinned, 137 times and 0.035 s
(docs/benchmarks.md, tick-to-trade). `plan_for(loop_cpus)` checks a set of CPUs against what
this process may run on; `LoopPinning(plan)` applies it from the loop thread.

On Linux a CPU mask belongs to a *thread*, not to the process, and a new thread or child
process takes the mask of the thread that created it. So setting "the process's" mask to the
other CPUs and then the loop's to its own is not enough: every thread the loop thread starts
afterwards (a blocking actor's thread, a trio worker, the REST reader, which then starts the
REST worker process) would be born on the loop's CPUs. `LoopPinning` therefore:

1. moves every thread of the process, and every child process with all its threads, to the
   other CPUs, then pins the calling (loop) thread to the loop's CPUs alone;
2. keeps a sweeper thread of its own (on the other CPUs) that moves any thread or child
   process that appeared since, every `SWEEP_S` after a sweep that found one (the start-up,
   when the node starts its threads and REST workers), backing off to `SWEEP_MAX_S` while
   nothing new appears (a grandchild process is left where its parent put it). A sweep is a
   few dozen /proc reads on the sweeper's thread, and each read gives up and takes back the
   GIL, which the loop's order chains then wait for: a node that has started everything
   should not pay that ten times a second;
3. on `stop`, gives every thread of the process, and of the children it moved that are still
   alive, the mask the loop thread had before.

It never touches another process than its own children. Nothing here runs on the loop thread
after `start`: the sweeps cost the other CPUs about a millisecond a second.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import attrs

from protocols.errors import TroupeError

__all__ = ["SWEEP_MAX_S", "SWEEP_S", "CpuPlan", "LoopPinning", "PinningError", "cpu_list",
           "plan_for", "thread_cpus"]

# How long a thread or child process started later may run on the loop's CPUs: `SWEEP_S`
# after a sweep that moved something, up to `SWEEP_MAX_S` once nothing new has appeared for a
# while. A sweep reads one /proc file per thread (~100 us for a node's ~20 threads).
SWEEP_S = 0.1
SWEEP_MAX_S = 3.2
_TASKS = Path("/proc/self/task")


class PinningError(TroupeError):
    """CPUs for the loop that this machine cannot give it: one line for the operator."""


def cpu_list(cpus: Iterable[int]) -> str:
    """CPUs as the kernel writes them (`Cpus_allowed_list`): "0-3,6"."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    start = prev = None
    for cpu in [*ordered, None]:
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(runs)


@attrs.frozen
class CpuPlan:
    """The loop thread on `loop`; every other thread of the node, and its child processes, on
    `others`."""

    loop: frozenset[int]
    others: frozenset[int]

    def describe(self) -> str:
        return (f"event loop pinned to CPU {cpu_list(self.loop)}; the node's other threads and "
                f"child processes kept on CPU {cpu_list(self.others)}")


def plan_for(loop_cpus: Iterable[int], *, setting: str = "runtime.loop_cpus") -> CpuPlan | None:
    """The plan for pinning the loop to `loop_cpus` (None: none given, no pinning). Raises
    `PinningError` where it cannot be done: a platform without `os.sched_setaffinity`, a CPU
    this process may not run on (the machine lacks it, or taskset/cgroups withhold it), or
    every CPU it may (nothing left for the other threads)."""
    wanted = tuple(loop_cpus)
    if not wanted:
        return None
    shown = f"{setting} = [{', '.join(str(c) for c in wanted)}]"
    if not hasattr(os, "sched_setaffinity") or not hasattr(os, "sched_getaffinity"):
        raise PinningError(f"{shown}: this platform cannot pin a thread to CPUs "
                           "(os.sched_setaffinity is Linux only); leave it out")
    allowed = frozenset(os.sched_getaffinity(0))
    missing = sorted(set(wanted) - allowed)
    if missing:
        raise PinningError(f"{shown}: CPU {cpu_list(missing)} is not one this process may run "
                           f"on (CPU {cpu_list(allowed)}); name CPUs among those")
    others = allowed - set(wanted)
    if not others:
        raise PinningError(f"{shown}: that is every CPU this process may run on "
                           f"({cpu_list(allowed)}); leave at least one for the node's other "
                           "threads and processes")
    return CpuPlan(frozenset(wanted), others)


def thread_cpus(native_id: int) -> frozenset[int] | None:
    """The CPUs a thread (of any process) may run on; None if it is gone or unknown."""
    try:
        return frozenset(os.sched_getaffinity(native_id))
    except (OSError, AttributeError):
        return None


def _tids(tasks: Path = _TASKS) -> set[int]:
    try:
        return {int(name) for name in os.listdir(tasks)}
    except OSError:
        return set()


def _children(tid: int) -> set[int]:
    """The child processes thread `tid` started (raw reads: ~5 us a thread)."""
    try:
        fd = os.open(f"/proc/self/task/{tid}/children", os.O_RDONLY)
    except OSError:
        return set()
    try:
        data = os.read(fd, 1 << 16)
    except OSError:
        return set()
    finally:
        os.close(fd)
    return {int(pid) for pid in data.split()}


def _move(tid: int, cpus: frozenset[int]) -> bool:
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError:  # gone meanwhile, or not ours to move
        return False
    return True


class LoopPinning:
    """Applies a `CpuPlan` (module docstring). `start()` on the loop thread, `stop()` from any.
    `threads_moved` and `children_moved` count what it moved off the loop's CPUs."""

    def __init__(self, plan: CpuPlan, *, sweep_s: float = SWEEP_S) -> None:
        self.plan = plan
        self.sweep_s = sweep_s
        self.loop_tid: int | None = None
        self.threads_moved = 0
        self.children_moved = 0
        self._moved: set[int] = set()
        self._children: set[int] = set()
        self._before: frozenset[int] | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Pin the calling thread (the loop's) and move everything else off its CPUs."""
        self.loop_tid = threading.get_native_id()
        self._before = frozenset(os.sched_getaffinity(0))
        # Started before the loop is pinned, so it is not born on the loop's CPUs; it moves
        # itself with the first sweep anyway.
        self._sweeper = threading.Thread(target=self._sweep_until_stopped, daemon=True,
                                         name="troupe:cpu-pinning")
        self.sweep()
        os.sched_setaffinity(0, self.plan.loop)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop sweeping and give every thread of the process, and of the child processes
        still alive, the loop's mask from before."""
        self._stop.set()
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join(1.0)
        if self._before is not None:
            with self._lock:
                children = [_tids(Path(f"/proc/{pid}/task")) for pid in self._children]
                for tid in _tids().union(*children):
                    _move(tid, self._before)

    def sweep(self) -> bool:
        """Move every thread and child process not yet moved to the other CPUs; True if there
        was any."""
        before = self.threads_moved + self.children_moved
        with self._lock:
            others = self.plan.others
            current = _tids()
            self._moved &= current  # an id may be reused once its thread or process is gone
            children: set[int] = set()
            for tid in current:
                children |= _children(tid)
                if tid == self.loop_tid or tid in self._moved:
                    continue
                self._moved.add(tid)
                self.threads_moved += _move(tid, others)
            for pid in children - self._children:
                moved = [_move(t, others) for t in _tids(Path(f"/proc/{pid}/task"))]
                self.children_moved += any(moved)
            self._children = children
        return self.threads_moved + self.children_moved > before

    def _sweep_until_stopped(self) -> None:
        wait = self.sweep_s
        while not self._stop.wait(wait):
            found = True
            with contextlib.suppress(Exception):  # a sweep that fails must not end the sweeps
                found = self.sweep()
            wait = self.sweep_s if found else min(wait * 2, max(self.sweep_s, SWEEP_MAX_S))
