"""`runtime.loop_cpus` as an operator meets it: a live node on the fake Binance, started with
`python -m supervision.main`, says at start-up what it pinned, and its threads and its REST
worker process, read from /proc while it trades, are where it said: the event loop (the main
thread) alone on its CPU, every other thread and the child process off it. CPUs the machine
cannot give are one error line before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.runtime.affinity import SWEEP_MAX_S, cpu_list
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

ALLOWED = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
CONFIGS = Path(__file__).parents[3] / "config"
PAPER = CONFIGS / "paper.toml"


def _cpus_allowed(pid: int, tid: int) -> frozenset[int]:
    """`Cpus_allowed_list` of a thread, as the kernel reports it."""
    status = _read(Path(f"/proc/{pid}/task/{tid}/status"))
    if not status:  # ended since it was listed: it runs nowhere
        return frozenset()
    text = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    cpus: set[int] = set()
    for part in text.split(":", 1)[1].strip().split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def _read(path: Path) -> str:
    """A /proc file of a thread, or "" if the thread has ended since it was listed."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _tasks(pid: int) -> dict[int, str]:
    """Each thread of `pid` by id, with its name (threads that end meanwhile left out)."""
    root = Path(f"/proc/{pid}/task")
    named = {int(t.name): _read(t / "comm").strip() for t in root.iterdir()}
    return {tid: name for tid, name in named.items() if name}


def _children(pid: int) -> set[int]:
    return {int(child) for tid in _tasks(pid)
            for child in _read(Path(f"/proc/{pid}/task/{tid}/children")).split()}


@pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs two CPUs to split")
def test_a_live_node_pins_its_loop_and_keeps_its_threads_and_rest_worker_off_it(
        tmp_path: Path) -> None:
    loop_cpu = min(ALLOWED)
    others = ALLOWED - {loop_cpu}
    with FakeVenueThread(FakeVenue.binance(speed=4)) as urls:
        config = node_config(tmp_path, urls, tail=f"\n[runtime]\nloop_cpus = [{loop_cpu}]\n")
        node = NodeProcess(config, 12.0)
        try:
            line = node.wait_for("cpu: ")
            assert line.strip() == (
                f"cpu: event loop pinned to CPU {loop_cpu}; the node's other threads and child "
                f"processes kept on CPU {cpu_list(others)} (runtime.loop_cpus)")
            node.wait_for("md=synced")  # trading: the REST worker, the journal, the streams
            assert metric(node.metrics(), "troupe_loop_pinned_cpus") == 1
            pid = node.proc.pid
            assert wait_until(lambda: _children(pid), timeout=20), "no REST worker process"
            # The node runs its trio loop on the main thread, whose id is the process's.
            assert _cpus_allowed(pid, pid) == {loop_cpu}

            def placement() -> tuple[dict[str, frozenset[int]], list[dict[str, frozenset[int]]]]:
                elsewhere = {name: _cpus_allowed(pid, tid) for tid, name in _tasks(pid).items()
                             if tid != pid}
                workers = [{name: _cpus_allowed(child, tid) for tid, name in
                            _tasks(child).items()} for child in _children(pid)]
                return elsewhere, workers

            def settled() -> bool:
                elsewhere, workers = placement()
                return all(cpus in (others, frozenset()) for group in (elsewhere, *workers)
                           for cpus in group.values())

            # A thread the loop started just now runs on the loop's CPU until the next sweep
            # (SWEEP_S, backing off to SWEEP_MAX_S): what must hold is that it is moved, not
            # that none is ever seen there.
            assert wait_until(settled, timeout=2 * SWEEP_MAX_S + 2), placement()
            assert len(placement()[0]) >= 3, placement()
        finally:
            out, err = node.finish()
    assert "summary after" in out, out + err


def _main(*sets: str, config: Path = PAPER,
          then: str = "--duration=1") -> subprocess.CompletedProcess[str]:
    args = [a for s in sets for a in ("--set", s)]
    return subprocess.run([sys.executable, "-m", "supervision.main", str(config), *args, then],
                          capture_output=True, text=True, timeout=60)


def test_cpus_the_machine_cannot_give_are_one_line_before_anything_starts() -> None:
    absent = max(ALLOWED, default=0) + 1000
    done = _main(f"runtime.loop_cpus=[{absent}]")
    assert done.returncode == 2
    assert done.stderr == (f"error: runtime.loop_cpus = [{absent}]: CPU {absent} is not one "
                           f"this process may run on (CPU {cpu_list(ALLOWED)}); name CPUs "
                           "among those\n")
    assert done.stdout == ""  # nothing started: no mode line, no journal opened
    every = sorted(ALLOWED)
    done = _main(f"runtime.loop_cpus={every}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "leave at least one for the node's other threads and processes" in done.stderr


def test_a_malformed_cpu_list_is_a_config_problem_with_its_path() -> None:
    done = _main("runtime.loop_cpus=[0, -1, 0]")
    assert done.returncode == 2
    assert done.stderr.splitlines()[1:] == [
        "  runtime.loop_cpus: CPU numbers start at 0, got -1 (from --set)"]
    done = _main("runtime.loop_cpus=[1, 1]")
    assert done.stderr.splitlines()[1:] == [
        "  runtime.loop_cpus: names CPU 1 more than once (from --set)"]


def test_a_backtest_is_told_it_has_no_event_loop_to_pin() -> None:
    done = _main("runtime.loop_cpus=[0]", config=CONFIGS / "backtest.toml",
                 then="--check-config")
    assert done.returncode == 2
    assert done.stderr.splitlines()[1:] == [
        "  runtime.loop_cpus: a backtest runs on the deterministic host, one thread in virtual "
        "time, not the live event loop: leave it out (from --set)"]
