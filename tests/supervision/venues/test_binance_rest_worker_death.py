"""A spot node whose REST worker process is killed, three times, while its order requests wait on
slow acks: each request the dead worker had started is UNKNOWN and looked up, never sent again;
the node trades on through a new worker, stops cleanly with nothing left open, and no client
id was placed twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import (
    NodeProcess,
    at_the_venue,
    metric,
    node_config,
    rest_workers_of,
)


def test_a_killed_rest_worker_loses_its_request_and_resends_nothing(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 16)
        node.wait_for("orders: sent=")
        fake.faults.update({"ack_delay_s": 0.4})  # a worker mostly waits on an order's ack
        killed = []
        for _ in range(3):
            time.sleep(1.5)
            # Killed with a request at the venue (a loaded machine starts a worker slowly):
            # whichever of the lane's workers has one.
            pid = busy_worker(node.proc.pid, timeout=20)
            assert pid is not None and pid not in killed
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(1.0)
        fake.faults.update({"ack_delay_s": 0.0})
        time.sleep(3.0)
        text = node.metrics()
        out, err = node.finish()
        state = fake.state()
        left_open = fake.desk.open_orders(None)
    exits = [line for line in err.splitlines() if "REST worker process exited (-9)" in line]
    assert len(exits) == 3, err
    assert any("the request it had started is answered lost" in line for line in exits), exits
    # No client id placed twice, through the deaths and their look-ups.
    assert state["creates"] and set(state["creates"].values()) == {1}
    # The node traded on through the new workers, and stopped with nothing left behind.
    assert metric(text, "troupe_reconciliation_drift_total") == 0, text
    assert not left_open, left_open
    assert "open orders cancelled (none left open)" in out, out


def busy_worker(node_pid: int, timeout: float) -> int | None:
    """A worker of the order lane with a request at the venue, the first seen within
    `timeout` (None: none). The pid is the one seen waiting: asked again, it may be done."""
    deadline = time.monotonic() + timeout
    while True:
        pid = next((p for p in rest_workers_of(node_pid) if at_the_venue(p)), None)
        if pid is not None or time.monotonic() > deadline:
            return pid
        time.sleep(0.01)
