"""Exits never queue behind new orders: the Binance transport's two REST lanes, and its
cancel-alls (`cancel_all`).

"Stopping must always work", and a rate-limited bot must still be able to cancel and reduce.
The budget already spends its rate limit on exits first and fences new orders behind a
cancel-all (`actors.execution.budget_actor`), but below it every request went through one
serial REST queue, one at a time: a cancel-all (the kill switch, a shutdown, REDUCING) waited
for every new order and replace queued before it, each a round trip, and those new orders
still reached the venue, after the kill switch. So the adapter's I/O has two lanes, each of
REST worker processes with a ccxt client apiece (`rest_pool.RestPool` of
`rest_process.RestProcess`es, started with the connection, their answers read on the event
loop; a symbol's requests in order, different symbols' at once), and each able to take back
what it has not sent (`withdraw`):

| lane      | what goes on it                                                            |
|-----------|----------------------------------------------------------------------------|
| `exits`   | cancels by id, cancel-alls (sweeps), batch cancels, reduce-only new orders, |
|           | and the cancels of strangers a reconciliation finds                        |
| `rest`    | new orders, replaces, batches of new orders, and everything else           |

The exits' lane was a thread running ccxt in the node's process (it started at once, and exits
are few), but each exit then held the GIL for about a millisecond of ccxt's Python while the
loop waited for it, the very moment (a kill switch, a flatten) the loop has most to do. As a
process it has everything the order lane has: a dead worker is noticed at once, the exit it
had started is answered `lost` (as a timeout is: a cancel by id is then looked up, never sent
again) and the exits it had not started go once, in order, to a new worker
(`tests/supervision/venues/test_binance_exits_worker_death.py`: killed during a kill switch's
first sweep, each symbol is swept once and nothing rests).

An exit waits for no new order, not even the one on the wire. Within the exits lane the
budget's order holds (a reduce-only exit after the cancel-all that must not sweep it), and so
it does across the lanes: while a sweep of an instrument is unanswered, new orders and
replaces of that instrument go behind it on the exits lane (`_entry_lane`), never past it
to the venue (where the sweep would take them).

What the exits lane overtakes must not turn against it:

- A cancel-all takes back (`RestProcess.withdraw`) every new order and replace in its scope
  still queued on the other lane: never sent, so never resting after the kill switch. A new
  order taken back is answered `CancelAck` (it is cancelled, having never left; the session
  already counts it as being cancelled), a replace a `Reject` that leaves its order as it was
  (the sweep takes it). A batch of new orders is taken back whole and what is out of scope
  goes again. Counted: troupe_orders_withdrawn_total{venue,kind}.
- A cancel by id of a new order still queued takes the order back the same way, and the
  cancel itself is not sent (the venue never heard of the order).
- A new order already on the wire when its cancel (or the sweep) overtakes it can reach the
  venue after it; the session cancels it again when it shows up
  (`actors.execution.venue_session`, troupe_orders_recancelled_total).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actors.execution.venue_transport import Reported
from protocols.orders import (
    Batch,
    CancelAck,
    CancelIntent,
    Intent,
    OrderIntent,
    Priority,
    Reject,
    RejectCode,
    ReplaceIntent,
)
from protocols.venue_state import CancelAllOrders, SendActions
from supervision.venues.binance.amend import AmendAnswers

__all__ = ["ExitLanes", "is_exit"]

_ENTRIES = ("create", "replace", "batch")  # the order lane's tags a cancel can take back


def is_exit(intent: Intent) -> bool:
    """A cancel or a reduce-only order: it goes on the exits lane."""
    return isinstance(intent, CancelIntent) or (isinstance(intent, OrderIntent)
                                                and intent.reduce_only)


def _intents_of(tag: Any) -> tuple[Intent, ...]:
    if tag[0] == "batch":
        return tuple(tag[1])
    return (tag[1],)


class ExitLanes(AmendAnswers):
    """The lanes, the cancel-alls and the taking back; the transport's `send` calls `_split`."""

    _instrument_of: dict[str, str]

    @property
    def exit_lane(self) -> Any:
        return self.io.exits

    def cancel_all(self, request: CancelAllOrders, open_ids: Sequence[str],
                   now_ns: int) -> None:
        if request.strategy is not None:  # one strategy's orders: by id, the others rest on
            ids = frozenset(open_ids)  # its new orders still queued are taken back, not sent
            gone = self._withdraw(lambda i: i.client_order_id in ids, now_ns)
            for cid in open_ids:
                instrument = self._instrument_of.get(cid)
                if instrument is None or cid in gone:
                    continue
                if not self.gate.charged:
                    self.send(SendActions(Batch(Priority.CANCEL, (CancelIntent(
                        cid, instrument),), 1), (None,), now_ns), now_ns)
                    continue
                cancel = CancelIntent(cid, instrument)  # paid as an exit, one by one
                self._request(("cancel", cancel), self.methods["cancel"], {
                    "symbol": self.settings.instruments.get(instrument, instrument),
                    "origClientOrderId": cid}, now_ns, self.weights["cancel"], exit=True,
                    key=("cancel", cid))
            return
        names = [request.instrument] if request.instrument else list(self.settings.instruments)
        self._withdraw_scope(None if request.instrument is None else names, now_ns)
        for name in names:
            self._sweep(name)

    def _entry_lane(self, entries: Sequence[Intent]) -> Any:
        """New orders and replaces go to the order lane, except while a sweep of their
        instrument is unanswered: then behind it on the exits lane, so none reaches the venue
        before the cancel-all the budget sent ahead of it (and is swept by it)."""
        if self._unswept and any(i.instrument in self._unswept for i in entries):
            return self.exit_lane
        return self.io.rest

    def _sweep(self, name: str) -> None:
        self._unswept[name] = self._unswept.get(name, 0) + 1
        # Paid by the budget with the CancelAllOrders (`VenueLimits.sweep_requests`), so it goes
        # at once, on the exits' own lane, ahead of whatever the budget sends after it (a sweep
        # the venue throttled goes again, unpaid, once the Retry-After has passed: the venue's
        # count was full).
        self.exit_lane.submit(("cancel_all", name), self.methods["cancel_all"],
                              {"symbol": self.settings.instruments.get(name, name)})

    def _split(self, intents: Sequence[Intent],
               now_ns: int) -> tuple[list[Intent], list[Intent]]:
        """(exits, the rest) of a request, in order, without the cancels of new orders taken
        back here (they never left: nothing to cancel at the venue)."""
        cancels = {i.client_order_id for i in intents if isinstance(i, CancelIntent)}
        gone = self._withdraw(lambda i: i.client_order_id in cancels, now_ns) if cancels \
            else set()
        exits: list[Intent] = []
        entries: list[Intent] = []
        for intent in intents:
            if isinstance(intent, CancelIntent) and intent.client_order_id in gone:
                continue
            (exits if is_exit(intent) else entries).append(intent)
        return exits, entries

    def _withdraw_scope(self, instruments: Sequence[str] | None, now_ns: int) -> None:
        """A cancel-all of `instruments` (None: all): its new orders still queued go back."""
        scope = None if instruments is None else frozenset(instruments)
        self._withdraw(lambda i: scope is None or i.instrument in scope, now_ns)

    def _withdraw(self, wanted: Callable[[Intent], bool], now_ns: int) -> set[str]:
        """Takes back from the order lane the queued new orders and replaces `wanted` names;
        returns the client ids of the new orders taken back."""
        def named(tag: Any) -> bool:
            return tag[0] in _ENTRIES and any(wanted(i) for i in _intents_of(tag))

        gone: set[str] = set()
        for tag in [*self.io.rest.withdraw(named), *self.exit_lane.withdraw(named)]:
            intents = _intents_of(tag)
            for intent in intents:
                cid = intent.client_order_id
                if not wanted(intent):
                    continue
                if isinstance(intent, ReplaceIntent):
                    self._asked.pop(cid, None)
                    self._queue.append(Reported(Reject(
                        cid, RejectCode.NOT_SENT, "replace taken back before it was sent: the "
                        "order is being cancelled", venue_ns=now_ns)))
                    self._count("troupe_orders_withdrawn_total", kind="replace")
                    continue
                gone.add(cid)
                self._closed(cid, now_ns)
                self._queue.append(Reported(CancelAck(cid, venue_ns=now_ns)))
                self._count("troupe_orders_withdrawn_total", kind="new")
            kept = [i for i in intents if not wanted(i)]
            if kept:  # a batch's orders out of scope go again
                self._send_batch(kept, self._entry_lane(kept))
        return gone
