"""Binance's rate limits as a node meets them on the fake venue: the venue's own counters (the
weight and order-count headers) reach the ActionBudget, and a 429 storm with Retry-After stops
every request for that long, then the cancel-all goes out before any new order, with every 429
counted; book snapshots and reconciliations wait out the storm too; an IP ban (418) holds
every request until it ends."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

ORDERS = ("order", "openOrders", "batchOrders", "cancelReplace")
OWN = ("depth", "openOrders", "account")  # the adapter's own: snapshots, reconciliations


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


def test_snapshots_and_reconciliations_wait_out_a_429_storm(tmp_path: Path) -> None:
    """The requests the budget does not pace hold off too: during the storm no book snapshot
    and no reconciliation reaches the venue once a 429 has said how long to wait, and both go
    when it ends."""
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 60)  # reconciles every 5 s
        node.wait_for("md=synced")
        fake.faults.update({"storm_s": 8.0})
        assert wait_until(lambda: fake.counts.get("rate_limited", 0) >= 1, 10, 0.02)
        fake.faults.update({"gap": 1})  # the book loses its thread: it wants a snapshot
        assert wait_until(lambda: fake.counts.get("gaps", 0) >= 1, 10)
        storm_end = fake.rest.storm_until
        assert wait_until(lambda: {e for t, _m, e, _c, s in list(fake.rest.log)
                                   if e in OWN and s == 200 and t > storm_end} == set(OWN), 20)
        text = node.metrics()
        log = list(fake.rest.log)
        node.proc.send_signal(signal.SIGTERM)
        out, err = node.finish()
    first_429 = min(t for t, _m, _e, _c, s in log if s == 429)
    # What the REST worker had already queued may still arrive just after the first 429.
    during = [(round(t - first_429, 2), e, s) for t, m, e, _c, s in log
              if m == "GET" and e in OWN and first_429 + 1.0 < t < storm_end]
    assert not during, during
    after = {e for t, m, e, _c, s in log if m == "GET" and e in OWN and t >= storm_end}
    assert after == set(OWN), after  # the snapshot and a reconciliation, once it was over
    assert metric(text, "troupe_budget_rate_limited_total") >= 1
    assert "Traceback" not in out + err


def test_an_ip_ban_holds_every_request_until_it_ends_then_trading_resumes(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 16)
        node.wait_for("orders: sent=")
        assert wait_until(lambda: fake.desk.open_orders(None), 20)
        fake.faults.update({"ban_s": 3.0})
        assert wait_until(lambda: metric(node.metrics(), "troupe_budget_banned_total"), 20, 0.02)
        time.sleep(5)  # the ban's 3 s, and time to trade after it
        text = node.metrics()
        log = list(fake.rest.log)
        out, err = node.finish()
        creates = fake.state()["creates"]
    banned = [t for t, _m, _e, _c, status in log if status == 418]
    assert banned and fake.counts["banned"] == len(banned)
    assert metric(text, "troupe_budget_banned_total") >= 1
    # The first 418 holds everything: only what was already on its way meets the ban, and
    # nothing asks again until it is over (a real venue lengthens a ban that is hammered).
    assert len(banned) <= 4, [(round(t - banned[0], 3), m, e, s) for t, m, e, _c, s in log
                              if t >= banned[0]][:20]
    assert banned[-1] - banned[0] < 1.0
    after = [(m, e) for t, m, e, _c, s in log if t > banned[0] + 2.5 and s == 200]
    assert ("POST", "order") in after or ("PUT", "order") in after \
        or ("POST", "cancelReplace") in after  # trading resumed once the ban was over
    assert creates and set(creates.values()) == {1}
    assert "Traceback" not in out + err
