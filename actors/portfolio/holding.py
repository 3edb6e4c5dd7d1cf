"""One instrument's position under average cost: the exact arithmetic the ledger sums.

Prices are in ticks, sizes in lots, and V = tick_size x lot_step x multiplier is the quote value
of one tick on one lot; marks are doubled ticks (`mid_x2`), so a mid between two ticks is exact.

- Average cost. Adding to a position (or opening one) moves the average entry price to the
  size-weighted mean; reducing realizes `closed x (price - avg) x V` (sign flipped for shorts) and
  leaves the average alone; a fill that crosses zero closes the old position and opens the rest
  at the fill price. The average is a `Fraction` of a tick (100, 101, 101 average 100 2/3): any
  rounding here would leak into every later realized PnL.
- An opening position (`Ledger.open_position`: what the account held before this process's
  fills, as the venue's start-up reconciliation found it) enters at the mark and realizes
  nothing; a later opening of the instrument replaces it, the change again at the mark, taken
  off at the average. With no mark yet, it counts in the position (risk, reconciliation) and
  waits for one.

Pure: no clock, no context. `Ledger` (`actors.portfolio.ledger`) keeps one `Holding` per
instrument and the running sums over them.
"""

from __future__ import annotations

from fractions import Fraction

import attrs

__all__ = ["Holding"]

_ZERO = Fraction(0)


@attrs.define(slots=True)
class Holding:
    """One instrument's position. `avg` is in ticks; money fields are quote-currency Fractions.
    `trade` books a fill (realizing PnL), `shift` an opening change (realizing nothing)."""

    value: Fraction  # V: quote value of one tick on one lot
    half_value: Fraction  # V / 2: what one lot gains when the doubled-tick mark rises by one
    qty: int = 0
    avg: Fraction = _ZERO
    realized: Fraction = _ZERO  # gross
    fees: Fraction = _ZERO
    mid_x2: int | None = None
    last_price: int | None = None
    opening: int = 0  # lots held before this process's fills (`Ledger.open_position`)
    unpriced: int = 0  # opening lots waiting for a first mark to enter at
    changes: int = 0  # trades and shifts so far: what the ledger's cached figures are as of

    @property
    def held(self) -> int:
        return self.qty + self.unpriced

    def price_opening(self) -> None:
        """Opening lots waiting for a price enter at the mark, once there is one."""
        mark = self.mark_x2
        if self.unpriced and mark is not None:
            lots, self.unpriced = self.unpriced, 0
            self.shift(lots, Fraction(mark, 2))

    def shift(self, qty: int, price: Fraction) -> None:
        """An opening change: lots added enter at `price`, lots taken off leave at the average,
        so it never realizes PnL (it is no trade: what the account held is known better)."""
        self.changes += 1
        total = self.qty + qty
        if self.qty == 0 or (self.qty > 0) == (qty > 0):
            self.avg = (self.avg * abs(self.qty) + price * abs(qty)) / abs(total)
        elif total == 0:
            self.avg = _ZERO
        elif (total > 0) != (self.qty > 0):
            self.avg = price  # past zero: the remainder enters at the price
        self.qty = total

    @property
    def mark_x2(self) -> int | None:
        if self.mid_x2 is None and self.last_price is not None:
            return 2 * self.last_price  # no mid seen yet: the last fill price
        return self.mid_x2

    def trade(self, qty: int, price: int) -> Fraction:
        """Apply signed `qty` lots at `price` ticks; return the gross PnL it realized."""
        self.last_price = price
        self.changes += 1
        self.price_opening()
        if self.qty == 0 or (self.qty > 0) == (qty > 0):
            total = self.qty + qty
            self.avg = (self.avg * abs(self.qty) + Fraction(price * abs(qty))) / abs(total)
            self.qty = total
            return _ZERO
        long = self.qty > 0
        closed = min(abs(qty), abs(self.qty))
        pnl = closed * (Fraction(price) - self.avg) * self.value * (1 if long else -1)
        self.qty += qty
        if self.qty == 0:
            self.avg = _ZERO
        elif (self.qty > 0) != long:
            self.avg = Fraction(price)  # flipped: the remainder opened at the fill price
        self.realized += pnl
        return pnl

    def unrealized(self) -> Fraction:
        mark = self.mark_x2
        if self.qty == 0 or mark is None:
            return _ZERO
        return self.qty * (Fraction(mark, 2) - self.avg) * self.value

    def cost(self) -> Fraction:
        """qty x avg x V: what unrealized PnL subtracts from the position at its mark, and
        what only a trade or a shift changes."""
        return self.qty * self.avg * self.value

    def notional(self) -> Fraction:
        mark = self.mark_x2
        return _ZERO if mark is None else abs(self.qty) * Fraction(mark, 2) * self.value
