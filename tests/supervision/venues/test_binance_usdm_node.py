"""A node on the fake Binance USD-M futures, over loopback with the real ccxt client: depth
diffs chained by `pu` and resynced after a gap, mark price and funding reaching the Market
actor, new orders in batches, reduce-only exits once it holds a position, positions reconciled
(by REST and by each ACCOUNT_UPDATE) without a false drift, and an outsider's trade on the
account seen as a drift of its size."""

from __future__ import annotations

import re
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.venues.binance.client import make_client
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

BATCH = "\n[venue.batch]\nmax_items = 5\nwindow_ms = 50\n"


def test_a_usdm_node_batches_reduces_and_reconciles_its_position(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4, dialect="usdm")
    with FakeVenueThread(fake) as urls:
        # max_inventory one quote: after any fill the market maker's other side is an exit.
        node = NodeProcess(node_config(tmp_path, urls, kind="binance_usdm",
                                       max_inventory=10000, tail=BATCH), 30)
        node.wait_for("md=synced")
        fake.faults.update({"gap": 1})  # a diff goes missing: `pu` no longer chains
        assert wait_until(lambda: fake.desk.reduce_only, 25), "".join(node.out[-5:])
        assert wait_until(lambda: metric(node.metrics(),
                                         "troupe_portfolio_reconciliations_total") >= 4, 20)
        quiet = node.metrics()
        outsider = make_client("usdm", urls["rest"], api_key="k", secret="s")
        outsider.load_markets()
        outsider.fapiprivate_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                         "quantity": "0.001", "newClientOrderId": "outsider"})
        assert wait_until(lambda: metric(node.metrics(),
                                         "troupe_reconciliation_drift_total") >= 1, 20)
        out, err = node.finish()
        state = fake.state()
        log = list(fake.rest.log)
    assert "md=synced" in out
    # The book lost the chain and took a fresh snapshot; mark and funding reached Market.
    assert state["counts"].get("gaps", 0) == 1
    assert metric(quiet, "troupe_book_resyncs_total") >= 2
    assert metric(quiet, "troupe_market_updates_total", kind="OracleUpdate") >= 3
    assert metric(quiet, "troupe_market_updates_total", kind="FundingUpdate") >= 3
    # New orders went in batches, each id once; the exits went as reduce-only orders.
    assert any(m == "POST" and e == "batchOrders" and s == 200 for _t, m, e, _c, s in log)
    assert set(state["creates"].values()) == {1}
    assert fake.desk.reduce_only and all(c.startswith("tr-mm1-") for c in fake.desk.reduce_only)
    # Positions agreed while the node traded; the outsider's 0.001 BTC is a drift of that size.
    assert metric(quiet, "troupe_fills_total") >= 1
    assert metric(quiet, "troupe_reconciliation_drift_total") == 0, out + err
    # ... the outsider's buy of 0.001 BTC (100 000 lots of 1e-8), less what it took from our own
    # quotes (the fake venue lets an account trade with itself, which nets out in its balance).
    gaps = re.findall(r"reconciliation drift on BTCUSDT: ours (-?\d+), venue (-?\d+)", err)
    assert any(0 < int(venue) - int(ours) <= 100_000 for ours, venue in gaps), err
    assert "state=REDUCING" in out
