"""Hyperliquid's price and size rules, and the strings its `/exchange` wants.

The venue has no fixed tick. Its rules (API docs, "Tick and lot size"):

1. A size has at most `szDecimals` decimals (per asset, in `meta`).
2. A price has at most 5 significant figures, and at most `MAX_DECIMALS - szDecimals` decimals,
   where `MAX_DECIMALS` is 6 for perps and 8 for spot.
3. An integer price is always valid, whatever its number of significant figures.

So the smallest price step depends on the price itself: `price_step(reference, ...)` is that
step near `reference`, which is what our `InstrumentSpec.tick_size` holds (the adapter refreshes
the spec when the price moves a decade and the step changes). Rounding a price to the rules is
conservative by side: a buy rounds down and a sell up, so a rounded order never pays more than
its intent said; a strategy's edge is therefore evaluated on the rounded price
(`round_price`), never on the unrounded one. Strings go out without trailing zeros
(`105055`, `0.001234`), as the venue's own SDK writes them (the signature covers the string).

Test vectors (from the venue's documentation, perps): `1234.5` valid, `1234.56` not; `0.001234`
valid, `0.0012345` not; with `szDecimals = 1`, `0.01234` valid, `0.012345` not; `123456` valid.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

__all__ = [
    "MAX_DECIMALS_PERP",
    "MAX_DECIMALS_SPOT",
    "SIG_FIGS",
    "format_price",
    "format_size",
    "is_valid_price",
    "price_step",
    "round_price",
    "wire",
]

SIG_FIGS = 5
MAX_DECIMALS_PERP = 6
MAX_DECIMALS_SPOT = 8


def _max_decimals(sz_decimals: int, spot: bool) -> int:
    return (MAX_DECIMALS_SPOT if spot else MAX_DECIMALS_PERP) - sz_decimals


def price_step(reference: Decimal, sz_decimals: int, spot: bool = False) -> Decimal:
    """The smallest valid price increment near `reference` (> 0)."""
    if reference <= 0:
        raise ValueError(f"a reference price must be positive, got {reference}")
    sig_step = Decimal(1).scaleb(reference.adjusted() - (SIG_FIGS - 1))
    floor = Decimal(1).scaleb(-_max_decimals(sz_decimals, spot))
    return max(min(sig_step, Decimal(1)), floor)


def is_valid_price(price: Decimal, sz_decimals: int, spot: bool = False) -> bool:
    if price <= 0:
        return False
    if price == price.to_integral_value():
        return True
    exponent = price.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    decimals = max(0, -exponent)
    digits = len(price.normalize().as_tuple().digits)
    return digits <= SIG_FIGS and decimals <= _max_decimals(sz_decimals, spot)


def round_price(price: Decimal, sz_decimals: int, spot: bool = False, *,
                is_buy: bool | None = None) -> Decimal:
    """`price` made valid: down for a buy, up for a sell, to nearest when `is_buy` is None."""
    if price <= 0:
        raise ValueError(f"a price must be positive, got {price}")
    if is_valid_price(price, sz_decimals, spot):
        return price
    rounding = ROUND_HALF_EVEN if is_buy is None else ROUND_FLOOR if is_buy else ROUND_CEILING
    step = price_step(price, sz_decimals, spot)
    rounded = (price / step).to_integral_value(rounding) * step
    if not is_valid_price(rounded, sz_decimals, spot):  # rounded up into the next decade
        step = price_step(rounded, sz_decimals, spot)
        rounded = (rounded / step).to_integral_value(rounding) * step
    return rounded


def wire(value: Decimal) -> str:
    """A decimal as the venue writes it: no exponent, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text


def format_price(price: Decimal, sz_decimals: int, spot: bool = False, *,
                 is_buy: bool | None = None) -> str:
    return wire(round_price(price, sz_decimals, spot, is_buy=is_buy))


def format_size(size: Decimal, sz_decimals: int) -> str:
    """`size` to `sz_decimals` decimals, rounded down (never more than asked)."""
    if size < 0:
        raise ValueError(f"a size must not be negative, got {size}")
    return wire(size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_DOWN))
