"""Messages between a venue connection and the actors that hold venue state: Market and
ActionBudget.

Venue -> Market[instrument] (what the venue says about one instrument): `SpecUpdate`,
`StatusUpdate`, `OracleUpdate`, `OpenInterestCap`, `FundingUpdate`. Each names its instrument, so
a misrouted message is counted and ignored instead of corrupting another instrument's state, and
carries `recv_ns`, the local monotonic receive time.

ActionBudget -> venue connection: `SendActions` (one venue request) and `CancelAllOrders`.
Venue connection -> ActionBudget: `RateLimited` (a 429), `RequestAccepted` (any request that was
not throttled), `Banned` (Binance's 418), `VenueUsage` (the venue's own count of the rate limit
spent, which the budget adopts).
The adapter's own requests (snapshots, reconciliations, look-ups, listen keys, cancel-all
sweeps) are paid for before they go: connection -> ActionBudget `VenueRequest`, answered
`RequestCleared` once charged; `BudgetOpened` (a budget that has just started, empty) asks the
connection to ask again for whatever still waits. All times are the local monotonic clock in ns: the
connection converts a venue's epoch "banned until" before telling the budget, since the budget
compares it with `ctx.monotonic_ns()`.

Units follow `protocols.orders`: prices in ticks (oracle and mark doubled, like `mid_x2`, so a
half tick stays an exact int), money as decimal strings or Decimal, never float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from protocols.decisions import Trigger
from protocols.instruments import InstrumentSpec
from protocols.market import TradingStatus
from protocols.orders import Batch

__all__ = [
    "ActionOwner",
    "Banned",
    "BudgetOpened",
    "CancelAllOrders",
    "FundingUpdate",
    "OpenInterestCap",
    "OracleUpdate",
    "RateLimited",
    "RequestAccepted",
    "RequestCleared",
    "SendActions",
    "SpecUpdate",
    "StatusUpdate",
    "VenueReconciled",
    "VenueRequest",
    "VenueUsage",
]


def _int(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int:
        raise ValueError(f"{attribute.name} must be an int, got {value!r}")


def _opt_int(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _int(inst, attribute, value)


def _decimal_string(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Kept as the venue's string (MarketState.funding_rate is a str), but it must be a number:
    # a "NaN" or "" here would only fail later, far from where it came in.
    try:
        ok = isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        ok = False
    if not ok:
        raise ValueError(f"{attribute.name} must be a finite decimal string, got {value!r}")


# --------------------------------------------------------------------------------------------
# Venue -> Market


@attrs.frozen(slots=True)
class SpecUpdate:
    """The venue's current spec for `spec.symbol`.

    `versioned`: the venue numbers its specs itself and `spec.spec_version` is that number; the
    Market actor then takes it as given and refuses an older one. Otherwise the version in
    `spec` is ignored and the actor numbers changes itself (current + 1 per material change).
    """

    spec: InstrumentSpec
    recv_ns: int = attrs.field(validator=_int)
    versioned: bool = False

    @property
    def instrument(self) -> str:
        return self.spec.symbol


@attrs.frozen(slots=True)
class StatusUpdate:
    instrument: str
    status: TradingStatus
    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class OracleUpdate:
    """Oracle (index) and mark prices in doubled ticks; either may be None if not published.
    `venue_ns` orders updates: one older than the last applied is ignored."""

    instrument: str
    oracle_x2: int | None = attrs.field(validator=_opt_int)
    mark_x2: int | None = attrs.field(validator=_opt_int)
    venue_ns: int | None = attrs.field(validator=_opt_int)
    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class OpenInterestCap:
    """`capped`: the venue refuses position-increasing orders (Hyperliquid's OI cap)."""

    instrument: str
    capped: bool
    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class FundingUpdate:
    """`rate` per funding period as the venue states it (a decimal string); `next_ns` the next
    funding time if known (epoch ns, the venue's clock)."""

    instrument: str
    rate: str = attrs.field(validator=_decimal_string)
    next_ns: int | None = attrs.field(validator=_opt_int)
    recv_ns: int = attrs.field(validator=_int)


# --------------------------------------------------------------------------------------------
# ActionBudget <-> venue connection


@attrs.frozen(slots=True)
class ActionOwner:
    """Who asked for an intent: where the connection routes its execution reports, and the
    trigger time tick-to-trade is measured from (`Proposal.trigger_recv_ns`, `trigger`).

    `queued_ns` is the budget's clock when the proposal reached it: an intent sent later than
    that (`SendActions.sent_ns`) waited in the budget's queue for the rate limit (tokens, a
    429's Retry-After, a batching window), and its latency is reported as that wait instead
    (`troupe_budget_held_seconds`). None: not known (the intent sent at once).
    """

    strategy: str
    reply_to: Any
    trigger_recv_ns: int
    trigger: Trigger = Trigger.MARKET
    queued_ns: int | None = None

    def held_ns(self, sent_ns: int) -> int:
        """How long the budget held the intent before dispatching it at `sent_ns` (0: at once)."""
        return 0 if self.queued_ns is None else max(0, sent_ns - self.queued_ns)


@attrs.frozen(slots=True)
class SendActions:
    """One venue request, already paid for in rate limit: send it now.

    `owners[i]` is the owner of `batch.intents[i]` (None if the budget no longer knows it, e.g.
    after a restart). `sent_ns` is the budget's monotonic time at dispatch: the connection's
    queueing delay is `its now - sent_ns`.
    """

    batch: Batch
    owners: tuple[ActionOwner | None, ...]
    sent_ns: int


@attrs.frozen(slots=True)
class CancelAllOrders:
    """Cancel every resting order of the account on `instrument` (None: all instruments); with
    `strategy`, only the orders that strategy owns.

    The connection owns the order state machine, so it knows what rests; it may use the venue's
    cancel-all endpoint or individual cancels (it must for one strategy's orders)."""

    instrument: str | None
    reason: str
    sent_ns: int
    strategy: str | None = None


@attrs.frozen(slots=True)
class RateLimited:
    """The venue throttled a request (HTTP 429 or its equivalent). `retry_after_ns` is the
    venue's Retry-After as a duration, when it gave one."""

    retry_after_ns: int | None = attrs.field(validator=_opt_int)
    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class RequestAccepted:
    """A request went through without a throttle: the backoff may relax."""

    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class Banned:
    """An IP ban (Binance 418): nothing at all may be sent before `until_ns` (local monotonic)."""

    until_ns: int = attrs.field(validator=_int)
    recv_ns: int = attrs.field(default=0, validator=_int)


def _usage(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int
            and p[1] >= 0 for p in value):
        raise ValueError(f"{attribute.name} must be a tuple of (limit name, int >= 0) pairs, "
                         f"got {value!r}")


@attrs.frozen(slots=True)
class VenueUsage:
    """What the venue says this account has spent of its rate limits, as one answer's headers
    told it (Binance: `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S` ...). `used` pairs a
    limit's name (`RateLimit.name`, as the config names it) with the count in the venue's
    current window. The venue's count is the truth: the budget adopts it, which also charges
    what the budget never spent itself (snapshots, reconciliations, another client of the
    account). A name the budget has no limit for is ignored. `venue_ns`: the venue's clock
    when it answered (epoch ns; Binance's `Date` header, whole seconds), which says the window
    its counts are for; None: not known (the window of their arrival is assumed)."""

    used: tuple[tuple[str, int], ...] = attrs.field(validator=_usage)
    recv_ns: int = attrs.field(default=0, validator=_int)
    venue_ns: int | None = attrs.field(default=None, validator=_opt_int)


@attrs.frozen(slots=True)
class VenueReconciled:
    """From the venue connection to its watchers: its first reconciliation with the venue at
    start is done (positions and open orders compared), so trading may begin."""

    recv_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class VenueRequest:
    """A request of the adapter's own, to be charged to the rate limit before it goes: a book
    snapshot, a reconciliation, an order look-up, a trades page, a listen key (`exit` False:
    upkeep, paid ahead of new orders but never from the reserve kept for exits), or a cancel
    by id of an order nobody here manages (`exit` True: paid like a cancel, which may spend the
    reserve). `key` names it while it waits (one request per key; asking again for a key that
    waits changes nothing); `weight`: what the venue charges for it. The budget answers
    `RequestCleared(key)` once it has paid."""

    key: Any
    weight: int = attrs.field(validator=_int)
    exit: bool = False
    recv_ns: int = attrs.field(default=0, validator=_int)


@attrs.frozen(slots=True)
class RequestCleared:
    """From the ActionBudget: the `VenueRequest` named `key` is paid for; send it now."""

    key: Any
    sent_ns: int = attrs.field(validator=_int)


@attrs.frozen(slots=True)
class BudgetOpened:
    """From an ActionBudget that has just started (a restart loses what its predecessor held):
    the connection's transport asks again for every request still waiting to be cleared."""

    sent_ns: int = attrs.field(validator=_int)
