"""What a node trades: the `[[instruments]]` it knows and the `[[strategies]]` that trade them.
The `[risk]` section is `actors.risk.limits.RiskConfig`, used as it is: the limits validate
themselves, so the gate and the config cannot disagree about what a valid limit is.

An instrument is written with the venue's own trading rules (tick, lot step, minimums, fees), so
prices and sizes are quantized the way the venue will, and fees are exact `Decimal` fractions of
notional bounded to catch a slipped digit (`supervision.config.fields.fee_fraction`). It becomes
the `protocols.instruments.InstrumentSpec` the actors hold (`to_spec`).

A strategy is named by `kind` and configured by its own config class, not by this schema:
adding a strategy never edits the framework. Its `params` are checked against that class by
name and type while structuring (`supervision.config.structure`), and its values then by the
class itself at load (`to_config`), so a bad parameter is refused before the node starts.
Across sections, load checks that each strategy's instrument exists and that ids and symbols
are unique.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from actors.strategies.registry import StrategyEntry, strategy_entry
from protocols.instruments import ContractType, InstrumentSpec
from supervision.config.fields import fee_fraction, ge, gt, non_empty


@attrs.frozen(slots=True, kw_only=True)
class InstrumentConfig:
    symbol: str = attrs.field(validator=non_empty)
    # The symbol on the venue's wire, when it differs ("BTC" on Hyperliquid).
    venue_symbol: str = attrs.field(
        default=attrs.Factory(lambda self: self.symbol, takes_self=True), validator=non_empty
    )
    tick_size: Decimal = attrs.field(validator=gt(0))
    lot_step: Decimal = attrs.field(validator=gt(0))
    min_qty: Decimal = attrs.field(default=Decimal(0), validator=ge(0))
    min_notional: Decimal = attrs.field(default=Decimal(0), validator=ge(0))
    maker_fee: Decimal = attrs.field(validator=fee_fraction)
    taker_fee: Decimal = attrs.field(validator=fee_fraction)
    contract_type: ContractType = ContractType.SPOT
    multiplier: Decimal = attrs.field(default=Decimal(1), validator=gt(0))

    def to_spec(self, venue: str) -> InstrumentSpec:
        return InstrumentSpec(
            symbol=self.symbol,
            venue=venue,
            tick_size=self.tick_size,
            lot_step=self.lot_step,
            min_qty=self.min_qty,
            min_notional=self.min_notional,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            contract_type=self.contract_type,
            multiplier=self.multiplier,
        )


@attrs.frozen(slots=True, kw_only=True)
class StrategyConfig:
    """One strategy instance. `kind` names it in `actors.strategies.registry` (a built-in name
    such as "market_maker", or "package.module:Class"); `params` are the fields of its config
    class, checked by name and type at load and held here as typed values (enums, Decimal), so
    `to_config` only adds what the node knows."""

    id: str = attrs.field(validator=non_empty)
    kind: str = attrs.field(default="market_maker", validator=non_empty)
    instrument: str = attrs.field(validator=non_empty)
    params: dict[str, Any] = attrs.field(factory=dict)

    @property
    def entry(self) -> StrategyEntry:
        return strategy_entry(self.kind)

    def to_config(self, spec: InstrumentSpec, *, id_high_water: int = 0,
                  ids: Any = None) -> Any:
        """The strategy's own config object (e.g. a `MarketMakerConfig`)."""
        return self.entry.make_config(strategy=self.id, spec=spec, params=self.params,
                                      id_high_water=id_high_water, ids=ids)
