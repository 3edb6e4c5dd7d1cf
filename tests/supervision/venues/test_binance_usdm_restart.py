"""A restarted node on Binance USD-M with a position open: the start-up reconciliation adopts
the venue's position (`PositionAdopted`, for the portfolio and the journal), the summary says
where each position opens and whether the journal explains it, and the portfolio, opened there,
sees no drift at that reconciliation or the next."""

from __future__ import annotations

import json
from typing import Any

from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.portfolio.portfolio_actor import Portfolio
from actors.testing import FakeContext
from protocols.portfolio import PositionAdopted, ReconciliationDrift
from supervision.venues.binance.io import RestDone, WsFrame
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_transport import INFO, SPEC, Recorder


class RestartedUsdm:
    """A USD-M connection whose journal expects `expected` lots of BTCUSDT, and a real
    portfolio behind it, driven by the same context."""

    def __init__(self, expected: int | None = None, open_orders: frozenset[str] = frozenset()
                 ) -> None:
        self.ctx = FakeContext("venue/connection")
        self.gate = self.ctx.ref("gate")
        self.portfolio = Portfolio({"BTCUSDT": SPEC}, risk_gate=self.gate)
        self.journal = self.ctx.ref("journal")
        portfolio_ref = self.ctx.ref("portfolio")
        settings = BinanceSettings(
            "binance", "usdm", "http://x", "ws://y", {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": SPEC},
            api_key="k", api_secret="s", expected_open=open_orders,
            expected_positions={} if expected is None else {"BTCUSDT": expected})
        self.transport = BinanceTransport(settings, lambda t, d: Recorder())
        self.connection = VenueConnection(
            ConnectionConfig("binance", {"BTCUSDT": SPEC}, reconcile_interval_s=None),
            self.transport, VenuePeers(portfolio=portfolio_ref, journal=self.journal))
        self.ctx.start(self.connection)
        self.ctx.deliver(self.connection, RestDone(("markets",), {
            "m": {"id": "BTCUSDT", "info": INFO}}))
        self.pf_ctx = FakeContext("risk/portfolio")
        self.pf_ctx.start(self.portfolio)
        self._fed = 0
        self._portfolio_ref = portfolio_ref

    def feed_portfolio(self) -> None:
        """What the connection told the portfolio since the last call, handed over."""
        messages = self._portfolio_ref.messages
        for message in messages[self._fed:]:
            self.pf_ctx.deliver(self.portfolio, message)
        self._fed = len(messages)

    def reconcile(self, amount: str, update_time: int | None = None) -> None:
        row: dict[str, Any] = {"symbol": "BTCUSDT", "positionAmt": amount}
        if update_time is not None:
            row["updateTime"] = update_time
        self.transport.reconcile(0)
        self.ctx.deliver(self.connection, RestDone(("reconcile",), {
            "open": [], "account": {"assets": [{"asset": "USDT", "walletBalance": "1000"}]},
            "positions": [row]}))
        self.feed_portfolio()

    def fill(self, cid: str, trade_id: int, time_ms: int) -> None:
        """A 0.001 BTC buy of `cid` executed at `time_ms`, as the user stream reports it."""
        self.ctx.deliver(self.connection, WsFrame("user", json.dumps({
            "e": "ORDER_TRADE_UPDATE", "E": time_ms, "T": time_ms, "o": {
                "s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.002",
                "p": "60000", "x": "TRADE", "X": "PARTIALLY_FILLED", "i": 7, "l": "0.001",
                "z": "0.001", "L": "60000", "n": "0.01", "N": "USDT", "T": time_ms,
                "t": trade_id, "m": True}}), 0))
        self.feed_portfolio()

    def drifts(self) -> list[Any]:
        return [m for m in self.gate.messages if isinstance(m, ReconciliationDrift)]


def test_a_usdm_position_open_at_restart_is_adopted_and_is_no_drift() -> None:
    node = RestartedUsdm(expected=200_000)
    node.reconcile("0.002")
    assert node.portfolio.ledger.position("BTCUSDT").qty == 200_000
    assert node.drifts() == []
    assert node.journal.of_type(PositionAdopted) == [
        PositionAdopted("BTCUSDT", 200_000, source="venue")]
    assert node.transport.start_summary is not None
    assert node.transport.start_summary.line() == (
        "0 adopted, 0 cancelled, 0 unknown; BTCUSDT opens at 0.002 (200000 lots) as the venue "
        "holds it; the journal's fills explain it")
    node.reconcile("0.002")  # and the next reconciliation agrees too
    assert node.drifts() == []


def test_the_summary_says_what_the_journal_does_not_explain() -> None:
    node = RestartedUsdm(expected=100_000)
    node.reconcile("-0.001")
    assert node.portfolio.ledger.position("BTCUSDT").qty == -100_000
    assert node.transport.start_summary is not None
    assert node.transport.start_summary.positions == (
        "BTCUSDT opens at -0.001 (-100000 lots) as the venue holds it; the journal's fills "
        "explain 100000 lots, -200000 not (traded while this node was away, or by another "
        "client of the account)",)


def test_a_fill_booked_before_the_start_up_read_is_not_counted_twice() -> None:
    """A journaled order's fill reaches the portfolio before the reconciliation answers; the
    position read holds it: the opening is the position less that fill."""
    node = RestartedUsdm(open_orders=frozenset({"mm1-1"}))  # the journal left it open
    node.ctx.deliver(node.connection, WsFrame("user", json.dumps({
        "e": "ORDER_TRADE_UPDATE", "E": 2000, "T": 2000, "o": {
            "s": "BTCUSDT", "c": "mm1-1", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.002",
            "p": "60000", "x": "TRADE", "X": "PARTIALLY_FILLED", "i": 7, "l": "0.001",
            "z": "0.001", "L": "60000", "n": "0.01", "N": "USDT", "T": 2000, "t": 5,
            "m": True}}), 0))
    node.reconcile("0.003")
    assert node.journal.of_type(PositionAdopted) == [
        PositionAdopted("BTCUSDT", 200_000, source="venue")]  # the fill is booked on top
    assert node.portfolio.ledger.position("BTCUSDT").qty == 300_000
    assert node.drifts() == []


def test_a_fill_booked_after_the_start_up_read_that_the_position_held_is_not_counted_twice(
        ) -> None:
    """The crashed node never journaled a fill; the restart reads the position (which holds
    it) and only then hears of the fill (from `userTrades`, or a late report). Executed before
    the position's `updateTime`, it corrects the opening; executed after, it is a new fill."""
    node = RestartedUsdm(open_orders=frozenset({"mm1-1"}))
    node.reconcile("0.003", update_time=5000)
    assert node.portfolio.ledger.position("BTCUSDT").qty == 300_000
    node.fill("mm1-1", trade_id=5, time_ms=4000)  # in the position read at start
    assert node.portfolio.ledger.position("BTCUSDT").qty == 300_000
    assert node.journal.of_type(PositionAdopted) == [
        PositionAdopted("BTCUSDT", 300_000, source="venue"),
        PositionAdopted("BTCUSDT", 200_000, source="venue")]
    node.fill("mm1-1", trade_id=6, time_ms=6000)  # after it: the position grows
    assert node.portfolio.ledger.position("BTCUSDT").qty == 400_000
    node.reconcile("0.004", update_time=6000)
    assert node.drifts() == []


def test_without_times_a_late_fill_of_an_order_closed_while_away_is_held() -> None:
    """No `updateTime`: a fill of an order the start-up found unknown (closed while the node
    was away, so before the read) is in the position; a fill of any other is not."""
    node = RestartedUsdm(open_orders=frozenset({"mm1-1"}))  # journaled open, not at the venue
    node.reconcile("0.003")
    assert node.transport.start_summary is not None
    assert node.transport.start_summary.unknown == ("mm1-1",)
    node.fill("mm1-1", trade_id=5, time_ms=4000)
    assert node.portfolio.ledger.position("BTCUSDT").qty == 300_000
    assert node.drifts() == []
