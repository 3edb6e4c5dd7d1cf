"""The exits' REST worker process killed in the middle of a kill switch, as an operator meets
it on the fake Binance: five market makers quote; the operator halts, the sweeps queue on the
exits' lane behind 0.8 s answers, and an exits worker is killed while its sweep waits for
its answer. The sweep it had started is answered lost and never sent again; the sweeps it had
not started go once each to a new worker; nothing of ours rests; after a resume the node
trades on, and it stops cleanly with no client id placed twice."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues import fake_node

SYMBOLS = fake_node.FIVE_SYMBOLS
MORE = fake_node.more_market_makers(SYMBOLS)


def test_a_killed_exits_worker_loses_its_sweep_and_resends_nothing(tmp_path: Path) -> None:
    fake = fake_node.funded_venue(SYMBOLS)
    with FakeVenueThread(fake) as urls:
        node = fake_node.NodeProcess(fake_node.node_config(tmp_path, urls, tail=MORE), 40)
        node.wait_for("orders: sent=")
        assert fake_node.wait_until(lambda: len(fake.desk.open_orders("BTCUSDT")) >= 1, 30)
        exits_workers = fake_node.rest_workers_of(node.proc.pid, "binance-exits")
        assert exits_workers and not set(exits_workers) & set(
            fake_node.rest_workers_of(node.proc.pid))
        fake.faults.update({"ack_delay_s": 0.8})  # request_timeout_s is 1
        with urllib.request.urlopen(f"{urls['rest']}/api/v3/time", timeout=5):
            pass  # the venue's log marks the moment: the kill switch follows at once
        node.control(action="halt", reason="kill switch")
        # The first sweeps (one a worker of the lane) are applied at once and answered 0.8 s
        # later: a worker is killed while it waits for its answer.
        assert fake_node.wait_until(lambda: not fake.desk.open_orders("BTCUSDT"), 10, step=0.01)
        waiting = [p for p in exits_workers if fake_node.at_the_venue(p)]
        assert waiting, "no exits worker waits on a sweep's answer"
        os.kill(waiting[0], signal.SIGKILL)
        assert fake_node.wait_until(lambda: len(sweeps_of(fake)) >= len(SYMBOLS)
                                    and not fake.desk.open_orders(None), 20)
        fake.faults.update({"ack_delay_s": 0.0})
        sent = orders_sent(node)
        node.control(action="resume", reason="done")
        assert fake_node.wait_until(lambda: orders_sent(node) > sent, 20)  # it trades on
        sweeps = sweeps_of(fake)
        node.proc.terminate()
        out, err = node.finish()
        state = fake.state()
        left_open = fake.desk.open_orders(None)
    deaths = [line for line in err.splitlines() if "binance-exits" in line
              and "the REST worker process exited (-9)" in line]
    assert len(deaths) == 1, err
    assert "the request it had started is answered lost" in deaths[0], deaths
    # One sweep per symbol: the lost one was not sent again, the queued ones went once each
    # (and, nothing left open, every symbol's went).
    assert len(sweeps) == len(SYMBOLS), sweeps
    assert state["creates"] and set(state["creates"].values()) == {1}
    assert not left_open, left_open
    assert "open orders cancelled (none left open)" in out, out


def sweeps_of(fake: FakeVenue) -> list[float]:
    """When the cancel-alls the venue answered after the marker arrived."""
    log = sorted(fake.rest.log)
    marked = max(t for t, _m, endpoint, _c, _s in log if endpoint == "time")
    return [t for t, method, endpoint, _c, _s in log
            if t > marked and (method, endpoint) == ("DELETE", "openOrders")]


def orders_sent(node: fake_node.NodeProcess) -> float:
    return fake_node.metric(node.metrics(), "troupe_orders_sent_total")
