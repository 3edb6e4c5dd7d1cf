"""Market events between actors: what books publish and what markets say about an instrument.

Prices are integer ticks and sizes integer lots of the instrument's spec. Every event carries the
venue's timestamp when the venue gives one (`venue_ns`, epoch ns) and the local monotonic receive
time (`recv_ns`): freshness is judged on `recv_ns` against a monotonic clock, never on venue
time, whose clock is not ours.
"""

from __future__ import annotations

import enum

import attrs

from protocols.codec import Side
from protocols.instruments import InstrumentSpec


@attrs.frozen(slots=True)
class BookTop:
    """A synced, consistent book, as the OrderBook actor publishes it (conflated per instrument:
    a slow subscriber sees the newest, never a backlog). Never published while stale."""

    instrument: str
    bid: int | None
    bid_qty: int
    ask: int | None
    ask_qty: int
    recv_ns: int
    venue_ns: int | None = None
    sequence: int = 0  # the book's update count: lets a consumer spot skipped versions
    bids: tuple[tuple[int, int], ...] = ()  # top levels, best first, when subscribed with depth
    asks: tuple[tuple[int, int], ...] = ()

    @property
    def mid_x2(self) -> int | None:
        """bid + ask in ticks: twice the mid, exact even for a one-tick spread."""
        if self.bid is None or self.ask is None:
            return None
        return self.bid + self.ask

    @property
    def spread(self) -> int | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid


@attrs.frozen(slots=True)
class BookStale:
    """The book stopped being trustworthy (gap, crossed, resync, no data): stop new orders."""

    instrument: str
    reason: str  # "gap", "crossed", "resync", "no_data", "time_regression"
    recv_ns: int


@attrs.frozen(slots=True)
class TradePrint:
    """A public trade. `aggressor` is the taker's side: BUY lifted the ask."""

    instrument: str
    price: int
    qty: int
    aggressor: Side
    trade_id: str
    recv_ns: int
    venue_ns: int | None = None


class TradingStatus(enum.Enum):
    TRADING = "trading"
    REDUCE_ONLY = "reduce_only"  # the venue accepts only position-reducing orders
    HALTED = "halted"


@attrs.frozen(slots=True)
class MarketState:
    """What the Market actor knows about one instrument, published on every change."""

    instrument: str
    spec: InstrumentSpec
    status: TradingStatus = TradingStatus.TRADING
    oracle_x2: int | None = None  # oracle/index price, doubled ticks like mid_x2
    mark_x2: int | None = None
    oracle_recv_ns: int | None = None
    open_interest_capped: bool = False  # the venue refuses position-increasing orders
    funding_rate: str | None = None  # as the venue states it, a decimal string per period
    recv_ns: int = 0


@attrs.frozen(slots=True)
class SpecChanged:
    """The venue changed tick, lot, fees or limits: the risk gate halts the instrument."""

    instrument: str
    old: InstrumentSpec
    new: InstrumentSpec
    recv_ns: int
