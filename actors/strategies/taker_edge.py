"""The dislocation taker's pure core: the exact fee-aware edge test and two-hit confirmation.

Edge, exactly
-------------
Buying at the ask `a` when the reference `R` is above it earns `(R - a) / a` of the notional
before fees; selling at the bid `b` when `R` is below earns `(b - R) / b`. We take only when that
fraction *strictly exceeds* `fee_legs * taker_fee + min_edge_bps / 10_000`, and never when it is
not positive (a taker rebate must not turn "no dislocation" into a trade).

The test is a cross-multiplication of Decimals in a context that traps inexact results:

    buy:   R_x2 - 2a  >  2a * threshold          sell:   2b - R_x2  >  2b * threshold

with every price a Decimal *price* (ticks x tick size) doubled, because the book mid and the
oracle arrive as doubled ticks (`mid_x2`, `oracle_x2`): no division, no rounding, no float. A
float test gets the boundary wrong: with a 5 bps fee and 2 bps of required edge, an ask of
100000 against a reference of 100070 is exactly at the threshold, yet
`100070 > 100000 * (1 + 0.0005 + 0.0002)` is True in binary floating point. The edge reported
in a WHY's detail is the one division, for humans only.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from protocols.instruments import _EXACT
from protocols.market import BookTop
from protocols.orders import Side

_BPS = Decimal(10_000)


class Reference(enum.Enum):
    """Where the fair price comes from."""

    ORACLE = "oracle"  # MarketState.oracle_x2 of our instrument
    MARK = "mark"  # MarketState.mark_x2 of our instrument
    VENUE_MID = "venue_mid"  # the mid of another venue's BookTop (`reference_instrument`)


def required_edge(taker_fee: Decimal, min_edge_bps: Decimal, fee_legs: int = 1) -> Decimal:
    """The edge (fraction of notional) a take must strictly exceed. Exact."""
    if fee_legs < 1:
        raise ValueError(f"fee_legs must be at least 1, got {fee_legs}")
    fees = _EXACT.multiply(Decimal(fee_legs), taker_fee)
    return _EXACT.add(fees, _EXACT.divide(min_edge_bps, _BPS))


def price_x2(ticks_x2: int, tick_size: Decimal) -> Decimal:
    """Doubled ticks (`mid_x2`, `oracle_x2`) as a doubled Decimal price. Exact."""
    return _EXACT.multiply(Decimal(ticks_x2), tick_size)


@attrs.frozen(slots=True)
class Dislocation:
    """A take worth making: `side` at the touch `price` (ticks), `qty` lots shown there."""

    side: Side
    price: int
    qty: int
    edge: Decimal  # fraction of the execution price, rounded for display


def _edge(raw: Decimal, exec_x2: Decimal) -> Decimal:
    return (raw / exec_x2).quantize(Decimal("1e-8"))


def find_dislocation(
    book: BookTop, tick_size: Decimal, ref_x2: Decimal, threshold: Decimal
) -> tuple[Dislocation | None, Decimal | None]:
    """The qualifying take on `book` against the doubled reference price, if any, and the best
    edge seen (qualifying or not, None for an empty book) for the WHY's detail."""
    best: Decimal | None = None
    for side, touch, qty in ((Side.BUY, book.ask, book.ask_qty),
                             (Side.SELL, book.bid, book.bid_qty)):
        if touch is None or touch <= 0:
            continue
        exec_x2 = _EXACT.multiply(Decimal(2 * touch), tick_size)
        raw = _EXACT.subtract(ref_x2, exec_x2) if side is Side.BUY else _EXACT.subtract(
            exec_x2, ref_x2)
        edge = _edge(raw, exec_x2)
        best = edge if best is None else max(best, edge)
        if raw > 0 and raw > _EXACT.multiply(exec_x2, threshold):
            return Dislocation(side, touch, qty, edge), best
    return None, best


class Hit(enum.Enum):
    FIRST = "first"  # a dislocation seen once: wait for a second look
    CONFIRMED = "confirmed"  # seen on two consecutive qualifying updates within the TTL
    EXPIRED = "expired"  # the second sighting came too late; it now counts as a first


class Confirmation:
    """Two hits on consecutive qualifying updates, the second within `ttl_ns` of the first.

    One book update can be a glitch (a stale level, a half-applied diff, a fat finger pulled a
    millisecond later); the same dislocation on the next update is much less likely to be one.
    Any update without the dislocation (or with it on the other side) must `reset`, which is what
    makes the hits consecutive. A late second hit is not thrown away: it starts a new pair.
    """

    __slots__ = ("_first_ns", "_side", "ttl_ns")

    def __init__(self, ttl_ns: int) -> None:
        if ttl_ns < 0:
            raise ValueError(f"ttl_ns must not be negative, got {ttl_ns}")
        self.ttl_ns = ttl_ns
        self._side: Side | None = None
        self._first_ns = 0

    def observe(self, side: Side, now_ns: int) -> Hit:
        if self._side is side:
            if now_ns - self._first_ns <= self.ttl_ns:
                self.reset()
                return Hit.CONFIRMED
            self._first_ns = now_ns
            return Hit.EXPIRED
        self._side, self._first_ns = side, now_ns
        return Hit.FIRST

    def reset(self) -> None:
        self._side = None

    @property
    def pending(self) -> Side | None:
        return self._side
