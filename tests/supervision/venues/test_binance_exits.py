"""Exits never queue behind new orders (`supervision.venues.binance.exits`): the transport's
two REST lanes, with each lane a queue that a test can hold unsent; and the worker's own
taking back of what it has not sent."""

from __future__ import annotations

import random
import threading
from typing import Any

from actors.execution.venue_transport import Counted, Reported
from protocols.codec import Side
from protocols.orders import (
    Batch,
    CancelAck,
    CancelIntent,
    OrderIntent,
    OrderType,
    Priority,
    Reject,
    RejectCode,
    ReplaceIntent,
)
from protocols.venue_state import CancelAllOrders, SendActions
from supervision.venues.binance.io import RestDone, RestWorker
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_transport import INFO, SPEC

ETH = "ETHUSDT"


class Lane:
    """A REST lane whose requests stay queued (unsent) until the test says."""

    def __init__(self) -> None:
        self.queued: list[tuple[Any, Any, dict[str, Any]]] = []

    def submit(self, tag: Any, method: Any, params: dict[str, Any] | None = None) -> None:
        self.queued.append((tag, method, dict(params or {})))

    def withdraw(self, wanted: Any) -> list[Any]:
        taken = [job[0] for job in self.queued if wanted(job[0])]
        self.queued = [job for job in self.queued if not wanted(job[0])]
        return taken

    def kinds(self) -> list[str]:
        return [job[0][0] for job in self.queued]


class Lanes:
    def __init__(self) -> None:
        self.rest, self.exits = Lane(), Lane()
        self.market = self.user = self

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Ref:
    def tell(self, message: Any) -> None:
        pass


def opened(dialect: str = "spot") -> tuple[BinanceTransport, Lanes]:
    lanes = Lanes()
    transport = BinanceTransport(BinanceSettings(
        "binance", dialect, "http://127.0.0.1:1", "ws://127.0.0.1:2",
        {"BTCUSDT": "BTCUSDT", ETH: ETH}, {"BTCUSDT": SPEC, ETH: SPEC}, api_key="k",
        api_secret="s"), lambda t, d: lanes)
    transport.attach(_Ref())
    transport.open(0, random.Random(1))
    transport.on_message(RestDone(("markets",), {
        "BTC/USDT": {"id": "BTCUSDT", "info": INFO},
        "ETH/USDT": {"id": ETH, "info": {**INFO, "symbol": ETH}}}), 1)
    transport.poll(1)
    lanes.rest.queued.clear()
    lanes.exits.queued.clear()
    return transport, lanes


def order(cid: str, instrument: str = "BTCUSDT", *, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(cid, instrument, Side.BUY, OrderType.LIMIT, 100, 6_000_000,
                       reduce_only=reduce_only)


def send(transport: BinanceTransport, *intents: Any, priority: Priority = Priority.NEW) -> None:
    transport.send(SendActions(Batch(priority, intents, len(intents)), (None,) * len(intents),
                               5), 5)


def reports(transport: BinanceTransport) -> list[Any]:
    return [e.report for e in transport.poll(6) if isinstance(e, Reported)]


def test_exits_go_on_their_own_lane_and_new_orders_on_the_other() -> None:
    transport, lanes = opened()
    send(transport, order("mm1-1"), order("mm1-2"))
    send(transport, order("mm1-3", reduce_only=True), priority=Priority.REDUCE_ONLY)
    send(transport, CancelIntent("mm1-9", "BTCUSDT"), priority=Priority.CANCEL)
    assert lanes.rest.kinds() == ["create", "create"]
    assert lanes.exits.kinds() == ["create", "cancel"]  # the reduce-only exit, the cancel
    assert lanes.exits.queued[0][0][1].client_order_id == "mm1-3"


def test_a_cancel_all_takes_back_the_new_orders_still_queued_and_sweeps_on_the_exits_lane(
) -> None:
    transport, lanes = opened()
    send(transport, order("mm1-1"), order("mm1-2", ETH))
    transport.resting["mm1-4"] = transport.resting.get("mm1-1")  # type: ignore[assignment]
    send(transport, ReplaceIntent("mm1-4", "BTCUSDT", 100, 6_000_100))
    assert lanes.rest.kinds() == ["create", "create", "replace"]
    transport.poll(5)
    transport.cancel_all(CancelAllOrders(None, "kill switch", 5), ["mm1-1", "mm1-2"], 5)
    assert lanes.rest.queued == []  # nothing of it will reach the venue after the kill switch
    assert [(job[0], job[2]["symbol"]) for job in lanes.exits.queued] == [
        (("cancel_all", "BTCUSDT"), "BTCUSDT"), (("cancel_all", ETH), ETH)]
    events = transport.poll(6)
    answered = [e.report for e in events if isinstance(e, Reported)]
    assert [(type(r), r.client_order_id) for r in answered] == [
        (CancelAck, "mm1-1"), (CancelAck, "mm1-2"), (Reject, "mm1-4")]
    assert "taken back before it was sent" in answered[2].message
    assert isinstance(answered[2], Reject) and answered[2].code is RejectCode.NOT_SENT
    assert "mm1-1" not in transport.known_open
    assert sorted(e.labels for e in events if isinstance(e, Counted)
                  and e.metric == "troupe_orders_withdrawn_total") == [
        (("venue", "binance"), ("kind", "new")), (("venue", "binance"), ("kind", "new")),
        (("venue", "binance"), ("kind", "replace"))]


def test_a_cancel_all_of_one_instrument_leaves_the_others_queued() -> None:
    transport, lanes = opened()
    send(transport, order("mm1-1"), order("mm1-2", ETH))
    transport.cancel_all(CancelAllOrders(ETH, "halt ETH", 5), ["mm1-2"], 5)
    assert [job[0][1].client_order_id for job in lanes.rest.queued] == ["mm1-1"]
    assert [(type(r), r.client_order_id) for r in reports(transport)] == [(CancelAck, "mm1-2")]


def test_a_cancel_of_a_new_order_still_queued_takes_it_back_and_sends_nothing() -> None:
    transport, lanes = opened()
    send(transport, order("mm1-1"), order("mm1-2"))
    send(transport, CancelIntent("mm1-2", "BTCUSDT"), CancelIntent("mm1-7", "BTCUSDT"),
         priority=Priority.CANCEL)
    assert [job[0][1].client_order_id for job in lanes.rest.queued] == ["mm1-1"]
    # mm1-7 is not queued here (sent, or an earlier run's): its cancel goes to the venue.
    assert [job[0][1].client_order_id for job in lanes.exits.queued] == ["mm1-7"]
    assert [(type(r), r.client_order_id) for r in reports(transport)] == [(CancelAck, "mm1-2")]


def test_usdm_a_batch_partly_in_scope_goes_again_without_the_orders_taken_back() -> None:
    transport, lanes = opened("usdm")
    send(transport, order("mm1-1"), order("mm1-2", ETH))
    assert lanes.rest.kinds() == ["batch"]
    transport.cancel_all(CancelAllOrders(ETH, "halt ETH", 5), ["mm1-2"], 5)
    (tag, _method, params), = lanes.rest.queued
    assert tag[0] == "batch" and [i.client_order_id for i in tag[1]] == ["mm1-1"]
    assert [item["newClientOrderId"] for item in params["batchOrders"]] == ["mm1-1"]
    assert [(type(r), r.client_order_id) for r in reports(transport)] == [(CancelAck, "mm1-2")]


class _SlowClient:
    """A ccxt stand-in whose first request blocks until released."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate, self.last_response_headers = gate, None
        self.calls: list[str] = []

    def fetch(self, params: dict[str, Any]) -> Any:
        self.calls.append(params["id"])
        self.gate.wait(5)
        return params["id"]


def test_the_worker_takes_back_only_what_it_has_not_sent() -> None:
    gate, answers = threading.Event(), []
    done = threading.Event()
    client = _SlowClient(gate)

    def deliver(answer: RestDone) -> None:
        answers.append(answer.value)
        if len(answers) == 2:
            done.set()

    worker = RestWorker(lambda: client, deliver)
    for n in range(4):
        worker.submit(("create", n), "fetch", {"id": n})
    while not client.calls:  # the first request is on the wire, blocked
        threading.Event().wait(0.001)
    assert worker.withdraw(lambda tag: tag[1] in (0, 1, 3)) == [("create", 1), ("create", 3)]
    gate.set()
    assert done.wait(5)
    worker.close()
    assert answers == [0, 2]  # the one on the wire was answered; the others never left


def test_a_replace_after_a_sweep_waits_behind_it_as_a_new_order_does() -> None:
    """A replace places an order too: sent on the order lane while its instrument's sweep is
    unanswered, it could reach the venue first. It goes behind the sweep, on the exits lane."""
    transport, lanes = opened()
    send(transport, order("mm1-1"))
    lanes.rest.queued.clear()  # it has left for the venue, and rests there
    transport.cancel_all(CancelAllOrders("BTCUSDT", "halt", 5), ["mm1-1"], 5)
    send(transport, ReplaceIntent("mm1-1", "BTCUSDT", 100, 6_000_100))
    assert lanes.exits.kinds() == ["cancel_all", "replace"]
    assert lanes.rest.kinds() == []
    transport.on_message(RestDone(("cancel_all", "BTCUSDT"), []), 6)
    send(transport, order("mm1-2"))
    transport.resting["mm1-3"] = transport.resting["mm1-2"]
    send(transport, ReplaceIntent("mm1-3", "BTCUSDT", 100, 6_000_200))
    assert lanes.rest.kinds()[-2:] == ["create", "replace"]  # answered: the order lane again


def test_new_orders_after_a_sweep_wait_behind_it_until_it_is_answered() -> None:
    """The budget sends a cancel-all before the new orders after it: on two lanes, a new order
    could reach the venue first and be swept. Until the sweep is answered, it goes behind it."""
    transport, lanes = opened()
    transport.cancel_all(CancelAllOrders("BTCUSDT", "halt", 5), [], 5)
    send(transport, order("mm1-1"))
    send(transport, order("mm1-2", ETH))
    assert lanes.exits.kinds() == ["cancel_all", "create"]  # BTCUSDT's, behind its sweep
    assert lanes.rest.kinds() == ["create"]  # ETHUSDT is not being swept
    transport.on_message(RestDone(("cancel_all", "BTCUSDT"), []), 6)
    send(transport, order("mm1-3"))
    assert lanes.rest.kinds()[-1] == "create"  # answered: the order lane again
    assert [job[0][1].client_order_id for job in lanes.rest.queued if job[0][0] == "create"] \
        == ["mm1-2", "mm1-3"]
