"""A USD-M node restarted with a position open, as an operator meets it on the fake Binance: the
first run trades until it holds a position and dies; its orders are cancelled at the venue and
the market pauses, so the position stays as it is; the second run's
start-up summary says where the position opens, the portfolio and the market maker both start
there (the strategy's inventory gauge is the venue's position, not 0), and its reconciliations
find no drift, so the account stays ACTIVE."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.venues.binance.client import make_client
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

LOT = Decimal("0.00000001")


def held(fake: FakeVenue) -> Decimal:
    return sum((Decimal(r["positionAmt"]) for r in fake.desk.positions()), Decimal(0))


def test_a_usdm_restart_with_a_position_open_adopts_it_everywhere(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4, dialect="usdm")
    with FakeVenueThread(fake) as urls:
        config = node_config(tmp_path, urls, kind="binance_usdm", fsync="always")
        first = NodeProcess(config, 60)
        first.wait_for("orders: sent=")
        assert wait_until(lambda: held(fake) != 0, 40), "".join(first.out[-5:])
        first.kill()  # a crash: the position stays
        # The position must stay as it is until the second run has looked: its resting orders
        # go (the operator's own cancel-all on the venue's site), the market pauses.
        outsider = make_client("usdm", urls["rest"], api_key="k", secret="s")
        outsider.fapiprivate_delete_allopenorders({"symbol": "BTCUSDT"})
        fake.faults.update({"stall_s": 30.0})
        position = held(fake)
        second = NodeProcess(config, 45)
        second.wait_for("control plane:")
        assert wait_until(lambda: metric(second.metrics(),
                                         "troupe_portfolio_reconciliations_total") >= 3, 30)
        text = second.metrics()
        second.proc.terminate()
        out, err = second.finish()
    opens = re.search(r"BTCUSDT opens at (-?[\d.]+) \((-?\d+) lots\) as the venue holds it",
                      err)
    assert opens is not None, err
    assert Decimal(opens[1]) == int(opens[2]) * LOT != 0, err
    # One adoption, or two where the crash left a fill of the first run's unjournaled: the
    # start-up's userTrades finds it after the position was read (which held it already), and
    # the opening is corrected by it rather than counted twice.
    assert 1 <= metric(text, "troupe_portfolio_positions_adopted_total") <= 2, text
    booked = metric(text, "troupe_portfolio_position_lots", instrument="BTCUSDT")
    assert int(booked) * LOT == position, (booked, position)
    assert metric(text, "troupe_reconciliation_drift_total") == 0, out + err
    assert "state=REDUCING" not in out, out
    # The market maker's inventory is the account's position (its fills since included),
    # also where the crash left a fill unjournaled: its order, an earlier run's, is nobody's
    # here, so only the portfolio can tell the strategy that fill, after the corrected opening.
    lots = metric(text, "troupe_strategy_inventory_lots", strategy="mm1")
    strategy_lines = [line for line in (out + err).splitlines()
                      if "mm1" in line or "PositionAdopted" in line or "opens at" in line]
    assert int(lots) * LOT == position, (lots, position, strategy_lines[-40:],
                                         [line for line in text.splitlines()
                                          if "mm1" in line or "adopted" in line])
