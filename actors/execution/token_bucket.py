"""Rate-limit accounting for one venue account: token buckets, a cancel allowance, a backoff.

Pure and integer-only. Time is `int` monotonic nanoseconds passed in by the caller; nothing here
reads a clock, so the same budget runs live, in a backtest and in a test.

Why a continuous token bucket rather than the venue's own window arithmetic: venues count in
fixed or sliding windows we cannot observe exactly (when did *their* minute start?), and a bucket
that refills `capacity` tokens evenly over `period_ns` never bursts more than `capacity` within any
window of that length, so it stays under a fixed- or sliding-window limit of the same size. Every
limit a venue publishes ("1200 weight per minute", "10 orders per second") becomes one bucket,
and a request is allowed only when every bucket that applies to it can pay: the per-second and
the per-minute budget are evaluated together.

Exactness without floats: a bucket stores its level in token-nanoseconds. A refill of `elapsed`
nanoseconds adds `elapsed * capacity` units, a token costs `period_ns` units, and the wait for a
deficit is a ceiling division. Nothing rounds, so nothing drifts.

The cancel allowance models venues that keep cancels flowing when the main budget is spent
(Hyperliquid grants cancels extra headroom over its address limit): a cancel pays from the main
buckets when they can, and from the allowance when they cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from protocols.orders import Priority

_SECOND = 1_000_000_000


@attrs.frozen(slots=True)
class RateLimit:
    """`capacity` weight per `period_ns`. `kinds`: the priorities it counts (None: all), e.g. an
    "orders per 10 s" limit that counts new orders but not cancels."""

    name: str
    capacity: int = attrs.field(validator=attrs.validators.gt(0))
    period_ns: int = attrs.field(validator=attrs.validators.gt(0))
    kinds: frozenset[Priority] | None = None


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

    def wait_ns(self, weight: int, now_ns: int) -> int:
        """Nanoseconds until `weight` tokens are available; 0 if they are now."""
        self._refill(now_ns)
        deficit = weight * self.period_ns - self._level
        return 0 if deficit <= 0 else -(-deficit // self.capacity)

    def spend(self, weight: int, now_ns: int) -> None:
        """Take `weight` tokens; the caller checked `wait_ns(...) == 0`."""
        self._refill(now_ns)
        self._level -= weight * self.period_ns

    def drain(self, now_ns: int) -> None:
        self._refill(now_ns)
        self._level = 0

    def adopt(self, used: int, now_ns: int) -> None:
        """The venue counts `used` of this limit spent in its current window: `capacity - used`
        tokens are left, whatever we had counted."""
        self._refill(now_ns)
        self._level = max(0, self.capacity - used) * self.period_ns


class RateBudget:
    """All of a venue account's buckets, spent together, plus the optional cancel allowance."""

    def __init__(
        self,
        limits: Sequence[RateLimit],
        now_ns: int,
        cancel_allowance: RateLimit | None = None,
    ) -> None:
        self._limits = tuple(limits)
        self._buckets = [TokenBucket(lim.capacity, lim.period_ns, now_ns) for lim in self._limits]
        # Indexed by priority (an IntEnum): the hot path does list lookups, not dict hashing.
        self._by_kind = [
            [b for lim, b in zip(self._limits, self._buckets, strict=True) if _counts(lim, kind)]
            for kind in Priority
        ]
        # The largest weight the main buckets could ever pay, per priority.
        self._max_main = [min((b.capacity for b in bs), default=1 << 62) for bs in self._by_kind]
        self._allowance = (
            TokenBucket(cancel_allowance.capacity, cancel_allowance.period_ns, now_ns)
            if cancel_allowance
            else None
        )

    def try_spend(
        self, weight: int, now_ns: int, kind: Priority, *, allowance_only: bool = False
    ) -> bool:
        """Spend `weight` if every applicable bucket can pay (a cancel may fall back on the
        allowance). `allowance_only`: a higher priority is waiting for the main buckets, so only
        the cancel allowance may be used. Raises ValueError for a weight no bucket could ever
        hold: that is a configuration error, not a throttle."""
        self._check(weight, kind)
        if not allowance_only:
            buckets = self._by_kind[kind]
            for b in buckets:
                if b.wait_ns(weight, now_ns):
                    break
            else:
                for b in buckets:
                    b.spend(weight, now_ns)
                return True
        allowance = self._allowance_for(kind, weight)
        if allowance is not None and allowance.wait_ns(weight, now_ns) == 0:
            allowance.spend(weight, now_ns)
            return True
        return False

    def next_available_ns(
        self, weight: int, now_ns: int, kind: Priority, *, allowance_only: bool = False
    ) -> int | None:
        """The earliest time `try_spend` would succeed, if nothing else spends meanwhile (now_ns
        if it would succeed now). None when `allowance_only` and there is no allowance."""
        self._check(weight, kind)
        best: int | None = None
        if not allowance_only and weight <= self._max_main[kind]:
            best = now_ns + max((b.wait_ns(weight, now_ns) for b in self._by_kind[kind]), default=0)
        allowance = self._allowance_for(kind, weight)
        if allowance is not None:
            at = now_ns + allowance.wait_ns(weight, now_ns)
            best = at if best is None else min(best, at)
        return best

    def drain(self, now_ns: int) -> None:
        """The venue said 429: our picture of its counters was optimistic. Start again from
        empty main buckets (the cancel allowance is the venue's separate grant: left alone)."""
        for b in self._buckets:
            b.drain(now_ns)

    def adopt(self, name: str, used: int, now_ns: int) -> bool:
        """The venue's own count for the limit called `name` (the budget's picture becomes the
        venue's); False if no limit has that name."""
        found = False
        for lim, b in zip(self._limits, self._buckets, strict=True):
            if lim.name == name:
                b.adopt(used, now_ns)
                found = True
        return found

    def tokens(self, now_ns: int) -> dict[str, int]:
        return {
            lim.name: b.tokens(now_ns) for lim, b in zip(self._limits, self._buckets, strict=True)
        }

    def allowance_tokens(self, now_ns: int) -> int | None:
        return self._allowance.tokens(now_ns) if self._allowance else None

    def affordable(self, weight: int, kind: Priority) -> bool:
        """Could a request of this weight ever be paid (is it within the buckets' capacity)?"""
        return weight > 0 and (
            weight <= self._max_main[kind] or self._allowance_for(kind, weight) is not None
        )

    def _allowance_for(self, kind: Priority, weight: int) -> TokenBucket | None:
        a = self._allowance
        return a if kind == Priority.CANCEL and a is not None and weight <= a.capacity else None

    def _check(self, weight: int, kind: Priority) -> None:
        if not self.affordable(weight, kind):
            raise ValueError(f"weight {weight} can never be afforded by this venue's limits")


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
