"""The ActionBudget actor: one per venue account, spending its rate limit in priority order.

    RiskGate --Proposal / CancelAll--> ActionBudget --SendActions / CancelAllOrders--> connection
    connection --RateLimited / RequestAccepted / Banned / VenueUsage--> ActionBudget
    ActionBudget --Dropped--> the proposal's reply_to (the strategy)

The spending rules are `actors.execution.action_queue.ActionQueue`'s (strict priority, coalescing,
TTL,
batching, backoff). `BudgetDesk`, below, is the pure layer around it: who owns each queued
intent, what a cancel-all must remove, and the order hazards a priority mailbox creates. The
actor carries out what the desk returns. Its mailbox should be
`StablePriority(BUDGET_LEVELS, budget_priority, capacity)`, so a reduce-only exit or a cancel is
*handled* before a backlog of new orders, not only sent before them.

A priority mailbox lets a message overtake an older one, and two of those overtakes are unsafe:

- A cancel (level 1) overtaking the order it cancels (level 2): the cancel would reach the venue
  first ("unknown order") and the order after it, resting uncancelled. So every cancelled id is
  remembered (bounded memory) and a later order ("cancelled_before_send") or replace
  ("cancel_pending") with that id is dropped. Ids are never reused, so this also stops a resend
  after a timeout.
- A `CancelAll` (level 0) overtaking new orders the risk gate approved before it: they would go
  out after the cancel-all and rest under a kill switch (the Hummingbot issue 2534 lesson). So a
  cancel-all tells the actor itself a fence at level 2, behind every new order already in the
  mailbox; until the fence comes through, new orders and replaces in its scope are dropped
  ("cancel_all"). Reduce-only exits and cancels are never fenced. A scope is an instrument, a
  strategy (the risk gate's cancel-all for a strategy that crashed: what its dead incarnation
  proposed must not reach the venue behind the sweep), or both.

On a `CancelAll` the queued new orders in scope are dropped as well ("cancel_all"), and a
`CancelAllOrders` goes to the connection at once, paid from the budget when it can be and sent
anyway when it cannot (exits are never blocked by a rate gate), except during a ban or a backoff
that the venue applies to cancels too (`VenueLimits.backoff_blocks`): sending then would only
extend the block, so it waits for it to end. A one-instrument CancelAll removes that
instrument's queued orders by queueing a cancel for each (the queue then drops both), so the
queue's `dropped` statistic also counts those synthetic cancels; its queued replaces are left to
fail at the venue, as the queue has no public way to remove them by instrument.

The venue's own count of what the account spent (`VenueUsage`, from Binance's weight and order
count headers) is adopted where it says more was used than the budget counted (in the window
its venue time names, for a fixed window), and the count is the gauge
troupe_budget_venue_used{limit}. A fixed window's boundaries are on the venue's clock: the
actor gives the budget the host's wall clock (`ctx.time_ns()`, virtual in a backtest) as an
offset from the monotonic one, so the budget itself stays pure.

Drops are told to the proposal's `reply_to` as the queue's `Dropped` record and counted in
troupe_budget_dropped_total{reason}. A `SendActions` the connection's mailbox refuses is reported
the same way ("venue_refused"). Gauges: troupe_budget_queue_depth{priority},
troupe_budget_tokens_remaining{limit}. Counters: troupe_budget_sent_total{priority},
troupe_budget_rate_limited_total, troupe_budget_cancel_all_total.

The adapter's own requests come as `VenueRequest`s and wait in the queue's lanes for them
(`ActionQueue`, whose docstring says where they rank); each one paid for is told to the
connection as `RequestCleared`, in the order of the other actions, and counted in
troupe_budget_requests_total{kind="exit"|"upkeep"}. A budget that starts tells the connection
`BudgetOpened`, so a transport asks again for what it had asked a predecessor for (a restart
loses the queue). A CancelAllOrders is paid here, before it goes, as the requests it takes: one
cancel for an instrument, `VenueLimits.sweep_requests` cancels for every instrument (one a
symbol on Binance spot), so the adapter sends its sweeps at once, ahead of any later action;
one strategy's cancel-all is paid one cancel here, and the adapter asks for each of its
cancels by id as an exit.

The queue's time is the actor's `ctx.monotonic_ns()`, never a message's `recv_ns`: one clock for
the limits, the backoff and the wake-up timer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Counting, Gauging, Ref
from actors.execution.action_queue import ActionQueue, priority_of
from actors.execution.token_bucket import VenueLimits
from protocols.commands import CancelAll
from protocols.decisions import Proposal
from protocols.orders import (
    BudgetStatistics,
    CancelIntent,
    Dropped,
    OrderIntent,
    Priority,
    ReplaceIntent,
)
from protocols.venue_state import (
    ActionOwner,
    Banned,
    BudgetOpened,
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    RequestCleared,
    SendActions,
    VenueRequest,
    VenueUsage,
)

__all__ = ["BUDGET_LEVELS", "ActionBudget", "BudgetDesk", "Outbox", "budget_priority"]

BUDGET_LEVELS = 3
_LABEL = {p: p.name.lower() for p in Priority}  # the priority label of the metrics
_WAKE = "budget.wake"
_CLOCK_STEP_NS = 1_000_000
_INTENTS = (OrderIntent, CancelIntent, ReplaceIntent)
_MAX_VENUE_NAMES = 32  # limit names the venue's counts are bound for (`_gauge_venue_used`)


def budget_priority(message: Any) -> int:
    """Mailbox level: 0 reduce-only, CancelAll, venue feedback (a backoff must take effect before
    the next dispatch) and control; 1 cancels; 2 new orders and replaces (and the fences)."""
    if isinstance(message, Proposal):
        intent = message.intent
        if isinstance(intent, CancelIntent):
            return 1
        return 0 if getattr(intent, "reduce_only", False) else 2
    if isinstance(message, _Fence):
        return 2
    return 0


@attrs.frozen(slots=True)
class _Fence:
    serial: int


@attrs.frozen(slots=True)
class _Wake:
    """The wake-up timer: the queue asked to be dispatched again at this time."""


class Outbox:
    """What the desk decided: the actor sends, reports and arms exactly this. (A plain class:
    one is built per message, at half the cost of an attrs one with list factories.)"""

    __slots__ = ("cancel_alls", "cleared", "drops", "fence", "invalid", "sends", "wake_ns")

    def __init__(self) -> None:
        self.sends: list[SendActions] = []
        self.cancel_alls: list[CancelAllOrders] = []
        self.cleared: list[VenueRequest] = []  # the adapter's requests, paid for
        self.drops: list[tuple[Dropped, ActionOwner | None]] = []
        self.fence: int | None = None
        self.wake_ns: int | None = None
        self.invalid = False


def _earliest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


class BudgetDesk:
    """The pure core of the actor; `now_ns` is always passed in."""

    def __init__(self, limits: VenueLimits, now_ns: int, *, remember: int = 100_000) -> None:
        self.queue = ActionQueue(limits, now_ns)
        self.limits = limits
        # Invariant per client order id: live = puts - drops - sent. Every put ends queued or
        # dropped and every queued entry ends sent or dropped, so this is exact.
        self._owners: dict[str, list[Any]] = {}  # cid -> [ActionOwner, live entries]
        self._queued_orders: dict[str, str] = {}  # cid -> instrument: unsent new OrderIntents
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._fences: dict[int, tuple[str | None, str | None]] = {}  # (instrument, strategy)
        self._serial = 0
        self._cancel_alls: list[CancelAll] = []

    # -- inputs ---------------------------------------------------------------------------
    def propose(self, proposal: Proposal, now_ns: int) -> Outbox:
        out = Outbox()
        intent = proposal.intent
        if not isinstance(intent, _INTENTS):
            out.invalid = True
            return out
        owner = ActionOwner(proposal.strategy, proposal.reply_to, proposal.trigger_recv_ns,
                            proposal.trigger, now_ns)
        cid = intent.client_order_id
        if isinstance(intent, CancelIntent):
            self._cancelled[cid] = None
            self._cancelled.move_to_end(cid)
            if len(self._cancelled) > self._remember:
                self._cancelled.popitem(last=False)
        else:
            reason = None
            if cid in self._cancelled:  # the queue's own words for the two cases
                reason = ("cancel_pending" if isinstance(intent, ReplaceIntent)
                          else "cancelled_before_send")
            elif (self._fences and not intent.reduce_only
                  and self._fenced(intent.instrument, proposal.strategy)):
                reason = "cancel_all"
            if reason is not None:
                out.drops.append((Dropped(intent, priority_of(intent), reason, now_ns, now_ns),
                                  owner))
                return self._dispatch(now_ns, out)
        if not self._cancel_alls and cid not in self._owners:
            batch = self.queue.send_now(intent, now_ns)
            if batch is not None:  # what queueing and dispatching would have sent, at once
                out.sends.append(SendActions(batch, (owner,), now_ns))
                return out
        entry = self._owners.setdefault(cid, [owner, 0])
        entry[0] = owner
        entry[1] += 1
        drops = self.queue.put(intent, now_ns)
        for drop in drops:
            self._dropped(drop, out, own=drop.intent is intent)
        if (isinstance(intent, OrderIntent) and not intent.reduce_only
                and not any(d.intent is intent for d in drops)):
            self._queued_orders[cid] = intent.instrument
        return self._dispatch(now_ns, out)

    def cancel_all(self, command: CancelAll, now_ns: int) -> Outbox:
        out = Outbox()
        instrument, strategy = command.instrument, command.strategy
        if instrument is None and strategy is None:
            for drop in self.queue.drop_level(Priority.NEW, now_ns, "cancel_all"):
                self._dropped(drop, out)
        else:
            doomed = [c for c, i in self._queued_orders.items()
                      if (instrument is None or i == instrument)
                      and (strategy is None or self._strategy_of(c) == strategy)]
            for cid in doomed:
                # The queue removes a queued order when its cancel arrives; the synthetic
                # cancel's own record is not reported (nobody asked for it).
                for drop in self.queue.put(CancelIntent(cid, self._queued_orders[cid]), now_ns):
                    if isinstance(drop.intent, OrderIntent):
                        self._dropped(attrs.evolve(drop, reason="cancel_all"), out)
        self._serial += 1
        self._fences[self._serial] = (instrument, strategy)
        out.fence = self._serial
        if command not in self._cancel_alls:
            self._cancel_alls.append(command)
        return self._dispatch(now_ns, out)

    def request(self, request: VenueRequest, now_ns: int) -> Outbox:
        """An adapter request: cleared when paid for (at once, unpaid, if no limit could ever
        pay for it)."""
        out = Outbox()
        if not self.queue.request(request, now_ns):
            out.cleared.append(request)
        return self._dispatch(now_ns, out)

    def fence_passed(self, serial: int, now_ns: int) -> Outbox:
        self._fences.pop(serial, None)
        return self._dispatch(now_ns, Outbox())

    def rate_limited(self, retry_after_ns: int | None, now_ns: int) -> Outbox:
        self.queue.on_rate_limited(now_ns, retry_after_ns)
        return self._dispatch(now_ns, Outbox())

    def accepted(self, now_ns: int) -> Outbox:
        self.queue.on_success(now_ns)
        return self._dispatch(now_ns, Outbox())

    def adopt(self, used: tuple[tuple[str, int], ...], now_ns: int,
              venue_ns: int | None = None) -> Outbox:
        self.queue.adopt(used, now_ns, venue_ns)
        return self._dispatch(now_ns, Outbox())

    def banned(self, until_ns: int, now_ns: int) -> Outbox:
        self.queue.on_banned(now_ns, until_ns)
        return self._dispatch(now_ns, Outbox())

    def wake(self, now_ns: int) -> Outbox:
        return self._dispatch(now_ns, Outbox())

    def statistics(self, now_ns: int) -> BudgetStatistics:
        return self.queue.statistics(now_ns)

    # -- dispatching ----------------------------------------------------------------------
    def _dispatch(self, now_ns: int, out: Outbox) -> Outbox:
        if not self._cancel_alls and self.queue.idle():
            return out  # the common case of venue feedback: nothing waits, so nothing to do
        held = self._send_cancel_alls(now_ns, out)
        dispatch = self.queue.dispatch(now_ns)
        for drop in dispatch.drops:
            self._dropped(drop, out)
        out.cleared.extend(dispatch.cleared)
        for batch in dispatch.batches:
            owners = tuple(self._leave(i.client_order_id) for i in batch.intents)
            for intent in batch.intents:
                if isinstance(intent, OrderIntent):
                    self._queued_orders.pop(intent.client_order_id, None)
            out.sends.append(SendActions(batch, owners, now_ns))
        out.wake_ns = _earliest(dispatch.next_wakeup_ns, held)
        return out

    def _send_cancel_alls(self, now_ns: int, out: Outbox) -> int | None:
        if not self._cancel_alls:
            return None
        held = self.queue.backoff.until(now_ns, Priority.CANCEL, self.limits.backoff_blocks)
        if held is not None:
            return held
        for command in self._cancel_alls:
            every = command.instrument is None and command.strategy is None
            weight = self.limits.cancel_weight * (self.limits.sweep_requests if every else 1)
            if self.queue.budget.affordable(weight, Priority.CANCEL):
                self.queue.budget.try_spend(weight, now_ns, Priority.CANCEL)  # best effort
            out.cancel_alls.append(CancelAllOrders(command.instrument, command.reason, now_ns,
                                                   command.strategy))
        self._cancel_alls.clear()
        return None

    # -- bookkeeping ----------------------------------------------------------------------
    def _dropped(self, drop: Dropped, out: Outbox, *, own: bool = False) -> None:
        cid = drop.intent.client_order_id
        if isinstance(drop.intent, OrderIntent) and not own:
            self._queued_orders.pop(cid, None)
        out.drops.append((drop, self._leave(cid)))

    def _leave(self, cid: str) -> ActionOwner | None:
        entry = self._owners.get(cid)
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] <= 0:
            del self._owners[cid]
        owner: ActionOwner = entry[0]
        return owner

    def _fenced(self, instrument: str, strategy: str) -> bool:
        return any((i is None or i == instrument) and (s is None or s == strategy)
                   for i, s in self._fences.values())

    def _strategy_of(self, cid: str) -> str | None:
        entry = self._owners.get(cid)
        return None if entry is None else entry[0].strategy

    def tracked(self) -> int:
        """Client order ids with live queued entries (for tests and introspection)."""
        return len(self._owners)


def _set_changed(gauges: Sequence[Gauging], values: Sequence[int],
                 old: Sequence[int | None]) -> None:
    """Set each gauge whose value is not its old one. The sink stores a float: an int would
    cost it a call."""
    for set_value, value, was in zip(gauges, values, old, strict=True):
        if value != was:
            set_value(float(value))


class ActionBudget(Behaviour):
    """One venue account's rate-limit spender. `venue` is the venue connection's ref."""

    def __init__(self, limits: VenueLimits, venue: Ref, *,
                 remember_cancelled: int = 100_000) -> None:
        self.limits = limits
        self.venue = venue
        self.remember_cancelled = remember_cancelled
        self.desk: BudgetDesk | None = None
        self._now = 0
        self._wake_ns: int | None = None
        self._unsent_fences: list[int] = []
        self._windowed = False  # some limit is a fixed window: it needs the venue's clock
        self._venue_offset = 0  # epoch - monotonic, for the fixed windows
        # The gauges set after every message (`_gauges`), bound once per incarnation, and
        # their values as last set (None: not yet).
        self._depth_gauges: tuple[Gauging, ...] = ()
        self._depths: tuple[int | None, ...] = ()
        self._token_gauges: tuple[Gauging, ...] = ()
        self._tokens: Sequence[int | None] = ()
        # Bound on first use, so a series appears when it is first recorded, as unbound ones.
        self._sent_counters: dict[Priority, Counting] = {}
        self._venue_used: dict[str, Gauging] = {}

    def on_start(self, ctx: Context) -> None:
        self._now = ctx.monotonic_ns()
        self.desk = BudgetDesk(self.limits, self._now, remember=self.remember_cancelled)
        budget = self.desk.queue.budget
        self._windowed = budget.windowed
        if self._windowed:
            self._venue_clock(ctx.time_ns() - self._now)
        allowance = budget.allowance_tokens(self._now) is not None
        self._depth_gauges = tuple(ctx.bind_gauge("troupe_budget_queue_depth",
                                                  priority=_LABEL[p]) for p in Priority)
        self._depths = (None,) * len(self._depth_gauges)
        self._token_gauges = (
            *(ctx.bind_gauge("troupe_budget_tokens_remaining", limit=name)
              for name in budget.names),
            *((ctx.bind_gauge("troupe_budget_tokens_remaining", limit="cancel_allowance"),)
              if allowance else ()))
        self._tokens = (None,) * len(self._token_gauges)
        self._gauges()
        ctx.tell(self.venue, BudgetOpened(self._now))

    def receive(self, message: Any, ctx: Context) -> Any:
        desk = self.desk
        assert desk is not None, "on_start builds the desk"
        now = self._now = ctx.monotonic_ns()
        if self._windowed:
            offset = ctx.time_ns() - now
            if abs(offset - self._venue_offset) > _CLOCK_STEP_NS:
                self._venue_clock(offset)
        if self._unsent_fences:
            self._tell_fences(ctx)
        if isinstance(message, Proposal):
            out = desk.propose(message, now)
            if out.invalid:
                ctx.count("troupe_budget_invalid_total")
        elif isinstance(message, RequestAccepted):  # each order's answer
            out = desk.accepted(now)
        elif isinstance(message, VenueUsage):  # each REST answer's
            self._gauge_venue_used(message.used, ctx)
            out = desk.adopt(message.used, now, message.venue_ns)
        elif isinstance(message, _Wake):
            self._wake_ns = None
            out = desk.wake(now)
        elif isinstance(message, CancelAll):
            ctx.count("troupe_budget_cancel_all_total")
            out = desk.cancel_all(message, now)
        elif isinstance(message, _Fence):
            out = desk.fence_passed(message.serial, now)
        elif isinstance(message, RateLimited):
            ctx.count("troupe_budget_rate_limited_total")
            out = desk.rate_limited(message.retry_after_ns, now)
        elif isinstance(message, Banned):
            ctx.count("troupe_budget_banned_total")
            out = desk.banned(message.until_ns, now)
        elif isinstance(message, VenueRequest):
            out = desk.request(message, now)
        else:  # an ask for the statistics, or a stray message
            return desk.statistics(now)
        self._carry_out(out, now, ctx)
        return None

    def _venue_clock(self, offset: int) -> None:
        """Where the fixed windows' boundaries fall: the host's wall clock (virtual in a
        backtest), as an offset from the monotonic clock. Set at the start, and again when it
        moves by more than a millisecond (a wall clock stepped or slewed; `receive` looks at
        each message); reading two clocks jitters by less."""
        assert self.desk is not None
        self._venue_offset = offset
        self.desk.queue.budget.set_venue_clock(offset)

    def _carry_out(self, out: Outbox, now: int, ctx: Context) -> None:
        for drop, owner in out.drops:
            self._report(drop, owner, ctx)
        for command in out.cancel_alls:
            ctx.tell(self.venue, command)
        for request in out.cleared:
            ctx.count("troupe_budget_requests_total", kind="exit" if request.exit else "upkeep")
            ctx.tell(self.venue, RequestCleared(request.key, now))
        for send in out.sends:
            batch = send.batch
            sent = self._sent_counters.get(batch.priority)
            if sent is None:
                sent = self._sent_counters[batch.priority] = ctx.bind_count(
                    "troupe_budget_sent_total", priority=_LABEL[batch.priority])
            sent(len(batch.intents))
            if ctx.tell(self.venue, send) is not None:
                for intent, owner in zip(batch.intents, send.owners, strict=True):
                    drop = Dropped(intent, batch.priority, "venue_refused", now, now)
                    self._report(drop, owner, ctx)
        if out.fence is not None:
            self._unsent_fences.append(out.fence)
            self._tell_fences(ctx)
        wake = out.wake_ns
        if wake is None:
            if self._wake_ns is not None:
                ctx.cancel_timer(_WAKE)
                self._wake_ns = None
        elif wake != self._wake_ns:
            ctx.schedule(max(0, wake - now) / 1e9, _Wake(), key=_WAKE)
            self._wake_ns = wake
        self._gauges()

    @staticmethod
    def _report(drop: Dropped, owner: ActionOwner | None, ctx: Context) -> None:
        ctx.count("troupe_budget_dropped_total", reason=drop.reason)
        if owner is not None and owner.reply_to is not None:
            ctx.tell(owner.reply_to, drop)

    def _tell_fences(self, ctx: Context) -> None:
        # A full level 2 refuses the fence; it is retried on the next message, and meanwhile the
        # scope stays fenced, which fails safe (new orders dropped, exits flowing).
        while self._unsent_fences:
            if ctx.tell(ctx.self_ref, _Fence(self._unsent_fences[0])) is not None:
                return
            self._unsent_fences.pop(0)

    def _gauges(self) -> None:
        """Queue depth per priority and tokens per limit, after every message. A gauge keeps
        its value, so only those that changed are set: the depths rarely do, the tokens of
        the limits an order paid do."""
        assert self.desk is not None
        queue = self.desk.queue
        depths = queue.depths()
        if depths != self._depths:
            _set_changed(self._depth_gauges, depths, self._depths)
            self._depths = depths
        tokens = queue.budget.remaining(self._now)
        if tokens != self._tokens:
            _set_changed(self._token_gauges, tokens, self._tokens)
            self._tokens = tokens

    def _gauge_venue_used(self, used: tuple[tuple[str, int], ...], ctx: Context) -> None:
        """The venue's count per limit (troupe_budget_venue_used{limit}), bound per name: the
        names are the venue's headers', a few, but a venue could invent more; past
        _MAX_VENUE_NAMES they are recorded unbound."""
        bound = self._venue_used
        for limit, count in used:
            set_value = bound.get(limit)
            if set_value is None:
                if len(bound) >= _MAX_VENUE_NAMES:
                    ctx.gauge("troupe_budget_venue_used", count, limit=limit)
                    continue
                set_value = bound[limit] = ctx.bind_gauge("troupe_budget_venue_used", limit=limit)
            set_value(float(count))

    def snapshot(self) -> BudgetStatistics | None:
        return None if self.desk is None else self.desk.statistics(self._now)
