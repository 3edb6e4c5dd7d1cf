"""The issue's faults that the every-fault node test does not drive to their consequence: slow
acks and acks slower than the request timeout, a stall long enough for the heartbeat, and
execution reports duplicated and reordered in bulk. A spot node trades on the fake venue through
them: nothing crashes, the book resyncs after the silent socket is replaced, no client id is
placed twice, every timeout is settled, a fill missed while the quiet user stream was replaced
is fetched from myTrades, nothing is left open or drifted, and the metrics count each
event."""

from __future__ import annotations

import time
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config

FAULTS = [  # (seconds after start, faults)
    (2.0, {"duplicate_reports": 30, "reorder_reports": 3}),
    (6.0, {"ack_delay_s": 0.4}),  # slow: answered well within request_timeout_s = 1
    (8.5, {"ack_delay_s": 1.6}),  # slower than the timeout: UNKNOWN, then looked up
    (11.0, {"ack_delay_s": 0.0}),
    (13.0, {"stall_s": 4.0}),  # silence past heartbeat_s = 2: the socket is replaced
]


def test_slow_and_timed_out_acks_stalls_and_messy_reports(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls, venue_extra="heartbeat_s = 2.0\n"), 25)
        node.wait_for("orders: sent=")
        start = time.monotonic()
        for at, faults in FAULTS:
            time.sleep(max(0.0, start + at - time.monotonic()))
            fake.faults.update(faults)
        time.sleep(max(0.0, start + 21.5 - time.monotonic()))
        text = node.metrics()
        out, err = node.finish()
        state = fake.state()
        left_open = fake.desk.open_orders(None)
    counts = state["counts"]
    assert counts.get("stalls") == 1 and counts.get("duplicate_reports", 0) >= 10
    assert counts.get("reordered_reports", 0) == 3
    # No client id placed twice, through timeouts and their look-ups.
    assert state["creates"] and set(state["creates"].values()) == {1}
    assert metric(text, "troupe_order_timeouts_total") >= 1
    # Slow acks are measured as such (some took 0.4 s or more) ...
    slow = metric(text, "troupe_order_ack_seconds_count") - metric(
        text, "troupe_order_ack_seconds_bucket", le="0.25")
    assert slow >= 1, text
    # ... the stall is a silent socket, replaced, and the book synced again ...
    assert metric(text, "troupe_ws_reconnects_total", reason="silent") >= 1
    assert metric(text, "troupe_venue_resyncs_total", reason="reconnect") >= 1
    assert "binance market stream down (no data for 2s)" in err
    # ... and the duplicated or reordered reports, and the fills the replaced user stream never
    # told of (fetched from myTrades), left nothing behind: no drift, the stop cancelled
    # everything, and nothing of ours is open on either side.
    assert metric(text, "troupe_reconciliation_drift_total") == 0, text
    assert not left_open, left_open
    assert "open orders cancelled (none left open)" in out, out
