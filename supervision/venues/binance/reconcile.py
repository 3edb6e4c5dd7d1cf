"""Reconciling with Binance, pure: the start-up summary and the account as `VenuePositions`.

Start-up (`summarize`), fail closed: every order open at the venue is either ours and known to
the journal (`adopted`: it rests on, and the session learns it from the venue's reports) or
not (`cancelled`: an order nobody here can account for is taken off the book, except in observe
mode, where it is only reported); every order the journal left open that the venue does not
list is `unknown` (filled or cancelled while we were away: its fills come from `myTrades` and
the state machine's reconciliation). Trading is not ready until this has run.

Positions (`positions_of`): USD-M reports signed positions (`positionRisk`'s `positionAmt`) and
wallet balances; spot has no positions, so a spot instrument's position is the change of its
base asset's balance since `baseline` (the first reconciliation of this connection), in lots,
which is what the portfolio's ledger counts from its fills.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from protocols.instruments import InstrumentSpec
from protocols.portfolio import VenuePositions
from protocols.venues.binance_user import OrderUpdate

__all__ = ["StartSummary", "positions_of", "summarize"]


@attrs.frozen(slots=True)
class StartSummary:
    adopted: tuple[str, ...]
    cancelled: tuple[str, ...]
    unknown: tuple[str, ...]

    def line(self) -> str:
        return (f"{len(self.adopted)} adopted, {len(self.cancelled)} cancelled, "
                f"{len(self.unknown)} unknown"
                + "".join(f"; {k}: {', '.join(v[:5])}" for k, v in (
                    ("adopted", self.adopted), ("cancelled", self.cancelled),
                    ("unknown", self.unknown)) if v))


def summarize(venue_open: Sequence[OrderUpdate], expected: frozenset[str]) -> StartSummary:
    at_venue = [u.client_order_id for u in venue_open]
    return StartSummary(
        adopted=tuple(sorted(c for c in at_venue if c in expected)),
        cancelled=tuple(sorted(c for c in at_venue if c not in expected)),
        unknown=tuple(sorted(expected - set(at_venue))))


def _balances(account: Mapping[str, Any]) -> dict[str, Decimal]:
    if "balances" in account:  # spot
        return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"])
                for b in account["balances"]}
    return {a["asset"]: Decimal(a["walletBalance"]) for a in account.get("assets", ())}


def positions_of(value: Mapping[str, Any], specs: Mapping[str, InstrumentSpec],
                 symbols: Mapping[str, str], now_ns: int,
                 baseline: dict[str, Decimal] | None = None) -> VenuePositions:
    """`value`: {"account": ..., "positions": [...]} as the REST worker fetched them;
    `symbols`: Binance symbol -> our name. `baseline` (spot) is filled on first use."""
    balances = _balances(value["account"])
    lots: dict[str, int] = {}
    for row in value.get("positions") or ():
        name = symbols.get(row.get("symbol", ""))
        if name is not None:
            lots[name] = int(Decimal(row["positionAmt"]) / specs[name].lot_step)
    if not value.get("positions") and baseline is not None:
        for symbol, name in symbols.items():
            base = _base_asset(symbol)
            now = balances.get(base, Decimal(0))
            start = baseline.setdefault(base, now)
            lots[name] = int((now - start) / specs[name].lot_step)
    return VenuePositions(tuple(sorted(lots.items())), tuple(sorted(balances.items())), now_ns)


def _base_asset(symbol: str) -> str:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol
