"""The lifecycle of one order, as a pure state machine (sans-I/O, in the manner of h11).

The venue-connection actor owns one `Order` per client order id: it calls `submit` and
`request_cancel` as it puts requests on the wire, and `apply` for every venue report, timeout and
reconciliation result. Each call returns `Applied` or `Ignored` and never raises for a report:
venues send duplicates, reorder channels and race fills against cancels, facts of life to journal.

The transition rules are the table `TRANSITIONS` right below the imports: for each state, the
events it accepts and their target. An event missing from a state's row is `Ignored` in that
state. Upper-case targets are states; lower-case targets are rules, decided from the event and
the order's ledger:

- `same`: record the report (acked, venue order id; a submit timeout), keep the state.
- `fill_live` / `fill_stay` / `fill_resolve`: count the fill once per fill id (duplicates and
  overfills are `Ignored` and counted); then FILLED if complete, else respectively the live state
  (PARTIALLY_FILLED), the current state, or `resolve`.
- `resolve` (UNKNOWN only): after a submit timeout, any sign of life resolves to the live state
  (ACKED or PARTIALLY_FILLED). After a *cancel* timeout, an ack or a partial fill does not say
  whether the cancel took effect, so the order stays UNKNOWN (the report is still recorded) until
  a cancel outcome, a completing fill or a reconciliation arrives.
- `restore` (cancel rejected): back to the live state; if the order was never acked, back to
  PENDING_SUBMIT, or UNKNOWN if its submit has meanwhile timed out. UNKNOWN also if the code is
  UNKNOWN_ORDER, which on every venue we know means "done, fills may be in flight" or "never
  arrived", and only a reconciliation can tell which. In UNKNOWN, only honoured when the UNKNOWN
  came from a cancel timeout.
- `reject`: REJECTED, except that a DUPLICATE_CLIENT_ORDER_ID proves our order exists (UNKNOWN)
  and a request-level reject (rate limited, venue unavailable) of a *resend* says nothing about
  the earlier attempt (UNKNOWN). Ignored once the order was acked or filled.
- `resend`: only from an UNKNOWN caused by a submit timeout with no sign of life; the attempt
  number increases, the client order id does not change.
- `reconcile`: count the result's fills, then map the venue status: OPEN -> live state (kept
  PENDING_CANCEL while a cancel is in flight); FILLED, CANCELLED, EXPIRED, REJECTED -> the same;
  NOT_FOUND -> REJECTED only from UNKNOWN with no sign of life (otherwise inconclusive).

Terminal states (FILLED, CANCELLED, REJECTED, EXPIRED) are left in one case only: distinct fills
reach the order quantity, and the order becomes FILLED. A fill is the venue saying money moved,
the strongest evidence there is. After a cancel ack or an expiry a fill is physically possible
(the match happened before the cancel took effect; the reports travel on different channels): it
counts, the order stays CANCELLED/EXPIRED, unless the whole quantity traded, when FILLED is the
truth. After REJECTED a fill "cannot" happen, but a rejected resend can hide an earlier attempt
that traded: we count it rather than lose a position, and flag it. FILLED is never left; it
still counts fills while its ledger is short (a reconciliation said FILLED before the fills came).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from fractions import Fraction

from protocols.orders import (
    Ack,
    Applied,
    CancelAck,
    CancelReject,
    CancelRejectCode,
    CancelTimeout,
    Expired,
    Fill,
    Ignored,
    OrderEvent,
    OrderIntent,
    OrderState,
    Outcome,
    ReconcileResult,
    Reject,
    RejectCode,
    SubmitTimeout,
    VenueOrderStatus,
)


class _Rule(enum.Enum):
    SAME = "same"
    FILL_LIVE = "fill_live"
    FILL_STAY = "fill_stay"
    FILL_RESOLVE = "fill_resolve"
    RESOLVE = "resolve"
    RESTORE = "restore"
    REJECT = "reject"
    RESEND = "resend"
    RECONCILE = "reconcile"


S = OrderState
R = _Rule
# fmt: off
_LIVE: dict[str, OrderState | _Rule] = {
    "cancel":         S.PENDING_CANCEL,
    "fill":           R.FILL_LIVE,
    "cancel_ack":     S.CANCELLED,       # unsolicited: self-trade prevention, margin, other session
    "expired":        S.EXPIRED,
    "reconcile":      R.RECONCILE,
}
_TERMINAL: dict[str, OrderState | _Rule] = {
    "fill":           R.FILL_STAY,       # late fill: counted; FILLED if it completes the order
    "reconcile":      R.RECONCILE,       # fills only: the status is final
}
TRANSITIONS: dict[OrderState, dict[str, OrderState | _Rule]] = {
    S.NEW: {
        "submit":         S.PENDING_SUBMIT,
        "cancel":         S.CANCELLED,       # never left the building
    },
    S.PENDING_SUBMIT: {
        "submit_timeout": S.UNKNOWN,         # never assumed rejected
        "cancel":         S.PENDING_CANCEL,  # cancel by client order id before the ack
        "ack":            S.ACKED,
        "reject":         R.REJECT,
        "fill":           R.FILL_LIVE,       # a fill before the ack implies the ack
        "cancel_ack":     S.CANCELLED,
        "expired":        S.EXPIRED,
        "reconcile":      R.RECONCILE,
    },
    S.ACKED:            _LIVE,
    S.PARTIALLY_FILLED: {**_LIVE, "ack": R.SAME},  # the ack, late, after a fill
    S.PENDING_CANCEL: {
        "cancel_timeout": S.UNKNOWN,
        "submit_timeout": R.SAME,            # noted: decides where a refused cancel returns to
        "ack":            R.SAME,            # the order's own ack, late
        "reject":         R.REJECT,          # the order never existed
        "fill":           R.FILL_STAY,       # the cancel race
        "cancel_ack":     S.CANCELLED,
        "cancel_reject":  R.RESTORE,
        "expired":        S.EXPIRED,
        "reconcile":      R.RECONCILE,
    },
    S.UNKNOWN: {
        "submit":         R.RESEND,          # same client order id: idempotent
        "submit_timeout": R.SAME,            # noted, as in PENDING_CANCEL
        "cancel":         S.PENDING_CANCEL,
        "ack":            R.RESOLVE,
        "reject":         R.REJECT,
        "fill":           R.FILL_RESOLVE,
        "cancel_ack":     S.CANCELLED,
        "cancel_reject":  R.RESTORE,
        "expired":        S.EXPIRED,
        "reconcile":      R.RECONCILE,
    },
    S.FILLED:    _TERMINAL,                  # never left; fills only until the ledger is full
    S.CANCELLED: _TERMINAL,
    S.EXPIRED:   _TERMINAL,
    S.REJECTED:  _TERMINAL,
}
# fmt: on
del S, R

# fmt: off
_EVENT_NAMES: dict[type, str] = {
    Ack: "ack", Reject: "reject", Fill: "fill", CancelAck: "cancel_ack", Expired: "expired",
    CancelReject: "cancel_reject", ReconcileResult: "reconcile",
    SubmitTimeout: "submit_timeout", CancelTimeout: "cancel_timeout",
}
# fmt: on

_Decision = tuple[OrderState, tuple[Fill, ...], str, int]
"""What a rule decided: new state, fills newly counted, a note, lots the venue has and we lack."""


class Order:
    """One order's state, its fill ledger and its counters.

    `attempt` counts submissions with this client order id (a resend after a timeout reuses the
    id) and `cancel_attempt` counts cancel requests; timeouts carry the attempt they belong to so
    that a late timer of an earlier attempt is ignored.
    """

    # fmt: off
    __slots__ = (
        "_fills", "_notional", "_submit_timed_out", "_unknown_after", "acked", "anomalies",
        "attempt", "cancel_attempt", "created_ns", "duplicate_fills", "fees", "filled_qty",
        "intent", "last_event_ns", "overfills", "state", "venue_order_id",
    )
    # fmt: on

    def __init__(self, intent: OrderIntent, created_ns: int) -> None:
        self.intent = intent
        self.state = OrderState.NEW
        self.created_ns = created_ns
        self.last_event_ns = created_ns
        self.attempt = 0
        self.cancel_attempt = 0
        self.acked = False
        self.venue_order_id = ""
        self.filled_qty = 0
        self.fees: dict[str, Decimal] = {}
        self.duplicate_fills = 0
        self.overfills = 0
        self.anomalies = 0
        self._fills: dict[str, Fill] = {}
        self._notional = 0  # sum of qty * price over counted fills, in lot-ticks
        self._unknown_after = ""  # "submit" or "cancel": which timeout put us in UNKNOWN
        self._submit_timed_out = False  # for the current attempt

    # ----------------------------------------------------------------------------------------
    # Read-only views

    @property
    def client_order_id(self) -> str:
        return self.intent.client_order_id

    @property
    def remaining_qty(self) -> int:
        return self.intent.qty - self.filled_qty

    @property
    def avg_price(self) -> Fraction | None:
        """Exact volume-weighted average fill price in ticks; None before the first fill."""
        return Fraction(self._notional, self.filled_qty) if self.filled_qty else None

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(self._fills.values())

    @property
    def unknown_after(self) -> str:
        """Which request timed out to put the order in UNKNOWN: "submit", "cancel" or ""."""
        return self._unknown_after if self.state is OrderState.UNKNOWN else ""

    def submit(self, now_ns: int) -> Outcome:
        """The owner is putting the order on the wire (first time, or a resend after UNKNOWN)."""
        return self._step("submit", None, now_ns)

    def request_cancel(self, now_ns: int) -> Outcome:
        """The owner is sending a cancel (or cancelling locally, if never sent)."""
        return self._step("cancel", None, now_ns)

    def apply(self, event: OrderEvent, now_ns: int) -> Outcome:
        """Apply a venue report, a timeout or a reconciliation result."""
        name = _EVENT_NAMES.get(type(event), type(event).__name__)
        if event.client_order_id != self.client_order_id:
            return self._ignored(name, f"event for {event.client_order_id!r}")
        if isinstance(event, Fill) and event.fill_id in self._fills:
            self.duplicate_fills += 1
            return self._ignored(name, "duplicate fill id")
        if isinstance(event, SubmitTimeout) and event.attempt != self.attempt:
            return self._ignored(name, "timeout of an earlier attempt")
        if isinstance(event, CancelTimeout) and event.attempt != self.cancel_attempt:
            return self._ignored(name, "timeout of an earlier attempt")
        return self._step(name, event, now_ns)

    def _step(self, name: str, event: OrderEvent | None, now_ns: int) -> Outcome:
        target = TRANSITIONS[self.state].get(name)
        if target is None:
            return self._ignored(name, f"{name} not expected in {self.state.name}")
        old = self.state
        decided: _Decision | Ignored = (
            (target, (), "", 0)
            if isinstance(target, OrderState)
            else self._rule(target, name, event)
        )
        if isinstance(decided, Ignored):
            return decided
        new, fills, note, missing = decided

        # Side effects of the transition itself.
        if name == "submit":
            self.attempt += 1
            self._submit_timed_out = False
        elif name == "cancel" and new is OrderState.PENDING_CANCEL:
            self.cancel_attempt += 1
        elif name == "submit_timeout":
            self._submit_timed_out = True
        if name.endswith("_timeout") and new is OrderState.UNKNOWN is not old:
            self._unknown_after = name.removesuffix("_timeout")
        if isinstance(event, Ack):
            self.acked = True
            self.venue_order_id = event.venue_order_id or self.venue_order_id
        if new is OrderState.ACKED:
            self.acked = True
        self.state = new
        self.last_event_ns = now_ns
        return Applied(self.client_order_id, name, old, new, fills, note, missing)

    def _rule(self, rule: _Rule, name: str, event: OrderEvent | None) -> _Decision | Ignored:
        """Decide a lower-case target of the table. May count fills; never changes `state`."""
        old = self.state
        if rule is _Rule.SAME or rule is _Rule.RESOLVE:
            if isinstance(event, Ack) and self.acked:
                return self._ignored(name, "duplicate ack")
            if isinstance(event, SubmitTimeout) and (self._submit_timed_out or self._seen()):
                return self._ignored(name, "submit timeout after the outcome is known")
            if rule is _Rule.RESOLVE and self._unknown_after == "submit":
                return self._live(), (), "", 0
            return old, (), "", 0
        if rule in (_Rule.FILL_LIVE, _Rule.FILL_STAY, _Rule.FILL_RESOLVE):
            assert isinstance(event, Fill)
            refused = self._count(event)
            if refused:
                return self._ignored(name, refused)
            new, note = self._after_fill(rule)
            return new, (event,), note, 0
        if rule is _Rule.RESTORE:
            assert isinstance(event, CancelReject)
            if old is OrderState.UNKNOWN and self._unknown_after != "cancel":
                return self._ignored(name, "no cancel outstanding")
            if event.code is CancelRejectCode.UNKNOWN_ORDER:
                self._unknown_after = "cancel"
                return OrderState.UNKNOWN, (), "cancel reject: unknown order", 0
            if self._seen():
                return self._live(), (), "", 0
            if self._submit_timed_out:  # never confirmed and no longer expected to be
                self._unknown_after = "submit"
                return OrderState.UNKNOWN, (), "cancel rejected, submit timed out", 0
            return OrderState.PENDING_SUBMIT, (), "", 0
        if rule is _Rule.REJECT:
            assert isinstance(event, Reject)
            if self._seen():
                return self._ignored(name, "reject after the order was acked or filled")
            if event.code is RejectCode.DUPLICATE_CLIENT_ORDER_ID or (
                event.code.request_level and self.attempt > 1
            ):
                self._unknown_after = "submit"
                note = "inconclusive reject: an earlier attempt may exist"
                return OrderState.UNKNOWN, (), note, 0
            return OrderState.REJECTED, (), "", 0
        if rule is _Rule.RESEND:
            if self._unknown_after != "submit" or self._seen():
                return self._ignored(name, "resend only after a submit timeout with no reply")
            return OrderState.PENDING_SUBMIT, (), "", 0
        assert isinstance(event, ReconcileResult)
        return self._reconcile(name, event)

    def _count(self, fill: Fill) -> str:
        """Add a fill to the ledger; return why it was refused, or "" if counted."""
        if self.filled_qty + fill.qty > self.intent.qty:
            self.overfills += 1
            self.anomalies += 1
            return "overfill: fill would exceed the order quantity"
        self._fills[fill.fill_id] = fill
        self.filled_qty += fill.qty
        self._notional += fill.qty * fill.price
        self.fees[fill.fee_asset] = self.fees.get(fill.fee_asset, Decimal(0)) + fill.fee
        return ""

    def _after_fill(self, rule: _Rule) -> tuple[OrderState, str]:
        old = self.state
        note = ""
        if old.terminal:
            note = f"late fill after {old.name}"
            if old is OrderState.REJECTED:
                self.anomalies += 1
                note = "fill after REJECTED: an earlier attempt traded"
        if self.filled_qty == self.intent.qty:
            return OrderState.FILLED, note
        if rule is _Rule.FILL_LIVE:
            return OrderState.PARTIALLY_FILLED, note
        if rule is _Rule.FILL_RESOLVE and self._unknown_after == "submit":
            return OrderState.PARTIALLY_FILLED, note
        return old, note

    def _reconcile(self, name: str, result: ReconcileResult) -> _Decision | Ignored:
        counted = tuple(
            f for f in result.fills if f.fill_id not in self._fills and not self._count(f)
        )
        status = result.status
        old = self.state
        # Where the fills alone would take the order, as if they had arrived live.
        fill_rule = TRANSITIONS[old]["fill"]
        assert isinstance(fill_rule, _Rule)
        after_fills, note = self._after_fill(fill_rule) if counted else (old, "")
        venue_filled = self.intent.qty if status is VenueOrderStatus.FILLED else result.filled_qty
        missing = max(0, min(venue_filled, self.intent.qty) - self.filled_qty)
        if missing:
            note = f"venue reports {missing} lots we have no fills for"
        if after_fills is OrderState.FILLED or old.terminal:
            new = after_fills
        elif status is VenueOrderStatus.OPEN:
            new = old if old is OrderState.PENDING_CANCEL else self._live()
            if not self.acked:
                self.acked = True
                note = note or "venue confirms the order is open"
        elif status is VenueOrderStatus.NOT_FOUND:
            if old is not OrderState.UNKNOWN or self._seen():
                if counted:
                    return after_fills, counted, "not found (inconclusive); fills counted", missing
                return self._ignored(name, "not found, inconclusive: the order had been seen")
            new = OrderState.REJECTED
            note = "not found at the venue after a timeout"
        else:
            new = OrderState[status.name]  # FILLED, CANCELLED, EXPIRED, REJECTED
        if new is old and not counted and not note:
            return self._ignored(name, f"reconcile agrees: {old.name}")
        return new, counted, note, missing

    def _live(self) -> OrderState:
        return OrderState.PARTIALLY_FILLED if self.filled_qty else OrderState.ACKED

    def _seen(self) -> bool:
        """Has the venue shown that this order exists?"""
        return self.acked or self.filled_qty > 0

    def _ignored(self, event: str, reason: str) -> Ignored:
        return Ignored(self.client_order_id, event, self.state, reason)

    def __repr__(self) -> str:
        return (
            f"<Order {self.client_order_id} {self.state.name} "
            f"filled={self.filled_qty}/{self.intent.qty} attempt={self.attempt}>"
        )
