"""Instrument specs and the venue's quantization rules, as pure functions over exact numbers.

Every price and size that reaches a venue passes through here, so the rules are strict:

- Money is `Decimal` or `int`, never `float`: a float price is a bug upstream (0.1 is not 0.1),
  so it raises `TypeError` instead of being silently "fixed".
- Rounding goes in the safe direction: a buy price rounds down and a sell price up, so quantizing
  never makes us pay more or sell for less than the strategy asked; a size computed from a
  notional rounds up and is bumped to the venue minimums, so it never silently becomes zero.
- An order that breaks a rule is refused with a `Refusal` value carrying a reason code, not an
  exception: refusing is an ordinary outcome the risk gate reports, not a crash.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from protocols.codec import Side
from protocols.instruments import _EXACT, ContractType, InstrumentSpec, Money, _money

__all__ = [
    "BELOW_MIN_NOTIONAL",
    "BELOW_MIN_QTY",
    "NON_POSITIVE",
    "OFF_LOT",
    "OFF_TICK",
    "ContractType",
    "InstrumentSpec",
    "QuantizedOrder",
    "Refusal",
    "Side",
    "lots_to_qty",
    "notional",
    "price_to_ticks",
    "qty_to_lots",
    "quantize_price",
    "quantize_qty",
    "size_from_notional",
    "ticks_to_price",
    "to_units",
    "validate_order",
]

NON_POSITIVE = "non_positive"
OFF_TICK = "off_tick"
OFF_LOT = "off_lot"
BELOW_MIN_QTY = "below_min_qty"
BELOW_MIN_NOTIONAL = "below_min_notional"


@attrs.frozen(slots=True)
class Refusal:
    """An order the venue would reject, refused before it leaves. Falsy, like `Refused`."""

    reason: str
    detail: str

    def __bool__(self) -> bool:
        return False


@attrs.frozen(slots=True)
class QuantizedOrder:
    """A price and size that satisfy every rule of `spec_version`, with their integer forms."""

    price: Decimal
    qty: Decimal
    price_ticks: int
    qty_lots: int
    notional: Decimal
    spec_version: int


def to_units(value: Money, unit: Decimal, name: str = "value") -> int:
    """`value / unit` as an exact int; ValueError if `value` is not a whole multiple of `unit`."""
    d = _money(value, name)
    whole, rest = _EXACT.divmod(d, unit)
    if rest:
        raise ValueError(f"{name} {d} is not a multiple of {unit}")
    return int(whole)


def price_to_ticks(spec: InstrumentSpec, price: Money) -> int:
    return to_units(price, spec.tick_size, "price")


def ticks_to_price(spec: InstrumentSpec, ticks: int) -> Decimal:
    return _EXACT.multiply(Decimal(_int(ticks, "ticks")), spec.tick_size)


def qty_to_lots(spec: InstrumentSpec, qty: Money) -> int:
    return to_units(qty, spec.lot_step, "qty")


def lots_to_qty(spec: InstrumentSpec, lots: int) -> Decimal:
    return _EXACT.multiply(Decimal(_int(lots, "lots")), spec.lot_step)


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _round_to(value: Decimal, step: Decimal, up: bool) -> Decimal:
    """Floor or ceil `value` to a multiple of `step`, exactly (no division rounding)."""
    whole, rest = _EXACT.divmod(value, step)  # whole truncated toward zero, rest has value's sign
    if up and rest > 0:
        whole += 1
    elif not up and rest < 0:
        whole -= 1
    return _EXACT.multiply(whole, step)


def quantize_price(spec: InstrumentSpec, price: Money, side: Side) -> Decimal:
    """Round `price` to the tick in the direction that cannot hurt: buys down, sells up.

    A buy price below one tick rounds to 0, which `validate_order` then refuses as non_positive.
    """
    p = _money(price, "price")
    if side is Side.BUY:
        return _round_to(p, spec.tick_size, up=False)
    if side is Side.SELL:
        return _round_to(p, spec.tick_size, up=True)
    raise TypeError(f"side must be a Side, got {side!r}")


def quantize_qty(spec: InstrumentSpec, qty: Money, *, up: bool = False) -> Decimal:
    """Round a size to the lot: down by default (never trade more than asked), up on request."""
    return _round_to(_money(qty, "qty"), spec.lot_step, up=up)


def notional(spec: InstrumentSpec, price: Money, qty: Money) -> Decimal:
    """Order value in the quote currency (what `min_notional` is compared with)."""
    p, q = _money(price, "price"), _money(qty, "qty")
    if spec.contract_type is ContractType.INVERSE:
        return _EXACT.multiply(q, spec.multiplier)
    return _EXACT.multiply(_EXACT.multiply(p, q), spec.multiplier)


def _lots_for_notional(spec: InstrumentSpec, target: Decimal, price: Decimal) -> int:
    """Smallest whole number of lots whose notional is at least `target` (exact integer ceil)."""
    per_lot = notional(spec, price, spec.lot_step)
    whole, rest = _EXACT.divmod(target, per_lot)
    return int(whole) + (1 if rest else 0)


def size_from_notional(
    spec: InstrumentSpec, notional_value: Money, price: Money
) -> Decimal | Refusal:
    """The size for spending `notional_value` at `price`: rounded UP to the lot, then bumped to
    `min_qty` and `min_notional`. Rounding up is deliberate: a small notional must produce the
    smallest tradable order, not a size of zero that is silently dropped downstream.
    """
    n, p = _money(notional_value, "notional"), _money(price, "price")
    if n <= 0 or p <= 0:
        return Refusal(NON_POSITIVE, f"notional {n} and price {p} must both be positive")
    lots = max(
        _lots_for_notional(spec, n, p),
        _lots_for_notional(spec, spec.min_notional, p),
        to_units(quantize_qty(spec, spec.min_qty, up=True), spec.lot_step),
        1,
    )
    return _EXACT.multiply(Decimal(lots), spec.lot_step)


def validate_order(spec: InstrumentSpec, price: Money, qty: Money) -> QuantizedOrder | Refusal:
    """Check an order against the spec without changing it. Refusal reasons, in check order:
    non_positive, off_tick, off_lot, below_min_qty, below_min_notional."""
    p, q = _money(price, "price"), _money(qty, "qty")
    if p <= 0 or q <= 0:
        return Refusal(NON_POSITIVE, f"price {p} and qty {q} must both be positive")
    ticks, tick_rest = _EXACT.divmod(p, spec.tick_size)
    if tick_rest:
        return Refusal(OFF_TICK, f"price {p} is not a multiple of tick {spec.tick_size}")
    lots, lot_rest = _EXACT.divmod(q, spec.lot_step)
    if lot_rest:
        return Refusal(OFF_LOT, f"qty {q} is not a multiple of lot {spec.lot_step}")
    if q < spec.min_qty:
        return Refusal(BELOW_MIN_QTY, f"qty {q} is below min_qty {spec.min_qty}")
    value = notional(spec, p, q)
    if value < spec.min_notional:
        return Refusal(
            BELOW_MIN_NOTIONAL, f"notional {value} is below min_notional {spec.min_notional}"
        )
    return QuantizedOrder(p, q, int(ticks), int(lots), value, spec.spec_version)
