"""What every strategy needs besides its idea: a decision record, a way to carry it out, a local
view of its own orders, and an inventory built from its own fills.

Both strategies are split the same way: a pure engine turns a message into a `Decision` and a
thin behaviour hands the decision to `carry_out`. Keeping `carry_out` in one place is what makes
the promise "every decision not to act records exactly one WHY" uniform: the metric name, labels
and journal record cannot drift apart between strategies.

`OrderSlots` is deliberately *simple*: at most one order per side, three local states, optimistic
replaces. The venue connection owns the real order state machine
(`actors.execution.order_lifecycle`); a strategy
only needs to know "do I have a quote on this side, at what price, and is it settled enough to
amend". `Inventory` counts each venue fill id once, whichever of `Fill` or `OwnFill` brings it.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import attrs

from actors.behaviour import Context, Counting, Ref
from protocols.decisions import NoTrade, Proposal, RiskRefused, Scaled, Trigger
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Dropped,
    Expired,
    Intent,
    IntentAnswer,
    Reject,
    RejectCode,
    Side,
)
from protocols.portfolio import OwnFill

NO_TRADE_METRIC = "troupe_strategy_no_trade_total"
PROPOSAL_METRIC = "troupe_strategy_proposals_total"


class Decision(NamedTuple):
    """One decision: intents to propose (in order), at most one WHY, timers to (re)arm by key,
    messages to tell ourselves (queued behind whatever is already in the mailbox).

    `trigger` is what caused it when the message handled does not say (a message the engine
    told itself that carries a book's `trigger_ns`, say); None: the shell's reading of the
    message (`actors.strategies.shell.trigger_of`).

    A named tuple, not a frozen attrs class: as immutable, and a strategy makes one on nearly
    every market message (a frozen attrs instance costs three times as much to build)."""

    intents: tuple[Intent, ...] = ()
    why: enum.StrEnum | None = None
    detail: str = ""
    timers: tuple[tuple[str, float], ...] = ()
    trigger_ns: int = 0
    to_self: tuple[Any, ...] = ()
    trigger: Trigger | None = None


@attrs.frozen(slots=True)
class Wake:
    """A strategy's own keyed timer firing; `cause` is the key it was armed with."""

    cause: str


class DecisionCounts:
    """One strategy's proposal and no-trade counters, their labels bound once per kind or
    reason (`Context.bind_count`): a strategy counts a WHY on nearly every market message."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self._ctx: Context | None = None
        self._bound: dict[tuple[str, str], Counting] = {}

    def count(self, ctx: Context, metric: str, label: str, value: str) -> None:
        """Count one under `strategy` and `label`=`value` (the same counter as
        `ctx.count(metric, strategy=..., label=value)`)."""
        self.counter(ctx, metric, label, value)()

    def counter(self, ctx: Context, metric: str, label: str, value: str) -> Counting:
        """`count`'s counter, bound in `ctx`: call it to count one."""
        if ctx is not self._ctx:  # another context (a test's): bind afresh
            self._ctx, self._bound = ctx, {}
        key = (metric, value)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = ctx.bind_count(metric, strategy=self.strategy,
                                                      **{label: value})
        return bound


class DecisionCarrier:
    """`carry_out` for one strategy, with what stays the same from one decision to the next
    kept: its names, peers and counters, each WHY's value (an Enum's `.value` is a Python
    property), and each timer key's `Wake` and timer key (immutable, so one of each serves
    every arming). A strategy carries out a decision on nearly every market message.

    Call it as `carry_out` is called, less what it keeps: `carrier(decision, ctx, trigger)`."""

    __slots__ = ("_counts", "_instrument", "_journal", "_kind_counts", "_kinds_ctx",
                 "_last_count", "_last_ctx", "_last_reason", "_last_why", "_on_unsent",
                 "_reasons", "_risk_gate", "_strategy", "_wakes")

    _WAKES_KEPT = 64  # timer keys whose Wake is kept; more (keys made per timer) are built

    def __init__(self, strategy: str, instrument: str, *, risk_gate: Ref, journal: Ref | None,
                 on_unsent: Callable[[Intent], None], counts: DecisionCounts | None = None,
                 ) -> None:
        self._strategy, self._instrument = strategy, instrument
        self._risk_gate, self._journal, self._on_unsent = risk_gate, journal, on_unsent
        self._counts = counts if counts is not None else DecisionCounts(strategy)
        self._reasons: dict[enum.StrEnum, str] = {}
        # The last WHY, its value and its counter in `_last_ctx`: mostly the next one's too
        self._last_why: enum.StrEnum | None = None
        self._last_reason = ""
        self._last_ctx: Context | None = None
        self._last_count: Counting | None = None
        self._wakes: dict[str, tuple[Wake, tuple[str, str]]] = {}
        # Each intent type's proposal counter in `_kinds_ctx` (a type hashes in C)
        self._kinds_ctx: Context | None = None
        self._kind_counts: dict[type, Counting] = {}

    def __call__(self, decision: Decision, ctx: Context,
                 trigger: Trigger = Trigger.MARKET) -> None:
        strategy, counts = self._strategy, self._counts
        if decision.intents:
            cause = trigger if decision.trigger is None else decision.trigger
            me = ctx.self_ref
            if ctx is not self._kinds_ctx:
                self._kinds_ctx, self._kind_counts = ctx, {}
            kind_counts = self._kind_counts
            for intent in decision.intents:
                proposal = Proposal(strategy, intent, me, decision.trigger_ns, cause)
                if ctx.tell(self._risk_gate, proposal) is not None:
                    self._on_unsent(intent)
                kind = type(intent)
                count = kind_counts.get(kind)
                if count is None:
                    count = kind_counts[kind] = counts.counter(ctx, PROPOSAL_METRIC, "kind",
                                                               kind.__name__)
                count()
        why = decision.why
        if why is not None:
            count = self._last_count
            if why is self._last_why and ctx is self._last_ctx:  # mostly the last one again:
                reason = self._last_reason  # no Enum hash (a Python call), no counter lookup
            else:
                known = self._reasons.get(why)
                if known is None:
                    known = self._reasons[why] = why.value
                reason = self._last_reason = known
                self._last_why, self._last_ctx = why, ctx
                count = self._last_count = counts.counter(ctx, NO_TRADE_METRIC, "reason",
                                                          reason)
            assert count is not None  # set with `_last_why`
            count()
            if self._journal is not None:
                ctx.tell(self._journal, NoTrade(strategy, self._instrument, reason,
                                                decision.trigger_ns, decision.detail))
        if decision.timers:
            wakes = self._wakes
            for key, delay in decision.timers:
                wake = wakes.get(key)
                if wake is None:
                    wake = (Wake(key), (strategy, key))
                    if len(wakes) < self._WAKES_KEPT:
                        wakes[key] = wake
                ctx.schedule(delay, wake[0], key=wake[1])
        for message in decision.to_self:
            ctx.tell(ctx.self_ref, message)


def carry_out(
    decision: Decision,
    ctx: Context,
    *,
    strategy: str,
    instrument: str,
    risk_gate: Ref,
    journal: Ref | None,
    on_unsent: Callable[[Intent], None],
    trigger: Trigger = Trigger.MARKET,
    counts: DecisionCounts | None = None,
) -> None:
    """Propose every intent, record the WHY (count + journal), arm timers, tell ourselves.
    `trigger`: what caused the decision, unless the decision says (`Decision.trigger`);
    `counts`: the strategy's bound counters, if it keeps them. (`DecisionCarrier` is the same
    for a strategy that carries out many: the shell keeps one.)

    A proposal the gate's mailbox refuses never reached anyone, so no report will ever settle it:
    `on_unsent` rolls the engine's local view back instead of leaving a side stuck "pending".
    """
    DecisionCarrier(strategy, instrument, risk_gate=risk_gate, journal=journal,
                    on_unsent=on_unsent, counts=counts)(decision, ctx, trigger)


def remember(table: OrderedDict[str, Any], key: str, value: Any, cap: int = 4096) -> None:
    """Insert into a bounded, insertion-ordered table: a strategy that runs for weeks must not
    grow without bound, and only recent ids can still receive reports."""
    table[key] = value
    if len(table) > cap:
        table.popitem(last=False)


class Slot(enum.Enum):
    PENDING = "pending"  # proposed, not acked: cannot be amended yet
    LIVE = "live"
    CANCELLING = "cancelling"


# An Enum member read through its class is a Python call: the slots' hot paths read these
_PENDING, _LIVE, _CANCELLING = Slot.PENDING, Slot.LIVE, Slot.CANCELLING


@attrs.define
class LiveOrder:
    cid: str
    side: Side
    price: int | None  # None for a MARKET order
    qty: int  # remaining lots
    reduce_only: bool
    state: Slot = Slot.PENDING
    prev: tuple[int | None, int, bool] | None = None  # before the last (optimistic) replace


class OrderSlots:
    """Our orders, at most one per side, as far as our own reports tell."""

    def __init__(self) -> None:
        self.slots: dict[Side, LiveOrder | None] = {Side.BUY: None, Side.SELL: None}
        self._owner: OrderedDict[str, Side] = OrderedDict()  # every id we issued -> side

    def side_of(self, cid: str) -> Side | None:
        return self._owner.get(cid)

    def order(self, cid: str) -> LiveOrder | None:
        side = self._owner.get(cid)
        order = self.slots[side] if side is not None else None
        return order if order is not None and order.cid == cid else None

    def any_open(self) -> bool:
        return any(o is not None for o in self.slots.values())

    def open(self, side: Side, cid: str, price: int | None, qty: int, reduce_only: bool) -> None:
        if self.slots[side] is not None:
            raise RuntimeError(f"{side.value} already has an order: one live order per side")
        remember(self._owner, cid, side)
        self.slots[side] = LiveOrder(cid, side, price, qty, reduce_only)

    def replace(self, side: Side, price: int, qty: int, reduce_only: bool) -> LiveOrder:
        order = self.slots[side]
        assert order is not None
        return self.amend(order, price, qty, reduce_only)

    @staticmethod
    def amend(order: LiveOrder, price: int, qty: int, reduce_only: bool) -> LiveOrder:
        """`replace` of the order in its side's slot, given the order (optimistic: the
        price, size and flag before it are kept in `prev` for a refusal to restore)."""
        assert order.state is _LIVE
        order.prev = (order.price, order.qty, order.reduce_only)
        order.price, order.qty, order.reduce_only = price, qty, reduce_only
        return order

    def cancel(self, side: Side, instrument: str) -> CancelIntent:
        order = self.slots[side]
        assert order is not None
        order.state = _CANCELLING
        return CancelIntent(order.cid, instrument)

    def cancel_where(self, instrument: str, keep_reduce_only: bool) -> tuple[Intent, ...]:
        for o in self.slots.values():  # nothing to cancel, the usual answer, without a generator
            if o is not None and o.state is not _CANCELLING:
                break
        else:
            return ()
        return tuple(
            self.cancel(side, instrument) for side, o in self.slots.items()
            if o is not None and o.state is not _CANCELLING
            and not (keep_reduce_only and o.reduce_only)
        )

    def filled(self, cid: str, qty: int) -> None:
        order = self.order(cid)
        if order is not None:
            order.qty -= qty
            if order.qty <= 0:
                self.slots[order.side] = None

    def owns(self, msg: Any) -> bool:
        """Is `msg` an answer about one of the ids we issued?"""
        return isinstance(msg, IntentAnswer) and msg.client_order_id in self._owner

    def on_report(self, msg: Any, instrument: str) -> CancelIntent | None:
        """Apply an Ack/Reject/CancelAck/CancelReject/Expired/Scaled/RiskRefused/Dropped for one
        of our ids. Returns a cancel to send when a *replace* was rejected: the venue may have
        kept the old order resting, and a side we believe empty must really be empty."""
        if not isinstance(msg, IntentAnswer):
            return None
        order = self.order(msg.client_order_id)
        if order is None:
            return None
        if isinstance(msg, Dropped):
            # The budget will never send it (a cancel_all fence, a TTL, the connection's mailbox
            # refused it): exactly as if the gate's mailbox had refused it.
            self.unsent(msg.intent)
            return None
        if isinstance(msg, Ack) or (
            isinstance(msg, Reject) and msg.code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
        ):  # a duplicate id proves the order exists
            if order.state is _PENDING:
                order.state = _LIVE
        elif isinstance(msg, Reject):
            if order.prev is not None and order.state is _LIVE:
                return self.cancel(order.side, instrument)
            self.slots[order.side] = None
        elif isinstance(msg, CancelAck | Expired):
            self.slots[order.side] = None
        elif isinstance(msg, CancelReject):
            if msg.code in (CancelRejectCode.UNKNOWN_ORDER, CancelRejectCode.TOO_LATE):
                self.slots[order.side] = None  # done (fills may be in flight) or never there
            else:
                order.state = _LIVE
        elif isinstance(msg, Scaled):
            order.qty = msg.qty
        elif isinstance(msg, RiskRefused):
            self.undo(order)
        return None

    def unsent(self, intent: Intent) -> None:
        order = self.order(intent.client_order_id)
        if order is None:
            return
        if isinstance(intent, CancelIntent):
            order.state = _LIVE
        else:
            self.undo(order)

    def undo(self, order: LiveOrder) -> None:
        """The risk gate (or its mailbox) refused our last request for this order."""
        if order.state is _PENDING or order.prev is None:
            self.slots[order.side] = None
        else:
            order.price, order.qty, order.reduce_only = order.prev
            order.prev, order.state = None, _LIVE


class Inventory:
    """Signed lots from our own fills, the exact average entry (ticks), and since when the
    position has been open. A fill id is counted once, so `Fill` and `OwnFill` copies of the same
    execution, or a duplicate report, never double the position."""

    def __init__(self) -> None:
        self.q = 0
        self.entry: Fraction | None = None
        self.since_ns: int | None = None
        self.opening = 0  # lots held before any fill of this process (a restart's, adopted)
        self._seen: OrderedDict[str, int] = OrderedDict()  # fill id -> signed lots it moved

    def adopt(self, lots: int, price: Fraction | None, now_ns: int) -> bool:
        """The position held before any of our fills, as the venue's start-up reconciliation
        found it (`PositionAdopted`): it replaces the last opening (a correction moves q by the
        difference), and what it adds enters at `price` (the mid; None: unknown until a book
        gives one, `price_opening`). False if nothing changed."""
        change = lots - self.opening
        if change == 0:
            return False
        self.opening = lots
        old = self.q
        self.q = new = old + change
        if new == 0:
            self.entry = self.since_ns = None
        elif old == 0 or (old > 0) != (new > 0):
            self.entry, self.since_ns = price, now_ns
        elif abs(new) > abs(old) and self.entry is not None and price is not None:
            self.entry = (self.entry * abs(old) + price * abs(change)) / abs(new)
        return True

    def resume(self, held: int, opening: int, entry: Fraction | None, counted: Sequence[str],
               now_ns: int) -> None:
        """Where the portfolio says the position stands (`PositionNow`: a start's, above all a
        supervisor restart's, whose last incarnation's fills this one never saw): `held` lots,
        `opening` of them the venue's (a later `adopt` corrects from there), entered at `entry`.
        The fills this incarnation has applied that `counted` does not name came after the
        portfolio's figure, so they stay on top of it; those it names are in `held`, and a
        copy of one that comes later (the venue's report) must not count again."""
        ours = set(counted)
        after = sum(lots for fill_id, lots in self._seen.items() if fill_id not in ours)
        for fill_id in counted:
            if fill_id not in self._seen:
                remember(self._seen, fill_id, 0)  # in `held` already: moves nothing more
        self.opening = opening
        self.q = held + after
        if self.q == 0:
            self.entry = self.since_ns = None
            return
        if entry is not None:
            self.entry = entry
        if self.since_ns is None:  # when it opened is not known: its hold counts from now
            self.since_ns = now_ns

    def price_opening(self, price: Fraction) -> None:
        """An adopted position's entry, once a price is known."""
        if self.q and self.entry is None:
            self.entry = price

    def apply(self, fill_id: str, side: Side, qty: int, price: int, now_ns: int) -> bool:
        if fill_id in self._seen:
            return False
        moved = qty if side is Side.BUY else -qty
        remember(self._seen, fill_id, moved)
        old = self.q
        self.q = new = old + moved
        if new == 0:
            self.entry = self.since_ns = None
        elif old == 0 or (old > 0) != (new > 0):  # opened, or flipped through zero
            self.entry, self.since_ns = Fraction(price), now_ns
        elif abs(new) > abs(old):
            assert self.entry is not None
            self.entry = (self.entry * abs(old) + price * qty) / abs(new)
        return True


def book_fill(msg: Any, strategy: str, instrument: str, *, orders: OrderSlots,
              inventory: Inventory, now: int) -> bool:
    """Apply one of our fills (`OwnFill` or a bare venue `Fill`) to the local view, once.

    An `OwnFill` of nobody's order (strategy "": an earlier run's, tracked again) is ours too:
    only the portfolio tells one, and only to the instrument's one strategy, whose inventory is
    the account's position. Returns False when it is not ours, not known, or a duplicate fill
    id: nothing moved."""
    if isinstance(msg, OwnFill):
        if msg.strategy not in (strategy, "") or msg.instrument != instrument:
            return False
        side: Side | None = msg.side
    else:
        side = orders.side_of(msg.client_order_id)
    if side is None or not inventory.apply(msg.fill_id, side, msg.qty, msg.price, now):
        return False
    orders.filled(msg.client_order_id, msg.qty)
    return True
