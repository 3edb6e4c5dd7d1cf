"""The adapter's own requests, held until the action budget has paid for them (or, on a venue
whose budget does not pay for them, until the venue's Retry-After has passed).

Orders, cancels and replaces go out through the `ActionBudget`, which charges them to the
venue's rate limit before they leave and backs off on a 429 or a 418 (`RateLimited`, `Banned`).
An adapter also makes requests of its own: book snapshots when a book resyncs, reconciliations
(open orders, balances, positions) every few seconds, look-ups of orders whose answers were
lost, trades pages, listen keys, cancel-all sweeps. They spend the same limit: sent unpaid, the
budget learns of them only from the venue's counters in their answers, after the fact, and a
burst of them (a few hundred look-ups of weight 4) passes the venue's limit while the budget
still believes there is room: the venue answers 429, and for repeated 429s Binance bans the IP.

`RestGate` holds them. Charged (`charged=True`, Binance): a request given a `weight` waits,
one per key (asking again for a key that waits only takes the latest parameters), while the
gate asks the budget to pay for it (`VenueRequest`, taken by the adapter's `poll` from `asks`);
`cleared(key)`, when the budget's `RequestCleared` comes back, sends it. The budget pays in its
priority order (`actors.execution.action_queue`): exits (`exit=True`: sweeps, a stranger's
cancel) like cancels, from the reserve kept for them; upkeep before new orders, never from the
reserve; and holds what a 429 or a ban holds. `reask()` asks again for everything waiting (a
budget that restarted lost its queue: its `BudgetOpened`).

Uncharged (Hyperliquid, whose budget counts only actions), or a request given no weight: once
any answer says the venue throttles us (`throttled(until_ns)`), a request sent through the gate
before `until_ns` is parked, one per key, and all go when the wait is over (`release`, from
the adapter's `poll`; `due_ns` tells the connection when to wake it). Pure: time comes in as
`now_ns`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from protocols.venue_state import Banned, RateLimited, VenueRequest
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


_Request = tuple[Any, Any, dict[str, Any] | None]  # (tag, method, params)


class RestGate:
    """`rest`, below, is the adapter's REST worker (`submit(tag, method, params)`)."""

    def __init__(self, *, charged: bool = False) -> None:
        self.charged = charged
        self.until_ns = 0
        self.parked_total = 0  # requests that waited for a Retry-After, over the gate's life
        self._parked: dict[Hashable, _Request] = {}
        # Charged: waiting for the budget, by key, with what was asked of it.
        self._waiting: dict[Hashable, tuple[_Request, VenueRequest]] = {}
        self.asks: list[VenueRequest] = []  # for the budget, taken by the adapter's poll

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
               now_ns: int, *, weight: int | None = None, exit: bool = False,
               key: Hashable | None = None) -> None:
        """Send once the budget has paid `weight` (charged), or now, or once the venue's wait is
        over; one request per `key` (default: the tag) waits, the latest."""
        key = tag if key is None else key
        if self.charged and weight is not None:
            waiting = self._waiting.get(key)
            if waiting is not None:  # asked already: it goes with these parameters
                self._waiting[key] = ((tag, method, params), waiting[1])
                return
            ask = VenueRequest(key, weight, exit)
            self._waiting[key] = ((tag, method, params), ask)
            self.asks.append(ask)
            return
        if now_ns < self.until_ns:
            if key not in self._parked:
                self.parked_total += 1
            self._parked[key] = (tag, method, params)
            return
        rest.submit(tag, method, params)

    def cleared(self, rest: Any, key: Hashable) -> bool:
        """The budget paid for `key`: it goes now. False if nothing waited under that key."""
        waiting = self._waiting.pop(key, None)
        if waiting is None:
            return False
        rest.submit(*waiting[0])
        return True

    def reask(self) -> None:
        """Ask the budget again for everything waiting (it restarted: its queue is gone)."""
        self.asks = [ask for _request, ask in self._waiting.values()]

    def take_asks(self) -> list[VenueRequest]:
        asks, self.asks = self.asks, []
        return asks

    def waiting(self) -> int:
        """Requests waiting for the budget."""
        return len(self._waiting)

    def due_ns(self) -> int | None:
        return self.until_ns if self._parked else None

    def release(self, rest: Any, now_ns: int) -> None:
        """Send what waited, once the wait is over."""
        if not self._parked or now_ns < self.until_ns:
            return
        parked, self._parked = self._parked, {}
        for tag, method, params in parked.values():
            rest.submit(tag, method, params)
