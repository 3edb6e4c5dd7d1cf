"""Own fills and portfolio state, as the venue connection and the Portfolio actor publish them."""

from __future__ import annotations

from decimal import Decimal

import attrs

from protocols.codec import Side
from protocols.orders import IntentAnswer, Liquidity


@attrs.frozen(slots=True)
class OwnFill(IntentAnswer):
    """One of our fills, enriched by the venue connection with what the order state machine knows.

    Price in ticks, qty in lots of the instrument's spec; `fee` in the quote currency (negative
    for a rebate). `mid_x2_at_fill` is the book mid (doubled ticks) the venue connection saw when
    the fill arrived, for spread capture; None if no synced book was available.
    """

    instrument: str
    strategy: str
    client_order_id: str
    fill_id: str
    side: Side
    qty: int
    price: int
    fee: Decimal
    liquidity: Liquidity
    recv_ns: int
    venue_ns: int | None = None
    mid_x2_at_fill: int | None = None
    reduce_only: bool = False


@attrs.frozen(slots=True)
class Position:
    instrument: str
    qty: int  # signed lots: positive long, negative short
    avg_price: Decimal  # in ticks, exact (a fraction of a tick is possible)
    realized_pnl: Decimal  # quote currency, after fees
    unrealized_pnl: Decimal  # quote currency, at the last mid
    fees: Decimal
    notional: Decimal  # |qty| x mark, quote currency


@attrs.frozen(slots=True)
class PortfolioSnapshot:
    """Published by the Portfolio actor after every fill and mark change (conflatable: newest)."""

    positions: tuple[Position, ...]
    total_exposure: Decimal  # sum of |notional|
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    daily_realized_pnl: Decimal  # since the start of the trading day (UTC)
    peak_equity: Decimal  # for drawdown
    equity: Decimal  # realized + unrealized since start
    recv_ns: int

    def position(self, instrument: str) -> Position | None:
        for position in self.positions:
            if position.instrument == instrument:
                return position
        return None


@attrs.frozen(slots=True)
class PositionAsk:
    """A strategy starting (again: a supervisor's restart) asks where its instrument's position
    stands, so its inventory does not start flat on a position its last incarnation built.
    Answered with `PositionNow`."""

    instrument: str


@attrs.frozen(slots=True)
class PositionNow:
    """The portfolio's answer to `PositionAsk`: `qty` signed lots held now, of which `opening`
    were held before this process booked any fill (the venue's, `PositionAdopted`), entered at
    `avg_price` ticks; `counted`, the ids of the latest fills `qty` includes (a fill the asker
    has already applied is not counted twice). `qty` None: the portfolio cannot say which part is
    the asker's (several strategies trade the instrument), so it starts flat."""

    instrument: str
    qty: int | None
    opening: int = 0
    avg_price: Decimal | None = None
    counted: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class VenuePositions:
    """What the venue reports, for reconciliation: signed lots per instrument, balances."""

    positions: tuple[tuple[str, int], ...]
    balances: tuple[tuple[str, Decimal], ...]
    recv_ns: int


@attrs.frozen(slots=True)
class PositionAdopted:
    """The position the account held before this process booked any fill, as the venue's
    start-up reconciliation found it: `qty` signed lots of `instrument`. The portfolio opens its
    ledger there, so risk limits, reduce-only decisions and reconciliation start from what the
    account holds, not from zero; a later one for the instrument replaces it (a fill still on
    its way at that reconciliation, later found to be in the balance it read). Journaled: the
    next start reads `starting`, the amount of `asset` the position counts from (spot: the base
    asset held beyond it is the position), and `source`, where that amount came from ("config",
    "journal", or "recorded": the balance this node first found)."""

    instrument: str
    qty: int
    asset: str = ""
    starting: Decimal = Decimal(0)
    source: str = ""
    recv_ns: int = 0


@attrs.frozen(slots=True)
class ReconciliationDrift:
    """Our ledger and the venue disagree. The account moves to REDUCING until an operator looks."""

    instrument: str
    ours: int
    venue: int
    recv_ns: int


@attrs.frozen(slots=True)
class MidSampled:
    """Journaled by the Portfolio actor: the instrument's mid (doubled ticks) changed, seen at
    monotonic `recv_ns`. Sampled (at most one per sampling interval per instrument), so a day
    of depth data stays a few hundred thousand lines; the markouts of a report start from it."""

    instrument: str
    mid_x2: int
    recv_ns: int


@attrs.frozen(slots=True)
class TradeAtFill:
    """Journaled by the Portfolio actor with each booked fill: the last public trade it had
    seen on the fill's instrument (price in ticks, qty in lots, the taker's side), which the
    report's fill-sanity checks compare the fill with. None fields: no trade seen yet."""

    instrument: str
    fill_id: str
    price: int | None
    qty: int | None
    aggressor: Side | None
    trade_recv_ns: int | None
    recv_ns: int
