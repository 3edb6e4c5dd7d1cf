"""A USD-M modify whose answer is lost, against the fake venue over loopback with the real ccxt
client and the adapter's own I/O (its REST worker thread): the venue applies the modify and
never answers; the transport reports the replace UNKNOWN (`TimedOut`), never resends it, looks
the order up by its client id, and the order as the venue shows it settles the replace."""

from __future__ import annotations

import queue
import random
import time
from decimal import Decimal
from typing import Any

from actors.execution.venue_transport import Reported, TimedOut
from protocols.codec import Side
from protocols.orders import (
    Ack,
    Batch,
    OrderIntent,
    OrderType,
    Priority,
    ReplaceIntent,
    TimeInForce,
)
from protocols.venue_state import SendActions
from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.fakevenue.venue import btcusdt_spec
from supervision.venues.binance.adapter import BinanceIO
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.settings import BinanceSettings
from supervision.venues.binance.transport import BinanceTransport


class Inbox:
    """The connection actor's mailbox, as the transport's I/O sees it: `tell`."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()

    def tell(self, message: Any) -> None:
        self.messages.put(message)


def answered(transport: BinanceTransport, inbox: Inbox, kind: str, timeout: float = 10) -> list[
        Any]:
    """Feed the REST answers to the transport until one of `kind` came; what `poll` gave."""
    deadline, events = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            message = inbox.messages.get(timeout=0.1)
        except queue.Empty:
            continue
        if not isinstance(message, RestDone):
            continue  # frames: not what this test reads
        now = time.monotonic_ns()
        transport.on_message(message, now)
        events += transport.poll(now)
        if message.tag[0] == kind:
            return events
    raise AssertionError(f"no {kind} answer within {timeout}s: {events}")


def test_a_lost_usdm_modify_is_looked_up_and_settled_never_resent() -> None:
    fake = FakeVenue.binance(speed=20, dialect="usdm")
    with FakeVenueThread(fake) as urls:
        spec = btcusdt_spec(dialect="usdm")
        settings = BinanceSettings("binance", "usdm", urls["rest"], urls["ws"],
                                   {"BTCUSDT": "BTCUSDT"}, {"BTCUSDT": spec}, api_key="k",
                                   api_secret="s", timeout_s=0.5)
        transport = BinanceTransport(settings, lambda t, d: BinanceIO(settings, t, d))
        inbox = Inbox()
        transport.attach(inbox)
        transport.open(time.monotonic_ns(), random.Random(1))
        try:
            answered(transport, inbox, "markets")
            order = OrderIntent("mm1-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, 100_000,
                                5_000_000, TimeInForce.GTC)  # 0.001 BTC at 50000
            transport.send(SendActions(Batch(Priority.NEW, (order,), 1), (None,), 0), 0)
            answered(transport, inbox, "create")
            fake.faults.update({"lose_amend": 1})
            replace = ReplaceIntent("mm1-1", "BTCUSDT", 100_000, 5_010_000)
            transport.send(SendActions(Batch(Priority.NEW, (replace,), 1), (None,), 0), 0)
            assert answered(transport, inbox, "replace") == [TimedOut(replace)]
            events = answered(transport, inbox, "query")
        finally:
            transport.close()
        [body] = fake.desk.open_orders(None)
    # The venue applied it; the look-up saw so: the replace's Ack, its only answer.
    assert Decimal(body["price"]) == Decimal("50100") and fake.counts["lost_amends"] == 1
    reports = [e.report for e in events if isinstance(e, Reported)]
    assert [type(r) for r in reports] == [Ack], events
    assert fake.desk.replaces == {"mm1-1": 1}  # never resent
