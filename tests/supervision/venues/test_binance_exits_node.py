"""The kill switch under load, as an operator meets it on the fake Binance: five market makers
quote through a venue whose order answers take 0.3 s, so new orders and replaces queue for the
REST worker; the operator halts. The sweeps go at once on the exits' own lane, the new orders
and replaces still queued are taken back (never sent after the kill switch), and nothing of
ours rests."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from supervision.fakevenue import FakeVenueThread
from tests.supervision.venues.fake_node import (
    FIVE_SYMBOLS,
    NodeProcess,
    funded_venue,
    metric,
    more_market_makers,
    node_config,
    wait_until,
)

SYMBOLS = FIVE_SYMBOLS
MORE = more_market_makers(SYMBOLS)
ENTRIES = {("POST", "order"), ("POST", "cancelReplace")}


def swept(log: list[tuple[float, str, str, str, int]]) -> list[float]:
    return [t for t, method, endpoint, _c, _s in log if (method, endpoint) == ("DELETE",
                                                                               "openOrders")]


def test_the_kill_switch_overtakes_the_new_orders_queued_for_the_venue(tmp_path: Path) -> None:
    fake = funded_venue(SYMBOLS)
    with FakeVenueThread(fake) as urls:
        # One order-lane worker: new orders queue behind each other's answers, so the kill
        # switch finds some still queued to take back (several workers send them at once).
        node = NodeProcess(node_config(tmp_path, urls, tail=MORE,
                                       venue_extra="rest_workers = 1\n"), 60)
        node.wait_for("orders: sent=")
        assert wait_until(lambda: len(fake.desk.open_orders(None)) >= 6, 30)
        fake.faults.update({"ack_delay_s": 0.3})  # request_timeout_s is 1
        # Orders keep coming faster than they are answered, one at a time: a queue builds.
        sent = metric(node.metrics(), "troupe_orders_sent_total")
        assert wait_until(lambda: metric(node.metrics(), "troupe_orders_sent_total")
                          >= sent + 30, 30)
        with urllib.request.urlopen(f"{urls['rest']}/api/v3/time", timeout=5):
            pass  # the venue's log marks the moment: the kill switch follows at once
        node.control(action="halt", reason="kill switch under load")
        assert wait_until(lambda: len(swept(list(fake.rest.log))) >= len(SYMBOLS)
                          and not fake.desk.open_orders(None), 20), fake.desk.open_orders(None)
        text = node.metrics()
        node.control(action="resume", reason="done")
        log = sorted(fake.rest.log)
        node.proc.terminate()
        node.finish()
    marked = next(t for t, _m, endpoint, _c, _s in log if endpoint == "time")
    after = [(method, endpoint) for t, method, endpoint, _c, _s in log if t > marked]
    sweeps = [i for i, (method, endpoint) in enumerate(after)
              if (method, endpoint) == ("DELETE", "openOrders")]
    assert len(sweeps) >= len(SYMBOLS), after
    # Before the last sweep, at most the new order already on the wire at the kill switch.
    entries = [kind for kind in after[:sweeps[-1]] if kind in ENTRIES]
    assert len(entries) <= 1, after
    assert metric(text, "troupe_orders_withdrawn_total") >= 1, text
