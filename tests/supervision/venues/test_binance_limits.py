"""Binance's rate limits as a node meets them on the fake venue: the venue's own counters (the
weight and order-count headers) reach the ActionBudget, and a 429 storm with Retry-After stops
every request for that long, then the cancel-all goes out before any new order, with every 429
counted."""

from __future__ import annotations

import time
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

ORDERS = ("order", "openOrders", "batchOrders", "cancelReplace")


def test_a_429_storm_backs_the_budget_off_and_exits_go_first(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 16)
        node.wait_for("orders: sent=")
        assert wait_until(lambda: fake.desk.open_orders(None), 20)
        used = metric(node.metrics(), "troupe_budget_venue_used", limit="request_weight")
        assert used > 0  # the venue's count came with its answers
        fake.faults.update({"storm_s": 2.5})
        assert wait_until(lambda: metric(node.metrics(), "troupe_budget_rate_limited_total"),
                          20, 0.02)  # the budget has heard of the storm
        storm = time.monotonic()
        node.control(action="cancel_all", reason="storm test")  # exits wait out the storm too
        wait_until(lambda: time.monotonic() - storm > 6, 10)
        text = node.metrics()
        log = list(fake.rest.log)
        out, err = node.finish()
        creates = fake.state()["creates"]
    throttled = [t for t, _m, _e, _c, status in log if status == 429]
    assert throttled and fake.counts["rate_limited"] == len(throttled)
    assert metric(text, "troupe_venue_429_total") == len(throttled)
    assert metric(text, "troupe_budget_rate_limited_total") >= 1
    # Nothing went out during the Retry-After; then the cancel-all and cancels, all before the
    # first new order.
    sweeps = [(t, s) for t, m, e, _c, s in log if m == "DELETE" and e == "openOrders"]
    assert sweeps[0][0] - throttled[0] >= 1.5, (sweeps, log[-40:])
    swept = next(t for t, s in sweeps if s == 200)
    first_new = next(t for t, m, e, _c, s in log  # a new order or a replace (new-class)
                     if t > throttled[0] and m == "POST" and e in ("order", "cancelReplace")
                     and s != 429)
    assert swept < first_new, [(round(t - throttled[0], 3), m, e, c, s) for t, m, e, c, s in log
                               if t >= throttled[0] - 0.5][:30]
    # (What was already on its way when the storm began was refused 429 like everything else.)
    between = {m for t, m, e, _c, s in log
               if throttled[0] < t < first_new and e in ORDERS and m != "GET" and s != 429}
    assert between == {"DELETE"}, [(round(t - throttled[0], 3), m, e, c, s)
                                   for t, m, e, c, s in log if t >= throttled[0] - 0.5][:30]
    # Trading went on afterwards, and nothing was created twice.
    assert any(m == "POST" and e == "order" and t > swept and s == 200
               for t, m, e, _c, s in log)
    assert creates and set(creates.values()) == {1}
    assert "Traceback" not in out + err
