"""The venue's Retry-After, kept by the requests the action budget does not pace.

Orders, cancels and replaces go out through the `ActionBudget`, which backs off on a 429 or a 418
(`RateLimited`, `Banned`) until the venue's Retry-After has passed. An adapter also makes requests
of its own: book snapshots when a book resyncs, reconciliations (open orders, balances, positions)
every few seconds, look-ups of orders whose answers were lost. During a 429 storm they would keep
hammering the venue, each one refused and each one lengthening the ban. `RestGate` holds them
instead: once any answer says the venue throttles us (`throttled(until_ns)`), a request sent
through the gate before `until_ns` is parked, one per tag (a book's second snapshot request
replaces its first, a reconciliation is one), and all go when the wait is over (`release`, from the
adapter's `poll`; `due_ns` tells the connection when to wake it). Pure: time comes in as `now_ns`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from protocols.venue_state import Banned, RateLimited
from supervision.venues.binance.io import RestDone

__all__ = ["RestGate", "budget_answer"]

SECOND = 1_000_000_000


def budget_answer(done: RestDone, now_ns: int) -> RateLimited | Banned | None:
    """What the action budget must hear of an answer that says wait: `RateLimited` with the
    venue's Retry-After (None: the budget's own backoff), or `Banned` until the ban's end (a
    minute if the venue does not say); None for any other answer."""
    if done.failure not in ("throttled", "banned"):
        return None
    retry = None if done.retry_after_s is None else int(done.retry_after_s * SECOND)
    if done.failure == "banned":
        return Banned(now_ns + (retry or 60 * SECOND), now_ns)
    return RateLimited(retry, now_ns)


class RestGate:
    """`rest`, below, is the adapter's REST worker (`submit(tag, method, params)`)."""

    def __init__(self) -> None:
        self.until_ns = 0
        self.parked_total = 0  # requests that waited, over the gate's life
        self._parked: dict[Hashable, tuple[Any, Any, dict[str, Any] | None]] = {}

    def throttled(self, until_ns: int) -> None:
        """The venue asked us to wait until `until_ns` (its Retry-After, or a ban's end)."""
        self.until_ns = max(self.until_ns, until_ns)

    def heard(self, done: RestDone, now_ns: int) -> RateLimited | Banned | None:
        """Any answer: one that says wait holds the gate until then (a second if a 429 does not
        say how long); returns what the budget must hear of it (`budget_answer`)."""
        answer = budget_answer(done, now_ns)
        if isinstance(answer, Banned):
            self.throttled(answer.until_ns)
        elif answer is not None:
            self.throttled(now_ns + (answer.retry_after_ns or SECOND))
        return answer

    def submit(self, rest: Any, tag: Hashable, method: Any, params: dict[str, Any] | None,
               now_ns: int) -> None:
        """Send now, or once the wait is over if the venue asked us to wait; one request per
        `tag` waits (the latest)."""
        if now_ns < self.until_ns:
            if tag not in self._parked:
                self.parked_total += 1
            self._parked[tag] = (tag, method, params)
            return
        rest.submit(tag, method, params)

    def due_ns(self) -> int | None:
        return self.until_ns if self._parked else None

    def release(self, rest: Any, now_ns: int) -> None:
        """Send what waited, once the wait is over."""
        if not self._parked or now_ns < self.until_ns:
            return
        parked, self._parked = self._parked, {}
        for tag, method, params in parked.values():
            rest.submit(tag, method, params)
