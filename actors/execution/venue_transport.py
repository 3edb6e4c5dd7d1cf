"""The venue adapter contract: what a `VenueTransport` must do for the generic `VenueConnection`.

A venue connection has two halves. `actors.execution.venue_connection.VenueConnection` is the
generic half, the same for every venue: order state machines and routing
(`actors.execution.venue_session`), journal records of what was sent and answered, the
tick-to-trade and acknowledgement metrics, observe mode's shadow acks, the answers to the
`ActionBudget` and the first reconciliation that lets trading start. A transport is the other
half, one per venue kind: it puts requests on the venue's wire and turns what comes back into
the events below. The simulated venue is one (`actors.sim.venue.SimTransport`: matching,
latency, 429 emulation), `actors.execution.mock_transport.MockTransport` another (it acks
everything, for tests), and a real adapter is a codec (`protocols.venues`), a transport
(`supervision/venues/`, over trio-websocket and ccxt) and one entry in the node's venue registry
(`supervision.node.venues`). The shape is httpcore's `_backends/`: one small interface, several
implementations and a mock, chosen at construction.

A transport is sans-I/O, like every behaviour: no sockets, threads, sleeps or clock reads in it.
Time comes in as `now_ns` (the connection's monotonic clock) and randomness as the `rng` given
to `open`. A real adapter reaches its I/O (a trio task with a websocket, a blocking actor that
runs ccxt) through refs or channels given at construction, and that I/O answers with messages
to the connection actor, which hands them to `on_message`. Whatever the transport learns comes
out of `poll`, in order, as events.

Methods (the connection calls them from its own actor, one call at a time):

| method                                  | need     | what it must do                            |
|-----------------------------------------|----------|--------------------------------------------|
| `open(now_ns, rng)`                     | required | start: load instruments (may queue a       |
|                                         |          | `SpecUpdate` per instrument), connect      |
| `send(request, now_ns)`                 | required | put one request on the wire: one intent or |
|                                         |          | a batch (`SendActions.batch`), already paid|
|                                         |          | for in rate limit by the budget            |
| `cancel_all(request, open_ids, now_ns)` | required | cancel what rests on `request.instrument`  |
|                                         |          | (None: everywhere): a venue endpoint, or   |
|                                         |          | one cancel per id of `open_ids` (what the  |
|                                         |          | connection believes is open); with         |
|                                         |          | `request.strategy`, only `open_ids`        |
| `reconcile(now_ns)`                     | required | fetch the account's positions; answer with |
|                                         |          | `VenuePositions` (the first one, at start, |
|                                         |          | lets trading begin)                        |
| `poll(now_ns)`                          | required | hand over every event due by `now_ns`, in  |
|                                         |          | the order they arrived; never block        |
| `next_due_ns()`                         | optional | when `poll` will next have something with  |
|                                         |          | no new input (a simulated delay line);     |
|                                         |          | default None: only after input             |
| `on_message(message, now_ns)`           | optional | input meant for the transport (its I/O     |
|                                         |          | task's frames, a source's `FeedEvent`);    |
|                                         |          | True if taken. Default: nothing is         |
| `resync(instrument, reason, now_ns)`    | optional | a book lost its thread: queue a fresh      |
|                                         |          | snapshot as `MarketData`. Default: nothing |
|                                         |          | (a venue that streams full snapshots)      |
| `echo(event, now_ns)`                   | optional | observe mode's shadow answers: hand        |
|                                         |          | `event` back from `poll` as if it had come |
|                                         |          | from the venue. Default: not taken, the    |
|                                         |          | connection routes it at once               |
| `state()`, `snapshot()`                 | optional | the `GetVenueState` answer and the actor's |
|                                         |          | snapshot, as plain dicts. Default: empty   |
| `attach(self_ref)`                      | optional | before `open`: the connection's own ref,   |
|                                         |          | where a real adapter's I/O tells what it   |
|                                         |          | reads. Default: nothing                    |
| `close()`                               | optional | the connection stops: end the I/O (a       |
|                                         |          | restart builds a fresh transport). Default:|
|                                         |          | nothing                                    |

Events out of `poll` (the connection routes each by its type, stamping `recv_ns`):
- `Reported(report, mid_x2)`: an execution report (`protocols.orders.VenueReport`) -> the
  order's state machine, then its owner, the journal, and the portfolio for a fill;
- `TimedOut(intent)`: a request went out and no answer came in time -> UNKNOWN (see below);
- `RequestAccepted`, `RateLimited`, `Banned`, `VenueUsage` (`protocols.venue_state`) -> the
  action budget (`VenueUsage`: the venue's own count of the rate limit spent, adopted);
- `VenueRequest(key, weight, exit)` -> the action budget: a request of the transport's own
  (a snapshot, a reconciliation, a look-up, a cancel-all sweep) to be paid for before it
  goes; the budget's `RequestCleared(key)` comes back through `on_message`, and only then is
  it sent. A budget that (re)starts says `BudgetOpened`, also through `on_message`: ask again
  for whatever still waits (its predecessor's queue is gone). A transport that asks for
  nothing (the simulated venue, the mock) never sees either;
- `MarketData(instrument, message)`: a parsed venue message -> `OrderBook[instrument]`;
- `SpecUpdate`, `StatusUpdate`, `OracleUpdate`, `OpenInterestCap`, `FundingUpdate` ->
  `Market[instrument]`;
- `VenuePositions` -> the portfolio (the first one also tells the watchers `VenueReconciled`);
- `PositionAdopted` (`protocols.portfolio`): the position the account held at start, which the
  portfolio opens at (queue it before the `VenuePositions` it was read with) -> the portfolio
  and the journal;
- `ResyncRequest` -> the market source upstream of a simulated venue (its own book lost the
  thread and only the source can give it a fresh one);
- `Counted(metric, labels)`: a transport's own counter (reconnects, resyncs, odd frames);
- `Gauged(metric, value, labels)`: a transport's own gauge (a clock's drift from the venue's);
- `VenueOrder(intent, acked)`: at `open` after a reconnect, an order the venue holds that an
  earlier incarnation sent -> the order state machines, owned by nobody (the node's restart of
  the connection cancels every order, and a cancel-all takes these too).

What every transport must guarantee:
1. Idempotent client order ids. The intent's `client_order_id` goes to the venue unchanged as
   the venue's own client id (`newClientOrderId`, `cloid`) on every attempt, and every report
   carries it back (a venue order id is mapped back to it). A transport never invents an id and
   never resends under a new one: a resend after a timeout reuses the id, so the venue refuses
   a duplicate (`RejectCode.DUPLICATE_CLIENT_ORDER_ID`, which the state machine reads as "it
   exists") instead of trading twice.
2. A timeout is UNKNOWN, never REJECTED. A request whose answer did not come in time (a network
   error, a lost response) is reported as `TimedOut(intent)`, never as a `Reject`: the order
   may well rest at the venue. `Reject` is only for the venue's explicit "no", with its reason
   mapped to a `RejectCode` (and the venue's words in `message`).
3. Report ordering. Reports of one order come out of `poll` in the order the venue produced
   them (a connection is one ordered stream); across channels the venue may race them (a fill
   before its ack, a fill after a cancel ack), and duplicates may come: the order state machine
   is built for both. A fill's `fill_id` is the venue's trade id, the key that counts it once.
4. One budget answer per answered request: `RateLimited` (with the venue's Retry-After) or
   `Banned` when throttled, else `RequestAccepted`. A throttled request also refuses each of
   its intents with `RATE_LIMITED` (`throttled_reports` builds them), so their owners know.
5. Money stays exact: prices and quantities in integer ticks and lots of the instrument's spec,
   fees as Decimal, as `protocols.orders` defines them; never a float.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Sequence
from typing import Any

import attrs

from protocols.orders import (
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Intent,
    OrderIntent,
    Reject,
    RejectCode,
    VenueReport,
)
from protocols.portfolio import VenuePositions
from protocols.venue_state import (
    Banned,
    CancelAllOrders,
    FundingUpdate,
    OpenInterestCap,
    OracleUpdate,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
    StatusUpdate,
    VenueRequest,
    VenueUsage,
)

__all__ = [
    "BudgetAnswer",
    "Counted",
    "Gauged",
    "MarketData",
    "MarketUpdate",
    "Reported",
    "TimedOut",
    "TransportEvent",
    "VenueOrder",
    "VenueTransport",
    "throttled_reports",
]


@attrs.frozen(slots=True)
class Reported:
    """An execution report. `mid_x2` is the venue-side mid when a fill happened, if the
    transport knows it (the simulated venue does; a real one leaves it None)."""

    report: VenueReport
    mid_x2: int | None = None


@attrs.frozen(slots=True)
class TimedOut:
    """`intent` went out and its answer did not come in time: its order becomes UNKNOWN until a
    report or a reconciliation says more. Never a rejection (guarantee 2)."""

    intent: Intent


@attrs.frozen(slots=True)
class MarketData:
    """A parsed venue message (`protocols.venues`) for `OrderBook[instrument]`. `recv_ns`: when
    the adapter's I/O read the frame (monotonic), so freshness and tick-to-trade start at the
    socket; None: the connection's time when it routes the message. Later than the poll's
    `now`: the data is still on its way (a simulated wire hands it over when it leaves the
    venue), and the connection tells it to the book to land then (`Context.tell_at`)."""

    instrument: str
    message: Any
    recv_ns: int | None = None


@attrs.frozen(slots=True)
class Counted:
    """One increment of a transport's own counter; `labels` as (name, value) pairs."""

    metric: str
    labels: tuple[tuple[str, str], ...] = ()


@attrs.frozen(slots=True)
class Gauged:
    """A transport's own gauge set to `value`; `labels` as (name, value) pairs."""

    metric: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@attrs.frozen(slots=True)
class VenueOrder:
    """An order the venue holds (or still reports on) that this connection never sent: a
    previous incarnation did, before a reconnect. The connection tracks it, owned by nobody, so
    its reports still reach the journal and its fills the portfolio, and a cancel-all takes it.
    `acked`: the venue has acknowledged it and that answer is not still on its way."""

    intent: OrderIntent
    acked: bool = True


BudgetAnswer = RequestAccepted | RateLimited | Banned | VenueUsage | VenueRequest
MarketUpdate = SpecUpdate | StatusUpdate | OracleUpdate | OpenInterestCap | FundingUpdate
TransportEvent = (Reported | TimedOut | MarketData | Counted | Gauged | BudgetAnswer
                  | MarketUpdate | VenuePositions | VenueOrder | Any)
"""What `poll` returns; `Any` because a simulated venue also asks its source for a snapshot
(`protocols.feed.ResyncRequest`). The connection counts an event it cannot route."""


def throttled_reports(intents: Sequence[Intent], message: str,
                      venue_ns: int | None) -> list[VenueReport]:
    """The refusal of every intent of a throttled request: `CancelReject` for a cancel, `Reject`
    for a new order or a replace, all RATE_LIMITED with the venue's words in `message`."""
    out: list[VenueReport] = []
    for intent in intents:
        cid = intent.client_order_id
        out.append(
            CancelReject(cid, CancelRejectCode.RATE_LIMITED, message, venue_ns=venue_ns)
            if isinstance(intent, CancelIntent)
            else Reject(cid, RejectCode.RATE_LIMITED, message, venue_ns=venue_ns))
    return out


class VenueTransport(abc.ABC):
    """One venue's wire, as the generic connection sees it. See the module docstring for what
    each method must guarantee; the optional ones have working defaults here."""

    # -- required ------------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self, now_ns: int, rng: random.Random) -> None:
        """Start: build what the venue needs, queue a `SpecUpdate` per instrument if known."""

    @abc.abstractmethod
    def send(self, request: SendActions, now_ns: int) -> None:
        """Put one request on the wire: `request.batch.intents` in one venue call if the venue
        batches, with their client order ids unchanged."""

    @abc.abstractmethod
    def cancel_all(self, request: CancelAllOrders, open_ids: Sequence[str],
                   now_ns: int) -> None:
        """Cancel what rests on `request.instrument` (None: every instrument). `open_ids` is
        what the connection believes is open there, for a venue without a cancel-all call.
        With `request.strategy` set, cancel exactly `open_ids` (that strategy's orders): a
        venue's cancel-all would take the other strategies' orders too."""

    @abc.abstractmethod
    def reconcile(self, now_ns: int) -> None:
        """Fetch the account's positions; answer with a `VenuePositions` event."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> list[TransportEvent]:
        """Every event due by `now_ns`, in arrival order; an empty list if none."""

    # -- optional ------------------------------------------------------------------------------
    def next_due_ns(self) -> int | None:
        """When `poll` will next have an event with no new input; None: only after input."""
        return None

    def on_message(self, message: Any, now_ns: int) -> bool:
        """Take a message meant for the transport; False if it is not one."""
        return False

    def resync(self, instrument: str, reason: str, now_ns: int) -> None:
        """A book asks for a fresh snapshot: queue one as `MarketData`. Default: nothing, for
        venues that stream full snapshots (the next one cures the book)."""
        return None

    def echo(self, event: TransportEvent, now_ns: int) -> bool:
        """Take `event` to return it from a later `poll` as if the venue had sent it (observe
        mode's shadow answers, delayed like real ones). Default False: not taken, the
        connection routes it at once."""
        return False

    def attach(self, self_ref: Any) -> None:
        """The connection's own ref, given before `open`: a real adapter's I/O tells it what it
        reads (frames, REST answers), and the connection hands those to `on_message`."""
        return None

    def close(self) -> None:
        """The connection is stopping: end the I/O this transport started."""
        return None

    def state(self) -> dict[str, Any]:
        """What a `GetVenueState` ask answers: positions, open orders, statistics if known."""
        return {}

    def snapshot(self) -> dict[str, Any]:
        """A small summary for the actor's snapshot (introspection, the status line)."""
        return {}
