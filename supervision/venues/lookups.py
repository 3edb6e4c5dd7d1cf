"""The timeout -> UNKNOWN -> look-up cycle, the same on every venue adapter.

A request whose answer is lost (a timeout, a network error, anything unreadable) is never
resent and never read as a refusal (the adapter contract, `actors.execution.venue_transport`,
guarantees 1 and 2): each of its intents is `TimedOut` (UNKNOWN), and each new order or replace
among them is looked up at the venue by its client id (a replace stays pending meanwhile: the
venue may or may not have applied it). What the look-up finds settles it:

- the order: the venue's own report of it (an ack, its fills, its cancel), as the adapter reads
  it (`_looked_up` answers True);
- nothing (`_looked_up` answers False), twice: `ReconcileResult(NOT_FOUND)`, which closes an
  order no report ever showed (the state machine's rule); for a replace, a `Reject`
  (UNKNOWN_ORDER: there is nothing to replace). The first "not found" is only asked
  again, `LOOKUP_AGAIN_S` later: a request that timed out may still be on its way through the
  venue's gateway, and is placed after a look-up that came too early (the order would then rest
  with our side holding it for rejected; `actors.execution.venue_session` cancels such an order
  if it shows up after all, but the second look-up usually finds it first);
- nothing readable (`_looked_up` answers None): the next reconciliation, 5 s on, asks again.

Look-ups go through the adapter's `RestGate`, as snapshots and reconciliations do: paid by the
action budget before they go (charged), or held during a 429's Retry-After or a ban, instead
of drawing another refusal each.

`OrderLookups` is the adapters' shared base for it (and for the bookkeeping of which of our
orders are open, `known_open`, and when each closed here, `_closed`, which their drift checks
read): an adapter's order half (Binance's
`OrderAnswers`, Hyperliquid's `HlOrderAnswers`) calls `_lost(intents)` for a request whose
answer is lost, says how to ask (`_lookup_request`) and what the answer means (`_looked_up`);
the answers come back tagged `("query", intent)` to `_on_query`.
"""

from __future__ import annotations

import abc
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from actors.execution.venue_transport import (
    Reported,
    TimedOut,
    TransportEvent,
    VenueTransport,
)
from protocols.orders import (
    Intent,
    OrderIntent,
    ReconcileResult,
    Reject,
    RejectCode,
    ReplaceIntent,
    VenueOrderStatus,
)
from supervision.venues.binance.io import RestDone
from supervision.venues.rest_gate import RestGate

__all__ = ["LOOKUP_AGAIN_S", "OrderLookups"]

SECOND = 1_000_000_000
LOOKUP_AGAIN_S = 2.0


class OrderLookups(VenueTransport):
    """State the adapter sets up: `_queue` (events for `poll`), `_due` (its timers, which its
    `poll` hands to `_due_lookup` too), `io`; and it calls `_init_lookups`."""

    io: Any
    gate: RestGate
    _queue: list[TransportEvent]
    _due: dict[str, int]

    def _init_lookups(self) -> None:
        # By client id: what the first look-up did not find, to be looked up once more.
        self._again: dict[str, OrderIntent | ReplaceIntent] = {}
        self.known_open: set[str] = set()  # ours, as the venue's answers left them
        # Ours that closed here, and when: a reconciliation's open-order list may predate it.
        self._closed_at: OrderedDict[str, int] = OrderedDict()

    def _closed(self, cid: str, now_ns: int) -> None:
        """One of ours is done, as far as the venue's answers tell."""
        if cid in self.known_open:
            self.known_open.discard(cid)
            self._closed_at[cid] = now_ns
            self._closed_at.move_to_end(cid)
            if len(self._closed_at) > 20_000:
                self._closed_at.popitem(last=False)

    def _due_lookup(self, what: str, now_ns: int) -> bool:
        """For the adapter's `poll`: `what` fell due; True if it was a second look-up."""
        if not what.startswith("lookup:"):
            return False
        intent = self._again.pop(what.removeprefix("lookup:"), None)
        if intent is not None:
            self._look_up(intent, now_ns, again=True)
        return True

    def _lost(self, intents: Iterable[Intent], now_ns: int) -> None:
        """A request's answer is lost: each intent UNKNOWN, each new order looked up by id."""
        for intent in intents:
            self._queue.append(TimedOut(intent))
            if isinstance(intent, OrderIntent | ReplaceIntent):
                self._look_up(intent, now_ns)

    def _look_up(self, intent: OrderIntent | ReplaceIntent, now_ns: int,
                 again: bool = False) -> None:
        # Through the gate: a look-up sent during a 429's Retry-After would be refused too, and
        # lengthen the wait; it goes when the wait is over (the order stays UNKNOWN meanwhile).
        method, params = self._lookup_request(intent)
        self.gate.submit(self.io.rest, ("query", intent, again), method, params, now_ns,
                         weight=self._lookup_weight())

    def _on_query(self, done: RestDone, now_ns: int) -> None:
        intent: OrderIntent | ReplaceIntent = done.tag[1]
        found = self._looked_up(done, now_ns)
        if found is False and not done.tag[2]:  # not yet, perhaps: ask once more, later
            self._again[intent.client_order_id] = intent
            self._due[f"lookup:{intent.client_order_id}"] = now_ns + int(LOOKUP_AGAIN_S * SECOND)
        elif found is False and isinstance(intent, ReplaceIntent):
            self._queue.append(Reported(Reject(
                intent.client_order_id, RejectCode.UNKNOWN_ORDER,
                "the replace's answer was lost and the venue does not have the order",
                venue_ns=now_ns)))
        elif found is False:
            self._queue.append(Reported(ReconcileResult(  # type: ignore[arg-type]
                intent.client_order_id, VenueOrderStatus.NOT_FOUND)))
        elif found is None:  # still nothing readable: ask again at the next reconciliation
            self._due.setdefault("reconcile", now_ns + 5 * SECOND)

    def _lookup_weight(self) -> int:
        """What the venue charges for a look-up (paid by the budget if the gate is charged)."""
        return 1

    @abc.abstractmethod
    def _lookup_request(self, intent: OrderIntent | ReplaceIntent) -> tuple[
            str | Callable[[Any, dict[str, Any]], Any], dict[str, Any]]:
        """How to ask the venue for `intent`'s order by its client id: (method, params) for the
        REST worker."""

    @abc.abstractmethod
    def _looked_up(self, done: RestDone, now_ns: int) -> bool | None:
        """Read a look-up's answer: True if it reported the order (queued its reports), False
        if the venue does not have it, None if the answer says nothing."""
