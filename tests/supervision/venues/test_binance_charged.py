"""The Binance transport's own requests, paid by the action budget before they go (its I/O
replaced by a recorder): each one is asked for as a `VenueRequest` of Binance's weight, and goes
only once the budget's `RequestCleared` comes back; a budget that restarted (`BudgetOpened`)
is asked again for what waits; sweeps, paid with the CancelAllOrders, go at once."""

from __future__ import annotations

import random
from typing import Any

from protocols.venue_state import (
    BudgetOpened,
    CancelAllOrders,
    RequestCleared,
    VenueRequest,
)
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport
from tests.supervision.venues.test_binance_fills_transport import Client
from tests.supervision.venues.test_binance_transport import (
    BODY,
    INFO,
    SPEC,
    Recorder,
    Ref,
    intent,
    sent,
)

SECOND = 1_000_000_000


def _asks(events: list[Any]) -> list[VenueRequest]:
    return [e for e in events if isinstance(e, VenueRequest)]


def _kinds(recorder: Recorder) -> list[str]:
    return [c[0][0] for c in recorder.calls]


def charged() -> tuple[BinanceTransport, Recorder]:
    """A node's transport (it charges its requests), markets loaded, started and reconciled."""
    recorder = Recorder()
    transport = BinanceTransport(BinanceSettings(
        "binance", "spot", "http://x", "ws://y", {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": SPEC},
        api_key="k", api_secret="s", charge_requests=True), lambda t, d: recorder)
    transport.attach(Ref())
    transport.open(0, random.Random(1))
    assert recorder.calls == []  # nothing goes before the budget has paid for it
    asks = _asks(transport.poll(0))
    assert [(a.key, a.weight, a.exit) for a in asks] == [
        (("markets",), 20, False), (("listen_key",), 2, False)]
    for ask in asks:
        transport.on_message(RequestCleared(ask.key, 0), 0)
    assert _kinds(recorder) == ["markets", "listen_key"]
    transport.on_message(RestDone(("markets",), {"x": {"id": "BTCUSDT", "info": INFO}}), 1)
    [depth] = _asks(transport.poll(1))
    assert (depth.key, depth.weight) == (("depth", "BTCUSDT"), 50)  # 1000 levels
    transport.on_message(RequestCleared(depth.key, 1), 1)
    transport.reconcile(1)
    [reconcile] = _asks(transport.poll(1))
    # The open orders of every symbol, the account, and the trades of the one symbol due.
    assert reconcile.weight == 80 + 20 + 20
    transport.on_message(RequestCleared(reconcile.key, 1), 1)
    tag, fetch, params = recorder.calls[-1]
    transport.on_message(RestDone(tag, fetch(Client(), params)), 2)
    transport.poll(2)
    return transport, recorder


def test_every_request_of_the_adapters_own_waits_for_the_budget_to_pay() -> None:
    transport, recorder = charged()
    sent(transport, intent())  # an order: the budget paid for it already, it goes at once
    assert _kinds(recorder)[-1] == "create"
    transport.on_message(RestDone(("create", intent()), BODY), 3)
    transport.poll(3)
    transport.reconcile(5 * SECOND)  # mm1-1 is not listed: its look-up is weight 4
    [ask] = _asks(transport.poll(5 * SECOND))
    transport.on_message(RequestCleared(ask.key, 5 * SECOND), 5 * SECOND)
    tag, fetch, params = recorder.calls[-1]
    transport.on_message(RestDone(tag, fetch(Client(), params)), 5 * SECOND)
    [settle] = _asks(transport.poll(5 * SECOND))
    assert (settle.weight, settle.exit) == (4, False) and _kinds(recorder)[-1] == "reconcile"


def test_asking_twice_sends_once_and_a_restarted_budget_is_asked_again() -> None:
    transport, recorder = charged()
    transport.reconcile(5 * SECOND)
    transport.reconcile(6 * SECOND)  # still waiting: not asked again
    assert len(_asks(transport.poll(6 * SECOND))) == 1
    transport.on_message(BudgetOpened(7 * SECOND), 7 * SECOND)  # its queue is gone
    [again] = _asks(transport.poll(7 * SECOND))
    before = len(recorder.calls)
    transport.on_message(RequestCleared(again.key, 8 * SECOND), 8 * SECOND)
    transport.on_message(RequestCleared(again.key, 8 * SECOND), 8 * SECOND)  # a stale one
    assert _kinds(recorder)[before:] == ["reconcile"]


def test_sweeps_go_at_once_and_one_strategys_cancels_are_paid_as_exits() -> None:
    transport, recorder = charged()
    before = len(recorder.calls)
    transport.cancel_all(CancelAllOrders(None, "halt", 3), [], 3)
    assert _kinds(recorder)[before:] == ["cancel_all"]  # paid with the CancelAllOrders
    sent(transport, intent("mm1-2"))
    before = len(recorder.calls)
    transport.cancel_all(CancelAllOrders(None, "crashed", 4, "mm1"), ["mm1-2"], 4)
    assert len(recorder.calls) == before
    [ask] = _asks(transport.poll(4))
    assert (ask.weight, ask.exit) == (1, True)
    transport.on_message(RequestCleared(ask.key, 4), 4)
    assert recorder.calls[-1][0][0] == "cancel"
    assert recorder.calls[-1][2]["origClientOrderId"] == "mm1-2"
