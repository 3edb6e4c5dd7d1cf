"""MockTransport: a venue that answers at once and acks everything, unless a test says otherwise.

The smallest complete `VenueTransport` (`actors.execution.venue_transport`): for unit tests of
the generic connection and of anything above it, and the starting point of a real adapter, since
it shows every required method doing its job in a few lines. Like httpcore's mock backend, it is
chosen at construction:

    mock = MockTransport({"BTCUSDT": spec})
    connection = VenueConnection(ConnectionConfig("mock", {"BTCUSDT": spec}), mock, peers)

Each request is answered by the next `poll`: `RequestAccepted` for the budget, then one report per
intent: a new order is acked (venue order id "mock-<n>") and rests; a cancel of a resting order is
acked, of anything else refused as UNKNOWN_ORDER; a replace of a resting order is acked. A
cancel-all cancels what rests on the instrument, or for one strategy the ids the connection
gives. Scripts for the other paths:

- `refuse(cid, code)`: the next request carrying `cid` is refused with `code` (a `RejectCode`,
  or a `CancelRejectCode` for a cancel);
- `lose(cid)`: the next request carrying `cid` never gets an answer: `TimedOut`;
- `hold(cid)`: the next request carrying `cid` is in flight (no answer, nothing rests) until the
  connection is told `MockArrive(cid)`: it then reaches the venue and is answered as usual, after
  whatever was sent meanwhile (a slow gateway: a cancel can overtake the order it cancels);
- `throttle(retry_after_ns)`: the next request is throttled (429): `RateLimited`, and every
  intent refused as RATE_LIMITED;
- `fill(cid, qty, price)`: the venue fills a resting order (a maker fill, no fee); the order
  stops resting once filled in full.

What a venue sends unasked comes to the connection as messages, which it hands to the transport,
as a real adapter's I/O task does with its frames: tell the connection `MockFill(cid, qty, price)`
for a fill, or a `MarketData` for a book. `requests` keeps every request the mock was given, in
order, and `positions` is what `reconcile` answers with.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.venue_transport import (
    MarketData,
    Reported,
    TimedOut,
    TransportEvent,
    VenueTransport,
    throttled_reports,
)
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Fill,
    Intent,
    Liquidity,
    OrderIntent,
    Reject,
    RejectCode,
    VenueReport,
)
from protocols.portfolio import VenuePositions
from protocols.venue_state import (
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
)

__all__ = ["MockArrive", "MockFill", "MockTransport"]


@attrs.frozen(slots=True)
class MockFill:
    """To the connection: the mock venue fills `qty` lots of resting order `cid` at `price`."""

    client_order_id: str
    qty: int
    price: int


@attrs.frozen(slots=True)
class MockArrive:
    """To the connection: the request held for `client_order_id` (`hold`) reaches the venue."""

    client_order_id: str


class MockTransport(VenueTransport):
    def __init__(self, instruments: Mapping[str, InstrumentSpec] | None = None,
                 positions: VenuePositions | None = None) -> None:
        self.instruments = dict(instruments or {})
        self.positions = positions or VenuePositions((), (), 0)
        self.requests: list[SendActions | CancelAllOrders] = []
        self.resting: dict[str, OrderIntent] = {}
        self._filled: dict[str, int] = {}
        self._refusals: dict[str, RejectCode | CancelRejectCode] = {}
        self._lost: set[str] = set()
        self._in_flight: dict[str, Intent | None] = {}  # cid -> its request in flight (None: armed)
        self._throttle: tuple[int | None] | None = None  # (retry_after_ns,) once armed
        self._queue: list[TransportEvent] = []
        self._ids = itertools.count(1)

    # -- scripts -------------------------------------------------------------------------------
    def refuse(self, cid: str, code: RejectCode | CancelRejectCode) -> None:
        self._refusals[cid] = code

    def lose(self, cid: str) -> None:
        self._lost.add(cid)

    def hold(self, cid: str) -> None:
        self._in_flight[cid] = None

    def throttle(self, retry_after_ns: int | None) -> None:
        self._throttle = (retry_after_ns,)

    def fill(self, cid: str, qty: int, price: int, now_ns: int = 0) -> None:
        order = self.resting[cid]
        self._filled[cid] = filled = self._filled.get(cid, 0) + qty
        if filled >= order.qty:
            del self.resting[cid]
        fill_id = f"mock-fill-{next(self._ids)}"
        self._queue.append(Reported(Fill(cid, fill_id, qty, price, Decimal(0), Liquidity.MAKER,
                                         venue_ns=now_ns)))

    # -- the adapter contract ------------------------------------------------------------------
    def open(self, now_ns: int, rng: random.Random) -> None:
        self._queue += [SpecUpdate(spec, now_ns) for spec in self.instruments.values()]

    def send(self, request: SendActions, now_ns: int) -> None:
        self.requests.append(request)
        intents = request.batch.intents
        if self._throttle is not None:
            (retry,), self._throttle = self._throttle, None
            self._queue.append(RateLimited(retry, 0))
            self._queue += [Reported(r) for r in throttled_reports(intents, "429", now_ns)]
            return
        for intent in intents:
            if self._in_flight.get(intent.client_order_id, False) is None:
                self._in_flight[intent.client_order_id] = intent
        intents = tuple(i for i in intents if self._in_flight.get(i.client_order_id) is not i)
        answered = [i for i in intents if i.client_order_id not in self._lost]
        self._queue += [TimedOut(i) for i in intents if i.client_order_id in self._lost]
        self._lost -= {i.client_order_id for i in intents}
        if answered:
            self._queue.append(RequestAccepted(0))
        self._queue += [Reported(self._answer(i, now_ns)) for i in answered]

    def cancel_all(self, request: CancelAllOrders, open_ids: Sequence[str],
                   now_ns: int) -> None:
        self.requests.append(request)
        self._queue.append(RequestAccepted(0))
        for cid, order in list(self.resting.items()):
            in_scope = (cid in open_ids if request.strategy is not None  # one owner's: by id
                        else request.instrument in (None, order.instrument))
            if in_scope:
                del self.resting[cid]
                self._queue.append(Reported(CancelAck(cid, venue_ns=now_ns)))

    def reconcile(self, now_ns: int) -> None:
        self._queue.append(self.positions)

    def on_message(self, message: Any, now_ns: int) -> bool:
        if isinstance(message, MockFill):
            self.fill(message.client_order_id, message.qty, message.price, now_ns)
        elif isinstance(message, MockArrive):
            intent = self._in_flight.pop(message.client_order_id, None)
            if intent is not None:
                self._queue += [RequestAccepted(0), Reported(self._answer(intent, now_ns))]
        elif isinstance(message, MarketData):
            self._queue.append(message)
        else:
            return False
        return True

    def poll(self, now_ns: int) -> list[TransportEvent]:
        out, self._queue = self._queue, []
        return out

    def state(self) -> dict[str, Any]:
        return {"open_orders": sorted(self.resting), "requests": len(self.requests)}

    # -- internals -----------------------------------------------------------------------------
    def _answer(self, intent: Intent, now_ns: int) -> VenueReport:
        cid = intent.client_order_id
        refusal = self._refusals.pop(cid, None)
        if isinstance(intent, CancelIntent):
            if isinstance(refusal, CancelRejectCode):
                return CancelReject(cid, refusal, "refused by script", venue_ns=now_ns)
            if self.resting.pop(cid, None) is None:
                return CancelReject(cid, CancelRejectCode.UNKNOWN_ORDER, "not resting",
                                    venue_ns=now_ns)
            return CancelAck(cid, venue_ns=now_ns)
        if isinstance(refusal, RejectCode):
            return Reject(cid, refusal, "refused by script", venue_ns=now_ns)
        if isinstance(intent, OrderIntent):
            self.resting[cid] = intent
            return Ack(cid, f"mock-{next(self._ids)}", venue_ns=now_ns)
        if cid not in self.resting:
            return Reject(cid, RejectCode.UNKNOWN_ORDER, "not resting", venue_ns=now_ns)
        return Ack(cid, venue_ns=now_ns)
