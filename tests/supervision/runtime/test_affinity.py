"""The live host's CPU pinning (`supervision.runtime.affinity`): the loop thread alone on its
CPUs; every other thread and child process of the process off them, those started after the
pinning (by the loop thread itself) included; everything given back when the host stops; and
one clear error for CPUs the machine cannot give."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from actors.behaviour import Behaviour
from supervision.runtime.affinity import (
    SWEEP_MAX_S,
    SWEEP_S,
    CpuPlan,
    PinningError,
    cpu_list,
    plan_for,
    thread_cpus,
)
from supervision.runtime.live import LiveHost

ALLOWED = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
needs_two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs two CPUs to split")


def _eventually(condition, timeout: float = 2 * SWEEP_MAX_S + 20 * SWEEP_S + 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _threads() -> dict[int, frozenset[int] | None]:
    return {int(t): thread_cpus(int(t)) for t in os.listdir("/proc/self/task")}


class Ping(Behaviour):
    def receive(self, message, ctx):
        return message


def test_cpu_lists_read_as_the_kernel_writes_them() -> None:
    assert cpu_list([0]) == "0"
    assert cpu_list([3, 0, 1, 2, 6, 8, 7]) == "0-3,6-8"
    assert cpu_list({5, 1}) == "1,5"


def test_no_cpus_means_no_pinning() -> None:
    assert plan_for(()) is None
    assert LiveHost(loop_cpus=()).cpu_plan is None


@needs_two_cpus
def test_a_plan_gives_the_loop_its_cpus_and_the_rest_to_everything_else() -> None:
    loop = min(ALLOWED)
    assert plan_for([loop]) == CpuPlan(frozenset({loop}), ALLOWED - {loop})


def test_a_cpu_this_process_may_not_use_is_one_clear_error() -> None:
    absent = max(ALLOWED, default=0) + 1000
    with pytest.raises(PinningError) as caught:
        LiveHost(loop_cpus=(absent,))
    assert str(caught.value) == (
        f"runtime.loop_cpus = [{absent}]: CPU {absent} is not one this process may run on "
        f"(CPU {cpu_list(ALLOWED)}); name CPUs among those")


def test_every_cpu_for_the_loop_leaves_none_for_the_rest_and_is_refused() -> None:
    every = sorted(ALLOWED)
    with pytest.raises(PinningError, match="that is every CPU this process may run on"):
        plan_for(every)


def test_a_platform_without_affinity_calls_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    with pytest.raises(PinningError, match=r"= \[0\]: this platform cannot pin a thread"):
        plan_for([0], setting="runtime.loop_cpus")


@needs_two_cpus
def test_the_loop_runs_alone_on_its_cpu_and_later_threads_and_children_are_kept_off_it() -> None:
    loop_cpu = max(ALLOWED)
    others = ALLOWED - {loop_cpu}
    release = threading.Event()
    before = threading.Thread(target=release.wait, name="before-the-host", daemon=True)
    before.start()
    children: list[subprocess.Popen[bytes]] = []
    host = LiveHost(loop_cpus=(loop_cpu,))
    try:
        with host:
            assert host.pinning is not None and host._thread is not None
            loop_tid = host._thread.native_id
            assert loop_tid is not None
            assert thread_cpus(loop_tid) == {loop_cpu}
            # Every thread that existed already, this test's own among them, was moved.
            assert thread_cpus(threading.get_native_id()) == others
            assert thread_cpus(before.native_id) == others  # type: ignore[arg-type]
            # Started by the loop thread after the pinning, so born on the loop's CPU: a
            # blocking actor's thread, and a child process.
            ref = host.spawn("blocking", Ping, blocking=True)
            assert host.ask(ref, "up") == "up"
            assert host._token is not None
            host._token.run_sync_soon(lambda: children.append(subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(30)"])))
            assert _eventually(lambda: bool(children))
            child = children[0]
            assert _eventually(lambda: all(
                cpus == others for tid, cpus in _threads().items() if tid != loop_tid)), \
                _threads()
            assert _eventually(lambda: thread_cpus(child.pid) == others)
            assert thread_cpus(loop_tid) == {loop_cpu}
            # Ours at least (the suite's earlier tests may have left children of their own).
            assert host.pinning.threads_moved >= 3 and host.pinning.children_moved >= 1
        # Stopped: every thread of the process, and the child, may use every CPU again.
        assert all(cpus in (None, ALLOWED) for cpus in _threads().values()), _threads()
        assert thread_cpus(child.pid) == ALLOWED
    finally:
        release.set()
        for child in children:
            child.kill()
            child.wait()
