"""A REST lane of several workers: different symbols' requests at once, one symbol's in the order
submitted, a request naming no symbol as a barrier, nothing sent twice. First with stand-in
workers the test answers by hand (every interleaving a property test draws), then with real
worker processes: requests overlap at the venue, and a killed worker loses only its own."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision.venues.binance.io import RestDone
from supervision.venues.binance.rest_pool import RestPool, symbol_of
from tests.supervision.venues.test_binance_rest_process import Answers, FakeClient, calls


class StandIn:
    """A worker that holds what it is given until the test answers it."""

    made: ClassVar[list[StandIn]] = []

    def __init__(self, _make_client: Any, deliver: Any, name: str) -> None:
        self.deliver, self.name = deliver, name
        self.given: list[Any] = []  # tags, in the order given
        self.held: list[Any] = []
        self.closed = self.started = False
        self.restarts = self.lost_total = 0
        self.pid = None
        StandIn.made.append(self)

    def start(self) -> None:
        self.started = True

    def submit(self, tag: Any, _method: Any, _params: Any = None) -> None:
        assert not self.held, f"{self.name} given {tag} while it holds {self.held}"
        self.given.append(tag)
        self.held.append(tag)

    def withdraw(self, wanted: Any) -> list[Any]:
        return []

    def close(self) -> None:
        self.closed = True

    def answer(self) -> Any:
        tag = self.held.pop()
        self.deliver(RestDone(tag, {"ok": True}))
        return tag


def pool_of(workers: int) -> tuple[RestPool, list[StandIn], list[Any]]:
    StandIn.made = []
    answered: list[Any] = []
    pool = RestPool(None, lambda done: answered.append(done.tag), "lane", workers,
                    worker=StandIn)
    return pool, StandIn.made, answered


def order(symbol: str | None) -> tuple[str, dict[str, Any] | None]:
    """A request about `symbol` (None: about the account, a barrier)."""
    return ("private_post_order", {"symbol": symbol}) if symbol else ("private_get_account", {})


def busy(workers: list[StandIn]) -> list[Any]:
    return sorted(tag for w in workers for tag in w.held)


def test_a_request_is_about_its_symbol_or_it_is_a_barrier() -> None:
    assert symbol_of("private_post_order", {"symbol": "BTCUSDT", "side": "BUY"}) == "BTCUSDT"
    assert symbol_of("private_get_account", {}) is None
    assert symbol_of("fapiprivate_post_batchorders", {"batchOrders": "[...]"}) is None
    assert symbol_of(lambda client, params: None, {"symbol": "BTCUSDT"}) is None  # composite
    assert symbol_of("private_post_order", None) is None


def test_symbols_go_at_once_and_one_symbols_requests_wait_in_order() -> None:
    pool, workers, answered = pool_of(3)
    for tag, symbol in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C"), ("d1", "D")]:
        pool.submit(tag, *order(symbol))
    # three workers: A, B and C at once; a2 waits for a1 and d1 for a free worker
    assert busy(workers) == ["a1", "b1", "c1"] and pool.in_flight == 3
    workers[1].answer()  # b1 (the second worker took it)
    assert busy(workers) == ["a1", "c1", "d1"]  # a2 still behind a1: d1 passes it
    workers[0].answer()  # a1
    assert busy(workers) == ["a2", "c1", "d1"]
    for w in (workers[2], workers[1], workers[0]):  # c1, d1, a2
        w.answer()
    assert answered == ["b1", "a1", "c1", "d1", "a2"] and not busy(workers)


def test_a_barrier_waits_for_everything_before_it_and_holds_everything_after() -> None:
    pool, workers, _answered = pool_of(3)
    pool.submit("a1", *order("A"))
    pool.submit("b1", *order("B"))
    pool.submit("reconcile", *order(None))
    pool.submit("c1", *order("C"))  # a free worker, a symbol nobody has: still waits
    assert busy(workers) == ["a1", "b1"]
    workers[0].answer()
    assert busy(workers) == ["b1"]
    workers[1].answer()
    assert busy(workers) == ["reconcile"]  # alone
    next(w for w in workers if w.held).answer()
    assert busy(workers) == ["c1"]


def test_withdraw_takes_back_what_waits_and_close_waits_for_the_queue() -> None:
    pool, workers, _answered = pool_of(1)
    for tag, symbol in [(("new", 1), "A"), (("new", 2), "A"), (("cancel", 3), "B"),
                        (("new", 4), "B")]:
        pool.submit(tag, *order(symbol))
    assert pool.withdraw(lambda tag: tag[0] == "new") == [("new", 2), ("new", 4)]
    pool.close()
    assert not workers[0].closed  # ("cancel", 3) still waits for the worker
    pool.submit(("new", 5), *order("C"))  # closing: nothing more is taken
    workers[0].answer()
    # the last request given, the worker is closed: it ends once that one is answered
    assert busy(workers) == [("cancel", 3)] and workers[0].closed
    workers[0].answer()
    assert workers[0].given == [("new", 1), ("cancel", 3)]


def test_a_lane_of_one_is_a_queue() -> None:
    pool, workers, answered = pool_of(1)
    for n, symbol in enumerate(["A", "B", None, "A", "C"]):
        pool.submit(n, *order(symbol))
    while busy(workers):
        workers[0].answer()
    assert workers[0].given == answered == [0, 1, 2, 3, 4]


@settings(max_examples=300, deadline=None)
@given(workers=st.integers(1, 4),
       requests=st.lists(st.sampled_from(["A", "B", "C", None]), min_size=1, max_size=25),
       picks=st.lists(st.integers(0, 10**6), min_size=60, max_size=60))
def test_every_interleaving_keeps_the_lanes_promises(workers: int, requests: list[str | None],
                                                     picks: list[int]) -> None:
    """Requests submitted and answered in an order the draw decides: each is given to one
    worker once; one symbol's leave in the order submitted; a barrier leaves alone, after
    everything before it is answered and before anything after it leaves; no worker idles
    while a request that may leave waits."""
    pool, stand_ins, answered = pool_of(workers)
    submitted: list[int] = []
    left: list[int] = []  # the order requests left in
    done: set[int] = set()

    def record() -> None:
        for w in stand_ins:
            for tag in w.given:
                if tag not in left:
                    left.append(tag)

    def check() -> None:
        out = [tag for w in stand_ins for tag in w.held]
        assert len(out) == len(set(out)) <= workers
        for tag in out:
            earlier = [t for t in submitted if t < tag]
            if requests[tag] is None:  # a barrier: alone, everything before it answered
                assert out == [tag] and all(t in done for t in earlier)
            else:
                assert all(t in done for t in earlier
                           if requests[t] in (None, requests[tag])), (tag, out)
        # work-conserving: while a worker is free, every request still waiting is held back
        # by a rule (a barrier out; a barrier waits for all before it; a symbol out or
        # waiting ahead of it; a barrier waiting ahead of it)
        if len(out) < workers:
            waiting = [t for t in submitted if t not in left]
            for i, t in enumerate(waiting):
                ahead = waiting[:i]
                held = any(requests[o] is None for o in out) or (
                    bool(out or ahead) if requests[t] is None
                    else requests[t] in {requests[o] for o in out}
                    or any(requests[a] in (None, requests[t]) for a in ahead))
                assert held, (t, out, waiting)

    pick = iter(picks)
    n = 0
    while n < len(requests) or any(w.held for w in stand_ins):
        holding = [w for w in stand_ins if w.held]
        if n < len(requests) and (not holding or next(pick, 0) % 2):
            submitted.append(n)
            pool.submit(n, *order(requests[n]))
            n += 1
        else:
            worker = holding[next(pick, 0) % len(holding)]
            done.add(worker.answer())
        record()
        check()
    assert sorted(left) == sorted(answered) == list(range(len(requests)))
    for symbol in ("A", "B", "C"):
        mine = [t for t in left if requests[t] == symbol]
        assert mine == sorted(mine)


# -- real worker processes ---------------------------------------------------------------------
class SlowClient(FakeClient):
    """Each call naps, and writes when it began and ended."""

    def nap(self, params: dict[str, Any]) -> dict[str, Any]:
        with open(self.log, "a") as out:
            out.write(f"{params['symbol']}:{params['n']}:start:{time.monotonic()}\n")
        time.sleep(0.4)
        with open(self.log, "a") as out:
            out.write(f"{params['symbol']}:{params['n']}:end:{time.monotonic()}\n")
        return {"n": params["n"]}


def spans(log: Path) -> dict[str, tuple[float, float]]:
    marks: dict[str, dict[str, float]] = {}
    for line in log.read_text().split():
        symbol, n, what, at = line.split(":")
        marks.setdefault(f"{symbol}{n}", {})[what] = float(at)
    return {name: (m["start"], m["end"]) for name, m in marks.items()}


def test_worker_processes_overlap_symbols_and_keep_a_symbols_order(tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    pool = RestPool(functools.partial(SlowClient, str(log)), told, "test-rest", 3)
    pool.start()
    try:
        for n, symbol in enumerate(["A", "B", "A", "C"], start=1):
            pool.submit((symbol, n), "nap", {"symbol": symbol, "n": n})
        got = told.wait(4)
    finally:
        pool.close()
    assert sorted(d.failure or "ok" for d in got) == ["ok"] * 4
    span = spans(log)
    # A1, B2 and C4 at the venue at the same time; A3 only after A1 was answered
    assert max(span[k][0] for k in ("A1", "B2", "C4")) < min(span[k][1]
                                                              for k in ("A1", "B2", "C4"))
    assert span["A3"][0] >= span["A1"][1]
    assert [d.tag for d in got].index(("A", 1)) < [d.tag for d in got].index(("A", 3))


def test_a_killed_worker_of_the_pool_loses_only_its_own_request(tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    pool = RestPool(functools.partial(FakeClient, str(log)), told, "test-rest", 2)
    pool.start()
    try:
        pool.submit("slow", "hang", {"n": 1, "symbol": "A"})
        pool.submit("other", "echo", {"n": 2, "symbol": "B"})
        pool.submit("after", "echo", {"n": 3, "symbol": "A"})  # behind "slow"
        assert told.wait(1)[0].tag == "other"
        deadline = time.monotonic() + 30
        while "1" not in calls(log):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        hung = [pid for pid in pool.pids if pid is not None and _napping(pid)]
        assert len(hung) == 1
        os.kill(hung[0], signal.SIGKILL)
        got = told.wait(3, timeout=10)
    finally:
        pool.close()
    assert [(d.tag, d.failure) for d in got] == [("other", None), ("slow", "lost"),
                                                 ("after", None)]
    assert sorted(calls(log)) == ["1", "2", "3"]  # each once: the lost one not again
    assert calls(log).index("3") > calls(log).index("1")
    assert pool.lost_total == 1 and pool.restarts == 1


def _napping(pid: int) -> bool:
    """The child is in a sleep (the hang), not waiting for its next request."""
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()[0] not in ("0", "running")
    except (OSError, IndexError):
        return False


def test_a_lane_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        RestPool(None, print, "lane", 0)
