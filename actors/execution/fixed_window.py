"""A rate limit counted the way Binance counts it: a fixed window aligned to the venue's clock.

Binance publishes its limits as counts per interval ("100 orders per 10 s", "200,000 orders a
day", "6,000 request weight a minute") and counts each in windows that start on the clock's
boundaries: the 10 s window at :00, :10, :20 ..., the minute on the minute, the day at 00:00
UTC. Each answer says how much of the current window is used (`X-MBX-ORDER-COUNT-10S`,
`X-MBX-USED-WEIGHT-1M` ...), and the request that would pass the limit is refused 429 with
Retry-After, the seconds to the window's end. A token bucket of the same capacity is the wrong
shape for it: it starts full and refills its capacity over the period, so it lets through up
to twice its capacity within one window (capacity at the window's start, its refill after).
`FixedWindow` counts as the venue does, so a budget declared with the venue's real limits
never passes them.

Time: the window is a function of the venue's clock, which nothing here reads. The caller
passes monotonic nanoseconds (the budget's one clock, for its waits and timers) and sets
`offset_ns`, the epoch minus the monotonic time (the host's wall clock, virtual in a backtest):
`now_ns + offset_ns` is where the venue's clock is taken to be.

Our clock and the venue's never agree exactly, and a request reaches the venue some time after
we send it, so a request sent near a boundary may be counted in either window. `margin_ns`
covers both: a request sent within `margin_ns` before a boundary is charged to the next window
too, and one sent within `margin_ns` after a boundary must fit in the window before it as well
(so after a full window, the next one opens `margin_ns` late). The margin costs the requests
of the window's last `margin_ns` counted twice; it must exceed the clock error plus the
one-way latency to keep the guarantee.

`reserve` (per call): the part of the window a request may not use. The budget passes a
limit's reserve for new orders and none for reduce-only orders and cancels, so a burst of new
orders never takes what an exit needs.

The venue's own count (`adopt`) is taken when it says more was used than we counted, never
less: an answer reports the window as it was when the venue handled the request, and requests
we sent after it are in our count and not in its. The answer's venue time (the HTTP `Date`
header: whole seconds, exact enough to place windows aligned on whole seconds) says which
window it counted; without it, the window of its arrival is assumed. A count for a window that
ended is ignored; at the boundary the count starts again from what was charged to the new
window in advance (the margin's requests and counts the venue reported ahead of our clock).
"""

from __future__ import annotations

__all__ = ["FixedWindow"]


class FixedWindow:
    """`capacity` per window of `period_ns` on the venue's clock. Same methods as
    `TokenBucket`, so a `RateBudget` spends both alike."""

    __slots__ = ("_end", "_index", "_next", "_prev", "_start", "_used", "capacity", "margin_ns",
                 "offset_ns", "period_ns")

    def __init__(self, capacity: int, period_ns: int, *, margin_ns: int = 0,
                 offset_ns: int = 0) -> None:
        if not 0 <= 2 * margin_ns < period_ns:
            raise ValueError(f"a window's margin ({margin_ns} ns) must be under half its "
                             f"period ({period_ns} ns)")
        self.capacity = capacity
        self.period_ns = period_ns
        self.margin_ns = margin_ns
        self.offset_ns = offset_ns
        self._index: int | None = None  # the current window, set by the first call
        # Where it starts and ends on the venue's clock: a call within it (nearly every call,
        # several per order) needs no division. Empty until the first call.
        self._start = self._end = 0
        self._prev = 0  # used in the window before it
        self._used = 0  # used in it
        self._next = 0  # already charged to the window after it

    def _roll(self, now_ns: int) -> int:
        """Moves to the window holding `now_ns`; returns the position in it, in ns. (`wait_ns`,
        `spend` and `tokens`, a budget's per-order calls, test for the current window
        themselves: a call less.)"""
        at = now_ns + self.offset_ns
        return at - self._start if self._start <= at < self._end else self._move(at)

    def _move(self, at: int) -> int:
        """`_roll` at `at` on the venue's clock, outside the current window."""
        index, position = divmod(at, self.period_ns)
        current = self._index
        if current is not None:
            if index < current:  # our clock stepped back: keep counting in the window we had
                return 0
            if index == current + 1:
                self._prev, self._used, self._next = self._used, self._next, 0
            elif index > current + 1:
                self._prev = self._next if index == current + 2 else 0
                self._used = self._next = 0
        self._index = index
        self._start = index * self.period_ns
        self._end = self._start + self.period_ns
        return position

    def wait_ns(self, weight: int, now_ns: int, reserve: int = 0) -> int:
        """Nanoseconds until `weight` fits in every window the venue might count it in; 0 if
        it does now."""
        at = now_ns + self.offset_ns
        position = at - self._start if self._start <= at < self._end else self._move(at)
        room = self.capacity - reserve - weight
        margin, period = self.margin_ns, self.period_ns
        if self._used > room or (position >= period - margin and self._next > room):
            # This window, or the next one it may be counted in, is full: after the next
            # boundary, once the margin has passed (then the next window, if it is full too).
            ahead = 2 if self._next > room else 1
            return ahead * period - position + margin
        if position < margin and self._prev > room:
            return margin - position
        return 0

    def spend(self, weight: int, now_ns: int) -> None:
        """Count `weight` in the current window (and a neighbour within the margin); the
        caller checked `wait_ns(...) == 0`."""
        at = now_ns + self.offset_ns
        position = at - self._start if self._start <= at < self._end else self._move(at)
        self._used += weight
        if position >= self.period_ns - self.margin_ns:
            self._next += weight
        if position < self.margin_ns:
            self._prev += weight

    def take(self, weight: int, now_ns: int, reserve: int = 0) -> bool:
        """`spend` if `wait_ns` would be 0, in one call: whether it did. (A budget charges
        its limits one by one and gives back to those it charged when a later one cannot
        pay: one call a limit, where checking them all and then spending took two.)"""
        at = now_ns + self.offset_ns
        position = at - self._start if self._start <= at < self._end else self._move(at)
        room = self.capacity - reserve - weight
        margin, edge = self.margin_ns, self.period_ns - self.margin_ns
        if (self._used > room or (position >= edge and self._next > room)
                or (position < margin and self._prev > room)):
            return False  # what makes `wait_ns` more than 0
        self._used += weight
        if position >= edge:
            self._next += weight
        if position < margin:
            self._prev += weight
        return True

    def give_back(self, weight: int, now_ns: int) -> None:
        """Undo `take(weight, now_ns)`, at the same time (the same window and position). Rare
        (a later limit refused): the plain `_roll`."""
        position = self._roll(now_ns)
        self._used -= weight
        if position >= self.period_ns - self.margin_ns:
            self._next -= weight
        if position < self.margin_ns:
            self._prev -= weight

    def tokens(self, now_ns: int) -> int:
        """What is left of the current window."""
        at = now_ns + self.offset_ns
        if not self._start <= at < self._end:
            self._move(at)
        left = self.capacity - self._used
        return left if left > 0 else 0

    def drain(self, now_ns: int) -> None:
        """Nothing: a 429 does not say which window is full (a minute's weight or ten seconds'
        orders), and taking the current one of every limit could stop cancels for a minute.
        The venue's Retry-After holds the budget back, and its counts in the answers say
        which window is full (`adopt`)."""

    def adopt(self, used: int, now_ns: int, venue_ns: int | None = None) -> None:
        """The venue counts `used` in the window holding `venue_ns` (its clock when it
        answered; None: the window of `now_ns`). Taken where it is more than our count."""
        self._roll(now_ns)
        current = self._index
        assert current is not None
        index = current if venue_ns is None else venue_ns // self.period_ns
        if index == current:
            self._used = max(self._used, used)
        elif index > current:  # the venue's clock is ahead of ours: its count is the next's
            self._next = max(self._next, used)
        elif index == current - 1:
            self._prev = max(self._prev, used)
