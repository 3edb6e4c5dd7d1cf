"""The periodic reconciliation never cancels our own live order as a stranger.

Two interleavings seen in busy runs of `benchmarks.tick_to_trade`, replayed exactly:
- replaces pipelined (the market maker replaces optimistically, before the previous replace's
  answer): the second cancel-replace cancels the first one's new order id, which the transport
  could not know when it sent it; that CANCELED must still read as the replace's own;
- the venue's open-order list taken before an order closed here: the order is ours and was
  known when the list was asked for, so it is no drift.
"""

from __future__ import annotations

from protocols.orders import Batch, CancelAck, Priority, ReplaceIntent
from protocols.venue_state import SendActions
from supervision.venues.binance.io import RestDone
from tests.supervision.venues.test_binance_transport import (
    BODY,
    SECOND,
    Counted,
    Reported,
    intent,
    opened,
    sent,
    user_frame,
)

ACCOUNT = {"balances": [{"asset": "BTC", "free": "1", "locked": "0"}]}


def _reconciled(transport, at: int, *rows: dict) -> list:
    transport.on_message(RestDone(("reconcile",), {
        "open": list(rows), "account": ACCOUNT, "positions": [], "asked_ns": at}), at + 1)
    return transport.poll(at + 1)


def _drifts(events: list) -> int:
    return sum(1 for e in events if isinstance(e, Counted)
               and e.metric == "troupe_reconciliation_order_drifts_total")


def _cancels(recorder) -> list[str]:
    return [c[2]["origClientOrderId"] for c in recorder.calls
            if c[1] == "private_delete_order"]


def test_pipelined_replaces_keep_the_order_ours() -> None:
    transport, recorder = opened()
    _reconciled(transport, 1 * SECOND)  # the start-up one
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 2 * SECOND)
    transport.poll(2 * SECOND)
    first = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_010_000)
    second = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_020_000)
    for replace in (first, second):  # the second before the first's answer
        transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 3), 3)
    marker = recorder.calls[-1][2].get("cancelNewClientOrderId", "x-auto-1")
    # The venue: order 7 cancelled by the first, 8 placed; 8 cancelled by the second, 9 placed.
    user_frame(transport, 4, x="CANCELED", X="CANCELED", c=marker, C="mm1-1")
    user_frame(transport, 4, i=8, p="60100.00")
    user_frame(transport, 4, x="CANCELED", X="CANCELED", i=8, p="60100.00", c=marker, C="mm1-1")
    user_frame(transport, 4, i=9, p="60200.00")
    reports = [e.report for e in transport.poll(4) if isinstance(e, Reported)]
    assert not [r for r in reports if isinstance(r, CancelAck)]  # both halves are ours
    resting = {**BODY, "orderId": 9, "price": "60200.00"}
    events = _reconciled(transport, 6 * SECOND, resting)
    assert _drifts(events) == 0 and _cancels(recorder) == []


def test_an_explicit_cancel_after_a_replace_is_still_news() -> None:
    transport, recorder = opened()
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 2)
    transport.poll(2)
    replace = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_010_000)
    transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 3), 3)
    marker = recorder.calls[-1][2]["cancelNewClientOrderId"]
    user_frame(transport, 4, x="CANCELED", X="CANCELED", c=marker, C="mm1-1")
    user_frame(transport, 4, i=8, p="60100.00")
    user_frame(transport, 5, x="CANCELED", X="CANCELED", i=8, c="web_a1b2c3", C="mm1-1")
    reports = [e.report for e in transport.poll(5) if isinstance(e, Reported)]
    assert [type(r).__name__ for r in reports] == ["Ack", "CancelAck"]


def test_a_venue_list_older_than_our_news_is_no_drift() -> None:
    transport, recorder = opened()
    _reconciled(transport, 1 * SECOND)
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 2 * SECOND)
    # The list is asked for at 10 s; the order fills, and the stream says so before the
    # list's answer comes back.
    user_frame(transport, 11 * SECOND, x="TRADE", X="FILLED", z="0.001", l="0.001", L="60000",
          t=3)
    transport.on_message(RestDone(("reconcile",), {
        "open": [BODY], "account": ACCOUNT, "positions": [], "asked_ns": 10 * SECOND}),
        12 * SECOND)
    assert _drifts(transport.poll(12 * SECOND)) == 0 and _cancels(recorder) == []
    # Listed again long after it closed here: it rests, and nobody here manages it.
    events = _reconciled(transport, 30 * SECOND, BODY)
    assert _drifts(events) == 1 and _cancels(recorder) == ["mm1-1"]


def test_the_reconciliation_says_when_its_list_was_asked_for() -> None:
    transport, recorder = opened()
    transport.reconcile(7 * SECOND)
    tag, fetch, _ = recorder.calls[-1]

    class Client:
        def __getattr__(self, name: str):
            return lambda params: []

    assert tag[0] == "reconcile" and fetch(Client(), {})["asked_ns"] == 7 * SECOND


def test_a_strangers_order_is_cancelled_with_its_reason(caplog) -> None:
    transport, recorder = opened()
    _reconciled(transport, 1 * SECOND)
    stray = {**BODY, "clientOrderId": "web_x1"}
    with caplog.at_level("WARNING", logger="troupe.venues.binance"):
        events = _reconciled(transport, 10 * SECOND, stray)
    assert _drifts(events) == 1 and _cancels(recorder) == ["web_x1"]
    assert "not this node's" in caplog.text
