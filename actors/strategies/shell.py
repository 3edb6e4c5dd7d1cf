"""The one behaviour that runs any strategy engine.

`StrategyShell` is the thin, shared half of every strategy: it reads the clock once per
message, routes the message to the engine's hook (`actors.strategies.engine.Engine`), and hands
the returned `Decision` to `actors.strategies.kit.carry_out`, which proposes the intents to the
risk gate, counts and journals the WHY, arms the timers and tells the engine's own messages
back to it. An engine therefore never sees a context, and every strategy records its decisions
the same way.

Routing, in the order it is checked:

    BookTop -> on_book          TradePrint -> on_trade        BookStale -> on_stale
    MarketState -> on_market_state                            Wake -> on_wake(cause)
    PauseQuoting -> on_pause(reason)                          ResumeQuoting -> on_pause(None)
    an IntentAnswer (venue reports, Fill, OwnFill, RiskRefused, Scaled, Dropped) -> on_report
    anything else -> on_message

When the actor stops, `on_stop`'s decision is carried out too: that is where an engine pulls
its quotes.

Given a `portfolio` (the node sets it), the shell asks it at every start where the engine's
position stands (`PositionAsk`, shown to the engine first so it can hold off trading), and hands
the answer (`PositionNow`) to `on_message`. A supervisor's restart builds a fresh engine, flat,
on whatever position its last incarnation left: this is how it learns it. An answer that does
not come (the portfolio restarting) is asked again, every `POSITION_ASK_S`.

Each proposal says what caused it (`protocols.decisions.Trigger`, read from the message by
`trigger_of` unless the decision names it): market data, the strategy's own timer, a report of
its orders, a control command, or another message. Only market data has a tick, so only those
orders are tick-to-trade samples; the others are measured from their message's handling.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.behaviour import Behaviour, Context, Ref
from actors.strategies.engine import Engine
from actors.strategies.kit import Decision, DecisionCarrier, DecisionCounts, Wake
from protocols.commands import PauseQuoting, ResumeQuoting
from protocols.decisions import Trigger
from protocols.market import BookStale, BookTop, MarketState, TradePrint
from protocols.orders import IntentAnswer
from protocols.portfolio import PositionAsk, PositionNow
from protocols.runtime import Reply

log = logging.getLogger(__name__)

__all__ = ["INVENTORY_METRIC", "POSITION_ASK_S", "StrategyShell", "trigger_of"]

INVENTORY_METRIC = "troupe_strategy_inventory_lots"
POSITION_ASK_S = 2.0
_POSITION = "shell.position"  # the tag of the shell's PositionAsk
_MARKET_TRIGGER = Trigger.MARKET  # an Enum member read through its class is a Python call


class StrategyShell(Behaviour):
    """Runs `engine`: proposals go to `risk_gate`, NoTrade records to `journal` (if any)."""

    def __init__(self, engine: Engine, risk_gate: Ref, journal: Ref | None = None) -> None:
        self.engine = engine
        self.risk_gate = risk_gate
        self.journal = journal
        self._strategy, self._instrument = engine.strategy, engine.instrument
        self._gauged_lots: int | None = None  # the inventory gauge's value, once set
        self._counts = DecisionCounts(self._strategy)
        # `carry_out` for this strategy; `risk_gate` and `journal` are read here, once
        self._carry = DecisionCarrier(self._strategy, self._instrument, risk_gate=risk_gate,
                                      journal=journal, on_unsent=engine.unsent,
                                      counts=self._counts)
        self.portfolio: Ref | None = None  # asked where the position stands at each start

    def on_start(self, ctx: Context) -> None:
        now, epoch = ctx.monotonic_ns(), ctx.time_ns()
        if self.portfolio is not None and self.engine.inventory_lots() is not None:
            ask = PositionAsk(self._instrument)
            route(self.engine, ask, now, epoch)
            ctx.ask(self.portfolio, ask, timeout=POSITION_ASK_S, tag=_POSITION)
        decision = self.engine.on_start(now, epoch)
        if decision is not None:
            self._carry(decision, ctx, Trigger.CONTROL)

    def receive(self, message: Any, ctx: Context) -> Any:
        kind = type(message)
        # The two usual messages, their hooks and triggers known: no routing (`route` and
        # `trigger_of` would read them the same, as test_shell.py checks). A print mostly
        # leads to no decision at all, and a book tells every one.
        if kind is BookTop:
            decision = self.engine.on_book(message, ctx.monotonic_ns(), ctx.time_ns())
            trigger = _MARKET_TRIGGER
        elif kind is TradePrint:
            decision = self.engine.on_trade(message, ctx.monotonic_ns(), ctx.time_ns())
            if decision is None:
                return None
            trigger = _MARKET_TRIGGER
        else:
            if kind is Reply and message.tag == _POSITION:
                message = self._position_answer(message, ctx)
                if message is None:
                    return None
            elif kind is _AskPositionAgain:
                if self.portfolio is not None:
                    ctx.ask(self.portfolio, PositionAsk(self._instrument),
                            timeout=POSITION_ASK_S, tag=_POSITION)
                return None
            decision = route(self.engine, message, ctx.monotonic_ns(), ctx.time_ns())
            trigger = trigger_of(message)
        if decision is not None:
            self._carry(decision, ctx, trigger)
        elif kind is BookTop:
            return None  # a book top moves no inventory
        # A fill, an adoption or a position answer can move the inventory with no decision
        # (an adopted position while no book has come yet, a fill while paused).
        lots = self.engine.inventory_lots()
        if lots is not None and lots != self._gauged_lots:  # a gauge keeps its value
            ctx.gauge(INVENTORY_METRIC, lots, strategy=self._strategy)
            self._gauged_lots = lots
        return None

    def on_stop(self, ctx: Context) -> None:
        """A stopping strategy leaves no quotes behind (DESIGN.md section 4)."""
        decision = self.engine.on_stop(ctx.monotonic_ns(), ctx.time_ns())
        if decision is not None:
            self._carry(decision, ctx, Trigger.CONTROL)

    def snapshot(self) -> Any:
        return self.engine.snapshot()

    def _position_answer(self, reply: Reply, ctx: Context) -> PositionNow | None:
        if reply.ok and isinstance(reply.value, PositionNow):
            return reply.value
        if reply.ok:  # a portfolio that does not answer the question: as if it cannot tell
            log.warning("%s: the portfolio answered %s where %s stands: starting flat",
                        ctx.name, type(reply.value).__name__, self._instrument)
            return PositionNow(self._instrument, None)
        log.warning("%s: the portfolio did not say where %s stands (%s): asking again in %gs",
                    ctx.name, self._instrument, reply.error, POSITION_ASK_S)
        ctx.count("troupe_strategy_position_asks_failed_total", strategy=self._strategy)
        ctx.schedule(POSITION_ASK_S, _AskPositionAgain(), key=_POSITION)
        return None


_MARKET = (BookTop, TradePrint, BookStale, MarketState)
_CONTROL = (PauseQuoting, ResumeQuoting)


def trigger_of(message: Any) -> Trigger:
    """What a decision on `message` was caused by, as `route` reads the message."""
    if isinstance(message, _MARKET):
        return Trigger.MARKET
    if isinstance(message, Wake):
        return Trigger.TIMER
    if isinstance(message, IntentAnswer):
        return Trigger.REPORT
    if isinstance(message, _CONTROL):
        return Trigger.CONTROL
    return Trigger.OTHER


def route(engine: Engine, message: Any, now: int, epoch: int) -> Decision | None:
    """`message` to the engine hook that handles it (see the module docstring)."""
    kind = type(message)
    if kind is TradePrint:  # the common two first, by type (neither is the other's subclass)
        return engine.on_trade(message, now, epoch)
    if kind is BookTop:
        return engine.on_book(message, now, epoch)
    if isinstance(message, BookTop):
        return engine.on_book(message, now, epoch)
    if isinstance(message, TradePrint):
        return engine.on_trade(message, now, epoch)
    if isinstance(message, BookStale):
        return engine.on_stale(message, now, epoch)
    if isinstance(message, MarketState):
        return engine.on_market_state(message, now, epoch)
    if isinstance(message, Wake):
        return engine.on_wake(message.cause, now, epoch)
    if isinstance(message, PauseQuoting):
        return engine.on_pause(message.reason, now, epoch)
    if isinstance(message, ResumeQuoting):
        return engine.on_pause(None, now, epoch)
    if isinstance(message, IntentAnswer):
        return engine.on_report(message, now, epoch)
    return engine.on_message(message, now, epoch)


class _AskPositionAgain:
    """The shell's timer: ask the portfolio again where the position stands."""
