"""The order state machine: every cell of the transition table, the scenarios that bite in
production (timeouts, the cancel race, duplicate and reordered reports), and a stateful
Hypothesis run that throws random report sequences at it."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from actors.execution.order_lifecycle import TRANSITIONS, Order
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
    Liquidity,
    OrderEvent,
    OrderIntent,
    OrderState,
    OrderType,
    ReconcileResult,
    Reject,
    RejectCode,
    Side,
    SubmitTimeout,
    TimeInForce,
    VenueOrderStatus,
)

CID = "tr-mm1-1"
S = OrderState


def intent(qty: int = 10, price: int = 100, **kw: object) -> OrderIntent:
    return OrderIntent(CID, "BTC-PERP", Side.BUY, OrderType.LIMIT, qty, price, **kw)  # type: ignore[arg-type]


def fill(fill_id: str, qty: int, price: int = 100, fee: str = "0.01") -> Fill:
    return Fill(CID, fill_id, qty, price, Decimal(fee), Liquidity.MAKER, "USDC")


def after(out: Applied | Ignored) -> OrderState:
    """The state an accepted event led to; fails the test if the event was ignored."""
    assert isinstance(out, Applied), out
    return out.new


def reach(state: OrderState) -> Order:
    """An order brought to `state` by a legitimate history (qty 10)."""
    o = Order(intent(), created_ns=0)
    histories: dict[OrderState, list[str | OrderEvent]] = {
        S.NEW: [],
        S.PENDING_SUBMIT: ["submit"],
        S.ACKED: ["submit", Ack(CID, "v1")],
        S.PARTIALLY_FILLED: ["submit", Ack(CID, "v1"), fill("f1", 3)],
        S.FILLED: ["submit", Ack(CID, "v1"), fill("f1", 10)],
        S.PENDING_CANCEL: ["submit", Ack(CID, "v1"), "cancel"],
        S.CANCELLED: ["submit", Ack(CID, "v1"), "cancel", CancelAck(CID)],
        S.REJECTED: ["submit", Reject(CID, RejectCode.INSUFFICIENT_FUNDS)],
        S.EXPIRED: ["submit", Ack(CID, "v1"), Expired(CID)],
        S.UNKNOWN: ["submit", SubmitTimeout(CID, 1)],
    }
    for t, step in enumerate(histories[state], start=1):
        if isinstance(step, str):
            out = o.submit(t) if step == "submit" else o.request_cancel(t)
        else:
            out = o.apply(step, t)
        assert isinstance(out, Applied), out
    assert o.state is state
    return o


def do(o: Order, event: str) -> Applied | Ignored:
    """Apply one representative event of each kind, matched to the order's current attempts."""
    events: dict[str, OrderEvent] = {
        "submit_timeout": SubmitTimeout(CID, o.attempt),
        "cancel_timeout": CancelTimeout(CID, o.cancel_attempt),
        "ack": Ack(CID, "v1"),
        "reject": Reject(CID, RejectCode.INVALID_PRICE),
        "fill": fill("f9", 2),
        "cancel_ack": CancelAck(CID),
        "cancel_reject": CancelReject(CID, CancelRejectCode.TOO_LATE),
        "expired": Expired(CID),
        "reconcile": ReconcileResult(CID, VenueOrderStatus.OPEN),
    }
    if event == "submit":
        return o.submit(100)
    if event == "cancel":
        return o.request_cancel(100)
    return o.apply(events[event], 100)


EVENTS = [
    "submit", "cancel", "submit_timeout", "cancel_timeout", "ack", "reject", "fill",
    "cancel_ack", "cancel_reject", "expired", "reconcile",
]  # fmt: skip
# Expected state after one representative event (see `do`), per state; an event not listed is
# expected to be Ignored. Written by hand, independently of `TRANSITIONS`, so a change to the
# table has to be a change to this test as well.
LIVE = {"cancel": S.PENDING_CANCEL, "cancel_ack": S.CANCELLED, "expired": S.EXPIRED}
EXPECTED: dict[OrderState, dict[str, OrderState]] = {
    S.NEW: {"submit": S.PENDING_SUBMIT, "cancel": S.CANCELLED},
    S.PENDING_SUBMIT: {
        **LIVE, "submit_timeout": S.UNKNOWN, "ack": S.ACKED, "reject": S.REJECTED,
        "fill": S.PARTIALLY_FILLED, "reconcile": S.ACKED,
    },
    S.ACKED: {**LIVE, "fill": S.PARTIALLY_FILLED},
    S.PARTIALLY_FILLED: {**LIVE, "fill": S.PARTIALLY_FILLED},
    S.FILLED: {},
    S.PENDING_CANCEL: {
        "cancel_timeout": S.UNKNOWN, "fill": S.PENDING_CANCEL, "cancel_ack": S.CANCELLED,
        "cancel_reject": S.ACKED, "expired": S.EXPIRED,
    },
    S.CANCELLED: {"fill": S.CANCELLED},
    S.REJECTED: {"fill": S.REJECTED},
    S.EXPIRED: {"fill": S.EXPIRED},
    S.UNKNOWN: {
        **LIVE, "submit": S.PENDING_SUBMIT, "ack": S.ACKED, "reject": S.REJECTED,
        "fill": S.PARTIALLY_FILLED, "reconcile": S.ACKED,
    },
}  # fmt: skip


def test_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    assert set(EXPECTED) == set(OrderState)


@pytest.mark.parametrize("state", list(OrderState), ids=lambda s: s.name)
@pytest.mark.parametrize("event", EVENTS)
def test_every_cell(state: OrderState, event: str) -> None:
    o = reach(state)
    before = (o.state, o.filled_qty, o.acked, o.attempt, o.cancel_attempt, o.fills)
    out = do(o, event)
    expected = EXPECTED[state].get(event)
    if expected is None:
        assert isinstance(out, Ignored), out
        assert not out
        assert out.state is state
        # An ignored event never mutates the order.
        assert (o.state, o.filled_qty, o.acked, o.attempt, o.cancel_attempt, o.fills) == before
    else:
        assert isinstance(out, Applied), out
        assert (out.old, out.new, o.state) == (state, expected, expected)


# --------------------------------------------------------------------------------------------
# Timeouts: UNKNOWN until something resolves it, never assumed rejected


def test_submit_timeout_is_unknown_not_rejected() -> None:
    o = reach(S.UNKNOWN)
    assert o.unknown_after == "submit"
    assert o.state is not S.REJECTED


def test_unknown_resolved_by_ack() -> None:
    o = reach(S.UNKNOWN)
    out = o.apply(Ack(CID, "v7"), 5)
    assert isinstance(out, Applied) and out.new is S.ACKED
    assert o.venue_order_id == "v7" and o.last_event_ns == 5


def test_unknown_resolved_by_fill() -> None:
    o = reach(S.UNKNOWN)
    assert o.apply(fill("f1", 4), 5) == Applied(CID, "fill", S.UNKNOWN, S.PARTIALLY_FILLED,
                                                (fill("f1", 4),))  # fmt: skip
    assert o.filled_qty == 4


def test_unknown_resolved_by_reject() -> None:
    o = reach(S.UNKNOWN)
    assert after(o.apply(Reject(CID, RejectCode.POST_ONLY_WOULD_TAKE), 5)) is S.REJECTED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (VenueOrderStatus.OPEN, S.ACKED),
        (VenueOrderStatus.CANCELLED, S.CANCELLED),
        (VenueOrderStatus.EXPIRED, S.EXPIRED),
        (VenueOrderStatus.REJECTED, S.REJECTED),
        (VenueOrderStatus.NOT_FOUND, S.REJECTED),
    ],
)
def test_unknown_resolved_by_reconcile(status: VenueOrderStatus, expected: OrderState) -> None:
    o = reach(S.UNKNOWN)
    out = o.apply(ReconcileResult(CID, status), 5)
    assert isinstance(out, Applied)
    assert o.state is expected


def test_reconcile_filled_counts_its_fills_and_reports_missing_lots() -> None:
    o = reach(S.UNKNOWN)
    res = ReconcileResult(CID, VenueOrderStatus.FILLED, 10, (fill("a", 4, 100), fill("b", 2, 103)))
    out = o.apply(res, 5)
    assert isinstance(out, Applied)
    assert (out.new, out.missing_qty, o.filled_qty) == (S.FILLED, 4, 6)
    assert [f.fill_id for f in out.fills] == ["a", "b"]
    assert "4 lots" in out.note
    # The missing fills arrive later through the live path, and count.
    assert isinstance(o.apply(fill("c", 4, 100), 6), Applied)
    assert o.filled_qty == 10 and o.state is S.FILLED


def test_reconcile_not_found_while_submit_in_flight_is_inconclusive() -> None:
    o = reach(S.PENDING_SUBMIT)
    out = o.apply(ReconcileResult(CID, VenueOrderStatus.NOT_FOUND), 5)
    assert isinstance(out, Ignored) and o.state is S.PENDING_SUBMIT


def test_resend_after_timeout_reuses_the_client_order_id() -> None:
    o = reach(S.UNKNOWN)
    out = o.submit(10)
    assert isinstance(out, Applied) and out.new is S.PENDING_SUBMIT
    assert (o.client_order_id, o.attempt) == (CID, 2)
    # The first attempt's timer firing late must not knock the resend into UNKNOWN...
    assert isinstance(o.apply(SubmitTimeout(CID, 1), 11), Ignored)
    assert o.state is S.PENDING_SUBMIT
    # ...but the resend's own timer does.
    assert after(o.apply(SubmitTimeout(CID, 2), 12)) is S.UNKNOWN


def test_no_resend_once_the_order_was_seen() -> None:
    o = reach(S.PENDING_CANCEL)
    o.apply(CancelTimeout(CID, 1), 5)
    assert o.state is S.UNKNOWN and o.unknown_after == "cancel"
    assert isinstance(o.submit(6), Ignored)


def test_rate_limited_reject_of_a_resend_is_inconclusive() -> None:
    o = reach(S.UNKNOWN)
    o.submit(10)
    out = o.apply(Reject(CID, RejectCode.RATE_LIMITED), 11)
    assert isinstance(out, Applied) and out.new is S.UNKNOWN and "earlier attempt" in out.note


def test_rate_limited_reject_of_a_first_attempt_is_a_rejection() -> None:
    o = reach(S.PENDING_SUBMIT)
    assert after(o.apply(Reject(CID, RejectCode.RATE_LIMITED), 11)) is S.REJECTED


def test_duplicate_client_id_reject_means_the_order_exists() -> None:
    o = reach(S.PENDING_SUBMIT)
    out = o.apply(Reject(CID, RejectCode.DUPLICATE_CLIENT_ORDER_ID), 11)
    assert isinstance(out, Applied) and out.new is S.UNKNOWN


def test_cancel_timeout_then_partial_fill_stays_unknown_until_the_cancel_outcome() -> None:
    o = reach(S.PENDING_CANCEL)
    assert after(o.apply(CancelTimeout(CID, 1), 5)) is S.UNKNOWN
    out = o.apply(fill("f1", 4), 6)
    assert isinstance(out, Applied) and out.new is S.UNKNOWN and o.filled_qty == 4
    assert after(o.apply(CancelAck(CID), 7)) is S.CANCELLED


def test_cancel_timeout_resolved_by_cancel_reject() -> None:
    o = reach(S.PENDING_CANCEL)
    o.apply(CancelTimeout(CID, 1), 5)
    assert after(o.apply(CancelReject(CID, CancelRejectCode.TOO_LATE), 6)) is S.ACKED


def test_cancel_reject_unknown_order_goes_unknown() -> None:
    o = reach(S.PENDING_CANCEL)
    out = o.apply(CancelReject(CID, CancelRejectCode.UNKNOWN_ORDER), 6)
    assert isinstance(out, Applied) and out.new is S.UNKNOWN and o.unknown_after == "cancel"


def test_cancel_before_ack_then_reject_of_the_order() -> None:
    o = reach(S.PENDING_SUBMIT)
    assert after(o.request_cancel(2)) is S.PENDING_CANCEL
    assert after(o.apply(Reject(CID, RejectCode.INSUFFICIENT_FUNDS), 3)) is S.REJECTED


def test_cancel_before_ack_refused_returns_to_pending_submit_or_unknown() -> None:
    o = reach(S.PENDING_SUBMIT)
    o.request_cancel(2)
    assert after(o.apply(CancelReject(CID, CancelRejectCode.RATE_LIMITED), 3)) is S.PENDING_SUBMIT
    o.request_cancel(4)
    assert after(o.apply(SubmitTimeout(CID, 1), 5)) is S.PENDING_CANCEL
    out = o.apply(CancelReject(CID, CancelRejectCode.RATE_LIMITED), 6)
    assert isinstance(out, Applied) and out.new is S.UNKNOWN and o.unknown_after == "submit"


def test_cancel_of_a_never_sent_order_is_local() -> None:
    o = reach(S.NEW)
    assert after(o.request_cancel(1)) is S.CANCELLED
    assert o.cancel_attempt == 0


# --------------------------------------------------------------------------------------------
# Fills: idempotent, never overfilled, out of order


def test_duplicate_fill_is_ignored_and_counted() -> None:
    o = reach(S.ACKED)
    assert isinstance(o.apply(fill("f1", 3), 1), Applied)
    dup = o.apply(fill("f1", 3), 2)
    assert isinstance(dup, Ignored) and dup.reason == "duplicate fill id"
    assert (o.filled_qty, o.duplicate_fills) == (3, 1)


def test_overfill_is_ignored_and_counted() -> None:
    o = reach(S.PARTIALLY_FILLED)  # 3 of 10
    out = o.apply(fill("f2", 8), 1)
    assert isinstance(out, Ignored) and out.reason.startswith("overfill")
    assert (o.filled_qty, o.overfills, o.state) == (3, 1, S.PARTIALLY_FILLED)


def test_average_price_is_exact_and_fees_add_up() -> None:
    o = reach(S.ACKED)
    o.apply(fill("a", 1, 100, "0.1"), 1)
    o.apply(fill("b", 2, 101, "0.2"), 2)
    o.apply(Fill(CID, "c", 3, 103, Decimal("-0.05"), Liquidity.MAKER, "BNB"), 3)
    assert o.avg_price == Fraction(100 + 202 + 309, 6)
    assert o.fees == {"USDC": Decimal("0.3"), "BNB": Decimal("-0.05")}
    assert o.remaining_qty == 4


def test_fill_before_ack_then_late_ack() -> None:
    o = reach(S.PENDING_SUBMIT)
    assert after(o.apply(fill("f1", 4), 1)) is S.PARTIALLY_FILLED
    late = o.apply(Ack(CID, "v1"), 2)
    assert isinstance(late, Applied) and late.new is S.PARTIALLY_FILLED and o.acked
    assert isinstance(o.apply(Ack(CID, "v1"), 3), Ignored)


def test_fill_after_cancel_ack_counts_and_completing_fill_means_filled() -> None:
    o = reach(S.CANCELLED)
    out = o.apply(fill("late1", 4), 1)
    assert isinstance(out, Applied) and out.new is S.CANCELLED and "late fill" in out.note
    assert o.filled_qty == 4
    assert after(o.apply(fill("late2", 6), 2)) is S.FILLED
    assert isinstance(o.apply(CancelAck(CID), 3), Ignored)


def test_cancel_race_fill_completes_while_cancel_pending() -> None:
    o = reach(S.PENDING_CANCEL)
    assert after(o.apply(fill("f1", 10), 1)) is S.FILLED
    assert isinstance(o.apply(CancelReject(CID, CancelRejectCode.TOO_LATE), 2), Ignored)
    assert isinstance(o.apply(CancelAck(CID), 3), Ignored)
    assert o.state is S.FILLED


def test_fill_after_reject_is_counted_and_flagged() -> None:
    o = reach(S.REJECTED)
    out = o.apply(fill("f1", 2), 1)
    assert isinstance(out, Applied) and out.new is S.REJECTED and "REJECTED" in out.note
    assert (o.filled_qty, o.anomalies) == (2, 1)


def test_report_for_another_order_is_ignored() -> None:
    o = reach(S.ACKED)
    out = o.apply(Fill("other", "f1", 1, 100), 1)
    assert isinstance(out, Ignored) and o.filled_qty == 0


def test_records_refuse_floats_and_inconsistent_intents() -> None:
    with pytest.raises(ValueError):
        Fill(CID, "f", 1.5, 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fill(CID, "f", 1, 100, 0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fill(CID, "f", True, 100)  # a bool is an int to the type checker, not to us
    with pytest.raises(ValueError):
        OrderIntent(CID, "X", Side.SELL, OrderType.MARKET, 1, 100)
    with pytest.raises(ValueError):
        OrderIntent(CID, "X", Side.SELL, OrderType.LIMIT, 1, None)
    with pytest.raises(ValueError):
        OrderIntent(CID, "X", Side.SELL, OrderType.MARKET, 1, None, TimeInForce.POST_ONLY)
    assert intent(reduce_only=True, tif=TimeInForce.IOC).reduce_only


# --------------------------------------------------------------------------------------------
# Stateful: random report sequences, duplicates, reorderings, timeouts

QTY = 12
FILL_POOL = [("f0", 3, 100), ("f1", 5, 101), ("f2", 4, 99), ("f3", 1, 102), ("f4", 7, 100),
             ("f5", 2, 98), ("f6", 6, 100)]  # fmt: skip


class OrderMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.order = Order(intent(qty=QTY), 0)
        self.counted: dict[str, Fill] = {}
        self.t = 0

    def _apply(self, fn: object) -> None:
        o = self.order
        before = (o.state, o.filled_qty)
        self.t += 1
        out = fn() if callable(fn) else o.apply(fn, self.t)  # type: ignore[arg-type]
        if isinstance(out, Ignored):
            assert (o.state, o.filled_qty) == before, out
        else:
            assert out.old is before[0] and out.new is o.state
            for f in out.fills:
                assert f.fill_id not in self.counted, "a fill id counted twice"
                self.counted[f.fill_id] = f
            if before[0].terminal and o.state is not before[0]:
                assert o.state is S.FILLED and o.filled_qty == QTY, "left a terminal state"
        if before[0] is S.FILLED:
            assert o.state is S.FILLED

    @rule()
    def submit(self) -> None:
        self._apply(lambda: self.order.submit(self.t))

    @rule()
    def cancel(self) -> None:
        self._apply(lambda: self.order.request_cancel(self.t))

    @rule(back=st.integers(0, 1))
    def submit_timeout(self, back: int) -> None:
        self._apply(SubmitTimeout(CID, self.order.attempt - back))

    @rule(back=st.integers(0, 1))
    def cancel_timeout(self, back: int) -> None:
        self._apply(CancelTimeout(CID, self.order.cancel_attempt - back))

    @rule()
    def ack(self) -> None:
        self._apply(Ack(CID, "v1"))

    @rule(code=st.sampled_from(RejectCode))
    def reject(self, code: RejectCode) -> None:
        self._apply(Reject(CID, code))

    @rule(i=st.integers(0, len(FILL_POOL) - 1))
    def fill(self, i: int) -> None:
        fid, qty, price = FILL_POOL[i]
        o = self.order
        fresh = fid not in self.counted and o.filled_qty + qty <= QTY and o.state is not S.NEW
        self._apply(fill(fid, qty, price))
        if fresh:  # no money lost: a new fill that fits is always counted
            assert fid in self.counted

    @rule()
    def cancel_ack(self) -> None:
        self._apply(CancelAck(CID))

    @rule(code=st.sampled_from(CancelRejectCode))
    def cancel_reject(self, code: CancelRejectCode) -> None:
        self._apply(CancelReject(CID, code))

    @rule()
    def expired(self) -> None:
        self._apply(Expired(CID))

    @rule(
        status=st.sampled_from(VenueOrderStatus),
        picks=st.lists(st.integers(0, len(FILL_POOL) - 1), max_size=3),
        venue_filled=st.integers(0, QTY),
    )
    def reconcile(self, status: VenueOrderStatus, picks: list[int], venue_filled: int) -> None:
        fills = tuple(fill(*FILL_POOL[i]) for i in picks)
        self._apply(ReconcileResult(CID, status, venue_filled, fills))

    @invariant()
    def ledger_is_consistent(self) -> None:
        o = self.order
        assert 0 <= o.filled_qty <= QTY
        assert o.filled_qty == sum(f.qty for f in self.counted.values())
        assert {f.fill_id for f in o.fills} == set(self.counted)
        if o.filled_qty:
            notional = sum(f.qty * f.price for f in self.counted.values())
            assert o.avg_price == Fraction(notional, o.filled_qty)
        if o.filled_qty == QTY:
            assert o.state is S.FILLED
        if o.state is S.PARTIALLY_FILLED:
            assert 0 < o.filled_qty < QTY
        if o.state in (S.ACKED, S.PENDING_SUBMIT, S.NEW):
            assert o.filled_qty == 0


OrderMachine.TestCase.settings = settings(
    max_examples=500, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
TestOrderMachine = OrderMachine.TestCase
