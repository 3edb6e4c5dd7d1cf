"""A dislocation taker: buy a touch that sits below the fair price, sell one above it, get out
on a time stop. A pure `TakerEngine` (an `actors.strategies.engine.Engine`) run by the shared
strategy shell, like the market maker.

One trade cycle:

1. Every update of our book or of the reference is an evaluation. Blockers first (position_open,
   order_in_flight, cooldown, no_book, book_stale, no_reference, stale_reference), then the
   exact fee-aware edge test of `actors.strategies.taker_edge` (edge_below_fees).
2. Two-hit confirmation: the dislocation must be seen on two consecutive qualifying evaluations
   within `confirm_ttl_ms` (awaiting_confirmation, confirmation_expired).
3. Last look: a confirmed dislocation is not traded at once. The engine tells itself `LastLook`,
   which queues *behind* any book already in the mailbox; when it runs, the signal is checked
   again on the newest book and reference (last_look_failed). Updates that arrive meanwhile are
   not separate decisions: the last look judges the newest of them.
4. Entry: a LIMIT IOC at the touch (+ `slippage_ticks`), for at most `entry_lots` and, by
   default, no more than the touch shows.
5. Time stop: `hold_ms` after the first entry fill, a reduce-only IOC at the touch for the whole
   position (a MARKET reduce-only IOC if no usable book); retried every `flatten_retry_ms` until
   flat. Then `cooldown_ms` before the next cycle.

Every evaluation that proposes nothing records exactly one WHY.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from actors.behaviour import Ref
from actors.execution.ids import ClientOrderIds
from actors.strategies.engine import Engine
from actors.strategies.kit import Decision, Inventory, OrderSlots, book_fill
from actors.strategies.params import positive
from actors.strategies.shell import StrategyShell
from actors.strategies.taker_edge import (
    Confirmation,
    Hit,
    Reference,
    find_dislocation,
    price_x2,
    required_edge,
)
from protocols.decisions import RiskRefused, Trigger
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState
from protocols.orders import Dropped, Fill, Intent, OrderIntent, OrderType, Side, TimeInForce
from protocols.portfolio import OwnFill


class TakeWhy(enum.StrEnum):
    """Why the taker proposed nothing. Exactly one per such evaluation."""

    POSITION_OPEN = "position_open"  # a cycle is holding a position
    ORDER_IN_FLIGHT = "order_in_flight"  # an entry or flatten not yet settled
    COOLDOWN = "cooldown"
    NO_BOOK = "no_book"
    BOOK_STALE = "book_stale"
    NO_REFERENCE = "no_reference"
    STALE_REFERENCE = "stale_reference"
    EDGE_BELOW_FEES = "edge_below_fees"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    CONFIRMATION_EXPIRED = "confirmation_expired"
    LAST_LOOK_FAILED = "last_look_failed"
    RISK_REFUSED = "risk_refused"


@attrs.frozen(slots=True)
class LastLook:
    """Told to ourselves on confirmation; handled after whatever was already queued."""

    side: Side
    trigger_ns: int


@attrs.frozen(slots=True, kw_only=True)
class TakerConfig:
    strategy: str  # also the client-order-id namespace: [A-Za-z0-9_], short
    spec: InstrumentSpec
    entry_lots: int = attrs.field(validator=positive)
    min_edge_bps: Decimal
    reference: Reference = Reference.ORACLE
    reference_instrument: str | None = None  # for VENUE_MID: the other venue's book
    reference_tick_size: Decimal | None = None  # its tick size; default: ours
    reference_max_age_ms: int = 1_000
    book_max_age_ms: int | None = None
    confirm_ttl_ms: int = 200
    hold_ms: int = 5_000
    cooldown_ms: int = 1_000
    flatten_retry_ms: int = 250
    fee_legs: int = 1  # 2 also charges the exit's taker fee against the entry edge
    slippage_ticks: int = 0
    cap_to_touch_qty: bool = True
    id_prefix: str = "tr"
    id_high_water: int = 0
    # The node's one id source for this strategy, shared by every incarnation: a restart never
    # reissues an id (None: a counter of our own from id_high_water, for tests and backtests).
    ids: ClientOrderIds | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.reference is Reference.VENUE_MID and not self.reference_instrument:
            raise ValueError("a VENUE_MID reference needs reference_instrument")

    @property
    def instrument(self) -> str:
        return self.spec.symbol


_MS = 1_000_000


class TakerEngine(Engine):
    """The pure trade-cycle state machine. `now` is monotonic ns; the wall clock is not used."""

    config_class = TakerConfig

    def __init__(self, config: TakerConfig) -> None:
        self.config = config
        self.spec = config.spec
        self.ids = config.ids or ClientOrderIds(config.id_prefix, config.strategy,
                                                config.id_high_water)
        self.confirm = Confirmation(config.confirm_ttl_ms * _MS)
        self.orders = OrderSlots()
        self.inventory = Inventory()
        self.book: BookTop | None = None
        self.book_stale: str | None = None
        self.ref_x2: Decimal | None = None  # doubled reference *price*
        self.ref_ns = 0
        self.ref_stale: str | None = None
        self.looking = False
        self.in_cycle = False
        self.stop_armed = False
        self.cooldown_until_ns = 0

    # -- market data -----------------------------------------------------------------------
    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        if book.instrument == self.config.instrument:
            self.book, self.book_stale = book, None
        elif self.config.reference is Reference.VENUE_MID and (
                book.instrument == self.config.reference_instrument):
            tick = self.config.reference_tick_size or self.spec.tick_size
            mid = book.mid_x2
            self.ref_x2 = None if mid is None else price_x2(mid, tick)
            self.ref_ns, self.ref_stale = book.recv_ns, None
        else:
            return None
        return self.evaluate(now, book.recv_ns)

    def on_stale(self, msg: BookStale, now: int, epoch: int) -> Decision | None:
        if msg.instrument == self.config.instrument:
            self.book_stale = msg.reason
        elif msg.instrument == self.config.reference_instrument:
            self.ref_stale = msg.reason
        else:
            return None
        return self.evaluate(now, msg.recv_ns)

    def on_market_state(self, state: MarketState, now: int, epoch: int) -> Decision | None:
        if state.instrument != self.config.instrument:
            return None
        self.spec = state.spec
        if self.config.reference is Reference.VENUE_MID:
            return None  # not our reference: not a decision point
        if self.config.reference is Reference.ORACLE:
            value, at = state.oracle_x2, state.oracle_recv_ns or state.recv_ns
        else:
            value, at = state.mark_x2, state.recv_ns
        self.ref_x2 = None if value is None else price_x2(value, self.spec.tick_size)
        self.ref_ns, self.ref_stale = at, None
        return self.evaluate(now, state.recv_ns)

    # -- decisions -------------------------------------------------------------------------------
    def evaluate(self, now: int, trigger_ns: int) -> Decision | None:
        if self.looking:
            return None  # absorbed: the pending last look judges the newest data
        blocked = self._blocker(now)
        if blocked is not None:
            self.confirm.reset()
            return Decision(why=blocked[0], detail=blocked[1], trigger_ns=trigger_ns)
        found, detail = self._signal()
        if found is None:
            self.confirm.reset()
            return Decision(why=TakeWhy.EDGE_BELOW_FEES, detail=detail, trigger_ns=trigger_ns)
        hit = self.confirm.observe(found, now)
        if hit is Hit.FIRST:
            return Decision(why=TakeWhy.AWAITING_CONFIRMATION, detail=detail, trigger_ns=trigger_ns)
        if hit is Hit.EXPIRED:
            return Decision(why=TakeWhy.CONFIRMATION_EXPIRED, detail=detail, trigger_ns=trigger_ns)
        self.looking = True
        return Decision(to_self=(LastLook(found, trigger_ns),), trigger_ns=trigger_ns)

    def on_last_look(self, look: LastLook, now: int) -> Decision:
        self.looking = False
        blocked = self._blocker(now)
        found, detail = (None, blocked[0].value) if blocked else self._signal()
        book = self.book
        if found is not look.side or book is None:
            return Decision(why=TakeWhy.LAST_LOOK_FAILED, detail=detail, trigger_ns=look.trigger_ns)
        side, cfg = look.side, self.config
        touch, shown = (book.ask, book.ask_qty) if side is Side.BUY else (book.bid, book.bid_qty)
        assert touch is not None
        qty = min(cfg.entry_lots, shown) if cfg.cap_to_touch_qty else cfg.entry_lots
        if qty <= 0:
            return Decision(why=TakeWhy.LAST_LOOK_FAILED, detail="touch empty",
                            trigger_ns=look.trigger_ns)
        price = touch + cfg.slippage_ticks if side is Side.BUY else touch - cfg.slippage_ticks
        cid = self.ids.next()
        self.orders.open(side, cid, price, qty, False)
        self.in_cycle = True
        intent = OrderIntent(cid, cfg.instrument, side, OrderType.LIMIT, qty, price,
                             TimeInForce.IOC)
        # Told to ourselves, but caused by the market data that found the signal: its tick.
        return Decision((intent,), trigger_ns=look.trigger_ns, trigger=Trigger.MARKET)

    def on_message(self, message: Any, now: int, epoch: int) -> Decision | None:
        return self.on_last_look(message, now) if isinstance(message, LastLook) else None

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision | None:
        return self.on_time_stop(now) if cause == "time_stop" else None

    def on_time_stop(self, now: int) -> Decision | None:
        """Flatten with a reduce-only IOC at the touch; re-armed until flat."""
        q = self.inventory.q
        if q == 0:
            self._end_cycle(now)
            return None
        retry = (("time_stop", self.config.flatten_retry_ms / 1e3),)
        side = Side.SELL if q > 0 else Side.BUY
        if self.orders.slots[side] is not None:
            return Decision(timers=retry, trigger_ns=now)  # the last flatten is still working
        book = self.book
        touch = None if book is None or self.book_stale else (
            book.bid if side is Side.SELL else book.ask)
        cid = self.ids.next()
        self.orders.open(side, cid, touch, abs(q), True)
        kind = OrderType.MARKET if touch is None else OrderType.LIMIT
        intent = OrderIntent(cid, self.config.instrument, side, kind, abs(q), touch,
                             TimeInForce.IOC, reduce_only=True)
        return Decision((intent,), timers=retry, trigger_ns=now)

    def _blocker(self, now: int) -> tuple[TakeWhy, str] | None:
        cfg, book = self.config, self.book
        if self.inventory.q != 0:
            return TakeWhy.POSITION_OPEN, f"q={self.inventory.q}"
        if self.orders.any_open():
            return TakeWhy.ORDER_IN_FLIGHT, ""
        if now < self.cooldown_until_ns:
            return TakeWhy.COOLDOWN, f"{self.cooldown_until_ns - now}ns"
        if book is None or book.bid is None or book.ask is None:
            return TakeWhy.NO_BOOK, "" if book is None else "one-sided"
        if self.book_stale is not None:
            return TakeWhy.BOOK_STALE, self.book_stale
        if cfg.book_max_age_ms is not None and now - book.recv_ns > cfg.book_max_age_ms * _MS:
            return TakeWhy.BOOK_STALE, f"age={now - book.recv_ns}ns"
        if self.ref_x2 is None:
            return TakeWhy.NO_REFERENCE, cfg.reference.value
        if self.ref_stale is not None:
            return TakeWhy.STALE_REFERENCE, self.ref_stale
        if now - self.ref_ns > cfg.reference_max_age_ms * _MS:
            return TakeWhy.STALE_REFERENCE, f"age={now - self.ref_ns}ns"
        return None

    def _signal(self) -> tuple[Side | None, str]:
        assert self.book is not None and self.ref_x2 is not None
        cfg = self.config
        threshold = required_edge(self.spec.taker_fee, cfg.min_edge_bps, cfg.fee_legs)
        found, best = find_dislocation(self.book, self.spec.tick_size, self.ref_x2, threshold)
        detail = f"edge={best} need>{threshold}"
        return (None if found is None else found.side), detail

    # -- execution reports -------------------------------------------------------------------------
    def on_report(self, msg: Any, now: int, epoch: int) -> Decision | None:
        if isinstance(msg, OwnFill | Fill):
            if not book_fill(msg, self.config.strategy, self.config.instrument, orders=self.orders,
                             inventory=self.inventory, now=now):
                return None
            if self.inventory.q != 0 and not self.stop_armed:
                self.stop_armed = True  # the time stop runs from the first entry fill
                return Decision(timers=(("time_stop", self.config.hold_ms / 1e3),), trigger_ns=now)
            self._end_cycle(now)
            return None
        if not self.orders.owns(msg):
            return None
        if isinstance(msg, Dropped):  # never sent: as if the gate's mailbox had refused it
            self.unsent(msg.intent)
            return None
        safety_cancel = self.orders.on_report(msg, self.config.instrument)
        if safety_cancel is not None:
            return Decision((safety_cancel,), trigger_ns=now)
        self._end_cycle(now)
        if isinstance(msg, RiskRefused):
            return Decision(why=TakeWhy.RISK_REFUSED, detail=f"{msg.gate.value}: {msg.detail}",
                            trigger_ns=now)
        return None

    def unsent(self, intent: Intent) -> None:
        """The gate's mailbox refused a proposal: it never left, so no cooldown either."""
        self.orders.unsent(intent)
        if self.inventory.q == 0 and not self.orders.any_open():
            self.in_cycle = self.stop_armed = False

    def _end_cycle(self, now: int) -> None:
        """Flat with nothing working: the cycle is over and the cooldown starts."""
        if self.in_cycle and self.inventory.q == 0 and not self.orders.any_open():
            self.in_cycle = self.stop_armed = False
            self.cooldown_until_ns = now + self.config.cooldown_ms * _MS

    def snapshot(self) -> Any:
        return {"q": self.inventory.q, "in_cycle": self.in_cycle, "looking": self.looking,
                "pending_confirmation": self.confirm.pending,
                "ids_high_water": self.ids.high_water}


class Taker(StrategyShell):
    """One taker instance: the shared strategy shell around a `TakerEngine`."""

    engine: TakerEngine

    def __init__(self, config: TakerConfig, risk_gate: Ref, journal: Ref | None = None) -> None:
        super().__init__(TakerEngine(config), risk_gate, journal)
        self.config = config
