"""Instrument specs: what a venue says about one instrument. Data only, shared by every layer.

The quantization rules that use a spec live in `actors.market.quantization`.
"""

from __future__ import annotations

import decimal
import enum
from decimal import Decimal
from typing import Any

import attrs


class ContractType(enum.Enum):
    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"
    INVERSE = "inverse"


Money = Decimal | int

# Money arithmetic either is exact or raises: 50 digits cover any real price x size x multiplier,
# and trapping Inexact turns a silent rounding into a loud error.
_EXACT = decimal.Context(
    prec=50,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def _money(value: object, name: str) -> Decimal:
    """The single gate for numeric input: Decimal or int in, finite Decimal out."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} must be finite, got {value}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        raise TypeError(
            f"{name} is a float ({value!r}); money must be Decimal or int. "
            f"Build it from the venue's string, e.g. Decimal('0.1'), never from a float"
        )
    raise TypeError(f"{name} must be Decimal or int, got {type(value).__name__}")


def _int_to_decimal(value: Any) -> Any:
    """Converter: ints become Decimal; anything else is left for `_is_money` to judge by name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _is_money(_inst: Any, attr: Any, value: Any) -> None:
    _money(value, attr.name)


def _positive(_inst: Any, attr: Any, value: Decimal) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be positive, got {value}")


def _non_negative(_inst: Any, attr: Any, value: Decimal) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must not be negative, got {value}")


def _fee(_inst: Any, attr: Any, value: Decimal) -> None:
    # A fee of 2 is almost certainly "2 bps" passed where a fraction (0.0002) was expected.
    if not -1 < value < 1:
        raise ValueError(
            f"{attr.name} is a fraction of notional (0.0002 = 2 bps; negative for a rebate), "
            f"got {value}"
        )


def _non_empty(_inst: Any, attr: Any, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attr.name} must be a non-empty string, got {value!r}")


@attrs.frozen(slots=True)
class InstrumentSpec:
    """What the venue says about one instrument, versioned because venues change tick sizes.

    `multiplier` is the contract size: base units per lot for linear contracts (1 for spot), and
    quote value per contract for inverse contracts. Notional is always in the quote currency.
    Decimal fields accept Decimal or int; a float raises TypeError.
    """

    symbol: str = attrs.field(validator=_non_empty)
    venue: str = attrs.field(validator=_non_empty)
    tick_size: Decimal = attrs.field(converter=_int_to_decimal, validator=[_is_money, _positive])
    lot_step: Decimal = attrs.field(converter=_int_to_decimal, validator=[_is_money, _positive])
    min_qty: Decimal = attrs.field(converter=_int_to_decimal, validator=[_is_money, _non_negative])
    min_notional: Decimal = attrs.field(
        converter=_int_to_decimal, validator=[_is_money, _non_negative]
    )
    maker_fee: Decimal = attrs.field(converter=_int_to_decimal, validator=[_is_money, _fee])
    taker_fee: Decimal = attrs.field(converter=_int_to_decimal, validator=[_is_money, _fee])
    contract_type: ContractType = attrs.field(
        default=ContractType.SPOT, validator=attrs.validators.instance_of(ContractType)
    )
    multiplier: Decimal = attrs.field(
        default=Decimal(1), converter=_int_to_decimal, validator=[_is_money, _positive]
    )
    spec_version: int = attrs.field(default=1)

    @spec_version.validator
    def _check_version(self, _attr: object, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"spec_version must be a non-negative int, got {value!r}")

    @property
    def tick_value(self) -> Decimal:
        """V = tick_size x lot_step x multiplier, exact: the quote value of one tick on one lot,
        so a fill's notional is price (ticks) x qty (lots) x V."""
        return _EXACT.multiply(_EXACT.multiply(self.tick_size, self.lot_step), self.multiplier)
