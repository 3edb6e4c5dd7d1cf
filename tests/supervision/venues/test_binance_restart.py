"""A restarted node on Binance spot, its connection and transport driven by hand with the exact
interleavings of a restart: the orders the journal left open are adopted, their fills reach the
portfolio, and the venue's side of a spot position (its base balance) and ours (the fills the
portfolio books) agree at every reconciliation, whichever of a fill's event and the account
read comes first."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.testing import FakeContext, FakeRef
from protocols.codec import Side
from protocols.portfolio import OwnFill, PositionAdopted, VenuePositions
from supervision.venues.binance.io import RestDone, WsFrame
from supervision.venues.binance.reconcile import SpotInventory
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_transport import BODY, INFO, SPEC, Recorder

ADOPTED = {**BODY, "origQty": "0.002"}  # mm1-1: BUY 0.002 BTC @ 60000, left open by the journal


class Restarted:
    """A connection over a Binance transport whose journal left `mm1-1` open."""

    def __init__(self, inventory: SpotInventory | None = None) -> None:
        self.ctx = FakeContext("venue/connection")
        self.portfolio: FakeRef = self.ctx.ref("portfolio")
        self.recorder = Recorder()
        settings = BinanceSettings(
            "binance", "spot", "http://x", "ws://y", {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": SPEC},
            api_key="k", api_secret="s", expected_open=frozenset({"mm1-1"}), inventory=inventory)
        self.transport = BinanceTransport(settings, lambda t, d: self.recorder)
        self.connection = VenueConnection(
            ConnectionConfig("binance", {"BTCUSDT": SPEC}, reconcile_interval_s=None),
            self.transport, VenuePeers(portfolio=self.portfolio, journal=self.ctx.ref("journal")))
        self.ctx.start(self.connection)
        self.deliver(RestDone(("markets",), {"m": {"id": "BTCUSDT", "info": INFO}}))

    def deliver(self, message: Any) -> None:
        self.ctx.deliver(self.connection, message)

    def fill(self, trade_id: int, executed_ms: int, cum: str) -> None:
        """A user-stream fill of mm1-1 (0.001 BTC), executed at the venue at `executed_ms`."""
        self.deliver(WsFrame("user", json.dumps({
            "e": "executionReport", "E": executed_ms, "s": "BTCUSDT", "c": "mm1-1", "S": "BUY",
            "o": "LIMIT", "f": "GTC", "q": "0.002", "p": "60000.00", "x": "TRADE",
            "X": "PARTIALLY_FILLED" if cum != "0.002" else "FILLED", "r": "NONE", "i": 7,
            "l": "0.001", "z": cum, "L": "60000.00", "n": "0.06", "N": "USDT",
            "T": executed_ms, "t": trade_id, "m": True}), 0))

    def reconcile(self, btc: str, as_of_ms: int, *open_orders: dict[str, Any]) -> None:
        """The answer to a reconciliation: the open orders, then the account as of `as_of_ms`
        (its updateTime: the venue's time of its last balance change)."""
        self.transport.reconcile(0)
        self.deliver(RestDone(("reconcile",), {"open": list(open_orders), "positions": [],
                                               "account": {"updateTime": as_of_ms, "balances": [
                                                   {"asset": "BTC", "free": btc,
                                                    "locked": "0"}]}}))

    def each_reconciliation(self) -> list[tuple[int, int]]:
        """(venue lots, lots of the fills told to the portfolio before it) per reconciliation:
        what the portfolio compares, at the same point of its mailbox."""
        opening, fills, seen = 0, 0, []
        for message in self.portfolio.messages:
            if isinstance(message, OwnFill):
                fills += message.qty if message.side is Side.BUY else -message.qty
            elif isinstance(message, PositionAdopted):
                opening = message.qty
            elif isinstance(message, VenuePositions):
                seen.append((dict(message.positions)["BTCUSDT"], opening + fills))
        return seen


def test_a_fill_of_an_adopted_order_after_the_start_up_reconciliation_is_booked() -> None:
    node = Restarted()
    node.reconcile("1", 1000, ADOPTED)  # adopted: it rests at the venue, the journal knows it
    assert node.transport.start_summary is not None
    assert node.transport.start_summary.adopted == ("mm1-1",)
    node.fill(1, 2000, "0.001")
    node.reconcile("1.001", 2000, {**ADOPTED, "executedQty": "0.001"})
    node.fill(2, 3000, "0.002")
    node.reconcile("1.002", 3000)
    assert node.each_reconciliation() == [(0, 0), (100_000, 100_000), (200_000, 200_000)]


def test_a_fill_of_a_journaled_order_before_the_start_up_reconciliation_is_booked() -> None:
    """The fill executed after the account was read, its event came before the answer."""
    node = Restarted()
    node.fill(1, 2000, "0.001")
    node.reconcile("1", 1000, ADOPTED)  # both read before the fill
    node.reconcile("1.001", 2000, {**ADOPTED, "executedQty": "0.001"})
    # The first balance does not hold the fill yet, but the fill the portfolio booked is known
    # to have executed after it: both sides are compared after it.
    assert node.each_reconciliation() == [(100_000, 100_000), (100_000, 100_000)]


def test_the_position_opens_where_the_account_stands_beyond_its_starting_inventory() -> None:
    """The journal says the account started from 1 BTC and its fills leave it 0.002 BTC long;
    the venue holds 1.003 BTC (and a fill of the adopted order executed after the read): the
    position opens at 0.003, the summary says the journal explains 0.002 of it."""
    remembered = {"BTC": (Decimal(1), "recorded")}
    node = Restarted(SpotInventory(remembered=remembered, expected={"BTCUSDT": 200_000}))
    node.fill(1, 2000, "0.001")
    node.reconcile("1.003", 1000, ADOPTED)
    node.reconcile("1.004", 2000, {**ADOPTED, "executedQty": "0.001"})
    [opening] = node.portfolio.of_type(PositionAdopted)
    assert opening == PositionAdopted("BTCUSDT", 300_000, "BTC", Decimal(1), "journal")
    assert node.each_reconciliation() == [(400_000, 400_000), (400_000, 400_000)]
    assert node.transport.start_summary is not None
    assert node.transport.start_summary.line() == (
        "1 adopted, 0 cancelled, 0 unknown; adopted: mm1-1; BTCUSDT opens at 0.003 BTC "
        "(300000 lots): 1.003 BTC held, starting inventory 1 BTC (journal); the journal's fills "
        "explain 200000 lots, 100000 not (traded while this node was away, or by another "
        "client of the account)")
    journal = node.ctx.ref("journal").of_type(PositionAdopted)
    assert [p.qty for p in journal] == [300_000]  # the next start counts from the same 1 BTC


def test_a_configured_starting_inventory_comes_first() -> None:
    inventory = SpotInventory(configured={"BTC": Decimal("0.5")},
                              remembered={"BTC": (Decimal(1), "recorded")})
    node = Restarted(inventory)
    node.reconcile("1", 1000)
    assert node.portfolio.of_type(PositionAdopted) == [
        PositionAdopted("BTCUSDT", 50_000_000, "BTC", Decimal("0.5"), "config")]
    assert node.each_reconciliation() == [(50_000_000, 50_000_000)]
