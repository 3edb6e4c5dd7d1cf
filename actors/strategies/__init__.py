"""Everything a strategy author needs, in one import: `from actors.strategies import ...`.

A strategy is a pure engine plus a config class (`Engine`, see `actors.strategies.engine`);
`StrategyShell` runs any engine as an actor, and the kit (`Decision`, `OrderSlots`,
`Inventory`, `book_fill`, `ClientOrderIds`...) covers what every strategy needs besides its idea.
`strategy_entry` finds a strategy by the `kind` a config gives it. The protocol messages a
strategy receives and sends are here too, so an author never hunts through `protocols`.
docs/strategies.md walks through writing one; `actors.strategies.template` is a blank one.

Public tiers, each name in exactly one (tests/test_exports.py):
- `actors.strategies`: for strategy authors (this module);
- `actors.testing`: a fake context, to unit-test a strategy with no host;
- `supervision.runtime`: for integrators: hosts, supervisors, specs, mailboxes, refs;
- `supervision.testing`: a probe actor, the run-on-both-hosts pytest fixture, the trading path.

The built-in strategies live in `actors.strategies.market_maker` (with its pricing models in
`quoting_models`) and `actors.strategies.taker` (with `taker_edge`). Modules inside Troupe import
these implementation modules, never this facade.
"""

from actors.behaviour import Behaviour, Context, Ref
from actors.execution.ids import ClientOrderIds
from actors.market.quantization import price_to_ticks, qty_to_lots, quantize_price
from actors.strategies.engine import Engine
from actors.strategies.kit import (
    NO_TRADE_METRIC,
    PROPOSAL_METRIC,
    Decision,
    Inventory,
    LiveOrder,
    OrderSlots,
    Slot,
    Wake,
    book_fill,
    carry_out,
)
from actors.strategies.params import non_negative, positive
from actors.strategies.registry import (
    BUILT_IN,
    NODE_SET_PARAMS,
    StrategyEntry,
    UnknownStrategy,
    strategy_entry,
)
from actors.strategies.shell import INVENTORY_METRIC, StrategyShell
from protocols.commands import PauseQuoting, ResumeQuoting
from protocols.decisions import (
    Gate,
    GateAction,
    NoTrade,
    Proposal,
    RiskRefused,
    Scaled,
    TradingState,
    TradingStateChanged,
)
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState, TradePrint, TradingStatus
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Dropped,
    Expired,
    Fill,
    Intent,
    IntentAnswer,
    Liquidity,
    OrderIntent,
    OrderType,
    Reject,
    RejectCode,
    ReplaceIntent,
    Side,
    TimeInForce,
)
from protocols.portfolio import OwnFill
from protocols.risk import Flatten, InstrumentHalted, InstrumentResumed

__all__ = [
    "BUILT_IN",
    "INVENTORY_METRIC",
    "NODE_SET_PARAMS",
    "NO_TRADE_METRIC",
    "PROPOSAL_METRIC",
    "Ack",
    "Behaviour",
    "BookStale",
    "BookTop",
    "CancelAck",
    "CancelIntent",
    "CancelReject",
    "CancelRejectCode",
    "ClientOrderIds",
    "Context",
    "ContractType",
    "Decision",
    "Dropped",
    "Engine",
    "Expired",
    "Fill",
    "Flatten",
    "Gate",
    "GateAction",
    "InstrumentHalted",
    "InstrumentResumed",
    "InstrumentSpec",
    "Intent",
    "IntentAnswer",
    "Inventory",
    "Liquidity",
    "LiveOrder",
    "MarketState",
    "NoTrade",
    "OrderIntent",
    "OrderSlots",
    "OrderType",
    "OwnFill",
    "PauseQuoting",
    "Proposal",
    "Ref",
    "Reject",
    "RejectCode",
    "ReplaceIntent",
    "ResumeQuoting",
    "RiskRefused",
    "Scaled",
    "Side",
    "Slot",
    "StrategyEntry",
    "StrategyShell",
    "TimeInForce",
    "TradePrint",
    "TradingState",
    "TradingStateChanged",
    "TradingStatus",
    "UnknownStrategy",
    "Wake",
    "book_fill",
    "carry_out",
    "non_negative",
    "positive",
    "price_to_ticks",
    "qty_to_lots",
    "quantize_price",
    "strategy_entry",
]
