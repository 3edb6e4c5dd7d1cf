"""What the venue connection records of its traffic: the journal's record of each intent as it
leaves, observe mode's shadow answer, the histogram each order's latency belongs in, the
counters of each report, and the log line of each fill.

Pure functions of their arguments (and a context's `count` for the counters), kept apart from
`actors.execution.venue_connection`, which calls them, so the actor reads as its routing.

Metrics: troupe_orders_acked_total{venue}, troupe_orders_rejected_total{venue,reason},
troupe_orders_cancelled_total{venue}, troupe_fills_total{venue,liquidity},
troupe_fill_notional_quote_total{venue}, troupe_fees_quote_total{venue},
troupe_rebates_quote_total{venue} (a rebate is its own counter: counters never go down).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from actors.behaviour import Context
from protocols.decisions import Trigger
from protocols.instruments import InstrumentSpec
from protocols.journal import CancelSent, ObservedIntent, OrderSent, ReplaceSent
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    Fill,
    Intent,
    OrderIntent,
    Reject,
    VenueReport,
)
from protocols.portfolio import OwnFill
from protocols.venue_state import ActionOwner

__all__ = ["count_report", "log_fill", "order_latency", "sent_record", "shadow_ack"]


def order_latency(owner: ActionOwner, since_trigger_ns: int,
                  sent_ns: int) -> tuple[str, int, dict[str, str]]:
    """(histogram, ns, labels) of an order leaving `since_trigger_ns` after its owner's trigger,
    dispatched by the budget at `sent_ns`, in the histogram that says what it measures:
    tick-to-trade for an order market data caused and the budget sent at once;
    decision-to-trade{trigger} for one a timer, a report or a command caused (measured from
    its handling: no tick); the budget's hold for one the rate limit kept queued (the venue's
    rule, not the node's latency)."""
    held = owner.held_ns(sent_ns)
    if held:
        return "troupe_budget_held_seconds", held, {}
    if owner.trigger is Trigger.MARKET:
        return "troupe_tick_to_trade_seconds", since_trigger_ns, {}
    return "troupe_decision_to_trade_seconds", since_trigger_ns, {"trigger": owner.trigger.value}


def sent_record(intent: Intent, strategy: str, now: int, observe: bool) -> Any:
    """The journal's record of `intent` as it leaves (observe mode: as it would have)."""
    if observe:
        return ObservedIntent.from_intent(intent, strategy, now)
    if isinstance(intent, OrderIntent):
        return OrderSent.from_intent(intent, strategy, now)
    if isinstance(intent, CancelIntent):
        return CancelSent(intent.client_order_id, intent.instrument, strategy, now)
    return ReplaceSent(intent.client_order_id, intent.instrument, intent.qty, intent.price,
                       intent.reduce_only, strategy, now)


def shadow_ack(intent: Intent, now: int) -> VenueReport:
    """Observe mode's answer to `intent`, as if the venue had taken it."""
    if isinstance(intent, CancelIntent):
        return CancelAck(intent.client_order_id, venue_ns=now)
    return Ack(intent.client_order_id, "observed", venue_ns=now)


def count_report(ctx: Context, venue: str, report: VenueReport,
                 tick_value: Decimal | None) -> None:
    """The counters of one report; `tick_value`: the quote value of one tick of one lot of a
    fill's instrument (None: its notional is not counted)."""
    if isinstance(report, Ack):
        ctx.count("troupe_orders_acked_total", venue=venue)
    elif isinstance(report, Reject):
        ctx.count("troupe_orders_rejected_total", venue=venue, reason=report.code.value)
    elif isinstance(report, CancelAck):
        ctx.count("troupe_orders_cancelled_total", venue=venue)
    elif isinstance(report, Fill):
        ctx.count("troupe_fills_total", venue=venue, liquidity=report.liquidity.value)
        if tick_value is not None:  # float only here, at the metrics boundary
            ctx.count("troupe_fill_notional_quote_total",
                      float(tick_value * report.price * report.qty), venue=venue)
        fee = Decimal(report.fee)
        if fee > 0:
            ctx.count("troupe_fees_quote_total", float(fee), venue=venue)
        elif fee < 0:
            ctx.count("troupe_rebates_quote_total", float(-fee), venue=venue)


def log_fill(log: logging.Logger, fill: OwnFill,
             instruments: Mapping[str, InstrumentSpec]) -> None:
    """One INFO line per fill, in the venue's units (a trader wants each one)."""
    spec = instruments.get(fill.instrument)
    if spec is None or not log.isEnabledFor(logging.INFO):
        return
    log.info("fill %s %s %s @ %s (%s, fee %s) %s", fill.instrument, fill.side.value,
             _plain(fill.qty * spec.lot_step), _plain(fill.price * spec.tick_size),
             fill.liquidity.value, _plain(fill.fee), fill.client_order_id)


def _plain(value: Decimal) -> str:
    """0.0001, not 0.00010000 or 1E-4."""
    return format(value.normalize(), "f") if value else "0"
