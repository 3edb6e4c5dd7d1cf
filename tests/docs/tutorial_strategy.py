"""The strategy docs/strategies.md builds, step by step: join the touch.

Quote `lots` at the best bid and the best ask, post-only, while the market spread is at least
`min_spread_ticks`; never let the position pass `max_position_lots` either way; follow the
touch by cancelling a quote that has fallen `requote_ticks` behind and placing it again when the
cancel is acknowledged. Pull both quotes when the book goes stale, when an operator pauses the
strategy, when the risk gate refuses one (for `risk_cooldown_s`), and when it stops. Every look at
the market that places nothing says why, once.

It lives outside Troupe's packages on purpose: a node loads it by its import path,

    [[strategies]]
    id = "tq1"
    kind = "tests.docs.tutorial_strategy:TouchQuoter"
    instrument = "BTCUSDT"
    params = { lots = 10000, max_position_lots = 100000 }
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from actors.strategies import (
    BookStale,
    BookTop,
    ClientOrderIds,
    Decision,
    Engine,
    Fill,
    InstrumentSpec,
    Intent,
    IntentAnswer,
    Inventory,
    OrderIntent,
    OrderSlots,
    OrderType,
    OwnFill,
    RiskRefused,
    Side,
    Slot,
    TimeInForce,
    book_fill,
    positive,
)


# -- step 1: the config ---------------------------------------------------------------------------
@attrs.frozen(slots=True, kw_only=True)
class TouchQuoterConfig:
    strategy: str  # set by the node: the instance id
    spec: InstrumentSpec  # set by the node: the instrument's rules
    lots: int = attrs.field(validator=positive)  # quote size, in lots of the spec
    max_position_lots: int = attrs.field(validator=positive)
    min_spread_ticks: int = attrs.field(default=1, validator=positive)
    requote_ticks: int = attrs.field(default=1, validator=positive)
    risk_cooldown_s: float = attrs.field(default=1.0, validator=positive)
    id_prefix: str = "tq"
    id_high_water: int = 0  # set by the node from the journal
    ids: ClientOrderIds | None = attrs.field(default=None, eq=False, repr=False)  # by the node


# -- step 2: the reasons not to trade ----------------------------------------------------------
class TouchWhy(enum.StrEnum):
    PAUSED = "paused"
    NO_BOOK = "no_book"
    BOOK_STALE = "book_stale"
    SPREAD_TOO_TIGHT = "spread_too_tight"
    RISK_REFUSED = "risk_refused"  # the gate said no: wait risk_cooldown_s before quoting again
    POSITION_LIMIT = "position_limit"
    ORDER_IN_FLIGHT = "order_in_flight"
    REQUOTING = "requoting"  # a quote fell behind: cancelled, placed again on its CancelAck
    NO_CHANGE = "no_change"


# -- step 3: the engine ------------------------------------------------------------------------
class TouchQuoter(Engine):
    config_class = TouchQuoterConfig

    def __init__(self, config: TouchQuoterConfig) -> None:
        self.config = config
        self.ids = config.ids or ClientOrderIds(config.id_prefix, config.strategy,
                                                config.id_high_water)
        self.orders = OrderSlots()
        self.inventory = Inventory()
        self.book: BookTop | None = None
        self.stale: str | None = None
        self.paused: str | None = None
        self.cooldown_until_ns = 0

    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        if book.instrument != self.instrument:
            return None
        self.book, self.stale = book, None
        return self.quote(now, book.recv_ns)

    def on_stale(self, stale: BookStale, now: int, epoch: int) -> Decision | None:
        if stale.instrument != self.instrument:
            return None
        self.stale = stale.reason
        return self.quote(now, stale.recv_ns)

    def on_pause(self, reason: str | None, now: int, epoch: int) -> Decision:
        self.paused = reason
        return self.quote(now, now)

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision:
        return self.quote(now, now)  # the "risk" timer: the cooldown is over

    # -- step 4: what the risk gate, the budget and the venue answer ---------------------------
    def on_report(self, answer: IntentAnswer, now: int, epoch: int) -> Decision | None:
        if isinstance(answer, Fill | OwnFill):
            moved = book_fill(answer, self.strategy, self.instrument, orders=self.orders,
                              inventory=self.inventory, now=now)
            return self.quote(now, now) if moved else None
        if not self.orders.owns(answer):
            return None
        safety_cancel = self.orders.on_report(answer, self.instrument)
        if safety_cancel is not None:
            return Decision((safety_cancel,), trigger_ns=now)
        if isinstance(answer, RiskRefused):  # quoting again at once would be refused again
            cooldown = self.config.risk_cooldown_s
            self.cooldown_until_ns = now + round(cooldown * 1e9)
            return Decision(why=TouchWhy.RISK_REFUSED, detail=answer.detail,
                            timers=(("risk", cooldown),), trigger_ns=now)
        return self.quote(now, now)  # a side settled (acked, cancelled, dropped): look again

    def unsent(self, intent: Intent) -> None:
        self.orders.unsent(intent)

    def on_stop(self, now: int, epoch: int) -> Decision:
        return Decision(self.orders.cancel_where(self.instrument, keep_reduce_only=False),
                        trigger_ns=now)

    def inventory_lots(self) -> int:
        return self.inventory.q

    def snapshot(self) -> Any:
        return {"q": self.inventory.q, "paused": self.paused, "stale": self.stale}

    # -- step 5: the decision ------------------------------------------------------------------
    def quote(self, now: int, trigger_ns: int) -> Decision:
        blocked = self._blocked(now)
        if blocked is not None:
            pulls = self.orders.cancel_where(self.instrument, keep_reduce_only=False)
            return Decision(pulls, blocked[0], blocked[1], trigger_ns=trigger_ns)
        book, cfg, q = self.book, self.config, self.inventory.q
        assert book is not None and book.bid is not None and book.ask is not None
        intents: list[Intent] = []
        why: TouchWhy | None = None
        for side, touch in ((Side.BUY, book.bid), (Side.SELL, book.ask)):
            order = self.orders.slots[side]
            room = cfg.max_position_lots - q if side is Side.BUY else cfg.max_position_lots + q
            if room < cfg.lots:
                if order is not None and order.state is not Slot.CANCELLING:
                    intents.append(self.orders.cancel(side, self.instrument))
                why = why or TouchWhy.POSITION_LIMIT
            elif order is None:
                cid = self.ids.next()
                self.orders.open(side, cid, touch, cfg.lots, False)
                intents.append(OrderIntent(cid, self.instrument, side, OrderType.LIMIT, cfg.lots,
                                           touch, TimeInForce.POST_ONLY))
            elif order.state is not Slot.LIVE:
                why = why or TouchWhy.ORDER_IN_FLIGHT
            elif abs((order.price or touch) - touch) >= cfg.requote_ticks:
                intents.append(self.orders.cancel(side, self.instrument))
                why = why or TouchWhy.REQUOTING
        if any(isinstance(intent, OrderIntent) for intent in intents):
            why = None  # it placed a quote: a decision to trade
        elif why is None:
            why = TouchWhy.NO_CHANGE
        return Decision(tuple(intents), why, f"q={q}" if why else "", trigger_ns=trigger_ns)

    def _blocked(self, now: int) -> tuple[TouchWhy, str] | None:
        book = self.book
        if self.paused is not None:
            return TouchWhy.PAUSED, self.paused
        if now < self.cooldown_until_ns:
            return TouchWhy.RISK_REFUSED, "cooldown"
        if book is None or book.bid is None or book.ask is None:
            return TouchWhy.NO_BOOK, ""
        if self.stale is not None:
            return TouchWhy.BOOK_STALE, self.stale
        if book.ask - book.bid < self.config.min_spread_ticks:
            return TouchWhy.SPREAD_TOO_TIGHT, f"spread={book.ask - book.bid}"
        return None
