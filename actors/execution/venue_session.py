"""The connection side of a venue: which orders we have out, whose they are, and what a report
means for them. Pure: the venue-connection actor (simulated or real) calls it as it puts requests
on the wire and as reports come back, and carries out what it returns.

The session owns one `actors.execution.order_lifecycle.Order` state machine per client order id
(DESIGN.md: "the
venue connection owns the order state machine"), the owner of each order (where reports go, and
the strategy name for the portfolio) and the send times that ack latencies are measured from.

- A report is routed to the owner of its order with `recv_ns` set to our receive time; a fill
  also becomes an `OwnFill` for the portfolio, enriched with what only the session knows: the
  side, the strategy, whether the order was reduce-only, and the mid when the fill happened.
- A replace keeps the client order id. The `Order` machine has no amend state, so a replace
  acknowledged by the venue starts a fresh machine for the amended order (price and the new open
  quantity) in ACKED; the fills already counted stay with the portfolio, which counts each fill
  id once anyway.
- Orders that reached a terminal state are kept for a while (`keep_done`, bounded) because a
  fill can still arrive after a cancel was acknowledged: the cancel race.
- A request that got no answer in time (`on_timeout`) is a `SubmitTimeout` or `CancelTimeout`
  of the order's current attempt: UNKNOWN, never REJECTED, until a report or a reconciliation
  says more. A replace that timed out leaves the order as it was, its amend still pending and
  UNKNOWN (a real adapter looks the order up and answers the replace:
  `supervision.venues.lookups`). Meanwhile no other replace of the order goes out
  (`replace_unresolved`: the connection refuses it, and its owner cancels instead), and the
  wait is bounded: `give_up_replace` settles it as failed, and the answer that comes after
  that goes to nobody (journaled only). A new replace of the order clears that mark: replaces
  of one order share its id, so a late answer cannot be told from the new one's.
  A new order sent again with the id of an order a submit timeout left UNKNOWN is the resend
  of that order (its next attempt, the same machine), not a second order.
- A cancel that overtakes its order. A cancel sent before the venue has shown that the order
  exists (no ack, no fill: its submit is still in flight, or timed out) can reach the venue
  before the order does: a cancel by id is refused as an unknown order, a cancel-all sweeps
  nothing, and the order, placed afterwards, would rest with nobody left to cancel it (the
  Hummingbot issue 2534 lesson, one hop further down). So such a cancel is remembered, and once
  the venue shows the order (an ack, a fill, a reconciliation saying open) while it is not
  done and no cancel of it can still take it (a cancel-all's sweep, or a cancel by id refused
  as unknown or timed out), it is cancelled again by client id: `take_recancels`, after each
  batch of reports, gives those cancels to the connection. The same holds for an order a
  look-up closed as not found (REJECTED) that the venue shows after all: a slow gateway placed
  it late, and nobody here would ever cancel it. A cancel-all whose sweep took the
  order after all costs one cancel the venue refuses; a cancel by id it accepted costs none.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

import attrs

from actors.execution.order_lifecycle import Order
from protocols.codec import Side
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    CancelTimeout,
    Expired,
    Fill,
    Intent,
    OrderIntent,
    OrderState,
    OrderType,
    Outcome,
    ReconcileResult,
    Reject,
    RejectCode,
    ReplaceIntent,
    SubmitTimeout,
    VenueOrderStatus,
    VenueReport,
)
from protocols.portfolio import OwnFill
from protocols.venue_state import ActionOwner, SendActions

__all__ = ["Routed", "Sent", "VenueSession"]


@attrs.define(slots=True)
class _Tracked:
    order: Order
    instrument: str
    side: Side
    reduce_only: bool
    owner: ActionOwner | None
    submit_sent_ns: int | None = None
    cancel_sent_ns: int | None = None
    replace: ReplaceIntent | None = None
    replace_sent_ns: int | None = None
    # A replace whose answer was lost: what the venue made of it is UNKNOWN until an answer
    # about the order's amends says (an ack, or a refusal by the venue itself; a request-level
    # one, a 429, says nothing of the order). Then one given up on, its answer not come.
    lost: ReplaceIntent | None = None
    abandoned: ReplaceIntent | None = None
    # A cancel that went out before the venue showed the order (see the module docstring):
    # "sent" by id, its answer awaited; "missed": a cancel-all, or a cancel by id refused as
    # unknown or timed out. "" once the order is seen, cancelled again, or done.
    overtaken: str = ""


# Sent and Routed are results handed straight to the connection, never kept or changed: plain
# slotted classes, made about three times faster than frozen ones (one of each per order sent
# and per report, on the event loop).
@attrs.define(slots=True)
class Sent:
    """One intent put on the wire: `kind` new/cancel/replace, `tick_to_trade_ns` from the
    owner's trigger (None without an owner), `known` False for a cancel or replace of an order
    this session never saw (after a restart: it still goes out, the venue knows better)."""

    intent: Intent
    kind: str
    tick_to_trade_ns: int | None
    known: bool = True


@attrs.define(slots=True)
class Routed:
    """What a venue report means: tell `report` to `owner` (if any), `own_fill` to the
    portfolio (if a fill), and record `latency` = (metric, ns) if it completed a round trip."""

    report: VenueReport
    owner: ActionOwner | None
    outcome: Outcome | None
    own_fill: OwnFill | None = None
    latency: tuple[str, int] | None = None
    instrument: str | None = None


class VenueSession:
    def __init__(self, *, keep_done: int = 10_000) -> None:
        self._orders: dict[str, _Tracked] = {}
        self._done: OrderedDict[str, _Tracked] = OrderedDict()
        self._keep_done = keep_done
        self._recancel: dict[str, None] = {}  # ids to cancel again: seen after a missed cancel
        # Has a replace's answer ever been lost (`on_timeout`)? Until then none is unresolved,
        # and the connection need not look for one among what it sends.
        self.replace_lost = False

    # -- outgoing ------------------------------------------------------------------------------
    def on_send(self, send: SendActions, now_ns: int) -> list[Sent]:
        out = []
        for intent, owner in zip(send.batch.intents, send.owners, strict=True):
            ttt = None if owner is None else now_ns - owner.trigger_recv_ns
            if isinstance(intent, OrderIntent):
                resent = self._orders.get(intent.client_order_id)
                if resent is not None and resent.order.unknown_after == "submit":
                    # A resend after a timeout: the same order, its next attempt.
                    resent.order.submit(now_ns)
                    resent.submit_sent_ns = now_ns
                    resent.owner = owner if owner is not None else resent.owner
                else:
                    order = Order(intent, now_ns)
                    order.submit(now_ns)
                    self._orders[intent.client_order_id] = _Tracked(
                        order, intent.instrument, intent.side, intent.reduce_only, owner, now_ns)
                out.append(Sent(intent, "new", ttt))
                continue
            tracked = self._find(intent.client_order_id)
            if tracked is not None and owner is not None:
                tracked.owner = owner
            if isinstance(intent, CancelIntent):
                if tracked is not None:
                    tracked.order.request_cancel(now_ns)
                    tracked.cancel_sent_ns = now_ns
                    tracked.overtaken = "" if _seen(tracked.order) else "sent"
                    self._recancel.pop(intent.client_order_id, None)
                out.append(Sent(intent, "cancel", ttt, tracked is not None))
            else:
                if tracked is not None:
                    tracked.replace, tracked.replace_sent_ns = intent, now_ns
                    tracked.abandoned = None
                out.append(Sent(intent, "replace", ttt, tracked is not None))
        return out

    def adopt(self, intent: OrderIntent, acked: bool, now_ns: int) -> bool:
        """Track an order the venue holds that this session never sent (an earlier connection
        did), owned by nobody. False if it is already tracked."""
        cid = intent.client_order_id
        if self._find(cid) is not None:
            return False
        order = Order(intent, now_ns)
        order.submit(now_ns)
        if acked:
            order.apply(Ack(cid, venue_ns=now_ns), now_ns)
        self._orders[cid] = _Tracked(order, intent.instrument, intent.side, intent.reduce_only,
                                     None)
        return True

    def cancel_all(self, instrument: str | None, now_ns: int,
                   strategy: str | None = None) -> list[str]:
        """Mark every open order in scope (an instrument, a strategy: None is any) as being
        cancelled; returns their ids."""
        cids = [cid for cid, t in self._orders.items()
                if (instrument is None or t.instrument == instrument)
                and (strategy is None or (t.owner is not None and t.owner.strategy == strategy))]
        for cid in cids:
            tracked = self._orders[cid]
            tracked.order.request_cancel(now_ns)
            tracked.cancel_sent_ns = now_ns
            if not _seen(tracked.order):  # a sweep says nothing of an order it did not find
                tracked.overtaken = "missed"
        return cids

    def take_recancels(self) -> list[CancelIntent]:
        """The cancels to send again: orders the venue showed after a cancel that went out
        before them had missed them (see the module docstring), still not done."""
        if not self._recancel:
            return []
        out = []
        for cid in self._recancel:
            tracked = self._find(cid)
            if tracked is not None and tracked.order.state in _CANCELLABLE:
                tracked.overtaken = ""
                out.append(CancelIntent(cid, tracked.instrument))
        self._recancel.clear()
        return out

    # -- incoming ------------------------------------------------------------------------------
    def on_report(self, report: VenueReport, now_ns: int,
                  mid_x2: int | None = None) -> Routed:
        report = _received(report, now_ns)
        cid = report.client_order_id
        tracked = self._find(cid)
        if tracked is None:
            return Routed(report, None, None)
        latency = None
        if isinstance(report, Ack | Reject) and tracked.replace is None \
                and tracked.abandoned is not None:  # the answer of a replace given up on
            tracked.replace, tracked.abandoned = tracked.abandoned, None
            self._settle_replace(tracked, report, now_ns)
            return Routed(report, None, None, instrument=tracked.instrument)
        if isinstance(report, Ack | Reject) and tracked.replace is not None:
            latency = self._settle_replace(tracked, report, now_ns)
            outcome: Outcome | None = None
        else:
            outcome = tracked.order.apply(report, now_ns)
            latency = self._latency(tracked, report, now_ns)
        own_fill = None
        if isinstance(report, Fill):
            own_fill = self._own_fill(tracked, report, mid_x2)
        if tracked.overtaken or isinstance(report, ReconcileResult):
            self._watch(tracked, report)
        if tracked.order.state.terminal and cid in self._orders:
            self._retire(cid)
        return Routed(report, tracked.owner, outcome, own_fill, latency, tracked.instrument)

    def on_timeout(self, intent: Intent,
                   now_ns: int) -> tuple[SubmitTimeout | CancelTimeout, Outcome] | None:
        """`intent`'s request got no answer in time. Returns the timeout event the order's
        machine applied and its outcome; None for a replace or an order this session never saw."""
        tracked = self._find(intent.client_order_id)
        if tracked is not None and isinstance(intent, ReplaceIntent) \
                and not tracked.order.state.terminal:
            tracked.lost = intent
            self.replace_lost = True
        if tracked is None or isinstance(intent, ReplaceIntent):
            return None
        order = tracked.order
        event: SubmitTimeout | CancelTimeout = (
            CancelTimeout(intent.client_order_id, order.cancel_attempt)
            if isinstance(intent, CancelIntent)
            else SubmitTimeout(intent.client_order_id, order.attempt))
        outcome = order.apply(event, now_ns)
        if isinstance(event, CancelTimeout) and tracked.overtaken == "sent":
            self._missed(tracked)
        return event, outcome

    def replace_unresolved(self, cid: str) -> bool:
        """Is a replace of `cid` pending whose answer was lost (UNKNOWN, being looked up)?"""
        tracked = self._find(cid)
        return tracked is not None and tracked.lost is not None \
            and not tracked.order.state.terminal

    def give_up_replace(self, cid: str, reason: str, now_ns: int) -> Reject | None:
        """The pending replace of `cid`, lost and still unresolved, is settled as failed: the
        `Reject` for the connection to route (None if something settled it meanwhile)."""
        tracked = self._find(cid)
        if tracked is None or tracked.lost is None or tracked.order.state.terminal:
            return None
        if tracked.replace is None:  # a later replace's refusal settled the slot: this one's
            tracked.replace = tracked.lost
        tracked.abandoned, tracked.lost = tracked.lost, None
        return Reject(cid, RejectCode.OTHER, reason, venue_ns=now_ns)

    # -- views ---------------------------------------------------------------------------------
    def open_orders(self, instrument: str | None = None) -> list[str]:
        return [cid for cid, t in self._orders.items()
                if instrument is None or t.instrument == instrument]

    def order(self, cid: str) -> Order | None:
        tracked = self._find(cid)
        return None if tracked is None else tracked.order

    def owner_of(self, cid: str) -> ActionOwner | None:
        tracked = self._find(cid)
        return None if tracked is None else tracked.owner

    def instrument_of(self, cid: str) -> str | None:
        tracked = self._find(cid)
        return None if tracked is None else tracked.instrument

    # -- internals -----------------------------------------------------------------------------
    def _find(self, cid: str) -> _Tracked | None:
        tracked = self._orders.get(cid)
        return tracked if tracked is not None else self._done.get(cid)

    def _watch(self, tracked: _Tracked, report: VenueReport) -> None:
        """A report of an order whose cancel went out before the venue showed it, or that a
        look-up did not find."""
        state = tracked.order.state
        if tracked.overtaken == "missed" and _alive(tracked.order, report):
            self._recancel[tracked.order.client_order_id] = None
        elif state is OrderState.REJECTED and isinstance(report, ReconcileResult):
            tracked.overtaken = "missed"  # not found *yet*: a slow gateway may still place it
        elif state.terminal:
            tracked.overtaken = ""
        elif isinstance(report, CancelReject) and tracked.overtaken == "sent" \
                and report.code is CancelRejectCode.UNKNOWN_ORDER:
            self._missed(tracked)

    def _missed(self, tracked: _Tracked) -> None:
        """The cancel by id missed the order, or may have: cancel again once it shows up."""
        tracked.overtaken = "missed"
        if _seen(tracked.order):
            self._recancel[tracked.order.client_order_id] = None

    def _retire(self, cid: str) -> None:
        self._done[cid] = self._orders.pop(cid)
        if len(self._done) > self._keep_done:
            self._done.popitem(last=False)

    def _settle_replace(self, tracked: _Tracked, report: Ack | Reject,
                        now_ns: int) -> tuple[str, int] | None:
        replace, sent = tracked.replace, tracked.replace_sent_ns
        assert replace is not None
        tracked.replace = tracked.replace_sent_ns = None
        if isinstance(report, Ack) or not report.code.request_level:
            tracked.lost = None  # the venue has said where the order's amends stand
        if isinstance(report, Ack):
            old = tracked.order.intent
            amended = OrderIntent(old.client_order_id, old.instrument, old.side,
                                  OrderType.LIMIT, replace.qty, replace.price, old.tif,
                                  replace.reduce_only)
            order = Order(amended, now_ns)
            order.submit(now_ns)
            order.apply(report, now_ns)
            tracked.order, tracked.reduce_only = order, replace.reduce_only
        return None if sent is None else ("troupe_order_ack_seconds", now_ns - sent)

    @staticmethod
    def _latency(tracked: _Tracked, report: VenueReport, now_ns: int) -> tuple[str, int] | None:
        if isinstance(report, Ack | Reject) and tracked.submit_sent_ns is not None:
            sent, tracked.submit_sent_ns = tracked.submit_sent_ns, None
            return "troupe_order_ack_seconds", now_ns - sent
        if isinstance(report, CancelAck | CancelReject | Expired) and tracked.cancel_sent_ns:
            sent, tracked.cancel_sent_ns = tracked.cancel_sent_ns, None
            return "troupe_cancel_ack_seconds", now_ns - sent
        return None

    @staticmethod
    def _own_fill(tracked: _Tracked, fill: Fill, mid_x2: int | None) -> OwnFill:
        strategy = tracked.owner.strategy if tracked.owner is not None else ""
        return OwnFill(
            instrument=tracked.instrument, strategy=strategy,
            client_order_id=fill.client_order_id, fill_id=fill.fill_id, side=tracked.side,
            qty=fill.qty, price=fill.price, fee=Decimal(fill.fee), liquidity=fill.liquidity,
            recv_ns=fill.recv_ns, venue_ns=fill.venue_ns, mid_x2_at_fill=mid_x2,
            reduce_only=tracked.reduce_only)


_INIT_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _received(report: VenueReport, now_ns: int) -> VenueReport:
    """`attrs.evolve(report, recv_ns=now_ns)`, with each report class's fields looked up once
    (one report a message on the event loop)."""
    cls = type(report)
    plan = _INIT_FIELDS.get(cls)
    if plan is None:
        plan = _INIT_FIELDS[cls] = tuple((a.alias, a.name) for a in attrs.fields(cls)
                                         if a.init and a.name != "recv_ns")
    changes = {alias: getattr(report, name) for alias, name in plan}
    changes["recv_ns"] = now_ns
    return cls(**changes)


def _seen(order: Order) -> bool:
    """Has the venue shown that the order exists (an ack, a fill, a reconciliation)?"""
    return order.acked or order.filled_qty > 0


def _alive(order: Order, report: VenueReport) -> bool:
    """Does the order exist at the venue, by what it shows or by this report? (An order a
    look-up had closed as not found ignores its late ack: the report itself says it.)"""
    return _seen(order) or isinstance(report, Ack | Fill) or (
        isinstance(report, ReconcileResult) and report.status is VenueOrderStatus.OPEN)


# An order closed as REJECTED may be one a look-up did not find yet (see `_watch`): if the venue
# shows it after all, nobody else will ever cancel it.
_CANCELLABLE = frozenset(s for s in OrderState if not s.terminal) | {OrderState.REJECTED}
