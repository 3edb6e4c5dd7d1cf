"""The generic venue connection, driven by the mock transport with no host: what every venue
gets for free (order state machines, routing, journal, metrics, budget answers, observe mode,
reconciliation), through the ack, fill, cancel, reject, throttle and timeout paths.

The book: tick 0.01, lot 0.00001 BTC, so price 100000 is 1000.00 USDT and 2 lots 0.00002 BTC.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from actors.execution.mock_transport import MockArrive, MockFill, MockTransport
from actors.execution.venue_connection import (
    ConnectionConfig,
    GetVenueState,
    VenueConnection,
    VenuePeers,
)
from actors.execution.venue_transport import MarketData, Reported, VenueTransport
from actors.testing import FakeContext
from protocols.codec import Side
from protocols.decisions import Proposal, Trigger
from protocols.feed import FeedEvent
from protocols.instruments import InstrumentSpec
from protocols.journal import CancelSent, ObservedIntent, OrderSent
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    CancelTimeout,
    Fill,
    OrderIntent,
    OrderState,
    OrderType,
    Priority,
    Reject,
    RejectCode,
    ReplaceIntent,
    SubmitTimeout,
    TimeInForce,
)
from protocols.portfolio import OwnFill, VenuePositions
from protocols.venue_state import (
    ActionOwner,
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
    VenueReconciled,
)
from protocols.venues import binance

SYM = "BTCUSDT"
SPEC = InstrumentSpec(SYM, "binance", D("0.01"), D("0.00001"), D("0.00001"), D("5"),
                      D("0.0001"), D("0.0005"))
MS = 1_000_000


class Wired:
    def __init__(self, *, observe: bool = False, reconcile_interval_s: float | None = None):
        self.ctx = FakeContext("venue/connection", monotonic_ns=10 * MS)
        ref = self.ctx.ref
        self.peers = VenuePeers(books={SYM: ref("book")}, markets={SYM: ref("market")},
                                budget=ref("budget"), portfolio=ref("portfolio"),
                                journal=ref("journal"), watchers=[ref("monitor")])
        self.mock = MockTransport({SYM: SPEC})
        config = ConnectionConfig("mock", {SYM: SPEC}, reconcile_interval_s=reconcile_interval_s,
                                  observe_only=observe)
        self.connection = VenueConnection(config, self.mock, self.peers)
        self.ctx.start(self.connection)
        self._paid = 0  # recancels sent on as the budget would

    def send(self, *intents: Any, trigger_ns: int = 0, trigger: Trigger = Trigger.MARKET,
             queued_ns: int | None = None) -> None:
        owner = ActionOwner("mm1", self.ctx.ref("owner"), trigger_ns, trigger, queued_ns)
        priority = Priority.CANCEL if isinstance(intents[0], CancelIntent) else Priority.NEW
        self.ctx.deliver(self.connection, SendActions(
            Batch(priority, intents, 1), (owner,) * len(intents), self.ctx.monotonic_ns()))

    def to(self, name: str, kind: type | tuple[type, ...] = object) -> list[Any]:
        return [m for m in self.ctx.sent_to(name) if isinstance(m, kind)]

    def pay_recancels(self) -> list[str]:
        """The cancels the connection asked the budget to send again, sent as the budget would
        (owned by nobody); their client ids."""
        asked = [p for p in self.to("budget", Proposal) if isinstance(p.intent, CancelIntent)]
        for proposal in asked[self._paid:]:
            assert proposal.reply_to is None  # nobody hears of it: the order keeps its owner
            self.ctx.deliver(self.connection, SendActions(Batch(
                Priority.CANCEL, (proposal.intent,), 1), (ActionOwner(
                    "", None, proposal.trigger_recv_ns, proposal.trigger),),
                self.ctx.monotonic_ns()))
        self._paid = len(asked)
        return [p.intent.client_order_id for p in asked]

    def state(self, cid: str) -> OrderState:
        order = self.connection.session.order(cid)
        assert order is not None
        return order.state


def bid(cid: str, price: int = 100_000, qty: int = 2) -> OrderIntent:
    return OrderIntent(cid, SYM, Side.BUY, OrderType.LIMIT, qty, price, TimeInForce.GTC)


def test_at_start_the_venue_spec_goes_to_the_market_and_the_first_positions_reconcile() -> None:
    wired = Wired()
    assert [m.spec for m in wired.to("market", SpecUpdate)] == [SPEC]
    assert wired.to("portfolio", VenuePositions) == [VenuePositions((), (), 10 * MS)]
    assert wired.to("monitor") == [VenueReconciled(10 * MS)]


def test_positions_are_fetched_every_interval_and_reconciliation_is_announced_once() -> None:
    wired = Wired(reconcile_interval_s=5.0)
    wired.ctx.advance(10.5, wired.connection)
    assert len(wired.to("portfolio", VenuePositions)) == 3
    assert len(wired.to("monitor", VenueReconciled)) == 1


def test_an_acked_order_is_journaled_before_it_leaves_and_its_ack_reaches_its_owner() -> None:
    wired = Wired()
    wired.send(bid("b1"), trigger_ns=7 * MS)
    journal = wired.to("journal")
    assert isinstance(journal[0], OrderSent) and journal[0].client_order_id == "b1"
    assert isinstance(journal[1], Ack)
    acks = wired.to("owner", Ack)
    assert [a.client_order_id for a in acks] == ["b1"] and acks[0].recv_ns == 10 * MS
    assert wired.to("budget") == [RequestAccepted(10 * MS)]
    assert wired.state("b1") is OrderState.ACKED
    ctx = wired.ctx
    assert ctx.counter("troupe_orders_sent_total", venue="mock", kind="new") == 1
    assert ctx.counter("troupe_orders_acked_total", venue="mock") == 1
    ttt = [p.value for p in ctx.metrics if p.metric == "troupe_tick_to_trade_seconds"]
    assert ttt == [0.003]  # from the trigger at 7 ms to the order leaving at 10 ms


def latencies(ctx: FakeContext) -> list[tuple[str, float, dict[str, str]]]:
    return [(p.metric, round(p.value, 9), p.labels) for p in ctx.metrics
            if p.metric.endswith(("to_trade_seconds", "held_seconds"))]


def test_each_order_latency_goes_to_the_histogram_that_says_what_it_measures() -> None:
    wired = Wired()  # the connection's clock: 10 ms
    wired.send(bid("b1"), trigger_ns=7 * MS, queued_ns=10 * MS)  # market data, sent at once
    wired.send(bid("b2"), trigger_ns=8 * MS, trigger=Trigger.TIMER, queued_ns=10 * MS)
    wired.send(bid("b3"), trigger_ns=8 * MS, trigger=Trigger.REPORT)
    assert latencies(wired.ctx) == [
        ("troupe_tick_to_trade_seconds", 0.003, {}),
        ("troupe_decision_to_trade_seconds", 0.002, {"trigger": "timer"}),
        ("troupe_decision_to_trade_seconds", 0.002, {"trigger": "report"})]


def test_an_order_the_budget_held_for_the_rate_limit_counts_its_hold_not_a_tick() -> None:
    wired = Wired()
    owner = ActionOwner("mm1", wired.ctx.ref("owner"), 1 * MS, Trigger.MARKET, 2 * MS)
    wired.ctx.deliver(wired.connection, SendActions(Batch(Priority.NEW, (bid("b1"),), 1),
                                                    (owner,), 6 * MS))  # dispatched at 6 ms
    assert latencies(wired.ctx) == [("troupe_budget_held_seconds", 0.004, {})]


def test_a_fill_reaches_the_owner_the_portfolio_and_the_journal() -> None:
    wired = Wired()
    wired.send(bid("b1", qty=5))
    wired.ctx.deliver(wired.connection, MockFill("b1", 2, 99_990))
    wired.ctx.deliver(wired.connection, MockFill("b1", 3, 99_990))
    fills = wired.to("owner", Fill)
    assert [(f.qty, f.price) for f in fills] == [(2, 99_990), (3, 99_990)]
    own = wired.to("portfolio", OwnFill)
    assert [(o.strategy, o.side, o.qty) for o in own] == [("mm1", Side.BUY, 2),
                                                           ("mm1", Side.BUY, 3)]
    assert len(wired.to("journal", Fill)) == 2
    assert wired.state("b1") is OrderState.FILLED
    # 5 lots at 999.90: 0.00005 BTC x 999.90 USDT
    assert wired.ctx.counter("troupe_fill_notional_quote_total") == pytest.approx(0.049995)
    assert wired.connection.session.open_orders() == []


def test_a_cancel_is_journaled_acked_and_closes_the_order() -> None:
    wired = Wired()
    wired.send(bid("b1"))
    wired.send(CancelIntent("b1", SYM))
    assert [type(m) for m in wired.to("journal", (CancelSent, CancelAck))] == [
        CancelSent, CancelAck]
    assert [type(m) for m in wired.to("owner")] == [Ack, CancelAck]
    assert wired.state("b1") is OrderState.CANCELLED
    assert wired.ctx.counter("troupe_orders_cancelled_total", venue="mock") == 1
    assert any(p.metric == "troupe_cancel_ack_seconds" for p in wired.ctx.metrics)


def test_a_refused_order_is_rejected_with_the_venues_reason() -> None:
    wired = Wired()
    wired.mock.refuse("b1", RejectCode.INSUFFICIENT_FUNDS)
    wired.send(bid("b1"))
    rejects = wired.to("owner", Reject)
    assert [(r.client_order_id, r.code) for r in rejects] == [
        ("b1", RejectCode.INSUFFICIENT_FUNDS)]
    assert wired.state("b1") is OrderState.REJECTED
    assert wired.ctx.counter("troupe_orders_rejected_total", reason="insufficient_funds") == 1


def test_a_cancel_of_an_order_never_seen_still_goes_out_and_its_answer_is_unowned() -> None:
    wired = Wired()  # as after a restart: the venue knows better than a fresh session
    wired.send(CancelIntent("ghost", SYM))
    assert len(wired.mock.requests) == 1
    assert wired.to("owner") == []
    assert [r.code.value for r in wired.to("journal", CancelReject)] == ["unknown_order"]
    assert wired.ctx.counter("troupe_venue_unowned_reports_total", kind="CancelReject") == 1


def test_a_throttled_request_tells_the_budget_and_refuses_each_intent() -> None:
    wired = Wired()
    wired.mock.throttle(2_000 * MS)
    wired.send(bid("b1"), bid("b2", 99_999))
    assert wired.to("budget") == [RateLimited(2_000 * MS, 10 * MS)]
    rejects = wired.to("owner", Reject)
    assert [(r.client_order_id, r.code) for r in rejects] == [
        ("b1", RejectCode.RATE_LIMITED), ("b2", RejectCode.RATE_LIMITED)]


def test_a_submit_timeout_is_unknown_never_rejected_and_a_resend_with_the_same_id_settles_it(
) -> None:
    wired = Wired()
    wired.mock.lose("b1")
    wired.send(bid("b1"))
    assert wired.state("b1") is OrderState.UNKNOWN
    assert wired.to("owner") == []  # a timeout is not an answer: the owner still waits
    assert wired.to("budget") == []  # nor an answered request
    assert wired.to("journal", SubmitTimeout) == [SubmitTimeout("b1", 1)]
    assert wired.ctx.counter("troupe_order_timeouts_total", venue="mock", kind="new") == 1
    assert wired.connection.session.open_orders() == ["b1"]
    wired.send(bid("b1"))  # the resend: same client order id, same order
    order = wired.connection.session.order("b1")
    assert order is not None and order.attempt == 2 and order.state is OrderState.ACKED
    assert [a.client_order_id for a in wired.to("owner", Ack)] == ["b1"]


def test_a_cancel_timeout_leaves_the_order_unknown_until_the_venue_says_more() -> None:
    wired = Wired()
    wired.send(bid("b1"))
    wired.mock.lose("b1")
    wired.send(CancelIntent("b1", SYM))
    assert wired.state("b1") is OrderState.UNKNOWN
    assert wired.to("journal", CancelTimeout) == [CancelTimeout("b1", 1)]
    wired.send(CancelIntent("b1", SYM))  # tried again: this time the venue answers
    assert wired.state("b1") is OrderState.CANCELLED


def test_cancel_all_cancels_what_rests_on_the_instrument() -> None:
    wired = Wired()
    wired.send(bid("b1"), bid("b2", 99_999))
    wired.ctx.deliver(wired.connection, CancelAllOrders(SYM, "drill", 0))
    assert sorted(m.client_order_id for m in wired.to("owner", CancelAck)) == ["b1", "b2"]
    assert wired.connection.session.open_orders() == []
    assert wired.connection.receive(GetVenueState(), wired.ctx)["open_orders"] == []


def test_a_cancel_all_for_one_strategy_leaves_the_other_strategies_orders_resting() -> None:
    wired = Wired()
    wired.send(bid("b1"))
    other = ActionOwner("mm2", wired.ctx.ref("other"), 0)
    wired.ctx.deliver(wired.connection, SendActions(
        Batch(Priority.NEW, (bid("c1", 99_999),), 1), (other,), 0))
    wired.ctx.deliver(wired.connection, CancelAllOrders(SYM, "mm1 crashed", 0, "mm1"))
    assert [m.client_order_id for m in wired.to("owner", CancelAck)] == ["b1"]
    assert wired.to("other", CancelAck) == []
    assert wired.connection.session.open_orders() == ["c1"] and list(wired.mock.resting) == ["c1"]


def test_a_cancel_all_that_overtakes_an_insert_in_flight_cancels_it_when_it_shows_up() -> None:
    """The kill switch while a new order is on its way: the sweep finds nothing, the venue
    places the order afterwards, and it is cancelled again by its client id on its ack."""
    wired = Wired()
    wired.mock.hold("b1")
    wired.send(bid("b1"))
    wired.ctx.deliver(wired.connection, CancelAllOrders(None, "halt", 0))
    assert wired.mock.resting == {} and wired.state("b1") is OrderState.PENDING_CANCEL
    wired.ctx.deliver(wired.connection, MockArrive("b1"))  # placed after the sweep ran
    assert wired.pay_recancels() == ["b1"]  # through the budget, which pays for it
    assert wired.mock.resting == {}, "the order rests with nobody left to cancel it"
    assert wired.state("b1") is OrderState.CANCELLED
    assert [r.client_order_id for r in wired.to("journal", CancelSent)] == ["b1"]
    assert wired.ctx.counter("troupe_orders_recancelled_total", venue="mock") == 1


def test_a_cancel_by_id_refused_before_its_order_arrived_is_sent_again_on_the_ack() -> None:
    wired = Wired()
    wired.mock.hold("b1")
    wired.send(bid("b1"))
    wired.send(CancelIntent("b1", SYM))  # reaches the venue first: "unknown order"
    assert wired.state("b1") is OrderState.UNKNOWN
    wired.ctx.deliver(wired.connection, MockArrive("b1"))
    assert wired.pay_recancels() == ["b1"]
    assert wired.mock.resting == {}
    assert wired.to("owner", CancelAck)  # the strategy still hears of its order's end
    assert wired.state("b1") is OrderState.CANCELLED
    assert wired.ctx.counter("troupe_orders_recancelled_total", venue="mock") == 1


def test_cancels_that_took_their_order_are_never_sent_again() -> None:
    wired = Wired()
    wired.send(bid("b1"), bid("b2", 99_999))
    wired.send(CancelIntent("b1", SYM))
    wired.ctx.deliver(wired.connection, CancelAllOrders(None, "halt", 0))
    wired.mock.refuse("b3", CancelRejectCode.UNKNOWN_ORDER)
    wired.send(bid("b3", 99_998))
    wired.send(CancelIntent("b3", SYM))  # an acked order's cancel refused: done, not overtaken
    assert len(wired.mock.requests) == 5
    assert wired.ctx.counter("troupe_orders_recancelled_total", venue="mock") == 0


def test_observe_mode_journals_and_shadow_acks_and_sends_nothing() -> None:
    wired = Wired(observe=True)
    wired.send(bid("b1"))
    wired.send(CancelIntent("b1", SYM))
    wired.send(bid("b2"))
    wired.ctx.deliver(wired.connection, CancelAllOrders(None, "shutdown", 0))
    assert wired.mock.requests == []
    assert [type(m).__name__ for m in wired.to("owner")] == ["Ack", "CancelAck", "Ack",
                                                              "CancelAck"]
    assert len(wired.to("journal", ObservedIntent)) == 3 and not wired.to("journal", OrderSent)
    assert wired.to("budget", RequestAccepted)  # the budget's backoff relaxes as usual
    assert wired.connection.session.open_orders() == []
    assert wired.ctx.counter("troupe_orders_sent_total") == 0
    assert wired.ctx.counter("troupe_orders_observed_total", kind="new") == 2


def test_observe_mode_measures_its_orders_latency_where_live_mode_would() -> None:
    wired = Wired(observe=True)  # the connection's clock: 10 ms
    wired.send(bid("b1"), trigger_ns=7 * MS, queued_ns=10 * MS)
    wired.send(bid("b2"), trigger_ns=8 * MS, trigger=Trigger.TIMER, queued_ns=10 * MS)
    wired.send(CancelIntent("b1", SYM), trigger_ns=9 * MS)
    assert latencies(wired.ctx) == [
        ("troupe_tick_to_trade_seconds", 0.003, {}),
        ("troupe_decision_to_trade_seconds", 0.002, {"trigger": "timer"})]
    assert wired.mock.requests == []


def test_market_data_from_the_transport_reaches_the_book_with_our_receive_time() -> None:
    wired = Wired()
    diff = binance.DepthDiff(SYM, 1, 5, 5, (("999.9", "1"),), ())
    wired.ctx.deliver(wired.connection, MarketData(SYM, diff))
    assert wired.to("book") == [FeedEvent(SYM, diff, 10 * MS)]


def test_a_message_nobody_takes_is_counted_and_changes_nothing() -> None:
    wired = Wired()
    wired.ctx.deliver(wired.connection, "hello")
    assert wired.ctx.counter("troupe_venue_ignored_total", kind="str") == 1


def test_a_transport_must_implement_the_required_methods() -> None:
    class HalfDone(VenueTransport):
        def open(self, now_ns: int, rng: Any) -> None:
            return None

    with pytest.raises(TypeError, match="cancel_all, poll, reconcile, send"):
        HalfDone()  # type: ignore[abstract]


def test_a_replace_whose_answer_is_lost_is_unknown_refuses_more_amends_and_is_bounded() -> None:
    """The replace's outcome is UNKNOWN while its order is looked up: a second amend piled onto
    it is refused here, not sent (its owner cancels instead: a cancel takes the order whatever
    the venue made of the replace); and if nothing settles it within `replace_unknown_s`, it
    is given up as failed, said to its owner and journaled with that reason, and counted. The
    look-up's answer, when it comes at last, is journaled and goes to nobody: the owner has
    moved on."""
    wired = Wired()
    wired.send(bid("b1"))
    wired.mock.lose("b1")
    first = ReplaceIntent("b1", SYM, 2, 100_100)
    wired.send(first)
    assert wired.to("owner", Reject) == []  # a timeout is not an answer
    sent = len(wired.mock.requests)
    wired.send(ReplaceIntent("b1", SYM, 2, 100_200))
    assert len(wired.mock.requests) == sent  # not sent on top of the unknown one
    [refused] = wired.to("owner", Reject)
    assert refused.code is RejectCode.NOT_SENT and "unresolved" in refused.message
    assert wired.ctx.counter("troupe_replace_unresolved_total", venue="mock",
                             what="refused") == 1
    wired.ctx.advance(ConnectionConfig().replace_unknown_s, wired.connection)
    given_up = wired.to("owner", Reject)[1:]
    assert [(r.client_order_id, r.code) for r in given_up] == [("b1", RejectCode.OTHER)]
    assert "given up" in given_up[0].message
    assert given_up[0] in wired.to("journal", Reject)  # the reason, journaled
    assert wired.ctx.counter("troupe_replace_unresolved_total", venue="mock",
                             what="given_up") == 1
    assert wired.state("b1") is OrderState.ACKED  # as it was, as far as we know
    # The look-up settles it at last: journaled, told to nobody.
    late = Reject("b1", RejectCode.OTHER, "the replace's answer was lost; as it was")
    told = len(wired.to("owner"))
    wired.mock._queue.append(Reported(late))
    wired.ctx.deliver(wired.connection, MockArrive("none"))
    assert len(wired.to("owner")) == told
    # A new replace after that goes out again.
    wired.send(ReplaceIntent("b1", SYM, 2, 100_300))
    assert len(wired.mock.requests) == sent + 1


def test_a_replace_settled_within_the_bound_is_not_given_up() -> None:
    wired = Wired()
    wired.send(bid("b1"))
    wired.mock.lose("b1")
    wired.send(ReplaceIntent("b1", SYM, 2, 100_100))
    wired.mock._queue.append(Reported(Ack("b1")))  # the look-up found it amended
    wired.ctx.deliver(wired.connection, MockArrive("none"))
    wired.ctx.advance(ConnectionConfig().replace_unknown_s, wired.connection)
    assert wired.to("owner", Reject) == []
    assert wired.ctx.counter("troupe_replace_unresolved_total", venue="mock",
                             what="given_up") == 0
    order = wired.connection.session.order("b1")
    assert order is not None and order.intent.price == 100_100
