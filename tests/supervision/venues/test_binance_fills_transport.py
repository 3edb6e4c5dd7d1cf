"""Fills the user-data stream missed, recovered by the Binance transport (its I/O replaced by a
recorder): each reconciliation fetches our trades from the last id fetched, a trade is passed on
once whichever path (stream or myTrades) brings it first and never again after a restart if the
journal has it, an order the venue no longer lists is settled from its state and trades, and a
429 holds every recovery request until its Retry-After has passed."""

from __future__ import annotations

import random
from typing import Any

from actors.execution.venue_transport import Counted, Reported, VenueOrder
from protocols.orders import Ack, Fill, ReconcileResult, VenueOrderStatus
from protocols.portfolio import VenuePositions
from protocols.venue_state import CancelAllOrders, RateLimited
from supervision.venues.binance.fills import PAGE, SWEEP_EVERY_NS
from supervision.venues.binance.io import RestDone, WsDown, WsFrame, WsUp
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_transport import (
    BODY,
    INFO,
    SPEC,
    Recorder,
    Ref,
    _fill_event,
    intent,
    opened,
    sent,
)

SECOND = 1_000_000_000
ACCOUNT = {"balances": [{"asset": "BTC", "free": "1", "locked": "0"}]}


def _trade(trade_id: int, order_id: int = 7, qty: str = "0.001") -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "id": trade_id, "orderId": order_id, "price": "60000.00",
            "qty": qty, "quoteQty": "60", "commission": "0.06", "commissionAsset": "USDT",
            "time": 1_700_000_000_000, "isBuyer": True, "isMaker": True}


class Client:
    """What the reconciliation's request reads, as ccxt's client would answer it."""

    def __init__(self, *open_orders: dict[str, Any], trades: list[dict[str, Any]] = ()) -> None:
        self.open, self.trades = list(open_orders), list(trades)
        self.asked: list[dict[str, Any]] = []

    def private_get_openorders(self, _p: Any) -> list[dict[str, Any]]:
        return self.open

    def private_get_account(self, _p: Any) -> dict[str, Any]:
        return ACCOUNT

    def private_get_mytrades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.asked.append(params)
        return self.trades


def _reconcile(transport: BinanceTransport, recorder: Recorder, at: int,
               client: Client | None = None) -> tuple[list[Any], Client]:
    """One reconciliation, its request run against `client` (nothing open, no trades)."""
    client = client or Client()
    transport.reconcile(at)
    tag, fetch, params = recorder.calls[-1]
    assert tag[0] == "reconcile"
    transport.on_message(RestDone(tag, fetch(client, params)), at)
    return transport.poll(at), client


def _calls(recorder: Recorder, kind: str) -> list[tuple[Any, Any, dict[str, Any]]]:
    return [c for c in recorder.calls if c[0][0] == kind]


def _fills(events: list[Any]) -> list[str]:
    return [e.report.fill_id for e in events
            if isinstance(e, Reported) and isinstance(e.report, Fill)]


def _acked() -> tuple[BinanceTransport, Recorder]:
    """A transport with our order mm1-1 (venue order 7) acked and the start reconciled."""
    transport, recorder = opened()
    _reconcile(transport, recorder, 1)  # the start: nothing open, no trades yet
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), BODY), 2)
    transport.poll(2)
    return transport, recorder


def test_a_fill_the_stream_missed_is_fetched_once_and_the_stream_repeat_is_dropped() -> None:
    transport, recorder = _acked()
    client = Client(BODY, trades=[_trade(5), _trade(6, order_id=99)])
    events, _ = _reconcile(transport, recorder, 3, client)
    assert client.asked == [{"symbol": "BTCUSDT", "limit": PAGE}]  # none fetched yet
    assert _fills(events) == ["BTCUSDT-5"]  # order 99 is not ours
    assert Counted("troupe_fills_recovered_total", (("venue", "binance"),)) in events
    [fill] = [e.report for e in events if isinstance(e, Reported)]
    assert (fill.client_order_id, fill.qty, fill.price) == ("mm1-1", 100_000, 6_000_000)
    # Booked before the positions are compared: the fill is no drift.
    assert [type(e).__name__ for e in events if not isinstance(e, Counted)] == [
        "Reported", "VenuePositions"]
    # The stream's own report of the same trade, late, is not passed on again ...
    transport.on_message(WsFrame("user", _fill_event(5), 4), 4)
    assert _fills(transport.poll(4)) == []
    # ... and the next reconciliation reads on after the last trade fetched.
    _events, client = _reconcile(transport, recorder, 5, Client(BODY))
    assert client.asked == [{"symbol": "BTCUSDT", "limit": PAGE, "fromId": 7}]


def test_the_first_reconciliation_reads_the_most_recent_trades() -> None:
    transport, recorder = opened()
    _events, client = _reconcile(transport, recorder, 2, Client(trades=[_trade(41, 99)]))
    assert client.asked == [{"symbol": "BTCUSDT", "limit": PAGE}]  # no id yet
    _events, client = _reconcile(transport, recorder, 3)
    assert client.asked == [{"symbol": "BTCUSDT", "limit": PAGE, "fromId": 42}]


def test_a_streamed_fill_is_not_passed_again_by_the_fetch() -> None:
    transport, recorder = _acked()
    transport.on_message(WsFrame("user", _fill_event(5), 3), 3)
    assert _fills(transport.poll(3)) == ["BTCUSDT-5"]
    events, _ = _reconcile(transport, recorder, 4, Client(BODY, trades=[_trade(5)]))
    assert _fills(events) == [] and not [e for e in events if isinstance(e, Counted)]


def test_a_full_page_is_followed_at_once_by_the_next() -> None:
    transport, recorder = _acked()
    _reconcile(transport, recorder, 3,
               Client(BODY, trades=[_trade(i, order_id=99) for i in range(PAGE)]))
    assert _calls(recorder, "trades")[-1][2]["fromId"] == PAGE


def test_usdm_account_updates_wait_for_the_fills_of_a_user_stream_gap() -> None:
    transport, recorder = opened(dialect="usdm")
    transport.on_message(WsUp("user", "ws://y"), 1)
    transport.reconcile(2)
    tag, _fetch, _params = recorder.calls[-1]
    account = {"open": [], "account": {"assets": []}, "positions": [], "trades": {}}
    transport.on_message(RestDone(tag, account), 2)
    update = ('{"e":"ACCOUNT_UPDATE","E":5,"a":{"m":"ORDER","B":[],'
              '"P":[{"s":"BTCUSDT","pa":"0.001","ep":"0","ps":"BOTH"}]}}')
    transport.poll(2)
    transport.on_message(WsDown("user", "closed by the venue (1001)", 0.5), 3)
    transport.on_message(WsUp("user", "ws://y"), 4)  # asks for a reconciliation
    transport.on_message(WsFrame("user", update, 5), 5)
    assert not [e for e in transport.poll(5) if isinstance(e, VenuePositions)]
    tag, _fetch, _params = recorder.calls[-1]
    transport.on_message(RestDone(tag, account), 6)  # the gap's fills are in
    transport.poll(6)
    transport.on_message(WsFrame("user", update, 7), 7)
    assert [e for e in transport.poll(7) if isinstance(e, VenuePositions)]


def test_an_order_the_venue_no_longer_lists_is_settled_from_its_state_and_trades() -> None:
    transport, recorder = _acked()
    _reconcile(transport, recorder, 10)  # mm1-1 no longer rests there
    [query] = _calls(recorder, "settle")
    assert query[2] == {"symbol": "BTCUSDT", "origClientOrderId": "mm1-1"}
    filled = {**BODY, "status": "FILLED", "executedQty": "0.002"}
    transport.on_message(RestDone(query[0], filled), 11)
    transport.poll(11)
    by_order = _calls(recorder, "trades")[-1]
    assert by_order[2] == {"symbol": "BTCUSDT", "orderId": 7, "limit": PAGE}
    transport.on_message(RestDone(by_order[0], [_trade(8), _trade(9)]), 12)
    reports = [e.report for e in transport.poll(12) if isinstance(e, Reported)]
    assert [type(r) for r in reports] == [Fill, Fill, ReconcileResult]
    assert reports[2] == ReconcileResult("mm1-1", VenueOrderStatus.FILLED, 200_000)
    assert "mm1-1" not in transport.known_open
    _reconcile(transport, recorder, 13)
    assert len(_calls(recorder, "settle")) == 1  # settled: not looked up again


def test_a_429_holds_every_recovery_request_until_its_retry_after() -> None:
    transport, recorder = _acked()
    _reconcile(transport, recorder, SECOND, Client(trades=[_trade(i, 99) for i in range(PAGE)]))
    [page, query] = _calls(recorder, "trades") + _calls(recorder, "settle")
    transport.on_message(RestDone(page[0], None, "throttled", "429 Too many requests", 3.0),
                         3 * SECOND)
    assert RateLimited(3 * SECOND, 3 * SECOND) in transport.poll(3 * SECOND)  # the budget too
    transport.on_message(RestDone(query[0], None, "lost", "RequestTimeout"), 3 * SECOND)
    # Held: the next reconciliation, the page and the look-up wait, nothing goes ...
    sent_before = len(recorder.calls)
    transport.reconcile(4 * SECOND)
    transport.poll(4 * SECOND)
    assert len(recorder.calls) == sent_before
    assert transport.next_due_ns() == 6 * SECOND
    # ... and once the wait is over, what waited goes, once each.
    transport.poll(6 * SECOND)
    assert [c[0][0] for c in recorder.calls[sent_before:]] == ["trades", "reconcile"]
    tag, fetch, params = recorder.calls[-1]
    transport.on_message(RestDone(tag, fetch(Client(), params)), 6 * SECOND)
    transport.poll(6 * SECOND)
    assert len(_calls(recorder, "settle")) == 2  # the lost look-up, asked again


def test_an_order_the_journal_left_open_is_tracked_and_settled_without_its_known_fills() -> None:
    recorder = Recorder()
    transport = BinanceTransport(BinanceSettings(
        "binance", "spot", "http://x", "ws://y", {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": SPEC},
        api_key="k", api_secret="s", expected_open=frozenset({"tr-old-1"}),
        known_fills=frozenset({"BTCUSDT-3"})), lambda t, d: recorder)
    transport.attach(Ref())
    transport.open(0, random.Random(1))
    transport.on_message(RestDone(("markets",), {"x": {"id": "BTCUSDT", "info": INFO}}), 1)
    transport.poll(1)
    _reconcile(transport, recorder, 2)
    [query] = _calls(recorder, "settle")
    assert query[2]["origClientOrderId"] == "tr-old-1"
    gone = {**BODY, "clientOrderId": "tr-old-1", "orderId": 9, "status": "CANCELED",
            "executedQty": "0.002"}
    transport.on_message(RestDone(query[0], gone), 3)
    events = transport.poll(3)
    [tracked] = [e for e in events if isinstance(e, VenueOrder)]
    assert (tracked.intent.client_order_id, tracked.intent.qty) == ("tr-old-1", 100_000)
    assert isinstance(events[-1], Reported) and isinstance(events[-1].report, Ack)
    by_order = _calls(recorder, "trades")[-1]
    transport.on_message(RestDone(by_order[0], [_trade(3, 9), _trade(4, 9)]), 4)
    events = transport.poll(4)
    assert _fills(events) == ["BTCUSDT-4"]  # trade 3 is in the journal already
    assert events[-1] == Reported(ReconcileResult(  # type: ignore[arg-type]
        "tr-old-1", VenueOrderStatus.CANCELLED, 200_000))


def test_a_cancel_all_answer_cancels_what_it_lists_and_looks_up_what_it_did_not() -> None:
    transport, recorder = opened()
    for cid in ("mm1-1", "mm1-2"):
        sent(transport, intent(cid))
    transport.cancel_all(CancelAllOrders(None, "shutdown", 5), [], 5)
    cancelled = {**BODY, "status": "CANCELED"}
    transport.on_message(RestDone(("cancel_all", "BTCUSDT"), [cancelled]), 6)
    reports = [e.report for e in transport.poll(6) if isinstance(e, Reported)]
    assert [(type(r).__name__, r.client_order_id) for r in reports] == [("CancelAck", "mm1-1")]
    assert [c[2]["origClientOrderId"] for c in _calls(recorder, "settle")] == ["mm1-2"]


def test_with_a_healthy_user_stream_a_symbols_trades_are_read_once_a_minute() -> None:
    transport, recorder = _acked()  # its first reconciliation read them, at 1 ns
    transport.on_message(WsUp("user", "ws://y"), 3)
    _events, client = _reconcile(transport, recorder, 6 * SECOND)
    assert client.asked == []  # the stream tells; the venue's weight is spared
    _events, client = _reconcile(transport, recorder, 1 + SWEEP_EVERY_NS)
    assert len(client.asked) == 1  # once a minute all the same
    later = SWEEP_EVERY_NS + 2 * SECOND
    transport.on_message(WsDown("user", "no data for 45s", 0.5), later)
    _events, client = _reconcile(transport, recorder, later + SECOND)
    assert len(client.asked) == 1  # a gap: read at once, and until the stream is back ...
    transport.on_message(WsUp("user", "ws://y"), later + 2 * SECOND)
    _events, client = _reconcile(transport, recorder, later + 3 * SECOND)
    assert len(client.asked) == 1  # ... and a reconciliation asked after it came back
    _events, client = _reconcile(transport, recorder, later + 4 * SECOND)
    assert client.asked == []


def test_a_look_up_waits_out_a_429_instead_of_drawing_another() -> None:
    # A create whose answer is lost while the venue throttles us: the order is UNKNOWN at once,
    # and its look-up goes when the Retry-After is over, not into the refusal.
    transport, recorder = opened()
    _reconcile(transport, recorder, 1)
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), None, "throttled", "429", 3.0), SECOND)
    transport.poll(SECOND)
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), None, "lost", "RequestTimeout"),
                         2 * SECOND)
    events = transport.poll(2 * SECOND)
    assert any(type(e).__name__ == "TimedOut" for e in events), events
    assert not _calls(recorder, "query")  # held by the gate ...
    assert transport.next_due_ns() == 4 * SECOND
    transport.poll(4 * SECOND)
    assert len(_calls(recorder, "query")) == 1  # ... and asked once the wait is over


def test_a_refused_order_is_not_looked_up_by_the_reconciliations_that_follow() -> None:
    # The venue refused it (insufficient funds, a post-only that would take): it never rested,
    # so it is not ours to look for. Kept as open, every reconciliation looked it up again (a
    # weight-4 GET /order each, forever): the tick-to-trade benchmark's 429s.
    transport, recorder = opened()
    _reconcile(transport, recorder, 1)
    sent(transport, intent())
    transport.on_message(RestDone(("create", intent()), None, "rejected",
                                  "InsufficientFunds: binance Account has insufficient balance"),
                         2)
    [reject] = [e.report for e in transport.poll(2) if isinstance(e, Reported)]
    assert reject.client_order_id == "mm1-1"
    assert "mm1-1" not in transport.known_open
    for at in (5 * SECOND, 10 * SECOND):
        _reconcile(transport, recorder, at)
    assert not _calls(recorder, "settle")


def test_an_order_the_venue_never_had_is_closed_after_two_look_ups_not_asked_for_forever() -> None:
    transport, recorder = _acked()
    gone = ("OrderNotFound: binance {\"code\":-2013,\"msg\":\"Order does not exist.\"}")
    # Two "not found" at once (a sweep's look-up and a reconciliation's) close nothing: the
    # order may still be on its way through the venue's gateway.
    transport.cancel_all(CancelAllOrders(None, "stop", 4 * SECOND), [], 4 * SECOND)
    transport.on_message(RestDone(("cancel_all", "BTCUSDT"), []), 4 * SECOND)
    transport.poll(4 * SECOND)
    [query] = _calls(recorder, "settle")
    transport.on_message(RestDone(query[0], None, "unknown", gone), 4 * SECOND)
    assert not transport.poll(4 * SECOND) and "mm1-1" in transport.known_open
    for n, at in enumerate((5 * SECOND, 10 * SECOND), 1):
        _reconcile(transport, recorder, at)
        query = _calls(recorder, "settle")[-1]
        assert len(_calls(recorder, "settle")) == n + 1
        transport.on_message(RestDone(query[0], None, "unknown", gone), at + 1)
        events = transport.poll(at + 1)
    assert Reported(ReconcileResult(  # type: ignore[arg-type]
        "mm1-1", VenueOrderStatus.NOT_FOUND)) in events
    assert "mm1-1" not in transport.known_open
    _reconcile(transport, recorder, 15 * SECOND)
    assert len(_calls(recorder, "settle")) == 3
