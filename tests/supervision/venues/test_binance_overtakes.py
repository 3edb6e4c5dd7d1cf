"""A stop that overtakes new orders, as an operator meets it on the fake Binance: the node
quotes, the venue's gateway turns slow (`insert_delay_s`: each new order reaches the matching
engine seconds after it arrived, the client having given up on it), and the node is stopped
while new orders are on their way. The stop's cancels find nothing (a sweep of nothing, cancels
by id refused as unknown orders); the orders are placed after them; the node cancels each
again by its client id as it shows up, within the stop's cancel timeout, so nothing of ours
rests once it has gone."""

from __future__ import annotations

import signal
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, node_config, wait_until


def test_a_stop_that_overtakes_new_orders_leaves_nothing_resting(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 60)
        node.wait_for("orders: sent=")
        assert wait_until(lambda: fake.desk.open_orders(None), 20)
        # New orders, not replaces: the quotes are pulled, then quoted afresh.
        node.control(action="halt", reason="pull the quotes")
        assert wait_until(lambda: not fake.desk.open_orders(None), 10)
        fake.faults.update({"insert_delay_s": 2.5})  # request_timeout_s is 1
        node.control(action="resume", reason="quote again, through a slow gateway")
        assert wait_until(lambda: fake.counts.get("delayed_inserts", 0) >= 1, 10, 0.01)
        # The recorded market stands still from now on: no flow fills the late orders and no
        # move makes a post-only one cross, so each rests once placed, unless cancelled.
        fake.faults.update({"stall_s": 30.0})
        logged = len(fake.rest.log)
        node.proc.send_signal(signal.SIGTERM)  # the stop, as systemd asks for it
        out, err = node.finish()
        assert wait_until(lambda: fake.counts.get("delayed_placed", 0)
                          >= fake.counts["delayed_inserts"], 10)
        left_open = fake.desk.open_orders(None)
        after = list(fake.rest.log)[logged:]
        creates = fake.state()["creates"]
    assert not left_open, (left_open, out)
    assert "open orders cancelled (none left open)" in out, out
    # Each late order went at its placement, by its client id (the sweep had found nothing).
    cancelled = [cid for _t, method, endpoint, cid, status in after
                 if method == "DELETE" and endpoint == "order" and status == 200]
    assert cancelled, after
    assert creates and set(creates.values()) == {1}  # nothing placed twice
    assert "Traceback" not in out + err
