"""The Portfolio actor on the deterministic host: fills in, snapshots out to subscribers, mark
changes throttled, markouts resolved by later books, drift told to the risk gate."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import attrs
import pytest

from actors.portfolio.portfolio_actor import (
    FillReport,
    GetFillReport,
    GetSnapshot,
    Portfolio,
    conflation_key,
)
from protocols.codec import Side
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop
from protocols.orders import Liquidity
from protocols.portfolio import (
    OwnFill,
    PortfolioSnapshot,
    PositionAdopted,
    PositionAsk,
    PositionNow,
    ReconciliationDrift,
    VenuePositions,
)
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import ConflateByKey
from supervision.testing import Probe, received

BTC = InstrumentSpec("BTCUSDT", "binance", D("0.1"), D("0.001"), 0, 0, D("-0.0001"), D("0.0004"))
SECOND = 10**9
MS = 10**6




def fill(side: Side, qty: int, price: int, fill_id: str, *, instrument: str = "BTCUSDT",
         mid_x2: int | None = None, recv_ns: int = 0, fee: str = "0") -> OwnFill:
    return OwnFill(instrument, "mm", "c1", fill_id, side, qty, price, D(fee), Liquidity.MAKER,
                   recv_ns, mid_x2_at_fill=mid_x2)


def top(bid: int, ask: int, recv_ns: int = 0, instrument: str = "BTCUSDT") -> BookTop:
    return BookTop(instrument, bid, 1, ask, 1, recv_ns)


@pytest.fixture
def rig():
    host = DeterministicHost(seed=7)
    gate = host.spawn("risk", Probe)
    other = host.spawn("dashboard", Probe)
    portfolio = host.spawn("portfolio", lambda: Portfolio(
        {"BTCUSDT": BTC}, subscribers=(gate, other), risk_gate=gate,
        publish_interval_ns=100 * MS, horizons_ns=(SECOND, 5 * SECOND)))
    host.run_until_idle()
    return host, portfolio, gate, other


def snapshots(host, ref) -> list[PortfolioSnapshot]:
    return [m for m in received(host, ref) if isinstance(m, PortfolioSnapshot)]


def test_a_fill_publishes_a_snapshot_to_every_subscriber(rig):
    host, portfolio, gate, other = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1", fee="0.04"))
    host.run_until_idle()
    for ref in (gate, other):
        [snap] = snapshots(host, ref)
        position = snap.position("BTCUSDT")
        assert position is not None and (position.qty, position.avg_price) == (10, D(100_000))
        assert snap.realized_pnl == D("-0.04") and snap.total_exposure == D("100")
    assert host.ask(portfolio, GetSnapshot()) == snap
    assert host.metrics.total("troupe_portfolio_fills_total") == 1


def test_a_duplicate_fill_changes_nothing_and_publishes_nothing(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    host.run_until_idle()
    assert len(snapshots(host, gate)) == 1
    assert host.ask(portfolio, GetSnapshot()).position("BTCUSDT").qty == 10
    assert host.metrics.total("troupe_portfolio_duplicate_fills_total") == 1


def test_mark_changes_are_throttled_but_the_newest_mark_is_published(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    for i in range(1, 11):  # ten mids at the same instant: one trailing snapshot, not ten
        portfolio.tell(top(100_000 + i, 100_002 + i))
    host.run_until_idle()
    snaps = snapshots(host, gate)
    assert len(snaps) == 2
    assert snaps[-1].unrealized_pnl == 10 * D(11) * D("0.0001")  # mid 100011
    assert snaps[-1].recv_ns == 100 * MS  # the trailing timer fired one interval later


def test_a_steady_stream_of_mids_cannot_starve_the_snapshot(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    host.run_until_idle()
    for i in range(1, 34):  # a new mid every 30 ms for about a second
        host.advance(0.03)
        portfolio.tell(top(100_000 + i, 100_002 + i, recv_ns=i * 30 * MS))
    host.run_until_idle()
    published = snapshots(host, gate)
    assert 9 <= len(published) - 1 <= 11  # about one per 100 ms
    gaps = [b.recv_ns - a.recv_ns for a, b in itertools.pairwise(published[1:])]
    assert min(gaps) >= 100 * MS


def test_mids_of_an_instrument_we_do_not_hold_publish_nothing(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(top(100_000, 100_002))
    host.run_until_idle()
    assert snapshots(host, gate) == []


def test_markouts_complete_as_later_books_arrive(rig):
    host, portfolio, _, _ = rig
    portfolio.tell(fill(Side.SELL, 10, 100_010, "t1", mid_x2=200_000, recv_ns=0))
    portfolio.tell(top(100_010, 100_020, recv_ns=SECOND))  # mid 100015: +15 against the short
    portfolio.tell(top(99_990, 99_994, recv_ns=6 * SECOND))  # mid 99992: +8 in our favour
    host.run_until_idle()
    report = host.ask(portfolio, GetFillReport())
    assert isinstance(report, FillReport)
    [record] = report.fills
    assert record.spread_capture == D("0.01")
    assert record.adverse_selection == {SECOND: D("-0.015"), 5 * SECOND: D("0.008")}
    assert report.totals.markouts_resolved == ((SECOND, 1), (5 * SECOND, 1))
    assert host.metrics.total("troupe_portfolio_markouts_resolved_total") == 2


def test_drift_is_told_to_the_risk_gate_and_counted(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 10),), (), 5)) == ()
    drifts = host.ask(portfolio, VenuePositions((("BTCUSDT", 7),), (), 6))
    assert drifts == (ReconciliationDrift("BTCUSDT", 10, 7, 6),)
    host.run_until_idle()
    told = [m for m in received(host, gate) if isinstance(m, ReconciliationDrift)]
    assert told == [ReconciliationDrift("BTCUSDT", 10, 7, 6)]
    assert host.metrics.total("troupe_reconciliation_drift_total") == 1


def test_an_adopted_position_is_published_at_once_and_is_no_drift(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(top(99_990, 100_010))
    portfolio.tell(PositionAdopted("BTCUSDT", 30, "BTC", D(1), "journal"))
    host.run_until_idle()
    snap = snapshots(host, gate)[-1]
    position = snap.position("BTCUSDT")
    assert position is not None and (position.qty, position.avg_price) == (30, D(100_000))
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 30),), (), 5)) == ()
    assert host.metrics.total("troupe_portfolio_positions_adopted_total") == 1
    portfolio.tell(PositionAdopted("XRPUSDT", 1))  # no spec: loud, and the actor lives on
    host.run_until_idle()
    assert host.metrics.total("troupe_portfolio_unhandled_total") == 1
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 30),), (), 6)) == ()


def test_drift_confirmations_wait_for_the_same_gap_twice():
    host = DeterministicHost(seed=7)
    gate = host.spawn("risk", Probe)
    portfolio = host.spawn("portfolio", lambda: Portfolio(
        {"BTCUSDT": BTC}, risk_gate=gate, drift_confirmations=2))
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1"))
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 11),), (), 1)) == ()  # in flight?
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 10),), (), 2)) == ()  # it was
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 12),), (), 3)) == ()
    portfolio.tell(fill(Side.BUY, 1, 100_000, "t2"))  # both sides move: the gap stays 1
    assert host.ask(portfolio, VenuePositions((("BTCUSDT", 13),), (), 4)) == (
        ReconciliationDrift("BTCUSDT", 11, 13, 4),)
    host.run_until_idle()
    assert [m for m in received(host, gate) if isinstance(m, ReconciliationDrift)] == [
        ReconciliationDrift("BTCUSDT", 11, 13, 4)]


def test_an_unknown_instrument_fill_does_not_kill_the_actor_and_surfaces_as_drift(rig):
    host, portfolio, gate, _ = rig
    portfolio.tell(fill(Side.BUY, 3, 500, "t1", instrument="SOLUSDT"))
    drifts = host.ask(portfolio, VenuePositions((("SOLUSDT", 3),), (), 1))
    assert drifts == (ReconciliationDrift("SOLUSDT", 0, 3, 1),)
    host.run_until_idle()
    assert ReconciliationDrift("SOLUSDT", 0, 3, 1) in received(host, gate)
    assert host.actor("portfolio").restarts == 0
    assert host.metrics.total("troupe_portfolio_unbooked_fills_total") == 1
    assert host.cell("portfolio").behaviour.snapshot()["unbooked"] == 1


def test_money_gauges_are_exported_and_counters_only_count_events(rig):
    host, portfolio, _, _ = rig
    portfolio.tell(fill(Side.BUY, 10, 100_000, "t1", fee="0.04", mid_x2=200_002))
    host.run_until_idle()
    gauges = {metric: value for (_, metric, _), value in host.metrics.gauges.items()}
    assert gauges["troupe_portfolio_equity"] == pytest.approx(-0.04)
    assert gauges["troupe_portfolio_fees"] == pytest.approx(0.04)
    assert gauges["troupe_portfolio_spread_capture"] == pytest.approx(0.001)  # 1 tick x 10 x V
    assert gauges["troupe_portfolio_position_lots"] == 10
    counters = {metric for (_, metric, _) in host.metrics.counters}
    assert counters == {"troupe_portfolio_fills_total",
                        "troupe_portfolio_snapshots_published_total"}


def test_conflation_keeps_the_newest_book_and_every_fill():
    host = DeterministicHost(seed=7)
    portfolio = host.spawn("portfolio", lambda: Portfolio({"BTCUSDT": BTC}),
                           mailbox=ConflateByKey(conflation_key))
    portfolio.tell(top(100_000, 100_002))
    portfolio.tell(fill(Side.BUY, 1, 100_000, "t1"))
    portfolio.tell(fill(Side.BUY, 1, 100_000, "t2"))
    portfolio.tell(top(100_100, 100_102))
    host.run_until_idle()
    snap = host.ask(portfolio, GetSnapshot())
    assert snap.position("BTCUSDT").qty == 2
    assert host.actor("portfolio").mailbox.conflated == 1


def test_an_opening_is_told_on_to_the_holder_of_its_instrument():
    host = DeterministicHost(seed=7)
    gate, mm = host.spawn("risk", Probe), host.spawn("mm", Probe)
    portfolio = host.spawn("portfolio", lambda: Portfolio(
        {"BTCUSDT": BTC}, risk_gate=gate, holders={"BTCUSDT": [mm]}))
    portfolio.tell(PositionAdopted("BTCUSDT", 30, source="venue"))
    portfolio.tell(PositionAdopted("BTCUSDT", 30, source="venue"))  # no change: not again
    host.run_until_idle()
    assert [m.qty for m in received(host, mm) if isinstance(m, PositionAdopted)] == [30]


def test_the_holder_hears_every_fill_booked_on_its_instrument_in_the_ledgers_order():
    """A fill of nobody's order (an earlier run's: strategy "") reaches no strategy from the
    venue, yet moves the account's position, which is the holder's inventory. An opening the
    start-up corrects by a fill it already held comes just before that fill, as the ledger
    took them; a duplicate is not told again, nor a fill on an instrument with no holder."""
    host = DeterministicHost(seed=7)
    gate, mm = host.spawn("risk", Probe), host.spawn("mm", Probe)
    eth = attrs.evolve(BTC, symbol="ETHUSDT")
    portfolio = host.spawn("portfolio", lambda: Portfolio(
        {"BTCUSDT": BTC, "ETHUSDT": eth}, risk_gate=gate, holders={"BTCUSDT": [mm]}))
    nobodys = attrs.evolve(fill(Side.SELL, 1, 100_000, "late"), strategy="")
    portfolio.tell(PositionAdopted("BTCUSDT", -1, source="venue"))
    portfolio.tell(PositionAdopted("BTCUSDT", 0, source="venue"))  # the late fill held it
    portfolio.tell(nobodys)
    portfolio.tell(nobodys)
    portfolio.tell(fill(Side.BUY, 2, 100_000, "f1", instrument="ETHUSDT"))
    host.run_until_idle()
    told = [(type(m).__name__, m.qty) for m in received(host, mm)
            if isinstance(m, PositionAdopted | OwnFill)]
    assert told == [("PositionAdopted", -1), ("PositionAdopted", 0), ("OwnFill", 1)]
    assert host.ask(portfolio, PositionAsk("BTCUSDT")).qty == -1


def test_a_starting_strategy_is_told_where_its_position_stands():
    """`PositionAsk` (a strategy's start, above all a supervisor's restart): the ledger's
    position, its opening, its entry and the fills it counts; to one of several holders of the
    instrument, that it cannot tell."""
    host = DeterministicHost(seed=7)
    gate, mm, eth_a, eth_b = (host.spawn(n, Probe) for n in ("risk", "mm", "eth1", "eth2"))
    eth = attrs.evolve(BTC, symbol="ETHUSDT")
    portfolio = host.spawn("portfolio", lambda: Portfolio(
        {"BTCUSDT": BTC, "ETHUSDT": eth}, risk_gate=gate,
        holders={"BTCUSDT": [mm], "ETHUSDT": [eth_a, eth_b]}))
    assert host.ask(portfolio, PositionAsk("BTCUSDT")) == PositionNow("BTCUSDT", 0, 0, None, ())
    portfolio.tell(PositionAdopted("BTCUSDT", 3, source="venue"))
    portfolio.tell(top(99_990, 100_010))
    portfolio.tell(fill(Side.BUY, 2, 100_000, "f1"))
    portfolio.tell(fill(Side.BUY, 2, 100_000, "f1"))  # a duplicate: counted once
    portfolio.tell(fill(Side.SELL, 1, 100_020, "f2"))
    now = host.ask(portfolio, PositionAsk("BTCUSDT"))
    assert (now.qty, now.opening, now.counted) == (4, 3, ("f1", "f2"))
    assert now.avg_price == D(100_000)
    assert host.ask(portfolio, PositionAsk("ETHUSDT")) == PositionNow("ETHUSDT", None)
