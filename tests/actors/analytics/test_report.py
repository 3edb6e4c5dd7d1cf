"""The report core on hand-built journals with answers worked out by hand (docs/analytics.md).

Instrument: tick 0.01, lot 0.001, so V = 0.00001 quote per tick per lot; 1000 lots = 1 unit.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.analytics import Criterion, ReportSettings, build_report
from protocols.codec import Side
from protocols.instruments import InstrumentSpec
from protocols.journal import OrderSent
from protocols.orders import Ack, Fill, Liquidity, OrderType, TimeInForce
from protocols.portfolio import MidSampled, OwnFill, TradeAtFill

S = 1_000_000_000
SPEC = InstrumentSpec("X", "sim", Decimal("0.01"), Decimal("0.001"), Decimal(0), Decimal(0),
                      Decimal(0), Decimal(0))


def _order(cid: str, side: Side, price: int, at: float) -> list[object]:
    return [OrderSent(cid, "X", side, OrderType.LIMIT, 1000, price, TimeInForce.GTC, False,
                      "mm", int(at * S)),
            Ack(cid, recv_ns=int(at * S) + 5_000_000)]


def _fill(cid: str, fid: str, side: Side, price: int, at: float, *, mid_x2: int,
          trade: int | None = None) -> list[object]:
    ns = int(at * S)
    return [Fill(cid, fid, 1000, price, Decimal("0.01"), Liquidity.MAKER, recv_ns=ns),
            OwnFill("X", "mm", cid, fid, side, 1000, price, Decimal("0.01"), Liquidity.MAKER,
                    ns, mid_x2_at_fill=mid_x2),
            TradeAtFill("X", fid, trade, 1 if trade else None,
                        Side.SELL if trade else None, ns - 1 if trade else None, ns)]


def _round_trip() -> list[object]:
    return [MidSampled("X", 20000, 0), *_order("a", Side.BUY, 9999, 0.5),
            *_fill("a", "f1", Side.BUY, 9999, 1.0, mid_x2=20000, trade=9998),
            MidSampled("X", 19990, int(1.5 * S)), MidSampled("X", 20010, int(2.5 * S)),
            *_order("b", Side.SELL, 10006, 2.8),
            *_fill("b", "f2", Side.SELL, 10006, 3.0, mid_x2=20010, trade=10006),
            MidSampled("X", 20020, 40 * S)]


def _report(records: list[object], **kw: object):  # type: ignore[no-untyped-def]
    return build_report(records, ReportSettings({"X": SPEC}, currency="USD", **kw)).data


def test_markouts_by_side_at_each_horizon() -> None:
    data = _report(_round_trip())
    one = data["markout"]["1s"]
    # buy at 99.99, first mid at/after 2 s is 100.05: +0.06 per unit, 6.0006 bps of 99.99
    assert one["buy"] == {"count": 1, "mean_bps": 6.0006, "mean_per_unit": 0.06}
    # sell at 100.06, first mid at/after 4 s is 100.10: -0.04 per unit
    assert one["sell"] == {"count": 1, "mean_bps": -3.9976, "mean_per_unit": -0.04}
    assert one["all"]["count"] == 2
    assert data["markout"]["60s"]["all"]["count"] == 0  # no mid 61 s after either fill


def test_decomposition_adds_up_to_total_pnl_exactly() -> None:
    d = _report(_round_trip())["decomposition"]
    assert (d["spread_capture"], d["adverse_selection"], d["inventory_mark_to_market"],
            d["fees"]) == ("0.02", "0.05", "0", "-0.02")  # 0.01 on each side
    assert d["total"] == "0.05" and d["residual"] == "0"  # 0.07 realized - 0.02 fees


def test_open_inventory_is_marked_after_the_horizon() -> None:
    records = [*_round_trip()[:-6], MidSampled("X", 20020, 40 * S)]  # only the buy
    data = _report(records, decomposition_horizon_s=1)
    d = data["decomposition"]
    assert (d["spread_capture"], d["adverse_selection"], d["inventory_mark_to_market"],
            d["fees"], d["total"], d["residual"]) == ("0.01", "0.05", "0.05", "-0.01", "0.1", "0")
    assert data["pnl"] == {"currency": "USD", "realized": "-0.01", "unrealized": "0.11",
                           "total": "0.1", "fees": "0.01"}


def test_fill_sanity_and_round_trips() -> None:
    data = _report(_round_trip())
    s = data["fill_sanity"]
    assert s["fill_vs_trade_bps"]["buy"]["mean"] == -1.0001  # traded through our bid by a tick
    assert s["fill_vs_trade_bps"]["sell"]["mean"] == 0.0
    assert s["trade_at_or_through_share"] == 1.0
    assert s["quote_age_s"] == {"p5": 0.2, "median": 0.2, "p95": 0.5}
    assert s["fill_size_vs_quote"] == {"mean": 1.0, "full_share": 1.0}
    assert s["same_side_runs"] == {"mean": 1.0, "max": 1}
    assert data["round_trips"]["count"] == 1 and data["expectancy"] == "0.05"
    assert data["hold_seconds"] == {"median": 2.0, "p90": 2.0}
    assert data["orders"]["sent"] == 2 and data["fill_ratio"] == 1.0


def test_go_no_go_evaluates_the_configured_criteria() -> None:
    criteria = (Criterion("expectancy", ">", Decimal(0)),
                Criterion("markout_1s_bps", ">=", Decimal(2)))
    verdicts = _report(_round_trip(), criteria=criteria)["go_no_go"]
    assert [(v["metric"], v["pass"]) for v in verdicts] == [("expectancy", True),
                                                             ("markout_1s_bps", False)]


@pytest.mark.parametrize("drop", ["OwnFill", "TradeAtFill"])
def test_a_journal_without_the_enriched_records_still_reports(drop: str) -> None:
    records = [r for r in _round_trip() if type(r).__name__ != drop]
    data = _report(records)
    assert data["fills"] == 2 and data["decomposition"]["residual"] == "0"
