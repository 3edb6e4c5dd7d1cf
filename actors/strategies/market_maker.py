"""An inventory-aware market maker: a pure quoting engine and the thin behaviour around it.

`QuoteEngine` is a state machine over market data and execution reports (an
`actors.strategies.engine.Engine`): each hook returns a `Decision` (intents, at most one WHY,
timers) and never touches a context, so it is tested without a host. `MarketMaker` is the shared
`actors.strategies.shell.StrategyShell` around it, which hands decisions to
`actors.strategies.kit.carry_out` (Proposals to the risk gate, the WHY as a counted `NoTrade`).

The rules, in the order an evaluation applies them:

1. Guards (paused, no_book, book_stale, spread_too_tight, session_ended, adverse_flow,
   risk_refused cooldown, volatility_warmup): the first that holds is the one WHY. Quotes that
   could grow inventory are cancelled; reduce-only exits stay, since getting flat is never what
   a guard protects against.
2. Targets per side from `actors.strategies.quoting_models` (A-S or GLFT, float ticks), rounded
   on the safe side, then bounded as `quote_bound` declares (the three composed, with the
   configuration's constants worked out once, by `actors.strategies.quote_pricer`): POST_ONLY
   (default) never through the touch, `quote_offset_ticks` behind the inside (or behind the
   opposite touch if `allow_inside`); MODEL leaves the model's price as is, past the mid
   included (the A-S paper's simulation). Sizes are int lots, capped by max_inventory.
3. Inventory pressure (|q| >= pressure_threshold * max_inventory) or a position older than
   max_hold_s: the side that would grow inventory is pulled and the other side is a reduce-only
   exit for |q|; past max_hold its price decays from entry +/- exit_target_ticks to the touch,
   but is never less eager than the model's skewed quote: max_hold may only hasten an exit.
4. Diff against our one-order-per-side view: cancel, OrderIntent (empty side) or ReplaceIntent
   (acked order that moved by >= requote_threshold_ticks, changed size or reduce-only flag).
   Placements and replaces respect `requote_min_interval_s` (a keyed timer re-evaluates when it
   ends); cancels never wait.

An evaluation that places or moves no quote records exactly one WHY, even if it cancelled
something (a cancel is not trading); one that places or moves a quote records none.
"""

from __future__ import annotations

import enum
from fractions import Fraction
from typing import Any

import attrs

from actors.behaviour import Ref
from actors.execution.ids import ClientOrderIds
from actors.strategies.engine import Engine
from actors.strategies.kit import Decision, Inventory, LiveOrder, OrderSlots, Slot, book_fill
from actors.strategies.params import non_negative, positive
from actors.strategies.quote_pricer import QuotePricer
from actors.strategies.quoting_models import (
    DecayMode,
    EwmaVolatility,
    FlowGuard,
    Horizon,
    HorizonMode,
    PricingModel,
    QuoteBound,
    hold_exit_ticks,
)
from actors.strategies.shell import StrategyShell
from protocols.decisions import RiskRefused
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState, TradePrint
from protocols.orders import (
    Fill,
    Intent,
    OrderIntent,
    OrderType,
    ReplaceIntent,
    Side,
    TimeInForce,
)
from protocols.portfolio import OwnFill, PositionAdopted, PositionAsk, PositionNow


class QuoteWhy(enum.StrEnum):
    """Why the market maker placed or moved no quote. Exactly one per such evaluation."""

    PAUSED = "paused"  # operator PauseQuoting
    NO_BOOK = "no_book"  # no book yet, or one side empty
    BOOK_STALE = "book_stale"
    SPREAD_TOO_TIGHT = "spread_too_tight"  # market spread below min_market_spread_ticks
    SESSION_ENDED = "session_ended"  # FIXED horizon passed
    ADVERSE_FLOW = "adverse_flow"
    RISK_REFUSED = "risk_refused"  # a refusal, then its cooldown
    VOLATILITY_WARMUP = "volatility_warmup"
    REQUOTE_INTERVAL = "requote_interval"
    INVENTORY_LIMIT = "inventory_limit"  # a side pulled by max inventory or inventory pressure
    MAX_HOLD_EXIT = "max_hold_exit"  # growing side pulled while a held position is exited
    ORDER_IN_FLIGHT = "order_in_flight"  # a side's order is unacked or being cancelled
    PRICE_OUT_OF_RANGE = "price_out_of_range"  # the model put a bid at or below zero
    POSITION_UNKNOWN = "position_unknown"  # started, the portfolio not yet heard: skew unknown
    NO_CHANGE = "no_change"  # quotes already where they should be


@attrs.frozen(slots=True, kw_only=True)
class MarketMakerConfig:
    """One instance. Units: ticks, lots, seconds; model parameters as in
    `actors.strategies.quoting_models`."""

    strategy: str  # also the client-order-id namespace: [A-Za-z0-9_], short
    spec: InstrumentSpec
    quote_lots: int = attrs.field(validator=positive)
    max_inventory: int = attrs.field(validator=positive)
    gamma: float = attrs.field(validator=positive)
    k: float = attrs.field(validator=positive)
    model: PricingModel = PricingModel.AVELLANEDA_STOIKOV
    # GLFT's A, fills per second at zero distance
    arrival_a: float = attrs.field(default=1.0, validator=positive)
    # The SYMMETRIC model's whole spread
    fixed_spread_ticks: float | None = attrs.field(default=None, validator=positive)
    # Ticks / sqrt(s); None: EWMA estimate from mids
    sigma: float | None = attrs.field(default=None, validator=positive)
    vol_halflife_s: float = attrs.field(default=60.0, validator=positive)
    vol_min_samples: int = 20
    horizon: Horizon = attrs.field(factory=Horizon)  # rolling 60 s
    skew_ticks_per_lot: float = 0.0
    quote_offset_ticks: int = 0  # how far behind the inside we must stay
    allow_inside: bool = False  # may improve the inside (never cross: post-only)
    quote_bound: QuoteBound = QuoteBound.POST_ONLY  # MODEL: may cross the mid, as in A-S
    min_market_spread_ticks: int = 1
    requote_min_interval_s: float = attrs.field(default=0.25, validator=non_negative)
    requote_threshold_ticks: int = 1
    pressure_threshold: float = 0.8  # of max_inventory
    max_hold_s: float | None = attrs.field(default=None, validator=positive)
    exit_target_ticks: int = 0
    exit_decay_s: float = 30.0
    exit_decay: DecayMode = DecayMode.LINEAR
    exit_step_s: float = 1.0
    flow_window_s: float = 2.0
    flow_same_side_ratio: float = 0.8
    flow_min_count: int = 10
    flow_min_qty: int | None = None
    risk_cooldown_s: float = 1.0
    id_prefix: str = "tr"
    id_high_water: int = 0  # restore from the journal on restart: ids are never reused
    # The node's one id source for this strategy, shared by every incarnation: a restart never
    # reissues an id (None: a counter of our own from id_high_water, for tests and backtests).
    ids: ClientOrderIds | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.model is PricingModel.SYMMETRIC and not (self.fixed_spread_ticks or 0) > 0:
            raise ValueError("model 'symmetric' needs a positive fixed_spread_ticks")

    @property
    def instrument(self) -> str:
        return self.spec.symbol


# A side's target: (price, qty, reduce_only). A plain tuple: two are made on every evaluation
# that gets past the guards, and an attrs instance cost seven times as much to build.
Target = tuple[int, int, bool]
Targets = tuple[Target | None, Target | None]  # (buy, sell): indexed, not hashed by side
_BUY, _SELL = Side.BUY, Side.SELL  # an enum member read through its class costs ~10x a global
_SIDES = (_BUY, _SELL)
_LIVE, _CANCELLING = Slot.LIVE, Slot.CANCELLING
# The WHYs an evaluation of a book top usually ends with, as globals (see _BUY above)
_RISK_REFUSED, _REQUOTE_INTERVAL = QuoteWhy.RISK_REFUSED, QuoteWhy.REQUOTE_INTERVAL
_ORDER_IN_FLIGHT, _NO_CHANGE = QuoteWhy.ORDER_IN_FLIGHT, QuoteWhy.NO_CHANGE


class QuoteEngine(Engine):
    """The pure quoting state machine. Times are int ns: `now` monotonic, `epoch` wall clock."""

    config_class = MarketMakerConfig

    def __init__(self, config: MarketMakerConfig) -> None:
        self.config = config
        self.spec = config.spec
        self._symbol = config.instrument  # read on every message: the config's is a property
        self.ids = config.ids or ClientOrderIds(config.id_prefix, config.strategy,
                                                config.id_high_water)
        self.vol = EwmaVolatility(config.vol_halflife_s, config.vol_min_samples)
        self.pricer = QuotePricer(
            config.model, gamma=config.gamma, k=config.k, a=config.arrival_a,
            skew_per_lot=config.skew_ticks_per_lot, fixed_spread=config.fixed_spread_ticks,
            bound=config.quote_bound, allow_inside=config.allow_inside,
            offset=config.quote_offset_ticks)
        self.orders = OrderSlots()
        self.inventory = Inventory()
        self.book: BookTop | None = None
        self.stale: str | None = None
        self.paused: str | None = None
        self.flow = FlowGuard(config.flow_window_s, config.flow_same_side_ratio,
                              config.flow_min_count, config.flow_min_qty)
        self.flow_paused = False
        self.risk_until_ns = 0
        self.last_quote_ns: int | None = None
        self.position_pending = False  # asked the portfolio where the position stands
        # What the config fixes, read on every evaluation: worked out once, by the same
        # expressions the evaluation wrote (the config is frozen).
        self._requote_ns = int(config.requote_min_interval_s * 1e9)
        self._pressure_lots = config.pressure_threshold * config.max_inventory
        self._estimates_sigma = config.sigma is None
        self._session_may_end = config.horizon.mode is HorizonMode.FIXED
        # a rolling horizon's T - t is its window (`Horizon.remaining_s`); None: ask the horizon
        self._rolling_tau = None if self._session_may_end else config.horizon.window_s
        self._max_hold_s = config.max_hold_s
        self._threshold = config.requote_threshold_ticks

    # -- inputs ----------------------------------------------------------------------------------
    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        if book.instrument != self._symbol:
            return None
        self.book, self.stale = book, None
        bid, ask = book.bid, book.ask
        if bid is not None and ask is not None:
            mid_x2 = bid + ask  # `book.mid_x2`, without a property call
            inventory = self.inventory
            if inventory.entry is None and inventory.q:  # an opening waits for its price
                inventory.price_opening(Fraction(mid_x2, 2))
            if self._estimates_sigma:
                self.vol.update(mid_x2 / 2.0, book.recv_ns)
        return self.evaluate(now, epoch, book.recv_ns)

    def on_stale(self, msg: BookStale, now: int, epoch: int) -> Decision | None:
        if msg.instrument != self._symbol:
            return None
        self.stale = msg.reason
        return self.evaluate(now, epoch, msg.recv_ns)

    def on_trade(self, trade: TradePrint, now: int, epoch: int) -> Decision | None:
        """Prints are not decision points, except the one that turns the flow toxic."""
        if trade.instrument != self._symbol:
            return None
        self.flow.add(trade)
        if not self.flow_paused and self.flow.toxic(now):
            return self.evaluate(now, epoch, trade.recv_ns)  # pulls quotes, arms the flow timer
        return None

    def on_market_state(self, state: MarketState, now: int, epoch: int) -> Decision | None:
        """A new spec (tick size!) applies from the next quote; the risk gate halts the
        instrument on SpecChanged anyway, so this is not a decision point."""
        if state.instrument == self._symbol:
            self.spec = state.spec
        return None

    def on_pause(self, reason: str | None, now: int, epoch: int) -> Decision:
        self.paused = reason
        return self.evaluate(now, epoch, now)

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision:
        """Every timer (requote, hold, flow, risk) is a reason to look again."""
        return self.evaluate(now, epoch, now)

    def on_report(self, msg: Any, now: int, epoch: int) -> Decision | None:
        if isinstance(msg, OwnFill | Fill):
            if not book_fill(msg, self.config.strategy, self._symbol, orders=self.orders,
                             inventory=self.inventory, now=now):
                return None
            return self.evaluate(now, epoch, msg.recv_ns)  # inventory moved: so do the quotes
        if not self.orders.owns(msg):
            return None
        safety_cancel = self.orders.on_report(msg, self._symbol)
        if isinstance(msg, RiskRefused):
            self.risk_until_ns = now + int(self.config.risk_cooldown_s * 1e9)
            return Decision((), QuoteWhy.RISK_REFUSED, f"{msg.gate.value}: {msg.detail}",
                            (("risk", self.config.risk_cooldown_s),), now)
        return Decision((safety_cancel,), trigger_ns=now) if safety_cancel else None

    def on_message(self, message: Any, now: int, epoch: int) -> Decision | None:
        """A restart's opening position (`PositionAdopted`, from the portfolio when this is
        the instrument's only strategy): the inventory starts there, at the mid, not at 0.
        At every start the shell asks the portfolio where the position stands (`PositionAsk`):
        until `PositionNow` answers, nothing is quoted, since a supervisor's restart would
        otherwise quote as if flat on the position the last incarnation built."""
        if isinstance(message, PositionAsk | PositionNow) \
                and message.instrument == self.config.instrument:
            return self._position(message, now, epoch)
        if not isinstance(message, PositionAdopted) \
                or message.instrument != self.config.instrument:
            return None
        mid = None if self.book is None or self.book.mid_x2 is None \
            else Fraction(self.book.mid_x2, 2)
        if not self.inventory.adopt(message.qty, mid, now):
            return None
        return self.evaluate(now, epoch, now)

    def _position(self, message: PositionAsk | PositionNow, now: int,
                  epoch: int) -> Decision | None:
        if isinstance(message, PositionAsk):
            self.position_pending = True
            return None
        self.position_pending = False
        if message.qty is not None:
            entry = None if message.avg_price is None else Fraction(message.avg_price)
            self.inventory.resume(message.qty, message.opening, entry, message.counted, now)
        if self.book is None:  # nothing was held back, and nothing can be quoted yet
            return None
        return self.evaluate(now, epoch, now)

    def unsent(self, intent: Intent) -> None:
        self.orders.unsent(intent)

    def on_stop(self, now: int, epoch: int) -> Decision:
        """Pull every quote, reduce-only exits included: nobody will manage them any more."""
        pulls = self.orders.cancel_where(self._symbol, keep_reduce_only=False)
        return Decision(pulls, trigger_ns=now)

    def inventory_lots(self) -> int:
        return self.inventory.q

    def snapshot(self) -> Any:
        return {"q": self.inventory.q, "entry": str(self.inventory.entry),
                "orders": {s.value: attrs.asdict(o) if o else None
                           for s, o in self.orders.slots.items()},
                "ids_high_water": self.ids.high_water, "paused": self.paused,
                "flow_paused": self.flow_paused, "position_pending": self.position_pending}

    # -- the decision ----------------------------------------------------------------------------
    def evaluate(self, now: int, epoch: int, trigger_ns: int) -> Decision:
        timers = self._hold_timer(now) \
            if self._max_hold_s is not None and self.inventory.since_ns is not None else ()
        self.flow_paused = self.flow.toxic(now)
        if self.flow_paused:
            timers = (*timers, ("flow", self.flow.clears_in_s(now)))
        guard = self._guard(now, epoch)
        if guard is not None:
            why, detail = guard
            if why is _RISK_REFUSED:
                timers = (*timers, ("risk", (self.risk_until_ns - now) / 1e9))
            pulls = self.orders.cancel_where(self._symbol, True)  # reduce-only exits kept
            return Decision(pulls, why, detail, timers, trigger_ns)
        targets, side_why = self._targets(now, epoch)
        cancels, moves, in_flight = self._diff(targets)
        pulls = tuple(self.orders.cancel(side, self._symbol) for side in cancels) \
            if cancels else ()
        if moves and self.last_quote_ns is not None:
            wait = self.last_quote_ns + self._requote_ns - now
            if wait > 0:
                return Decision(pulls, _REQUOTE_INTERVAL, f"{wait}ns",
                                (*timers, ("requote", wait / 1e9)), trigger_ns)
        if moves:
            return self._quote(moves, targets, pulls, timers=timers, now=now,
                               trigger_ns=trigger_ns)
        why = side_why or (_ORDER_IN_FLIGHT if in_flight else _NO_CHANGE)
        return Decision(pulls, why, f"q={self.inventory.q}", timers, trigger_ns)

    def _quote(self, moves: list[Side], targets: Targets, pulls: tuple[Intent, ...], *,
               timers: tuple[tuple[str, float], ...], now: int, trigger_ns: int) -> Decision:
        """Place or move the quotes of `moves`: an evaluation's rare ending, in a method of
        its own (kept in `evaluate`, its locals and code made every evaluation ~1 % dearer
        in instructions under callgrind, the many that end without a quote included)."""
        self.last_quote_ns = now
        # the slots' orders, BUY then SELL, without hashing a side (see `_diff`)
        buy_order, sell_order = self.orders.slots.values()
        placed = [self._place(side, targets[1], sell_order) if side is _SELL
                  else self._place(side, targets[0], buy_order) for side in moves]
        exits = [i for i in placed if i.reduce_only]  # exits first, then cancels
        if exits:
            placed = [i for i in placed if not i.reduce_only]
        return Decision((*exits, *pulls, *placed), None, "", timers, trigger_ns)

    def _guard(self, now: int, epoch: int) -> tuple[QuoteWhy, str] | None:
        book = self.book
        if self.paused is not None:
            return QuoteWhy.PAUSED, self.paused
        if self.position_pending:
            return QuoteWhy.POSITION_UNKNOWN, "waiting for the portfolio"
        if book is None:
            return QuoteWhy.NO_BOOK, ""
        if self.stale is not None:
            return QuoteWhy.BOOK_STALE, self.stale
        if book.bid is None or book.ask is None:
            return QuoteWhy.NO_BOOK, "one-sided"
        if book.ask - book.bid < self.config.min_market_spread_ticks:
            return QuoteWhy.SPREAD_TOO_TIGHT, f"spread={book.ask - book.bid}"
        if self._session_may_end and self.config.horizon.ended(epoch):
            return QuoteWhy.SESSION_ENDED, ""
        if self.flow_paused:
            return QuoteWhy.ADVERSE_FLOW, f"prints={len(self.flow.prints)}"
        if now < self.risk_until_ns:
            return _RISK_REFUSED, "cooldown"
        if self._estimates_sigma and not self.vol.ready:
            return QuoteWhy.VOLATILITY_WARMUP, f"samples={self.vol.samples}"
        return None

    def _targets(self, now: int, epoch: int) -> tuple[Targets, QuoteWhy | None]:
        """Each side's target, (buy, sell), and the WHY of a side left without one."""
        cfg, book, inv = self.config, self.book, self.inventory
        assert book is not None and book.bid is not None and book.ask is not None
        q, s = inv.q, (book.bid + book.ask) / 2.0
        sigma = cfg.sigma if cfg.sigma is not None else self.vol.sigma_ticks(s)
        # The model, safe-side rounding, then the declared bound (post-only: not through the
        # touch). Two names, not a dict by side: hashing an Enum member is a Python call.
        tau = self._rolling_tau
        if tau is None:
            tau = cfg.horizon.remaining_s(epoch)
        bid_q, ask_q = self.pricer.quotes(self.spec, s, q, sigma, tau, bid=book.bid, ask=book.ask)
        held = None if inv.since_ns is None else (now - inv.since_ns) / 1e9
        hold_exit = cfg.max_hold_s is not None and held is not None and held >= cfg.max_hold_s
        if hold_exit:
            assert inv.entry is not None and cfg.max_hold_s is not None and held is not None
            exit_side = _SELL if q > 0 else _BUY
            p = hold_exit_ticks(self.spec, exit_side, entry=float(inv.entry),
                                target_ticks=cfg.exit_target_ticks,
                                touch=book.ask if exit_side is _SELL else book.bid,
                                overdue_s=held - cfg.max_hold_s, decay_s=cfg.exit_decay_s,
                                mode=cfg.exit_decay)
            # Post-only, and never less eager than the model's own (skewed) quote on that side.
            if exit_side is _SELL:
                ask_q = min(max(p, book.bid + 1), ask_q)
            else:
                bid_q = max(min(p, book.ask - 1), bid_q)
        if q != 0 and (hold_exit or abs(q) >= self._pressure_lots):
            # Exiting: a reduce-only exit for |q| on the side that shrinks the position, and
            # the side that would grow it pulled.
            why = QuoteWhy.MAX_HOLD_EXIT if hold_exit else QuoteWhy.INVENTORY_LIMIT
            if q > 0:
                return (None, (ask_q, q, True)), why
            return ((bid_q, -q, True), None), why
        # Each side: no room (inventory), then a price at or below zero; BUY's WHY first.
        buy: Target | None = None
        sell: Target | None = None
        side_why: QuoteWhy | None = None
        lots = min(cfg.quote_lots, cfg.max_inventory - q)
        if lots <= 0:
            side_why = QuoteWhy.INVENTORY_LIMIT
        elif bid_q <= 0:
            side_why = QuoteWhy.PRICE_OUT_OF_RANGE
        else:
            buy = (bid_q, lots, False)
        lots = min(cfg.quote_lots, cfg.max_inventory + q)
        if lots <= 0:
            side_why = side_why or QuoteWhy.INVENTORY_LIMIT
        elif ask_q <= 0:
            side_why = side_why or QuoteWhy.PRICE_OUT_OF_RANGE
        else:
            sell = (ask_q, lots, False)
        return (buy, sell), side_why

    def _diff(self, targets: Targets) -> tuple[list[Side], list[Side], bool]:
        cancels, moves, in_flight = [], [], False
        threshold = self._threshold
        # `slots` holds BUY then SELL (OrderSlots builds it so and only ever assigns its keys):
        # its values in that order, without hashing an Enum member (a Python call) per side.
        for side, target, order in zip(_SIDES, targets, self.orders.slots.values(),
                                       strict=True):
            if target is None:
                if order is not None and order.state is not _CANCELLING:
                    cancels.append(side)
            elif order is None:
                moves.append(side)
            elif order.state is not _LIVE:
                in_flight = True
            else:
                price, qty, reduce_only = target
                if (order.price is None or abs(price - order.price) >= threshold
                        or qty != order.qty or reduce_only != order.reduce_only):
                    moves.append(side)
        return cancels, moves, in_flight

    def _place(self, side: Side, target: Target | None,
               order: LiveOrder | None) -> OrderIntent | ReplaceIntent:
        """A new order for `side`, or a replace of `order`, the one in its slot."""
        assert target is not None
        price, qty, reduce_only = target
        instrument = self._symbol
        if order is not None:
            self.orders.amend(order, price, qty, reduce_only)
            return ReplaceIntent(order.cid, instrument, qty, price, reduce_only)
        cid = self.ids.next()
        self.orders.open(side, cid, price, qty, reduce_only)
        return OrderIntent(cid, instrument, side, OrderType.LIMIT, qty, price,
                           TimeInForce.POST_ONLY, reduce_only)

    def _hold_timer(self, now: int) -> tuple[tuple[str, float], ...]:
        """While a position is open, wake when max_hold expires, then every exit_step_s, so the
        exit keeps decaying when the book is quiet."""
        since = self.inventory.since_ns
        if self.config.max_hold_s is None or since is None:
            return ()
        left = self.config.max_hold_s - (now - since) / 1e9
        return (("hold", left if left > 0 else self.config.exit_step_s),)


class MarketMaker(StrategyShell):
    """One market-making instance: the shared strategy shell around a `QuoteEngine`."""

    engine: QuoteEngine

    def __init__(self, config: MarketMakerConfig, risk_gate: Ref,
                 journal: Ref | None = None) -> None:
        super().__init__(QuoteEngine(config), risk_gate, journal)
        self.config = config
