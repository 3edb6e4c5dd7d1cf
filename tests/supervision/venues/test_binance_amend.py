"""The Binance transport's replaces, USD-M modifies and batches (`amend.py`), against a
recording REST lane. Split from test_binance_transport.py, whose helpers they use."""

from __future__ import annotations

import random

from actors.execution.venue_transport import Reported, TimedOut
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    Priority,
    Reject,
    RejectCode,
    ReplaceIntent,
)
from protocols.venue_state import (
    RequestAccepted,
    SendActions,
)
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_transport import (
    BODY,
    INFO,
    SPEC,
    Recorder,
    Ref,
    intent,
    opened,
    sent,
    user_frame,
)


def test_a_spot_replace_is_a_cancel_replace_under_the_same_client_id() -> None:
    transport, recorder = opened()
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 10)
    transport.poll(10)
    replace = ReplaceIntent("mm1-1", "BTCUSDT", 200_000, 6_010_000)
    transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 11), 11)
    tag, method, params = recorder.calls[-1]
    assert (tag, method) == (("replace", replace, 7), "private_post_order_cancelreplace")
    assert params == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                      "timeInForce": "GTC", "cancelReplaceMode": "STOP_ON_FAILURE",
                      "cancelOrigClientOrderId": "mm1-1", "cancelNewClientOrderId": "rpl-mm1-1",
                      "newClientOrderId": "mm1-1", "quantity": "0.002", "price": "60100",
                      "newOrderRespType": "RESULT"}
    # The stream: the old order cancelled by our cancel id (the replace's own half: no news),
    # the new one.
    user_frame(transport, 12, x="CANCELED", X="CANCELED", c="rpl-mm1-1", C="mm1-1")
    user_frame(transport, 12, i=8, p="60100.00", q="0.002")
    new_body = {**BODY, "orderId": 8, "price": "60100.00", "origQty": "0.002"}
    transport.on_message(RestDone(("replace", replace, 7), {
        "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
        "cancelResponse": {**BODY, "status": "CANCELED"}, "newOrderResponse": new_body}), 13)
    reports = [e.report for e in transport.poll(13) if isinstance(e, Reported)]
    assert reports == [Ack("mm1-1", "8", venue_ns=5_000_000)]  # once, from whichever came first
    # A replace of an order that is gone: nothing placed, the order as it was.
    transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 14), 14)
    transport.on_message(RestDone(("replace", replace, 8), None, "lost",
                                  'BadResponse: binance {"code":-2022,"msg":"Order '
                                  'cancel-replace failed."}'), 15)
    accepted, refused = transport.poll(15)
    assert accepted == RequestAccepted(15)
    assert isinstance(refused, Reported) and refused.report.code is RejectCode.UNKNOWN_ORDER
    user_frame(transport, 16, i=8, x="CANCELED", X="CANCELED", c="cancel-8", C="mm1-1")
    [cancelled] = transport.poll(16)  # not our replace's cancel id: the cancel is news
    assert isinstance(cancelled, Reported) and isinstance(cancelled.report, CancelAck)


def test_usdm_modify_sends_the_total_and_an_unneeded_one_is_the_ack() -> None:
    transport, recorder = opened(dialect="usdm")
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), {**BODY, "executedQty": "0.0005",
                                                         "status": "PARTIALLY_FILLED"}), 2)
    transport.poll(2)
    replace = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_010_000)  # open 0.001 after 0.0005
    transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 3), 3)
    assert recorder.calls[-1][1:] == ("fapiprivate_put_order", {
        "symbol": "BTCUSDT", "side": "BUY", "origClientOrderId": "mm1-1", "quantity": "0.0015",
        "price": "60100"})
    transport.on_message(RestDone(("replace", replace, 7), None, "lost",
                                  'OperationRejected: {"code":-5027,"msg":"No need to modify '
                                  'the order."}'), 4)
    accepted, acked = transport.poll(4)
    assert accepted == RequestAccepted(4) and acked == Reported(Ack("mm1-1", "7", venue_ns=4))


def test_usdm_batches_new_orders_by_five_and_cancels_by_symbol() -> None:
    transport, recorder = opened(dialect="usdm")
    orders = tuple(intent(f"mm1-{i}") for i in range(7))
    transport.send(SendActions(Batch(Priority.NEW, orders, 2), (None,) * 7, 2), 2)
    batches = [c for c in recorder.calls if c[0][0] == "batch"]
    assert [len(c[2]["batchOrders"]) for c in batches] == [5, 2]
    assert batches[0][2]["batchOrders"][0]["newClientOrderId"] == "mm1-0"
    first = batches[0][0]
    answer = [{**BODY, "clientOrderId": f"mm1-{i}", "orderId": 10 + i} for i in range(4)]
    answer.append({"code": -2010, "msg": "Duplicate order sent."})
    transport.on_message(RestDone(first, answer), 3)
    events = transport.poll(3)
    assert events[0] == RequestAccepted(3)
    reports = [e.report for e in events if isinstance(e, Reported)]
    assert [type(r).__name__ for r in reports] == ["Ack"] * 4 + ["Reject"]
    assert reports[-1].code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
    cancels = tuple(CancelIntent(f"mm1-{i}", "BTCUSDT") for i in range(3))
    transport.send(SendActions(Batch(Priority.CANCEL, cancels, 1), (None,) * 3, 4), 4)
    assert recorder.calls[-1][1:] == ("fapiprivate_delete_batchorders", {
        "symbol": "BTCUSDT", "origClientOrderIdList": ["mm1-0", "mm1-1", "mm1-2"]})
    transport.on_message(RestDone(recorder.calls[-1][0], None, "lost", "RequestTimeout"), 5)
    assert transport.poll(5) == [TimedOut(c) for c in cancels]


def test_an_adopted_order_can_be_replaced() -> None:
    recorder = Recorder()
    transport = BinanceTransport(BinanceSettings(
        "binance", "spot", "http://x", "ws://y", {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": SPEC},
        api_key="k", expected_open=frozenset({"mm1-1"})), lambda t, d: recorder)
    transport.attach(Ref())
    transport.open(0, random.Random(1))
    transport.on_message(RestDone(("markets",), {"m": {"id": "BTCUSDT", "info": INFO}}), 1)
    transport.reconcile(2)
    transport.on_message(RestDone(("reconcile",), {"open": [BODY], "positions": [], "account": {
        "balances": []}}), 2)
    assert transport.start_summary is not None and transport.start_summary.adopted == ("mm1-1",)
    replace = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_010_000)
    transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 3), 3)
    assert recorder.calls[-1][0] == ("replace", replace, 7)


def test_a_usdm_modify_whose_answer_is_lost_is_settled_by_looking_the_order_up() -> None:
    transport, recorder = opened(dialect="usdm")
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 2)
    transport.poll(2)
    replace = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 6_010_000)
    for at, body, expected in (
            (3, {**BODY, "price": "60100.00", "origQty": "0.001"}, Ack("mm1-1", "7", venue_ns=4)),
            (5, BODY, RejectCode.OTHER),  # the venue shows it as it was: not modified
            (7, {**BODY, "status": "FILLED"}, RejectCode.UNKNOWN_ORDER)):  # gone meanwhile
        transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), at), at)
        transport.on_message(RestDone(recorder.calls[-1][0], None, "lost", "RequestTimeout"), at)
        assert transport.poll(at) == [TimedOut(replace)]  # pending, never resent
        lookup = recorder.calls[-1]
        assert lookup[0] == ("query", replace, False)
        assert lookup[1:] == ("fapiprivate_get_order", {"symbol": "BTCUSDT",
                                                        "origClientOrderId": "mm1-1"})
        transport.on_message(RestDone(lookup[0], body), at + 1)
        [answer] = [e.report for e in transport.poll(at + 1) if isinstance(e, Reported)]
        if isinstance(expected, Ack):
            assert answer == expected
        else:
            assert isinstance(answer, Reject) and answer.code is expected, answer
    assert [c[1] for c in recorder.calls].count("fapiprivate_put_order") == 3  # one each
