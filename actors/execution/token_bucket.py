"""Rate-limit accounting for one venue account: token buckets and fixed windows, a cancel
allowance, a backoff.

Pure and integer-only. Time is `int` monotonic nanoseconds passed in by the caller; nothing here
reads a clock, so the same budget runs live, in a backtest and in a test. A fixed window also
needs the venue's clock: the caller gives the budget the offset from its monotonic time to the
epoch (`set_venue_clock`), from the host's clock, virtual in a backtest.

Each limit a venue publishes is counted the way the venue counts it (`RateLimit.model`):

- `FIXED_WINDOW` (`actors.execution.fixed_window`): "100 orders per 10 s" in windows aligned to
  the venue's clock, as Binance counts every one of its limits. This is the safe shape wherever
  a venue counts in windows: the window is the venue's own arithmetic.
- `TOKEN_BUCKET`: `capacity` refilled evenly over `period_ns`, for a venue whose limit is a
  bucket (Hyperliquid's address budget accrues and is spent as a bucket; the simulated venue's
  limit is one). A bucket starts full and refills its capacity over the period, so it lets
  through up to twice its capacity within one period: declared against a venue's fixed window
  of the same size it overruns it, and would have to be declared at half.

A request is allowed only when every limit that applies to it can pay: the per-second and the
per-minute budget are evaluated together. A limit counts the request's weight, or the orders it
places (`RateLimit.unit`: a batch of five orders is five in Binance's order count, one request
of its weight; a cancel places none). `RateLimit.reserve` is the part of each limit new orders
may not use: reduce-only orders and cancels can spend it, so a burst of new orders never uses
up what an exit needs.

Exactness without floats: a bucket stores its level in token-nanoseconds. A refill of `elapsed`
nanoseconds adds `elapsed * capacity` units, a token costs `period_ns` units, and the wait for a
deficit is a ceiling division. Nothing rounds, so nothing drifts.

The venue's own count (`adopt`, from its answers' headers) is taken when it says more was used
than we counted, never less: an answer tells how the venue's window stood when it handled that
request, before the ones we sent since.

The cancel allowance models venues that keep cancels flowing when the main budget is spent
(Hyperliquid grants cancels extra headroom over its address limit): a cancel pays from the main
limits when they can, and from the allowance when they cannot.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from actors.execution.fixed_window import FixedWindow
from protocols.orders import Priority

_SECOND = 1_000_000_000


class LimitModel(enum.StrEnum):
    """How the venue counts a limit over time (see the module's docstring)."""

    TOKEN_BUCKET = "token_bucket"
    FIXED_WINDOW = "fixed_window"


class LimitUnit(enum.StrEnum):
    """What a request costs in a limit: its weight, or the orders it places."""

    WEIGHT = "weight"
    ORDERS = "orders"


def _reserve_below_capacity(inst: RateLimit, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value < inst.capacity:
        raise ValueError(f"limit {inst.name!r}: its reserve ({value}) must be at least 0 and "
                         f"under its capacity ({inst.capacity})")


@attrs.frozen(slots=True)
class RateLimit:
    """`capacity` per `period_ns`, counted as `model` says, in `unit`s. `kinds`: the priorities
    it counts (None: all), e.g. a limit that counts new orders but not cancels. `reserve`: the
    part new orders may not spend (kept for reduce-only orders and cancels)."""

    name: str
    capacity: int = attrs.field(validator=attrs.validators.gt(0))
    period_ns: int = attrs.field(validator=attrs.validators.gt(0))
    kinds: frozenset[Priority] | None = None
    model: LimitModel = LimitModel.TOKEN_BUCKET
    unit: LimitUnit = LimitUnit.WEIGHT
    reserve: int = attrs.field(default=0, validator=_reserve_below_capacity)


@attrs.frozen(slots=True)
class BatchPolicy:
    """How a venue packs actions into one request.

    Weight of a batch of n: `base_weight + n // items_per_extra_weight` (0: flat), which covers
    Hyperliquid (1 + n // 40) and flat-weight batch endpoints alike. New-class actions wait up to
    `window_ns` after the oldest one was queued for company (or until `max_items`); cancels and
    reduce-only never wait, they only take along what is already queued at their level.
    """

    max_items: int = attrs.field(validator=attrs.validators.gt(0))
    window_ns: int = 0
    base_weight: int = 1
    items_per_extra_weight: int = 0

    def weight(self, n: int) -> int:
        extra = n // self.items_per_extra_weight if self.items_per_extra_weight else 0
        return self.base_weight + extra


@attrs.frozen(slots=True)
class VenueLimits:
    """Everything the action budget needs to know about one venue account's rate limits."""

    limits: tuple[RateLimit, ...]
    order_weight: int = 1
    cancel_weight: int = 1
    replace_weight: int = 1
    cancel_allowance: RateLimit | None = None
    batch: BatchPolicy | None = None
    # Who is held back by a 429 backoff. New orders always; cancels and reduce-only keep flowing
    # unless the venue punishes any request while throttled (then list them too).
    backoff_blocks: frozenset[Priority] = frozenset({Priority.NEW})
    backoff_min_ns: int = _SECOND
    backoff_max_ns: int = 60 * _SECOND
    new_order_ttl_ns: int | None = None
    # Fixed windows: a request this close to a boundary may be counted in either window
    # (clock error plus latency): see `actors.execution.fixed_window`.
    window_margin_ns: int = 0
    # The requests (of `cancel_weight` each) a cancel-all of every instrument takes: one per
    # instrument on a venue without an account-wide endpoint (Binance spot).
    sweep_requests: int = attrs.field(default=1, validator=attrs.validators.ge(1))


class TokenBucket:
    """One limit: `capacity` tokens refilled evenly over `period_ns`. Starts full."""

    __slots__ = ("_last_ns", "_level", "capacity", "period_ns")

    def __init__(self, capacity: int, period_ns: int, now_ns: int) -> None:
        self.capacity = capacity
        self.period_ns = period_ns
        self._level = capacity * period_ns  # token-nanoseconds
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        # A clock that goes backwards refills nothing (and does not rewind our reference).
        if now_ns > self._last_ns:
            full = self.capacity * self.period_ns
            self._level = min(full, self._level + (now_ns - self._last_ns) * self.capacity)
            self._last_ns = now_ns

    def tokens(self, now_ns: int) -> int:
        """Whole tokens available now (rounded down)."""
        self._refill(now_ns)
        return self._level // self.period_ns

    def wait_ns(self, weight: int, now_ns: int, reserve: int = 0) -> int:
        """Nanoseconds until `weight` tokens are available with `reserve` tokens left over; 0
        if they are now."""
        self._refill(now_ns)
        deficit = (weight + reserve) * self.period_ns - self._level
        return 0 if deficit <= 0 else -(-deficit // self.capacity)

    def spend(self, weight: int, now_ns: int) -> None:
        """Take `weight` tokens; the caller checked `wait_ns(...) == 0`."""
        self._refill(now_ns)
        self._level -= weight * self.period_ns

    def take(self, weight: int, now_ns: int, reserve: int = 0) -> bool:
        """`spend` if `wait_ns` would be 0, in one call: whether it did (`FixedWindow.take`)."""
        self._refill(now_ns)
        if (weight + reserve) * self.period_ns > self._level:
            return False
        self._level -= weight * self.period_ns
        return True

    def give_back(self, weight: int, now_ns: int) -> None:
        """Undo `take(weight, now_ns)`, at the same time."""
        self._level += weight * self.period_ns

    def drain(self, now_ns: int) -> None:
        self._refill(now_ns)
        self._level = 0

    def adopt(self, used: int, now_ns: int, venue_ns: int | None = None) -> None:
        """The venue counts `used` of this limit spent: at most `capacity - used` tokens are
        left (a count below ours gives nothing back: it is older than our last spending)."""
        self._refill(now_ns)
        self._level = min(self._level, max(0, self.capacity - used) * self.period_ns)


_Meter = TokenBucket | FixedWindow


class RateBudget:
    """All of a venue account's limits, spent together, plus the optional cancel allowance."""

    def __init__(
        self,
        limits: Sequence[RateLimit],
        now_ns: int,
        cancel_allowance: RateLimit | None = None,
        *,
        margin_ns: int = 0,
    ) -> None:
        self._limits = tuple(limits)
        self._meters: list[_Meter] = [_meter(lim, now_ns, margin_ns) for lim in self._limits]
        self._windows = [m for m in self._meters if isinstance(m, FixedWindow)]
        # Each name's meter (the last of that name, as `tokens` has it), in first-use order.
        named = {lim.name: m for lim, m in zip(self._limits, self._meters, strict=True)}
        self.names = tuple(named)
        self._named = tuple(named.values())
        self._by_name: dict[str, list[_Meter]] = {}  # every meter of a name, for `adopt`
        for lim, m in zip(self._limits, self._meters, strict=True):
            self._by_name.setdefault(lim.name, []).append(m)
        # Indexed by priority (an IntEnum): the hot path does list lookups, not dict hashing.
        # Per limit that counts the priority: (meter, reserve it must leave, counts orders).
        self._by_kind = [
            [(m, lim.reserve if kind is Priority.NEW else 0, lim.unit is LimitUnit.ORDERS)
             for lim, m in zip(self._limits, self._meters, strict=True) if _counts(lim, kind)]
            for kind in Priority
        ]
        # Per priority, the meters when every one counts plain weight with nothing reserved
        # (the common case, and the hot path's), else None.
        self._plain: list[list[_Meter] | None] = [
            None if any(r or o for _m, r, o in ms) else [m for m, _r, _o in ms]
            for ms in self._by_kind
        ]
        # The largest cost the main limits could ever pay, per priority: (weight, orders).
        self._max_main = [
            (min((m.capacity - r for m, r, o in ms if not o), default=1 << 62),
             min((m.capacity - r for m, r, o in ms if o), default=1 << 62))
            for ms in self._by_kind
        ]
        self._allowance = (
            TokenBucket(cancel_allowance.capacity, cancel_allowance.period_ns, now_ns)
            if cancel_allowance
            else None
        )
        self._remaining: tuple[_Meter, ...] = (
            self._named if self._allowance is None else (*self._named, self._allowance))

    def set_venue_clock(self, offset_ns: int) -> None:
        """The venue's clock is taken to be monotonic time plus `offset_ns` (the epoch minus
        the monotonic time, from the host): where the fixed windows' boundaries fall."""
        for window in self._windows:
            window.offset_ns = offset_ns

    @property
    def windowed(self) -> bool:
        """Whether any limit is a fixed window (the budget then needs the venue's clock)."""
        return bool(self._windows)

    def try_spend(
        self, weight: int, now_ns: int, kind: Priority, *, allowance_only: bool = False,
        orders: int | None = None,
    ) -> bool:
        """Spend `weight` (and `orders`: the orders the request places; None: one, none for a
        cancel) if every applicable limit can pay (a cancel may fall back on the allowance).
        `allowance_only`: a higher priority is waiting for the main limits, so only the cancel
        allowance may be used. Raises ValueError for a cost no limit could ever hold: that is
        a configuration error, not a throttle."""
        if orders is None:
            orders = 0 if kind is Priority.CANCEL else 1
        max_weight, max_orders = self._max_main[kind]
        if not (0 < weight <= max_weight and orders <= max_orders):
            self._check(weight, kind, orders)
        # Each limit is charged in turn (`take`); when one cannot pay, those charged before
        # it are given back, as if each had only been asked (`wait_ns`).
        plain = self._plain[kind]
        if not allowance_only and plain is not None:
            for i, m in enumerate(plain):
                if not m.take(weight, now_ns):
                    for charged in plain[:i]:
                        charged.give_back(weight, now_ns)
                    break
            else:
                return True
        elif not allowance_only:
            meters = self._by_kind[kind]
            for i, (m, reserve, by_orders) in enumerate(meters):
                cost = orders if by_orders else weight
                if cost and not m.take(cost, now_ns, reserve):
                    for charged, _reserve, counts_orders in meters[:i]:
                        cost = orders if counts_orders else weight
                        if cost:
                            charged.give_back(cost, now_ns)
                    break
            else:
                return True
        allowance = self._allowance_for(kind, weight)
        if allowance is not None and allowance.wait_ns(weight, now_ns) == 0:
            allowance.spend(weight, now_ns)
            return True
        return False

    def next_available_ns(
        self, weight: int, now_ns: int, kind: Priority, *, allowance_only: bool = False,
        orders: int | None = None,
    ) -> int | None:
        """The earliest time `try_spend` would succeed, if nothing else spends meanwhile (now_ns
        if it would succeed now). None when `allowance_only` and there is no allowance."""
        if orders is None:
            orders = 0 if kind is Priority.CANCEL else 1
        self._check(weight, kind, orders)
        best: int | None = None
        max_weight, max_orders = self._max_main[kind]
        plain = self._plain[kind]
        if not allowance_only and plain is not None and weight <= max_weight:
            best = now_ns + max((m.wait_ns(weight, now_ns) for m in plain), default=0)
        elif not allowance_only and weight <= max_weight and orders <= max_orders:
            best = now_ns + max(
                (m.wait_ns(orders if o else weight, now_ns, r) if (orders if o else weight)
                 else 0 for m, r, o in self._by_kind[kind]), default=0)
        allowance = self._allowance_for(kind, weight)
        if allowance is not None:
            at = now_ns + allowance.wait_ns(weight, now_ns)
            best = at if best is None else min(best, at)
        return best

    def drain(self, now_ns: int) -> None:
        """The venue said 429: our picture of its counters was optimistic. Start again from
        empty main buckets (the cancel allowance is the venue's separate grant: left alone; a
        fixed window waits for the venue's count instead, see `FixedWindow.drain`)."""
        for m in self._meters:
            m.drain(now_ns)

    def adopt(self, name: str, used: int, now_ns: int, venue_ns: int | None = None) -> bool:
        """The venue's own count for the limit called `name`, in its window holding `venue_ns`
        (its clock when it answered, if known), taken where it is more than ours; False if no
        limit has that name."""
        meters = self._by_name.get(name, ())
        for m in meters:
            m.adopt(used, now_ns, venue_ns)
        return bool(meters)

    def tokens(self, now_ns: int) -> dict[str, int]:
        return {name: m.tokens(now_ns) for name, m in zip(self.names, self._named, strict=True)}

    def remaining(self, now_ns: int) -> list[int]:
        """The values of `tokens(now_ns)` in `names`' order, then the cancel allowance's
        tokens if there is one: the budget's gauges read them after every message, so no
        dict is built."""
        return [m.tokens(now_ns) for m in self._remaining]

    def allowance_tokens(self, now_ns: int) -> int | None:
        return self._allowance.tokens(now_ns) if self._allowance else None

    def affordable(self, weight: int, kind: Priority, orders: int | None = None) -> bool:
        """Could a request of this weight (placing `orders`) ever be paid (is it within the
        limits' capacity, less what they reserve)?"""
        if orders is None:
            orders = 0 if kind is Priority.CANCEL else 1
        max_weight, max_orders = self._max_main[kind]
        return weight > 0 and (
            (weight <= max_weight and orders <= max_orders)
            or self._allowance_for(kind, weight) is not None
        )

    def _allowance_for(self, kind: Priority, weight: int) -> TokenBucket | None:
        a = self._allowance
        return a if kind == Priority.CANCEL and a is not None and weight <= a.capacity else None

    def _check(self, weight: int, kind: Priority, orders: int) -> None:
        if not self.affordable(weight, kind, orders):
            raise ValueError(f"weight {weight} ({orders} orders) can never be afforded by this "
                             "venue's limits")


def _meter(limit: RateLimit, now_ns: int, margin_ns: int) -> _Meter:
    if limit.model is LimitModel.FIXED_WINDOW:
        return FixedWindow(limit.capacity, limit.period_ns, margin_ns=margin_ns)
    return TokenBucket(limit.capacity, limit.period_ns, now_ns)


def _counts(limit: RateLimit, kind: Priority) -> bool:
    return limit.kinds is None or kind in limit.kinds


class RateLimitBackoff:
    """Adaptive backoff after a 429 (or an IP ban).

    A Retry-After from the venue is honoured as given. Without one, the block doubles with each
    consecutive 429, from `min_ns` up to `max_ns`, and returns to `min_ns` after a success: the
    first 429 of a quiet day should not cost a minute. A success only counts once the block has
    ended, because a reply to a request sent before the 429 says nothing about the venue's mood.
    A ban blocks every priority; an ordinary 429 blocks only the venue's `backoff_blocks`.
    """

    __slots__ = ("banned_until_ns", "blocked_until_ns", "current_ns", "max_ns", "min_ns")

    def __init__(self, min_ns: int, max_ns: int) -> None:
        self.min_ns = min_ns
        self.max_ns = max_ns
        self.current_ns = min_ns
        self.blocked_until_ns = 0
        self.banned_until_ns = 0

    def on_rate_limited(self, now_ns: int, retry_after_ns: int | None) -> int:
        """Returns the time until which the configured priorities are held back."""
        if retry_after_ns is not None:
            until = now_ns + max(0, retry_after_ns)
        else:
            until = now_ns + self.current_ns
            self.current_ns = min(self.max_ns, self.current_ns * 2)
        self.blocked_until_ns = max(self.blocked_until_ns, until)
        return self.blocked_until_ns

    def on_banned(self, until_ns: int) -> None:
        self.banned_until_ns = max(self.banned_until_ns, until_ns)

    def on_success(self, now_ns: int) -> None:
        if now_ns >= self.blocked_until_ns:
            self.current_ns = self.min_ns

    def until(self, now_ns: int, priority: Priority, blocks: frozenset[Priority]) -> int | None:
        """If `priority` is held back at `now_ns`, until when; else None."""
        if now_ns < self.banned_until_ns:
            return self.banned_until_ns
        if now_ns < self.blocked_until_ns and priority in blocks:
            return self.blocked_until_ns
        return None
