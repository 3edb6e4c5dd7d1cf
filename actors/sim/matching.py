"""The simulated venue's data and small pure pieces: instruments, records, filters, the overlay.

`actors.sim.exchange.SimExchange` is the matching engine; this module holds what it is built
from, so that each file stays readable:

- `DepthView`: the venue-side public book the engine reads (`actors.market.l2_book.OrderBook` fits).
- `SimInstrument`: the venue's truth about one instrument, plus knobs that make the venue
  coarser than our spec (to exercise tick and lot refusals).
- `check_filters`: Binance-style order filters with Binance's messages.
- `TakenLiquidity`: the overlay that remembers the book liquidity our taker orders consumed.
- `RestingOrder` and `SimStatistics`: read-only records handed out by the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

import attrs

from actors.market.quantization import lots_to_qty, notional, ticks_to_price
from actors.sim.queue_models import QueuePosition
from protocols.codec import Side
from protocols.instruments import _EXACT, ContractType, InstrumentSpec
from protocols.orders import OrderType, RejectCode, TimeInForce

__all__ = [
    "DUPLICATE",
    "INSUFFICIENT_BALANCE",
    "LOT_SIZE",
    "NOTIONAL",
    "PRICE_FILTER",
    "REDUCE_ONLY_REJECTED",
    "UNKNOWN_ORDER",
    "UNKNOWN_SYMBOL",
    "WOULD_TAKE",
    "DepthView",
    "RestingOrder",
    "SimInstrument",
    "SimStatistics",
    "TakenLiquidity",
    "check_filters",
    "opposite",
]

# Binance's wording, so that logs and tests read like the real venue's answers.
PRICE_FILTER = "-1013 Filter failure: PRICE_FILTER"
LOT_SIZE = "-1013 Filter failure: LOT_SIZE"
NOTIONAL = "-1013 Filter failure: NOTIONAL"
INSUFFICIENT_BALANCE = "-2010 Account has insufficient balance for requested action."
WOULD_TAKE = "-2010 Order would immediately match and take."
DUPLICATE = "-2010 Duplicate order sent."
UNKNOWN_ORDER = "-2011 Unknown order sent."
REDUCE_ONLY_REJECTED = "-2022 ReduceOnly Order is rejected."
UNKNOWN_SYMBOL = "-1121 Invalid symbol."


def opposite(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


class DepthView(Protocol):
    """The venue-side public book of one instrument, in ticks and lots; Side.BUY is the bid side.
    The caller owns it and updates it in place; the engine only reads it."""

    @property
    def best_bid(self) -> int | None: ...

    @property
    def best_ask(self) -> int | None: ...

    def qty_at(self, side: Side, price: int) -> int: ...

    def depth(self, side: Side, n: int) -> list[tuple[int, int]]: ...


class EmptyDepth:
    """The book of an instrument no view was attached for: nothing to take, nothing ahead."""

    best_bid: int | None = None
    best_ask: int | None = None

    def qty_at(self, side: Side, price: int) -> int:
        return 0

    def depth(self, side: Side, n: int) -> list[tuple[int, int]]:
        return []


def _kind(_inst: object, _attribute: object, value: str) -> None:
    if value not in ("spot", "perp"):
        raise ValueError(f"kind must be 'spot' or 'perp', got {value!r}")


def _multiple(_inst: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


@attrs.frozen(slots=True)
class SimInstrument:
    """One instrument as the simulated venue knows it.

    `spec` is the venue's truth (tick, lot, minimums, fees, multiplier). `price_multiple` and
    `lot_multiple` make the venue coarser than our spec: it accepts only prices (quantities)
    that are multiples of that many of our ticks (lots), which is how a stale spec on our side
    shows up as PRICE_FILTER / LOT_SIZE refusals. `kind` picks the account rules: "spot" moves
    balances, "perp" keeps a signed position against margin.
    """

    spec: InstrumentSpec
    base_asset: str
    quote_asset: str
    kind: str = attrs.field(default="spot", validator=_kind)
    price_multiple: int = attrs.field(default=1, validator=_multiple)
    lot_multiple: int = attrs.field(default=1, validator=_multiple)
    # The spec's minimums in whole units, worked out once, so the filters compare integers:
    # lots x lot_step < min_qty exactly when lots < min_lots, and price x lots x V <
    # min_notional exactly when ticks x lots < min_value (None: an inverse contract, or no V).
    min_lots: int = attrs.field(init=False, eq=False, repr=False)
    min_value: int | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        spec = self.spec
        min_lots = math.ceil(Fraction(spec.min_qty) / Fraction(spec.lot_step))
        value = spec.tick_value
        min_value = None if spec.contract_type is ContractType.INVERSE or not value \
            else math.ceil(Fraction(spec.min_notional) / Fraction(value))
        object.__setattr__(self, "min_lots", min_lots)
        object.__setattr__(self, "min_value", min_value)

    @property
    def value(self) -> Decimal:
        """V = tick_size x lot_step x multiplier: the quote value of one tick on one lot."""
        return self.spec.tick_value

    @property
    def base_per_lot(self) -> Decimal:
        """Base-asset units in one lot (what a spot sell must hold)."""
        return _EXACT.multiply(self.spec.lot_step, self.spec.multiplier)

    def quote_value(self, price: int, qty: int) -> Decimal:
        """price x qty x V, exact."""
        return _EXACT.multiply(Decimal(price * qty), self.value)

    def fee(self, price: int, qty: int, rate: Decimal) -> Decimal:
        """The fee in the quote asset: notional x rate (negative rate: a rebate)."""
        return _EXACT.multiply(self.quote_value(price, qty), rate)


def check_filters(
    instrument: SimInstrument, price: int | None, qty: int, reference: int | None
) -> tuple[RejectCode, str] | None:
    """The venue's order filters, in Binance's order: price, lot size, notional.

    `price` is the limit price (None for a market order); `reference` the price the notional
    is judged at (the limit price, or the touch for a market order; None skips the notional
    check, as when the book is empty and a market order can only expire).
    """
    spec = instrument.spec
    if price is not None and (price <= 0 or price % instrument.price_multiple):
        return RejectCode.INVALID_PRICE, PRICE_FILTER
    if qty <= 0 or qty % instrument.lot_multiple or qty < instrument.min_lots:
        return RejectCode.INVALID_QUANTITY, LOT_SIZE
    if reference is not None and reference > 0:
        min_value = instrument.min_value
        below = reference * qty < min_value if min_value is not None else notional(
            spec, ticks_to_price(spec, reference), lots_to_qty(spec, qty)) < spec.min_notional
        if below:
            return RejectCode.MIN_NOTIONAL, NOTIONAL
    return None


def _better_or_equal(book_side: Side, price: int, limit: int | None) -> bool:
    """Whether a level of `book_side` at `price` is within a taker's `limit` (None: any)."""
    if limit is None:
        return True
    return price <= limit if book_side is Side.SELL else price >= limit


class TakenLiquidity:
    """The book liquidity our own taker orders consumed, per level, until the feed moves on.

    The recorded (or synthetic) feed does not know about our orders: after we lift 3 lots at
    101 the view still shows them. Offering them again would let one level fill us twice. So
    each level we take from remembers (displayed qty when taken, lots taken), and offers only
    `displayed - taken` while the view still shows that same quantity. As soon as the view's
    quantity at the level changes, the feed's new figure wins and the memory is dropped.

    This is an approximation: the feed's next update may or may not already reflect our impact
    (it cannot, for a recording), and a level refilled by others to exactly the old quantity
    between two reads looks unchanged. It errs on the side of less liquidity.
    """

    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: dict[tuple[str, Side, int], tuple[int, int]] = {}

    def available(self, instrument: str, book_side: Side, price: int, displayed: int) -> int:
        key = (instrument, book_side, price)
        memory = self._taken.get(key)
        if memory is None:
            return displayed
        seen, taken = memory
        if seen != displayed:
            del self._taken[key]
            return displayed
        return max(displayed - taken, 0)

    def take(self, instrument: str, book_side: Side, price: int, displayed: int, qty: int) -> None:
        key = (instrument, book_side, price)
        memory = self._taken.get(key)
        taken = memory[1] if memory is not None and memory[0] == displayed else 0
        self._taken[key] = (displayed, taken + qty)

    def purge(self, instrument: str, view: DepthView) -> None:
        """Forget every level of `instrument` whose displayed quantity has changed."""
        if not self._taken:
            return
        stale = [key for key, (seen, _taken) in self._taken.items()
                 if key[0] == instrument and view.qty_at(key[1], key[2]) != seen]
        for key in stale:
            del self._taken[key]

    def levels(
        self, instrument: str, view: DepthView, book_side: Side, limit: int | None
    ) -> Iterator[tuple[int, int, int]]:
        """(price, displayed, available) of `book_side`, best first, within `limit`, skipping
        levels we have already emptied. Reads the view in growing chunks: most walks stop at
        the first level or two, and most never start (the touch is outside the limit)."""
        best = view.best_ask if book_side is Side.SELL else view.best_bid
        if best is None or not _better_or_equal(book_side, best, limit):
            return
        n, start = 8, 0
        while True:
            rows = view.depth(book_side, n)
            for price, displayed in rows[start:]:
                if not _better_or_equal(book_side, price, limit):
                    return
                available = self.available(instrument, book_side, price, displayed)
                if available > 0:
                    yield price, displayed, available
            if len(rows) < n:
                return
            start, n = len(rows), n * 4

    def reach(self, instrument: str, view: DepthView, book_side: Side, limit: int | None,
              qty: int) -> tuple[int, int | None]:
        """(lots a taker could get now, up to `qty`; the worst price that reaches). Reads only."""
        fillable, worst = 0, None
        for price, _displayed, available in self.levels(instrument, view, book_side, limit):
            fillable += min(available, qty - fillable)
            worst = price
            if fillable >= qty:
                break
        return fillable, worst

    def __len__(self) -> int:
        return len(self._taken)


@attrs.define(slots=True, eq=False)
class SimOrder:
    """A live order inside the engine (mutable; never handed out: see `RestingOrder`)."""

    client_order_id: str
    venue_order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int | None
    qty: int  # lots still open
    reduce_only: bool
    seq: int  # time priority: lower is earlier
    queue: QueuePosition = attrs.field(factory=lambda: QueuePosition(Fraction(0)))
    displayed: int = 0  # the displayed qty at our price when we last looked
    filled: int = 0

    def priority(self) -> tuple[int, int]:
        """Sort key: most aggressive price first (highest bid, lowest ask), then time."""
        assert self.price is not None
        return (-self.price if self.side is Side.BUY else self.price, self.seq)

    def through(self, trade_price: int) -> bool:
        """A trade at `trade_price` went through our resting price (we were better than it)."""
        assert self.price is not None
        return self.price > trade_price if self.side is Side.BUY else self.price < trade_price

    def record(self) -> RestingOrder:
        assert self.price is not None
        return RestingOrder(self.client_order_id, self.venue_order_id, self.instrument, self.side,
                            self.price, self.qty, self.queue.ahead, self.reduce_only, self.filled)


@attrs.frozen(slots=True)
class RestingOrder:
    """A read-only view of one of our resting orders. `ahead`: the queue model's estimate of the
    lots displayed in front of it (may be a Fraction); `qty`: lots still open."""

    client_order_id: str
    venue_order_id: str
    instrument: str
    side: Side
    price: int
    qty: int
    ahead: Fraction
    reduce_only: bool
    filled: int = 0


@attrs.frozen(slots=True)
class SimStatistics:
    """Counts since the engine started. `orders`: new orders accepted; `rejects`: refused new
    orders and replaces, by code; `fees`: per asset, negative for net rebates."""

    orders: int
    fills: int
    maker_fills: int
    taker_fills: int
    filled_lots: int
    rejects: dict[RejectCode, int]
    cancels: int
    cancel_rejects: int
    replaces: int
    expired: int
    fees: dict[str, Decimal]
    resting: int
