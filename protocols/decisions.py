"""Why an actor did not act. Every decision not to trade records exactly one reason.

Strategies emit `NoTrade` when they decide not to quote or take; the risk gate answers every
intent with `Approved`, `Scaled` or `RiskRefused`. Each carries one reason code, from the enums
below, so "why didn't it trade?" always has one answer that can be counted, journaled and read.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from protocols.orders import IntentAnswer


class TradingState(enum.IntEnum):
    """The account's trading state. The int value is the `troupe_trading_state` gauge."""

    ACTIVE = 0
    REDUCING = 1  # only reduce-only orders and cancels
    HALTED = 2  # cancels only; an explicit flatten may still send reduce-only exits


class Gate(enum.Enum):
    """Risk-gate checks; each has its own action (block new, scale size, cancel all and halt)."""

    STALE_BOOK = "stale_book"
    STALE_ORACLE = "stale_oracle"
    MARK_MID_DIVERGENCE = "mark_mid_divergence"
    SPREAD_SHOCK = "spread_shock"
    OPEN_INTEREST_CAP = "open_interest_cap"
    SPEC_CHANGE = "spec_change"
    VENUE_HALT = "venue_halt"
    TIME_REGRESSION = "time_regression"
    POSITION_LIMIT = "position_limit"
    TOTAL_EXPOSURE = "total_exposure"
    ORDER_NOTIONAL = "order_notional"
    PRICE_BAND = "price_band"
    ORDER_RATE = "order_rate"
    DUPLICATE_INTENT = "duplicate_intent"
    DAILY_LOSS = "daily_loss"
    MAX_DRAWDOWN = "max_drawdown"
    TRADING_STATE = "trading_state"  # REDUCING/HALTED refuse what they do not allow
    INVALID_ORDER = "invalid_order"  # off tick/lot, below minimums: refused before the venue


class GateAction(enum.Enum):
    BLOCK_NEW = "block_new"
    SCALE = "scale"
    CANCEL_ALL_AND_HALT = "cancel_all_and_halt"


@attrs.frozen(slots=True)
class NoTrade:
    """A strategy's decision not to act, with its one reason (a WHY code of that strategy)."""

    strategy: str
    instrument: str
    reason: str
    recv_ns: int
    detail: str = ""


@attrs.frozen(slots=True)
class RiskRefused(IntentAnswer):
    """The risk gate refused an intent: one gate, one action."""

    client_order_id: str
    instrument: str
    gate: Gate
    action: GateAction
    detail: str = ""


@attrs.frozen(slots=True)
class Scaled(IntentAnswer):
    """The risk gate approved an intent at a smaller size (e.g. 1/5 under a spread shock)."""

    client_order_id: str
    instrument: str
    gate: Gate
    original_qty: int
    qty: int


@attrs.frozen(slots=True)
class TradingStateChanged:
    """Journaled and gauged; survives restarts."""

    old: TradingState
    new: TradingState
    reason: str
    source: str  # "risk_gate", "control", "alertmanager", "reconciliation", "supervisor"
    recv_ns: int


class Trigger(enum.StrEnum):
    """What made a strategy decide, and so what its orders' latency is measured from.

    Only MARKET decisions have a tick: `trigger_recv_ns` is then the receipt of the market data
    (the websocket frame) that moved the book, and frame-to-wire is tick-to-trade. The others
    are measured from the strategy's handling of their message (a report's receipt for a fill),
    so they are reported apart (`troupe_decision_to_trade_seconds{trigger}`): a requote timer's
    order must not count as a tick seconds old, nor one a fill caused as a tick.
    """

    MARKET = "market"  # a book top, a trade print, a stale book: market data
    TIMER = "timer"  # the strategy's own timer (requote, hold, flow, risk cool-down)
    REPORT = "report"  # an execution report or fill of its own orders, an answer of the gate
    CONTROL = "control"  # start, stop, pause, resume
    OTHER = "other"  # any other message the engine handles itself


@attrs.frozen(slots=True)
class Proposal:
    """A strategy's intent on its way through the risk gate to the action budget.

    `intent` is an `OrderIntent`, `CancelIntent` or `ReplaceIntent` (protocols.orders). The gate
    forwards an approved (possibly scaled) proposal to the budget and answers a refusal to
    `reply_to`, the strategy's ref. `trigger_recv_ns` is when the decision's cause arrived: for a
    `trigger` of MARKET the receive time of the market data (tick-to-trade is measured from
    it), otherwise the strategy's own clock when it handled the cause (`Trigger`).
    """

    strategy: str
    intent: Any
    reply_to: Any
    trigger_recv_ns: int
    trigger: Trigger = Trigger.MARKET
