"""The REST worker process: the same answers as the worker thread, in order, and after a death
nothing sent twice: what the dead child had started is answered lost, what it had not started
goes to the next child once. The client here is a fake that writes each call it runs to a log
file, so the test sees what reached "the venue" whatever process ran it."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import trio

from supervision.venues.binance.io import RestDone, RestWorker
from supervision.venues.binance.rest_process import RestProcess

HEADERS = {"Retry-After": "3", "X-MBX-USED-WEIGHT-1M": "1200", "X-MBX-ORDER-COUNT-10S": "7",
           "Date": "Sat, 05 Dec 2026 16:00:00 GMT"}


class FakeClient:
    """What the worker needs of ccxt's client: methods taking params, response headers."""

    def __init__(self, log: str) -> None:
        self.log = log
        self.last_response_headers: dict[str, str] | None = None

    def _called(self, params: dict[str, Any]) -> None:
        with open(self.log, "a") as out:
            out.write(f"{params['n']}\n")

    def echo(self, params: dict[str, Any]) -> dict[str, Any]:
        self._called(params)
        logging.getLogger("ccxt.fake").debug("Request: %s", {"X-MBX-APIKEY": "a-key"})
        self.last_response_headers = dict(HEADERS, **{"Retry-After": ""})
        return {"n": params["n"], "price": "0.10000000"}

    def throttle(self, params: dict[str, Any]) -> None:
        self._called(params)
        self.last_response_headers = dict(HEADERS)
        raise ccxt.RateLimitExceeded('binance {"code":-1003,"msg":"Too many requests."} '
                                     "GET http://x/api/v3/order?signature=secret")

    def refuse(self, params: dict[str, Any]) -> None:
        self._called(params)
        raise ccxt.InsufficientFunds('binance {"code":-2010,"msg":"insufficient balance"}')

    def time_out(self, params: dict[str, Any]) -> None:
        self._called(params)
        raise ccxt.RequestTimeout("binance POST http://x/api/v3/order?timestamp=1")

    def crash(self, params: dict[str, Any]) -> None:
        self._called(params)
        os._exit(3)

    def hang(self, params: dict[str, Any]) -> None:
        self._called(params)
        time.sleep(60)


def composite(client: FakeClient, params: dict[str, Any]) -> dict[str, Any]:
    """A composite request (as a reconciliation is): a picklable callable."""
    return {"first": client.echo({"n": params["n"]}), "second": client.echo({"n": -params["n"]})}


class Answers:
    def __init__(self) -> None:
        self.got: list[RestDone] = []
        self._cond = threading.Condition()

    def __call__(self, done: RestDone) -> None:
        with self._cond:
            self.got.append(done)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 30.0) -> list[RestDone]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.got) >= count, timeout), self.got
            return list(self.got)


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


SCRIPT = [("echo", {"n": 1}), ("throttle", {"n": 2}), ("refuse", {"n": 3}),
          ("time_out", {"n": 4}), (composite, {"n": 5}), ("missing_method", {"n": 6}),
          ("echo", {"n": 7})]


def test_the_process_answers_as_the_thread_does_in_order(tmp_path: Path) -> None:
    answers = {}
    for kind, worker_class in (("thread", RestWorker), ("process", RestProcess)):
        log = tmp_path / f"{kind}.log"
        told = Answers()
        worker = worker_class(functools.partial(FakeClient, str(log)), told)
        for i, (method, params) in enumerate(SCRIPT):
            worker.submit(("tag", i), method, params)
        answers[kind] = told.wait(len(SCRIPT))
        worker.close()
        assert calls(log) == ["1", "2", "3", "4", "5", "-5", "7"]
    assert answers["process"] == answers["thread"]
    got = answers["process"]
    assert [d.tag for d in got] == [("tag", i) for i in range(len(SCRIPT))]
    assert [d.failure for d in got] == [None, "throttled", "rejected", "lost", None, "lost",
                                        None]
    assert got[0].value == {"n": 1, "price": "0.10000000"}
    throttled = got[1]
    assert throttled.retry_after_s == 3.0 and "signature" not in throttled.message
    assert throttled.usage == (("orders_10s", 7), ("request_weight", 1200))
    assert throttled.venue_ns == int(datetime(2026, 12, 5, 16, tzinfo=UTC).timestamp()) * 10**9
    assert got[4].value == {"first": {"n": 5, "price": "0.10000000"},
                            "second": {"n": -5, "price": "0.10000000"}}


def test_a_death_loses_what_it_started_and_resends_nothing(tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    worker = RestProcess(functools.partial(FakeClient, str(log)), told)
    for n, method in enumerate(["echo", "crash", "echo", "echo"], start=1):
        worker.submit(n, method, {"n": n})
    got = told.wait(4)
    worker.submit(5, "echo", {"n": 5})  # the new child takes new requests too
    got = told.wait(5)
    worker.close()
    assert [(d.tag, d.failure) for d in got] == [(1, None), (2, "lost"), (3, None), (4, None),
                                                 (5, None)]
    assert "exited (3) during the request" in got[1].message
    assert calls(log) == ["1", "2", "3", "4", "5"]  # each reached the venue once, in order
    assert worker.restarts == 1 and worker.lost_total == 1


def test_a_child_killed_mid_request_is_noticed_at_once(tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    worker = RestProcess(functools.partial(FakeClient, str(log)), told)
    worker.submit("slow", "hang", {"n": 1})
    worker.submit("next", "echo", {"n": 2})
    deadline = time.monotonic() + 30
    while calls(log) != ["1"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    got = told.wait(2, timeout=10)  # not the 60 s the request would have taken
    worker.close()
    assert [(d.tag, d.failure) for d in got] == [("slow", "lost"), ("next", None)]
    assert calls(log) == ["1", "2"]


def test_close_ends_the_child_and_a_ctrl_c_does_not(tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    worker = RestProcess(functools.partial(FakeClient, str(log)), told)
    worker.submit(1, "echo", {"n": 1})
    told.wait(1)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)  # the node's graceful stop still needs it
    os.kill(pid, signal.SIGTERM)
    worker.submit(2, "echo", {"n": 2})
    assert [d.failure for d in told.wait(2)] == [None, None] and worker.restarts == 0
    worker.close()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        assert time.monotonic() < deadline, "the child outlived close()"
        time.sleep(0.02)
    worker.submit(3, "echo", {"n": 3})  # after close: nothing goes
    time.sleep(0.2)
    assert calls(log) == ["1", "2"] and len(told.got) == 2


def test_queued_requests_can_be_taken_back_and_close_lets_the_queue_finish(
        tmp_path: Path) -> None:
    log, told = tmp_path / "calls.log", Answers()
    worker = RestProcess(functools.partial(FakeClient, str(log)), told)
    worker.submit(("slow", 1), "hang", {"n": 1})
    for n in range(2, 6):
        worker.submit(("new" if n % 2 else "cancel", n), "echo", {"n": n})
    deadline = time.monotonic() + 30
    while calls(log) != ["1"]:  # the first is with the child: not taken back
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert worker.withdraw(lambda tag: tag[0] in ("new", "slow")) == [("new", 3), ("new", 5)]
    worker.close()  # what is queued still goes, then the child ends
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # (cut the hang short: the first is lost, not resent)
    got = told.wait(3)
    assert [(d.tag, d.failure) for d in got] == [(("slow", 1), "lost"), (("cancel", 2), None),
                                                 (("cancel", 4), None)]
    assert calls(log) == ["1", "2", "4"]


def test_the_childs_log_records_reach_the_nodes_handlers(tmp_path: Path,
                                                        caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    told = Answers()
    worker = RestProcess(functools.partial(FakeClient, str(tmp_path / "calls.log")), told)
    worker.submit(1, "echo", {"n": 1})
    told.wait(1)
    worker.close()
    [record] = [r for r in caplog.records if r.name == "ccxt.fake"]
    assert record.getMessage() == "Request: {'X-MBX-APIKEY': 'a-key'}"
    assert record.process != os.getpid()  # logged in the child


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_child_that_cannot_make_its_client_is_started_again(tmp_path: Path) -> None:
    told = Answers()
    worker = RestProcess(functools.partial(FakeClient, str(tmp_path / "no" / "x")), told)
    worker.submit(1, "echo", {"n": 1})  # the client is made, but every call fails in it
    got = told.wait(1)
    assert got[0].failure == "lost" and worker.restarts == 0  # an answer: the child lives
    broken = RestProcess(functools.partial(int, "not a number"), told)  # cannot make a client
    broken.submit(2, "echo", {"n": 2})
    deadline = time.monotonic() + 30
    while broken.restarts < 2:  # after 0.1 s, then 0.2 s of backoff
        assert time.monotonic() < deadline
        time.sleep(0.05)
    broken.close()
    worker.close()
    assert len(told.got) == 1  # the request never reached a venue: not lost, not answered


def test_on_a_trio_loop_the_answers_are_read_and_told_on_the_loop(tmp_path: Path) -> None:
    """In a node the answers are read by a task of the loop, not by a thread: no thread takes
    the GIL from the loop to hand an answer over. A death is noticed there too."""
    log = tmp_path / "calls.log"
    told: list[tuple[Any, str | None, int]] = []

    async def run() -> tuple[int, list[str]]:
        loop = threading.get_ident()
        worker = RestProcess(functools.partial(FakeClient, str(log)),
                             lambda d: told.append((d.tag, d.failure, threading.get_ident())),
                             name="lane-on-the-loop")
        worker.start()  # before any request, as the adapter starts both lanes
        for n, method in enumerate(["echo", "echo", "hang", "echo"], start=1):
            worker.submit(n, method, {"n": n})
        with trio.fail_after(30):
            while calls(log) != ["1", "2", "3"]:
                await trio.sleep(0.01)
            threads = [t.name for t in threading.enumerate()]
            pid = worker.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            while len(told) < 4:
                await trio.sleep(0.01)
        worker.close()
        return loop, threads

    loop, threads = trio.run(run)
    assert [(tag, failure) for tag, failure, _ in told] == [(1, None), (2, None), (3, "lost"),
                                                            (4, None)]
    assert {thread for _, _, thread in told} == {loop}
    assert "lane-on-the-loop" not in threads  # off a loop, its reader thread has the name
    assert calls(log) == ["1", "2", "3", "4"]
