"""The simulated venue's account: balances, reservations, positions and margin, exactly.

The matching engine (`actors.sim.exchange`) asks the account two questions before it accepts an
order, "may this order rest or trade?" (`admit`, `readmit`) and "how much may a reduce-only
order still fill?" (`reduce_only_room`), and tells it what happened (`fill`, `release`).

Rules, with V = tick_size x lot_step x multiplier (the quote value of one tick on one lot):

- Spot. A buy reserves `price x qty x V x (1 + fee)` of the quote asset, where `fee` is the
  taker rate if the order may take liquidity on arrival and the maker rate otherwise (a rebate
  reserves nothing extra). A market buy reserves at the worst price its walk of the book
  reaches. A sell reserves `qty x lot_step x multiplier` of the base asset. A fill moves both
  balances (the fee is paid in the quote asset) and releases the fill's share of the
  reservation; a cancel or expiry releases the rest. Not enough free balance: refused.
- Perp. The quote balance is collateral. Per instrument, the margin need is
  `max(|pos + open buys| x p_buy, |pos - open sells| x p_sell) x V / leverage`: the worse of
  "every buy fills" and "every sell fills", each valued at the highest of that side's order
  prices and the average entry (reduce-only orders never add). With orders on one side only
  this is the familiar `(|position| + orders that increase it) x price x V / leverage`. An
  order is refused when the total need of all perps on that collateral would exceed `quote
  balance - spot reservations` *and* the order raises the need: an order that only reduces
  exposure is never refused for margin. Fills update the signed
  position at average cost; realized PnL (`closed x (price - avg) x V`, sign flipped for a
  short) is credited to the quote balance at once, so "balance" is quote balance plus realized
  PnL, and also kept per instrument. Fees are debited from the quote balance.
- Reduce-only, both kinds. The room is the position left in the order's reducing direction;
  none (or a position the order would increase): refused. On spot the "position" is the net
  lots bought minus sold since the start: an emulation, spot venues have no such flag.

Money is exact `Fraction` inside (an average entry price of 100 2/3 ticks cannot be a Decimal)
and `Decimal` at the edge (`actors.portfolio.ledger.to_decimal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

import attrs

from actors.portfolio.running_sums import to_decimal
from actors.sim.matching import SimInstrument
from protocols.codec import Side
from protocols.instruments import Money, _money
from protocols.orders import RejectCode

__all__ = ["SimAccount"]

_ZERO = Fraction(0)


@attrs.define(slots=True, eq=False)
class _Hold:
    """What one open order holds: `per_lot` of `asset` (spot), or margin exposure (perp)."""

    instrument: str
    sim: SimInstrument
    side: Side
    lots: int
    price: int
    per_lot: Fraction
    asset: str
    reduce_only: bool


@attrs.define(slots=True, eq=False)
class _Position:
    lots: int = 0
    avg: Fraction = _ZERO  # ticks; meaningful while lots != 0 (perp)
    realized: Fraction = _ZERO  # quote, gross of fees (perp)


class SimAccount:
    """Balances per asset and a signed position per instrument, with open-order reservations."""

    def __init__(self, balances: Mapping[str, Money], leverage: Money = 1) -> None:
        lev = _money(leverage, "leverage")
        if lev <= 0:
            raise ValueError(f"leverage must be positive, got {lev}")
        self.leverage = Fraction(lev)
        self._balances: dict[str, Fraction] = {
            asset: Fraction(_money(amount, f"balance of {asset}"))
            for asset, amount in balances.items()
        }
        self._holds: dict[str, _Hold] = {}
        self._positions: dict[str, _Position] = {}
        self._perps: dict[str, SimInstrument] = {}

    # ---------------------------------------------------------------------------------------
    # Reading

    def balance(self, asset: str) -> Decimal:
        return to_decimal(self._balances.get(asset, _ZERO))

    def reserved(self, asset: str) -> Decimal:
        return to_decimal(self._reserved(asset))

    def available(self, asset: str) -> Decimal:
        return to_decimal(self._balances.get(asset, _ZERO) - self._reserved(asset))

    def position(self, instrument: str) -> int:
        position = self._positions.get(instrument)
        return 0 if position is None else position.lots

    def average_price(self, instrument: str) -> Fraction | None:
        """Average entry in ticks of a perp position (None when flat or spot)."""
        position = self._positions.get(instrument)
        if position is None or position.lots == 0 or instrument not in self._perps:
            return None
        return position.avg

    def realized_pnl(self, instrument: str) -> Decimal:
        position = self._positions.get(instrument)
        return to_decimal(_ZERO if position is None else position.realized)

    def balances(self) -> dict[str, Decimal]:
        return {asset: to_decimal(value) for asset, value in sorted(self._balances.items())}

    def positions(self) -> dict[str, int]:
        return {name: p.lots for name, p in sorted(self._positions.items())}

    def margin_used(self, quote_asset: str) -> Decimal:
        """What the perps on this collateral need now (positions and open orders)."""
        return to_decimal(self._margin(quote_asset, self._holds.values()))

    def reduce_only_room(self, instrument: str, side: Side) -> int:
        """Lots a reduce-only order of `side` may still fill: the position left to reduce."""
        lots = self.position(instrument)
        return max(lots, 0) if side is Side.SELL else max(-lots, 0)

    # ---------------------------------------------------------------------------------------
    # Orders

    def admit(self, key: str, instrument: str, sim: SimInstrument, *, side: Side, qty: int,
              price: int, fee_rate: Decimal, reduce_only: bool) -> RejectCode | None:
        """Check a new order and, if it passes, hold what it needs. None means admitted.

        `price` is what the hold is valued at (the limit, or a market order's worst walked
        price); `fee_rate` the rate it may pay (taker if it may take, else maker)."""
        if reduce_only and self.reduce_only_room(instrument, side) == 0:
            return RejectCode.REDUCE_ONLY_WOULD_INCREASE
        hold = self._hold_for(instrument, sim, side=side, qty=qty, price=price,
                              fee_rate=fee_rate, reduce_only=reduce_only)
        if not self._affordable(hold, self._holds.values()):
            return RejectCode.INSUFFICIENT_FUNDS
        self._holds[key] = hold
        if sim.kind == "perp":
            self._perps[instrument] = sim
        return None

    def readmit(self, key: str, *, qty: int, price: int, fee_rate: Decimal,
                reduce_only: bool) -> RejectCode | None:
        """A replace: check the order's new size and price as if its old hold were gone, and
        swap the hold if it passes. On refusal the old hold stays exactly as it was."""
        old = self._holds.get(key)
        if old is None:
            raise KeyError(f"no open order {key!r} holds anything")
        if reduce_only and self.reduce_only_room(old.instrument, old.side) == 0:
            return RejectCode.REDUCE_ONLY_WOULD_INCREASE
        hold = self._hold_for(old.instrument, old.sim, side=old.side, qty=qty, price=price,
                              fee_rate=fee_rate, reduce_only=reduce_only)
        others = [h for k, h in self._holds.items() if k != key]
        if not self._affordable(hold, others, replacing=old):
            return RejectCode.INSUFFICIENT_FUNDS
        self._holds[key] = hold
        return None

    def release(self, key: str, qty: int | None = None) -> None:
        """An order was cancelled or expired: free `qty` lots of its hold (None: all)."""
        hold = self._holds.get(key)
        if hold is None:
            return
        hold.lots -= hold.lots if qty is None else min(qty, hold.lots)
        if hold.lots <= 0:
            del self._holds[key]

    def fill(self, key: str, qty: int, price: int, fee: Decimal) -> None:
        """Book `qty` lots of order `key` at `price` ticks, paying `fee` in the quote asset."""
        hold = self._holds.get(key)
        if hold is None:
            raise KeyError(f"fill for {key!r}, which holds nothing")
        sim, side = hold.sim, hold.side
        quote, base = sim.quote_asset, sim.base_asset
        signed = qty if side is Side.BUY else -qty
        self._credit(quote, -Fraction(fee))
        if sim.kind == "spot":
            value = Fraction(sim.quote_value(price, qty))
            self._credit(quote, -value if side is Side.BUY else value)
            units = Fraction(sim.base_per_lot) * qty
            self._credit(base, units if side is Side.BUY else -units)
            self._positions.setdefault(hold.instrument, _Position()).lots += signed
        else:
            realized = self._trade_perp(hold.instrument, signed, price, Fraction(sim.value))
            self._credit(quote, realized)
        self.release(key, qty)

    # ---------------------------------------------------------------------------------------
    # Internals

    def _credit(self, asset: str, amount: Fraction) -> None:
        self._balances[asset] = self._balances.get(asset, _ZERO) + amount

    def _reserved(self, asset: str) -> Fraction:
        return _held(asset, self._holds.values())

    def _hold_for(self, instrument: str, sim: SimInstrument, *, side: Side, qty: int,
                  price: int, fee_rate: Decimal, reduce_only: bool) -> _Hold:
        if sim.kind == "perp":
            return _Hold(instrument, sim, side, qty, price, _ZERO, sim.quote_asset, reduce_only)
        if side is Side.BUY:
            per_lot = Fraction(sim.quote_value(price, 1)) * (1 + max(Fraction(fee_rate), _ZERO))
            return _Hold(instrument, sim, side, qty, price, per_lot, sim.quote_asset, reduce_only)
        return _Hold(instrument, sim, side, qty, price, Fraction(sim.base_per_lot),
                     sim.base_asset, reduce_only)

    def _affordable(self, hold: _Hold, others: Iterable[_Hold],
                    replacing: _Hold | None = None) -> bool:
        others = list(others)
        free = self._balances.get(hold.asset, _ZERO) - _held(hold.asset, others)
        if hold.sim.kind == "spot":
            return hold.per_lot * hold.lots <= free
        if hold.reduce_only:
            return True
        need_after = self._margin(hold.asset, [*others, hold])
        if need_after <= free:
            return True
        before = others if replacing is None else [*others, replacing]
        return need_after <= self._margin(hold.asset, before)

    def _margin(self, quote: str, holds: Iterable[_Hold]) -> Fraction:
        """Margin the perps on collateral `quote` need, given these open-order holds."""
        perps = dict(self._perps)
        by_instrument: dict[str, list[_Hold]] = {}
        for hold in holds:
            if hold.sim.kind == "perp" and hold.asset == quote:
                by_instrument.setdefault(hold.instrument, []).append(hold)
                perps[hold.instrument] = hold.sim
        total = _ZERO
        for name, sim in sorted(perps.items()):
            if sim.quote_asset != quote:
                continue
            position = self._positions.get(name, _Position())
            adds = [h for h in by_instrument.get(name, ()) if not h.reduce_only]
            worst = max(self._exposure(position, [h for h in adds if h.side is Side.BUY], 1),
                        self._exposure(position, [h for h in adds if h.side is Side.SELL], -1))
            total += worst * Fraction(sim.value) / self.leverage
        return total

    @staticmethod
    def _exposure(position: _Position, orders: list[_Hold], sign: int) -> Fraction:
        """Lots x ticks of the position once all `orders` (all one side) have filled, valued at
        the highest of their prices and the average entry."""
        lots = abs(position.lots + sign * sum(h.lots for h in orders))
        prices = [Fraction(h.price) for h in orders]
        if position.lots:
            prices.append(position.avg)
        return lots * max(prices) if lots and prices else _ZERO

    def _trade_perp(self, instrument: str, signed: int, price: int, value: Fraction) -> Fraction:
        """Move a perp position by `signed` lots at `price`; return the realized PnL (quote)."""
        position = self._positions.setdefault(instrument, _Position())
        lots, avg = position.lots, position.avg
        if lots == 0 or (lots > 0) == (signed > 0):  # open or add: new size-weighted average
            total = lots + signed
            position.avg = (avg * abs(lots) + Fraction(price) * abs(signed)) / abs(total)
            position.lots = total
            return _ZERO
        closed = min(abs(signed), abs(lots))
        direction = 1 if lots > 0 else -1
        realized = closed * (Fraction(price) - avg) * value * direction
        position.lots = lots + signed
        position.realized += realized
        if position.lots == 0:
            position.avg = _ZERO
        elif (position.lots > 0) != (lots > 0):  # flipped: the rest opened at the fill price
            position.avg = Fraction(price)
        return realized


def _held(asset: str, holds: Iterable[_Hold]) -> Fraction:
    """What spot orders hold of `asset` (perp orders hold margin, computed separately)."""
    return sum((h.per_lot * h.lots for h in holds if h.asset == asset and h.sim.kind == "spot"),
               _ZERO)
