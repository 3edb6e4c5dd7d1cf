"""The action queue: which intent spends the venue's rate limit next. Pure; time is passed in.

Strict priority, FIFO within a level: reduce-only orders and replaces first, then cancels, then
new orders and replaces. The moment you need an exit is the moment the venue is throttling you,
so a reduce-only order or a cancel must never wait behind a backlog of new orders: there is one
deque per level and `dispatch` only ever looks at the heads, so with 100,000 new orders queued an
urgent action is still found in O(1).

What the queue refuses to send, it reports as `Dropped` with a reason, never silently:

- "superseded": at most one replace per order is queued; a newer one takes the queued one's
  place in line (its turn is kept, so a strategy that requotes faster than the budget allows is
  not starved) and the older one is dropped.
- "stale": a new-class action past its TTL is dropped, not sent late (the NautilusTrader
  modify-throttler lesson): when its turn comes, or when the TTL ends while a backoff or the
  budget holds its level (the queue asks to be woken then, so its owner hears of it at once and
  re-decides). Only heads are examined, so the cost is amortized.
- "cancelled_before_send": a cancel for an order that is still queued removes both; nothing
  needs to reach the venue.
- "merged": a replace for an order that is still queued amends the queued order instead.
- "duplicate", "cancel_pending": a second copy of a queued order or cancel; a replace for an
  order whose cancel is already queued.

Dropped entries stay in their deque as tombstones (`alive = False`) and are discarded when they
reach the head; per-level depth counts only live entries.

Spending: the head of the highest level that is not held back by a backoff is sent when the
budget can pay for it. If it cannot, lower levels may not take the main budget from under it;
only a cancel paying from the venue's separate cancel allowance may still go. A 429 holds back
the venue's `backoff_blocks` levels (new orders, by default) while the others keep flowing; it
also empties the main token buckets, since our picture of the venue's counters was evidently
too optimistic, so the urgent levels continue at the refill rate (or on the cancel allowance).
Fixed windows are left as they are: the venue's counts in its answers say which is full.

A new order leaves each limit's `reserve` unspent, and the levels above it may spend it: with
every new order held at `capacity - reserve`, a reduce-only exit or a cancel still finds room
in the window at once.

The adapter's own requests (`VenueRequest`: book snapshots, reconciliations, order look-ups,
trades pages, listen keys, cancel-all sweeps) are paid from the same limits before they go, so
the venue's count never passes what the budget believes. They wait in two lanes of their own,
FIFO, each taken as one request of its weight that places no order:

    reduce-only | exits (sweeps, a stranger's cancel) | cancels | upkeep | new orders

Exits are paid like cancels (the reserve is theirs, the cancel backoff holds them); upkeep like
new orders (never from the reserve, held by the new orders' backoff), but ahead of them: a
book's snapshot or a reconciliation must not wait behind a market maker's stream of quotes,
which would take every window first. A request no limit could ever pay (a declared window
smaller than its weight) is cleared at once, unpaid (`request` says so), rather than never.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

from actors.execution.token_bucket import RateBudget, RateLimitBackoff, VenueLimits
from protocols.orders import (
    Batch,
    BudgetStatistics,
    CancelIntent,
    Dispatch,
    Dropped,
    Intent,
    OrderIntent,
    Priority,
    ReplaceIntent,
)
from protocols.venue_state import VenueRequest

_PRIORITIES = tuple(Priority)  # iterating the enum class itself is several times slower


def priority_of(intent: Intent) -> Priority:
    if isinstance(intent, CancelIntent):
        return Priority.CANCEL
    return Priority.REDUCE_ONLY if intent.reduce_only else Priority.NEW


class _Entry:
    __slots__ = ("alive", "enqueued_ns", "expires_ns", "intent", "priority")

    def __init__(self, intent: Intent, priority: Priority, now_ns: int, expires: int | None):
        self.intent = intent
        self.priority = priority
        self.enqueued_ns = now_ns
        self.expires_ns = expires
        self.alive = True


def _request_of(entry: _Entry) -> VenueRequest:
    """The adapter request an entry of a request lane holds (in the intent's slot)."""
    request: VenueRequest = entry.intent  # type: ignore[assignment]
    return request


def _earliest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


class ActionQueue:
    """The pure core of the ActionBudget actor for one venue account."""

    def __init__(self, limits: VenueLimits, now_ns: int) -> None:
        self.limits = limits
        self.budget = RateBudget(limits.limits, now_ns, limits.cancel_allowance,
                                 margin_ns=limits.window_margin_ns)
        self.backoff = RateLimitBackoff(limits.backoff_min_ns, limits.backoff_max_ns)
        self._levels: tuple[deque[_Entry], ...] = tuple(deque() for _ in Priority)
        self._depth = [0] * len(Priority)
        # The adapter's own requests: exits and upkeep, by key while they wait.
        exits: deque[_Entry] = deque()
        upkeep: deque[_Entry] = deque()
        self._requests: dict[Any, _Entry] = {}
        levels = self._levels
        # What dispatch examines, in order: (priority it pays as, lane, holds adapter requests).
        self._lanes = ((Priority.REDUCE_ONLY, levels[Priority.REDUCE_ONLY], False),
                       (Priority.CANCEL, exits, True), (Priority.CANCEL, levels[Priority.CANCEL],
                                                        False),
                       (Priority.NEW, upkeep, True), (Priority.NEW, levels[Priority.NEW], False))
        self._request_lanes = (exits, upkeep)
        # Live queued entries by (intent type, client order id): coalescing and cancel lookups.
        self._queued: dict[tuple[type, str], _Entry] = {}
        # `_weight_of` by the intent's exact type, for `send_now`.
        self._weights = {OrderIntent: limits.order_weight, CancelIntent: limits.cancel_weight,
                         ReplaceIntent: limits.replace_weight}
        self.sent = 0
        self.dropped = 0
        self.rate_limited = 0
        # Fail at configuration, not in the middle of a dispatch: every request we may build
        # must fit in the buckets that will pay for it.
        batch = limits.batch
        for prio, weights in (
            (Priority.REDUCE_ONLY, (limits.order_weight, limits.replace_weight)),
            (Priority.CANCEL, (limits.cancel_weight,)),
            (Priority.NEW, (limits.order_weight, limits.replace_weight)),
        ):
            worst = batch.weight(batch.max_items) if batch else max(weights)
            orders = 0 if prio is Priority.CANCEL else batch.max_items if batch else 1
            if not self.budget.affordable(worst, prio, orders):
                raise ValueError(f"a {prio.name} request of weight {worst} ({orders} orders) "
                                 "exceeds the limits, less what they reserve for exits")

    # ----------------------------------------------------------------------------------------
    # Queueing

    def put(self, intent: Intent, now_ns: int, ttl_ns: int | None = None) -> tuple[Dropped, ...]:
        """Queue an intent. Returns what this put made the queue drop (possibly `intent` itself).

        `ttl_ns` overrides the venue's default TTL for new orders; cancels never go stale.
        """
        prio = priority_of(intent)
        cid = intent.client_order_id
        queued = self._queued
        if (type(intent), cid) in queued and not isinstance(intent, ReplaceIntent):
            return (self._drop_new(intent, prio, now_ns, "duplicate"),)
        drops: list[Dropped] = []
        if isinstance(intent, CancelIntent):
            unsent = queued.get((OrderIntent, cid))
            if unsent is not None:
                drops.append(self._kill(unsent, now_ns, "cancelled_before_send"))
                drops.append(self._drop_new(intent, prio, now_ns, "cancelled_before_send"))
                return tuple(drops)
            replace = queued.get((ReplaceIntent, cid))
            if replace is not None:
                drops.append(self._kill(replace, now_ns, "superseded"))
        elif isinstance(intent, ReplaceIntent):
            if (CancelIntent, cid) in queued:
                return (self._drop_new(intent, prio, now_ns, "cancel_pending"),)
            unsent = queued.get((OrderIntent, cid))
            if unsent is not None:
                assert isinstance(unsent.intent, OrderIntent)
                unsent.intent = attrs.evolve(unsent.intent, qty=intent.qty, price=intent.price)
                return (self._drop_new(intent, prio, now_ns, "merged"),)
            older = queued.get((ReplaceIntent, cid))
            if older is not None and older.priority is prio:  # take its place in line
                drops.append(self._record(older, now_ns, "superseded"))
                older.intent = intent
                older.expires_ns = self._expiry(prio, now_ns, ttl_ns)
                return tuple(drops)
            if older is not None:  # it changed level: it cannot keep the older one's turn
                drops.append(self._kill(older, now_ns, "superseded"))
        entry = _Entry(intent, prio, now_ns, self._expiry(prio, now_ns, ttl_ns))
        self._levels[prio].append(entry)
        self._depth[prio] += 1
        queued[(type(intent), cid)] = entry
        return tuple(drops)

    def request(self, request: VenueRequest, now_ns: int) -> bool:
        """Queue an adapter request (see the module docstring); asking again for a key that
        waits changes nothing. False: no limit could ever pay for it; send it unpaid."""
        prio = Priority.CANCEL if request.exit else Priority.NEW
        if not self.budget.affordable(request.weight, prio, 0):
            return False
        if request.key not in self._requests:
            entry = _Entry(request, prio, now_ns, None)  # type: ignore[arg-type]
            self._request_lanes[0 if request.exit else 1].append(entry)
            self._requests[request.key] = entry
        return True

    def send_now(self, intent: Intent, now_ns: int) -> Batch | None:
        """`put` then `dispatch`, for the common case where that sends `intent` alone at once:
        nothing is queued, the venue does not batch, no backoff holds its level, it is not
        stale on arrival and the budget pays for it now. Returns what `dispatch` would have
        sent (its only batch, no drops, no wake-up), or None, having changed nothing, when the
        queue must take it (then call `put` and `dispatch` as usual)."""
        limits = self.limits
        if limits.batch is not None or any(self._depth) or self._requests:
            return None
        prio = priority_of(intent)
        if self.backoff.until(now_ns, prio, limits.backoff_blocks) is not None:
            return None
        # Stale on arrival (`_expiry`): only a new-class action, with a TTL of zero or less.
        ttl = limits.new_order_ttl_ns
        if ttl is not None and ttl <= 0 and prio is Priority.NEW:
            return None
        weight = self._weights.get(type(intent)) or self._weight_of(intent)
        if not self.budget.try_spend(weight, now_ns, prio):
            return None
        self.sent += 1
        return Batch(prio, (intent,), weight)

    def drop_level(self, priority: Priority, now_ns: int, reason: str) -> tuple[Dropped, ...]:
        """Drop everything queued at one level (e.g. new orders on REDUCING/HALTED). O(depth)."""
        level = self._levels[priority]
        drops = tuple(self._kill(e, now_ns, reason) for e in level if e.alive)
        level.clear()
        return drops

    # ----------------------------------------------------------------------------------------
    # Dispatching

    def dispatch(self, now_ns: int) -> Dispatch:
        """Decide what to send at `now_ns`: batches in send order, drops, and when to call again
        (None: nothing is queued; the next `put` is the next reason to call)."""
        batches: list[Batch] = []
        drops: list[Dropped] = []
        cleared: list[VenueRequest] = []
        wake: int | None = None
        progressed = True
        while progressed:
            progressed = False
            wake = None  # only the last pass, which sent nothing, decides the wake-up
            reserved = False  # a higher level is waiting for the main budget
            for prio, level, requests in self._lanes:
                head = self._head(level, now_ns, drops)
                if head is None:
                    continue
                # Held, the head is dropped when its TTL ends, not when sending resumes: its
                # owner hears of it then and re-decides on current data.
                expires = head.expires_ns
                held = self.backoff.until(now_ns, prio, self.limits.backoff_blocks)
                if held is not None:
                    wake = _earliest(_earliest(wake, held), expires)
                    continue
                if requests:  # one adapter request: its own weight, no order placed
                    group = [level.popleft()]
                    hold, orders = None, 0
                    weight = _request_of(group[0]).weight
                else:
                    group = self._take_group(level, now_ns, drops)
                    hold = self._window_end(prio, group, now_ns)
                    weight = self._weight(group)
                    orders = 0 if prio is Priority.CANCEL else len(group)
                if hold is None and self.budget.try_spend(
                    weight, now_ns, prio, allowance_only=reserved, orders=orders
                ):
                    if requests:
                        cleared.append(self._clear(group[0]))
                    else:
                        batches.append(self._send(prio, group, weight))
                    progressed = True
                    break
                level.extendleft(reversed(group))
                wake = _earliest(wake, expires)
                if hold is not None:
                    wake = _earliest(wake, hold)
                    continue
                at = self.budget.next_available_ns(weight, now_ns, prio, allowance_only=reserved,
                                                   orders=orders)
                wake = _earliest(wake, at)
                reserved = True
        if wake is not None and not any(self._depth) and not self._requests:
            wake = None
        return Dispatch(tuple(batches), tuple(drops), wake, tuple(cleared))

    def _head(self, level: deque[_Entry], now_ns: int, drops: list[Dropped]) -> _Entry | None:
        """The first live, fresh entry of a level; tombstones and stale heads are discarded."""
        while level:
            head = level[0]
            if not head.alive:
                level.popleft()
            elif head.expires_ns is not None and now_ns >= head.expires_ns:
                level.popleft()
                drops.append(self._kill(head, now_ns, "stale"))
            else:
                return head
        return None

    def _take_group(self, level: deque[_Entry], now_ns: int, drops: list[Dropped]) -> list[_Entry]:
        """Pop the head and, if the venue batches, the following entries of the same type."""
        group = [level.popleft()]
        policy = self.limits.batch
        if policy is None:
            return group
        kind = type(group[0].intent)
        while len(group) < policy.max_items:
            nxt = self._head(level, now_ns, drops)
            if nxt is None or type(nxt.intent) is not kind:
                break
            group.append(level.popleft())
        return group

    def _window_end(self, prio: Priority, group: list[_Entry], now_ns: int) -> int | None:
        """For new-class actions: hold a short batch until the window of its oldest closes."""
        policy = self.limits.batch
        if policy is None or prio is not Priority.NEW or len(group) >= policy.max_items:
            return None
        end = group[0].enqueued_ns + policy.window_ns
        return end if now_ns < end else None

    def _weight(self, group: list[_Entry]) -> int:
        if self.limits.batch is not None:
            return self.limits.batch.weight(len(group))
        return self._weight_of(group[0].intent)

    def _weight_of(self, intent: Intent) -> int:
        """The weight of one intent sent on its own (no batching)."""
        if isinstance(intent, CancelIntent):
            return self.limits.cancel_weight
        if isinstance(intent, ReplaceIntent):
            return self.limits.replace_weight
        return self.limits.order_weight

    def _clear(self, entry: _Entry) -> VenueRequest:
        request = _request_of(entry)
        del self._requests[request.key]
        return request

    def _send(self, prio: Priority, group: list[_Entry], weight: int) -> Batch:
        for e in group:
            self._forget(e)
        self.sent += len(group)
        return Batch(prio, tuple(e.intent for e in group), weight)

    # ----------------------------------------------------------------------------------------
    # Feedback from the venue

    def on_rate_limited(self, now_ns: int, retry_after_ns: int | None = None) -> int:
        """A 429. Holds back the venue's `backoff_blocks` levels; returns until when."""
        self.rate_limited += 1
        self.budget.drain(now_ns)
        return self.backoff.on_rate_limited(now_ns, retry_after_ns)

    def on_banned(self, now_ns: int, until_ns: int) -> None:
        """An IP ban (Binance's 418): nothing at all may be sent until `until_ns`."""
        self.rate_limited += 1
        self.budget.drain(now_ns)
        self.backoff.on_banned(until_ns)

    def adopt(self, used: tuple[tuple[str, int], ...], now_ns: int,
              venue_ns: int | None = None) -> None:
        """The venue's own counts (limit name, used in its window holding `venue_ns`, its
        clock when it answered): taken where they say more was used than we counted."""
        for name, count in used:
            self.budget.adopt(name, count, now_ns, venue_ns)

    def on_success(self, now_ns: int) -> None:
        self.backoff.on_success(now_ns)

    def idle(self) -> bool:
        """Nothing is queued: `dispatch` would send, drop and clear nothing and ask for no
        wake-up (it would only discard tombstones, which can wait for the next entry)."""
        return not any(self._depth) and not self._requests

    def waiting_requests(self) -> int:
        """Adapter requests waiting to be paid for."""
        return len(self._requests)

    def depths(self) -> tuple[int, ...]:
        """Live queued entries per priority level, in `Priority` order."""
        return tuple(self._depth)

    def statistics(self, now_ns: int) -> BudgetStatistics:
        blocks = self.limits.backoff_blocks
        blocked = frozenset(p for p in _PRIORITIES if self.backoff.until(now_ns, p, blocks))
        until = max(self.backoff.blocked_until_ns, self.backoff.banned_until_ns)
        return BudgetStatistics(
            depth={p: self._depth[p] for p in _PRIORITIES},
            tokens=self.budget.tokens(now_ns),
            cancel_tokens=self.budget.allowance_tokens(now_ns),
            blocked_until_ns=until if until > now_ns else None,
            blocked=blocked,
            backoff_ns=self.backoff.current_ns,
            sent=self.sent,
            dropped=self.dropped,
            rate_limited=self.rate_limited,
        )

    # ----------------------------------------------------------------------------------------
    # Bookkeeping

    def _expiry(self, prio: Priority, now_ns: int, ttl_ns: int | None) -> int | None:
        if prio is Priority.CANCEL:
            return None
        ttl = ttl_ns
        if ttl is None and prio is Priority.NEW:
            ttl = self.limits.new_order_ttl_ns
        return None if ttl is None else now_ns + ttl

    def _forget(self, entry: _Entry) -> None:
        entry.alive = False
        self._depth[entry.priority] -= 1
        key = (type(entry.intent), entry.intent.client_order_id)
        if self._queued.get(key) is entry:
            del self._queued[key]

    def _kill(self, entry: _Entry, now_ns: int, reason: str) -> Dropped:
        self._forget(entry)
        return self._record(entry, now_ns, reason)

    def _record(self, entry: _Entry, now_ns: int, reason: str) -> Dropped:
        self.dropped += 1
        return Dropped(entry.intent, entry.priority, reason, entry.enqueued_ns, now_ns)

    def _drop_new(self, intent: Intent, prio: Priority, now_ns: int, reason: str) -> Dropped:
        self.dropped += 1
        return Dropped(intent, prio, reason, now_ns, now_ns)
