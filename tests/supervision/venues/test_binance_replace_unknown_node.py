"""A replace whose answer is lost and whose order cannot be looked up, as an operator meets it on
the fake Binance: the venue applies a market maker's cancel-replace and never answers, and a 429
storm meets the look-up while the market stands still. The replace is UNKNOWN meanwhile (no
other amend of that order goes out), then given up (counted, journaled with its reason, logged);
the market maker cancels the order it can no longer vouch for and quotes afresh after the storm:
bounded, never stuck."""

from __future__ import annotations

import json
import re
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until


def test_an_unresolved_replace_is_given_up_and_the_quote_goes_on(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 60)
        node.wait_for("orders: sent=")
        assert wait_until(lambda: metric(node.metrics(), "troupe_orders_sent_total",
                                         kind="replace") >= 1, 30)
        fake.faults.update({"lose_amend": 1})
        assert wait_until(lambda: fake.counts.get("lost_amends", 0) >= 1, 30, 0.01)
        # A 429 storm meets the look-up (and any replace sent behind the lost one, which says
        # nothing of the order), and the market stands still (no trade fills the order): the
        # replace stays unresolved past the bound.
        fake.faults.update({"storm_s": 10.0, "stall_s": 12.0})
        assert wait_until(lambda: metric(node.metrics(), "troupe_replace_unresolved_total",
                                         what="given_up") >= 1, 20)
        created = fake.state()["creates"]
        # After the storm the market maker quotes again: new orders, not a stuck side.
        assert wait_until(lambda: len(fake.state()["creates"]) > len(created), 40)
        text = node.metrics()
        node.proc.terminate()
        out, err = node.finish()
    assert metric(text, "troupe_order_timeouts_total", kind="replace") >= 1
    assert re.search(r"replace of tr-mm1-\d+ given up", out + err), out + err
    journal = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    reasons = [r for r in journal if "replace given up" in json.dumps(r)]
    assert reasons, journal[-20:]
