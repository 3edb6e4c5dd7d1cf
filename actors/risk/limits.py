"""One account's risk limits: what the gate refuses, scales or halts on, and when.

Kept apart from the rules (`actors.risk.rules`) so a config schema (config/) and the control plane
can build and validate a `RiskConfig` without importing the rule engine. Validation happens at
construction: a float limit or a negative window is a configuration bug, cheaper to refuse at
start-up than to discover as a gate that never trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs


def _decimal(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{attribute.name} must be a finite non-negative Decimal, got {value!r}")


def _non_negative_int(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative int, got {value!r}")


def _positive_int(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive int, got {value!r}")


def _to_dict(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)  # a private copy: the frozen config must not change under a caller


def _limits(_inst: Any, attribute: attrs.Attribute[Any], value: dict[str, int]) -> None:
    for key, lots in value.items():
        if type(lots) is not int or lots < 0:
            raise ValueError(f"{attribute.name}[{key!r}] must be a non-negative int of lots")


# --------------------------------------------------------------------------------------------
# Configuration


@attrs.frozen(slots=True)
class RateWindow:
    """At most `count` new orders or replaces within any `window_ms` (a sliding window)."""

    count: int = attrs.field(validator=_positive_int)
    window_ms: int = attrs.field(validator=_positive_int)


@attrs.frozen(slots=True)
class RiskConfig:
    """One account's limits. The defaults are sized for a paper account trading small clips;
    a live profile is expected to set every money limit itself.

    Times are milliseconds, distances basis points (ints), money `Decimal` in the quote
    currency, positions lots. `None` for a per-instrument position limit means "no per-instrument
    cap": the total exposure cap still applies.
    """

    # Staleness. A book silent for 3 s is no longer a price we can quote around (Binance depth
    # streams every 100 ms, Hyperliquid every block); oracles update every few seconds.
    stale_book_ms: int = attrs.field(default=3_000, validator=_positive_int)
    stale_oracle_ms: int = attrs.field(default=10_000, validator=_positive_int)
    # Mark (or oracle) vs our mid: beyond this, our book or their index is wrong.
    divergence_bps: int = attrs.field(default=50, validator=_positive_int)
    # Spread shock: the current spread above k x its EWMA (taken before this sample).
    spread_shock_k: Decimal = attrs.field(default=Decimal(3), validator=_decimal)
    spread_half_life_ms: int = attrs.field(default=30_000, validator=_positive_int)
    spread_warmup_samples: int = attrs.field(default=20, validator=_non_negative_int)
    # Scaling under a shock or a divergence while holding: qty * num // den, floored to the lot.
    scale_numerator: int = attrs.field(default=1, validator=_positive_int)
    scale_denominator: int = attrs.field(default=5, validator=_positive_int)
    # Exposure.
    position_limits: dict[str, int] = attrs.field(
        factory=dict, converter=_to_dict, validator=_limits
    )
    default_position_limit: int | None = attrs.field(default=None)
    max_total_exposure: Decimal = attrs.field(default=Decimal(100_000), validator=_decimal)
    max_order_notional: Decimal = attrs.field(default=Decimal(10_000), validator=_decimal)
    # A limit price further than this from the mid is a fat finger or a stale price.
    price_band_bps: int = attrs.field(default=500, validator=_positive_int)
    # Order rate, new orders and replaces only; cancels and reduce-only exits never count.
    rate_per_strategy: RateWindow = RateWindow(20, 1_000)
    rate_per_instrument: RateWindow = RateWindow(50, 1_000)
    # Same strategy, instrument, side, price and qty under a new client order id.
    duplicate_window_ms: int = attrs.field(default=1_000, validator=_positive_int)
    # Approved orders remembered (by client order id) for resends and replace sides.
    order_memory: int = attrs.field(default=100_000, validator=_positive_int)
    # Account limits that move the account to REDUCING.
    daily_loss_limit: Decimal = attrs.field(default=Decimal(1_000), validator=_decimal)
    max_drawdown: Decimal = attrs.field(default=Decimal(2_500), validator=_decimal)
    # Venue timestamps may repeat; only a step back by more than this is a regression.
    time_regression_tolerance_ns: int = attrs.field(default=0, validator=_non_negative_int)
    # An instrument halt (spec change, time regression) also halts the whole account.
    halt_account_on_instrument_halt: bool = False
    # Entering REDUCING or HALTED cancels every resting order (they were placed for ACTIVE).
    cancel_all_on_escalation: bool = True

    @default_position_limit.validator
    def _check_default_limit(self, _attribute: Any, value: int | None) -> None:
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError(f"default_position_limit must be None or lots >= 0, got {value!r}")

    @scale_denominator.validator
    def _check_scale(self, _attribute: Any, value: int) -> None:
        if self.scale_numerator >= value:
            raise ValueError("scale_numerator / scale_denominator must be below 1")

    def position_limit(self, instrument: str) -> int | None:
        return self.position_limits.get(instrument, self.default_position_limit)
