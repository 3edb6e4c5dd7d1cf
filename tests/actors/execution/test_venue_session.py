"""The session's watch over cancels that overtook their orders, and over orders a look-up did
not find: what it gives back to cancel again, and what it never does."""

from __future__ import annotations

from actors.execution.venue_session import VenueSession
from protocols.codec import Side
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    OrderIntent,
    OrderState,
    OrderType,
    Priority,
    ReconcileResult,
    Reject,
    RejectCode,
    ReplaceIntent,
    TimeInForce,
    VenueOrderStatus,
)
from protocols.venue_state import SendActions

SYM = "BTCUSDT"


def sent(session: VenueSession, *intents: OrderIntent | CancelIntent) -> None:
    priority = Priority.CANCEL if isinstance(intents[0], CancelIntent) else Priority.NEW
    session.on_send(SendActions(Batch(priority, intents, 1), (None,) * len(intents), 0), 0)


def bid(cid: str) -> OrderIntent:
    return OrderIntent(cid, SYM, Side.BUY, OrderType.LIMIT, 2, 100_000, TimeInForce.GTC)


def test_an_order_a_look_up_did_not_find_is_cancelled_if_it_shows_up_after_all() -> None:
    session = VenueSession()
    sent(session, bid("b1"))
    session.on_timeout(bid("b1"), 1)
    session.on_report(ReconcileResult("b1", VenueOrderStatus.NOT_FOUND), 2)
    order = session.order("b1")
    assert order is not None and order.state is OrderState.REJECTED
    assert session.take_recancels() == [] and session.open_orders() == []
    session.on_report(Ack("b1", "v1"), 3)  # a slow gateway placed it after all
    assert session.take_recancels() == [CancelIntent("b1", SYM)]
    assert session.take_recancels() == []  # once


def test_a_cancel_by_id_that_missed_waits_for_the_order_and_one_that_hit_is_forgotten() -> None:
    session = VenueSession()
    sent(session, bid("b1"), bid("b2"))
    sent(session, CancelIntent("b1", SYM), CancelIntent("b2", SYM))
    session.on_report(CancelReject("b1", CancelRejectCode.UNKNOWN_ORDER), 1)
    session.on_report(CancelAck("b2"), 1)
    assert session.take_recancels() == []  # b1 not placed yet; b2 cancelled
    session.on_report(Ack("b2", "v2"), 2)  # b2's late ack, after its cancel: no news
    session.on_report(Ack("b1", "v1"), 2)
    assert session.take_recancels() == [CancelIntent("b1", SYM)]


def test_a_cancel_of_an_acked_order_is_never_watched() -> None:
    session = VenueSession()
    sent(session, bid("b1"))
    session.on_report(Ack("b1", "v1"), 1)
    sent(session, CancelIntent("b1", SYM))
    session.on_report(CancelReject("b1", CancelRejectCode.UNKNOWN_ORDER), 2)  # done already
    session.on_report(ReconcileResult("b1", VenueOrderStatus.OPEN), 3)
    assert session.take_recancels() == []


def test_a_lost_replace_stays_unknown_through_a_later_replace_refused_at_the_door() -> None:
    """Replace A's answer is lost while replace B, sent after it, is refused with a 429: the
    429 says nothing of the order (B never reached it), so A's effect is still UNKNOWN; an
    ack, or a refusal by the venue itself, would have said where the order's amends stand."""
    session = VenueSession()
    sent(session, bid("b1"))
    session.on_report(Ack("b1"), 1)
    first, second = ReplaceIntent("b1", SYM, 2, 100_100), ReplaceIntent("b1", SYM, 2, 100_200)
    session.on_send(SendActions(Batch(Priority.NEW, (first,), 1), (None,), 2), 2)
    session.on_send(SendActions(Batch(Priority.NEW, (second,), 1), (None,), 3), 3)
    session.on_timeout(first, 4)
    session.on_report(Reject("b1", RejectCode.RATE_LIMITED, "429"), 5)
    assert session.replace_unresolved("b1")
    given_up = session.give_up_replace("b1", "given up", 6)
    assert given_up is not None and given_up.code is RejectCode.OTHER
    session.on_report(given_up, 6)
    assert not session.replace_unresolved("b1")
    # A's answer at last (it took): the order is amended, and the answer goes to nobody.
    routed = session.on_report(Ack("b1"), 7)
    assert routed.owner is None
    order = session.order("b1")
    assert order is not None and order.intent.price == 100_100
    # An ack settles a lost replace; so does the venue's own refusal (not a 429).
    session.on_send(SendActions(Batch(Priority.NEW, (second,), 1), (None,), 8), 8)
    session.on_timeout(second, 9)
    session.on_report(Reject("b1", RejectCode.OTHER, "-2022"), 10)
    assert not session.replace_unresolved("b1")
