"""Fills the user-data stream never delivered: a node (spot, USD-M) trades on the fake venue
while the venue's user stream goes down (closed, then refused) more than once, so fills happen
that no execution report tells of. Afterwards the node's books equal the venue's: every trade
the venue made for the account was booked once (not twice: each reconciliation's myTrades fetch
delivers again every fill the stream delivered), the position is the venue's, no
reconciliation drift, and the stop cancels everything with nothing of ours left open on either
side."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

OUTAGE_S = 3.0


def _journal(path: Path) -> dict[str, list[dict[str, object]]]:
    """The journal's records' data, by kind."""
    out: dict[str, list[dict[str, object]]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        out.setdefault(record["kind"], []).append(record["data"])
    return out


@pytest.mark.parametrize("kind", ["binance", "binance_usdm"])
def test_fills_missed_by_the_user_stream_are_recovered_once(tmp_path: Path, kind: str) -> None:
    usdm = kind == "binance_usdm"
    fake = FakeVenue.binance(speed=4, dialect="usdm" if usdm else "spot")
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls, kind=kind), 40)
        node.wait_for("orders: sent=")
        missed = 0
        deadline = time.monotonic() + 25
        while missed < 2 and time.monotonic() < deadline:
            before = len(fake.desk.trades)
            fake.faults.update({"user_down_s": OUTAGE_S})
            time.sleep(OUTAGE_S)
            missed += len(fake.desk.trades) > before  # a fill no execution report told of
        assert missed, "no fill happened while the user stream was down"
        # The reconnect's fetch (and each reconciliation's) finds them.
        assert wait_until(lambda: metric(node.metrics(), "troupe_fills_total")
                          >= len(fake.desk.trades), 15), node.metrics()
        text = node.metrics()
        node.proc.send_signal(2)  # a clean stop, as an operator's Ctrl-C
        out, err = node.finish()
        trades = list(fake.desk.trades)
        account = fake.desk.exchange.account
        # The venue's position: USD-M keeps one; spot's is the BTC balance's move (the fake
        # takes its fees in USDT).
        venue_lots = account.position("BTCUSDT") if usdm else int(
            (account.balance("BTC") - Decimal(1)) / Decimal("0.00000001"))
        left_open = fake.desk.open_orders(None)
    assert fake.counts.get("user_outages", 0) >= 2
    assert metric(text, "troupe_fills_recovered_total") >= 1, text
    assert "fill recovered from myTrades" in err, err
    assert metric(text, "troupe_reconciliation_drift_total") == 0, text
    # Every trade of the account booked exactly once, under the venue's trade id ...
    records = _journal(tmp_path / "journal.jsonl")
    booked = [r["fill_id"] for r in records.get("OwnFill", [])]
    assert sorted(booked) == sorted(f"BTCUSDT-{t['id']}" for t in trades), (booked, trades)
    # ... so the position is the venue's ...
    signed = sum((1 if r["side"] == "buy" else -1) * int(str(r["qty"]))
                 for r in records.get("OwnFill", []))
    assert signed == venue_lots, (signed, venue_lots)
    # ... and no order is left open on either side: none that filled in the dark stayed "open".
    assert not left_open, left_open
    assert "open orders cancelled (none left open)" in out, out
