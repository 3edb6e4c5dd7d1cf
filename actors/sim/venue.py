"""The embedded simulated venue, as a venue transport: `SimTransport`, and `SimVenue`, the
generic venue connection over it.

    source --FeedEvent--> SimVenue --FeedEvent (after feed latency)--> OrderBook[instrument]
    ActionBudget --SendActions / CancelAllOrders--> SimVenue --RateLimited, RequestAccepted--> it
    SimVenue --Ack / Reject / Fill / CancelAck / ...--> the owner (strategy) of each order
    SimVenue --OwnFill--> Portfolio;  --VenuePositions (every reconcile interval)--> Portfolio
    SimVenue --SpecUpdate (at start)--> Market[instrument];  OrderBook --ResyncRequest--> SimVenue

`SimVenue` is `actors.execution.venue_connection.VenueConnection` (order state machines, routing,
journal records, metrics, observe mode's shadow acks: the same on every venue) over a
`SimTransport`, which plays the venue's end of the wire and keeps the adapter contract of
`actors.execution.venue_transport`. The venue end is `actors.sim.exchange.SimExchange` (matching,
queue position, balances, refusals) fed with the market flow at *venue* time, the moment a
source emits it, through a venue-side copy of each book (`actors.market.book_feed.BookFeed`).
Between the two ends, `actors.sim.latency`: a request reaches the matching engine `insert` (or
`cancel`) later, its reports come back `ack` later, market data reaches our books `feed` later.
So a quote cannot fill before it has arrived, our books always lag the venue, and a fill can
still come back after we sent a cancel: the race a live bot lives with. Market data for our
books does not wait in the delay line unless a market state (`actors.sim.market_state`: oracle,
status, faults) shares its path: it is handed to the connection as it leaves the venue, stamped
with its arrival time (FIFO per instrument, as the line would order it), and travels as a timed
tell (`Context.tell_at`), so a backtest spends no wake of the connection per event.
Observe mode's shadow acks come back an `ack` latency later too (`SimTransport.echo`).

Rate-limit emulation: past `rate_limit` (a token bucket of request weight, checked when a request
arrives) the venue answers 429 with a Retry-After: `RateLimited` to the budget and a
RATE_LIMITED refusal for every intent in the request, so the budget's backoff and priorities are
exercised as a real venue would exercise them.

The venue outlives our connection to it: the exchange, its books, its account, its fill ids and
the wire live in a `SimVenueEnd`, which the node builds once (`supervision.node.venues`); a
restarted connection gets a fresh `SimTransport` on the same end. On that reattach, requests the
dead connection had on the wire reach the matching engine at once, and the new connection is
told every order the venue holds or still reports on (`VenueOrder`), as a real venue's
reconciliation would tell it.

Snapshots: the venue answers a book's `ResyncRequest` like a REST depth call, with a snapshot of
its own book (after an ack latency). Recorded REST snapshot lines are consumed at the venue end
only: a snapshot is an answer to a request, not part of the stream. When the venue's own book
loses the thread, it asks its source for a fresh one (`ResyncRequest`, to `VenuePeers.source`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import attrs

from actors.execution.token_bucket import TokenBucket
from actors.execution.venue_connection import VenueConnection, VenuePeers
from actors.execution.venue_transport import (
    Counted,
    MarketData,
    Reported,
    TransportEvent,
    VenueTransport,
    throttled_reports,
)
from actors.market.book_feed import BookFeed
from actors.sim.exchange import SimExchange
from actors.sim.latency import DelayLine, Path
from actors.sim.venue_end import SimVenueConfig, SimVenueEnd, VenueRateLimit
from protocols.codec import Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.orders import (
    CancelIntent,
    Fill,
    OrderIntent,
    VenueReport,
)
from protocols.venue_state import (
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
)
from protocols.venues import binance, hyperliquid

__all__ = ["SimTransport", "SimVenue", "SimVenueConfig", "SimVenueEnd", "VenueRateLimit"]

SECOND = 1_000_000_000
_TOO_MANY = "-1003 Too many requests"  # Binance's words for a 429


class SimVenue(VenueConnection):
    """The generic venue connection over a `SimTransport`: the node's paper venue."""

    def __init__(self, config: SimVenueConfig, peers: VenuePeers) -> None:
        super().__init__(config.connection_config(), SimTransport(config), peers)


@attrs.frozen(slots=True)
class _Arrival:
    """A request reaching the matching engine."""

    request: SendActions


@attrs.frozen(slots=True)
class _CancelAllArrival:
    request: CancelAllOrders
    open_ids: tuple[str, ...]


class SimTransport(VenueTransport):
    """Our end of the wire to a `SimVenueEnd`: latency, 429s, snapshots. A fresh transport
    (a restarted connection) attaches to the same venue end: the exchange keeps its orders,
    balances, books and fill ids, as a real venue does across our reconnects."""

    def __init__(self, config: SimVenueConfig, end: SimVenueEnd | None = None) -> None:
        self.config = config
        self.end = end if end is not None else SimVenueEnd(config)
        self._now: list[TransportEvent] = []  # handed over at the next poll, before the line
        self._line = self.end.delay  # the venue end's, read on every event: no property hop

    # The venue end's state, read through the transport (tests and introspection know it so).
    @property
    def delay(self) -> DelayLine:
        return self.end.delay

    @property
    def feeds(self) -> dict[str, BookFeed]:
        return self.end.feeds

    @property
    def exchange(self) -> SimExchange | None:
        return self.end.exchange

    @property
    def bucket(self) -> TokenBucket | None:
        return self.end.bucket

    @property
    def resync_pending(self) -> set[str]:
        return self.end.resync_pending

    @property
    def rng(self) -> random.Random:
        return self.end.rng

    # -- the adapter contract ------------------------------------------------------------------
    def open(self, now_ns: int, rng: random.Random) -> None:
        end = self.end
        if end.exchange is None:
            end.open(now_ns, rng)
        else:
            self._reattach(now_ns)
        if end.market is not None:  # the spec in force, status, cap and funding
            self._now.extend(end.market.opening(now_ns))
        else:
            self._now.extend(SpecUpdate(spec, now_ns) for spec in end.specs)

    def _reattach(self, now_ns: int) -> None:
        """A new connection to a running venue. The requests the last one put on the wire
        reach the matching engine now (the old socket flushed them before it dropped), so
        nothing it sent can arrive after a cancel-all of ours; then the new connection learns
        every order the venue holds or still reports on, before any report reaches it."""
        requests = self.delay.take(lambda i: isinstance(i, _Arrival | _CancelAllArrival))
        for item in requests:
            if isinstance(item, _Arrival):
                self._arrive(item.request, now_ns)
            else:
                self._arrive_cancel_all(item, now_ns)
        self._now.extend(self.end.held_for())
        self._now.append(Counted("troupe_sim_reconnects_total"))

    def send(self, request: SendActions, now_ns: int) -> None:
        cancels = all(isinstance(i, CancelIntent) for i in request.batch.intents)
        self._push(now_ns, Path.CANCEL if cancels else Path.INSERT, _Arrival(request))

    def cancel_all(self, request: CancelAllOrders, open_ids: Sequence[str],
                   now_ns: int) -> None:
        self._push(now_ns, Path.CANCEL, _CancelAllArrival(request, tuple(open_ids)))

    def reconcile(self, now_ns: int) -> None:
        # The positions as they are now, answered an ack latency later.
        self._push(now_ns, Path.ACK, self._exchange.positions())

    def poll(self, now_ns: int) -> list[TransportEvent]:
        line = self._line
        first_due = line.next_due()
        if not self._now and (first_due is None or first_due > now_ns):
            return []  # the common case: the connection polls after every message
        out, self._now = self._now, []
        # An arrival can cause more (a request makes reports), so loop until the line holds
        # nothing due now.
        while due := line.pop_due(now_ns):
            for item in due:
                if isinstance(item, _Arrival):
                    self._arrive(item.request, now_ns)
                elif isinstance(item, _CancelAllArrival):
                    self._arrive_cancel_all(item, now_ns)
                else:
                    out.append(item)
        return out

    def _arrive_cancel_all(self, item: _CancelAllArrival, now_ns: int) -> None:
        if not self._admit(1, now_ns):
            return
        self._push(now_ns, Path.ACK, RequestAccepted(0), fifo="ack")
        exchange, request = self._exchange, item.request
        if request.strategy is None:
            reports = exchange.cancel_all(request.instrument, now_ns)
        else:  # one strategy's orders, by id: the venue's cancel-all would take them all
            reports = exchange.cancel_ids(item.open_ids, now_ns)
        self._report(reports, now_ns, None)

    def next_due_ns(self) -> int | None:
        return self._line.next_due()

    def on_message(self, message: Any, now_ns: int) -> bool:
        if not isinstance(message, FeedEvent):
            return False
        self._on_feed(message, now_ns)
        return True

    def resync(self, instrument: str, reason: str, now_ns: int) -> None:
        feed = self.feeds.get(instrument)
        if feed is None or feed.config.venue != "binance":
            return  # Hyperliquid streams full snapshots: the next one cures the book
        self.resync_pending.add(instrument)
        if feed.healthy:
            self._answer_resyncs(instrument, now_ns)

    def echo(self, event: TransportEvent, now_ns: int) -> bool:
        self._push(now_ns, Path.ACK, event, fifo="ack")
        return True

    def state(self) -> dict[str, Any]:
        exchange = self._exchange
        return {"positions": exchange.positions(), "open_orders": exchange.open_orders(),
                "statistics": exchange.statistics(), "in_flight": len(self.delay)}

    def snapshot(self) -> dict[str, Any]:
        if self.exchange is None:
            return {"started": False}
        return {"open_orders": len(self.exchange.open_orders()), "in_flight": len(self.delay),
                "books": {n: f.sync.state.value for n, f in self.feeds.items()}}

    @property
    def _exchange(self) -> SimExchange:
        assert self.exchange is not None, "open builds the exchange"
        return self.exchange

    # -- market flow: the venue end, then our books ---------------------------------------------
    def _on_feed(self, event: FeedEvent, now: int) -> None:
        end, instrument = self.end, event.instrument  # the venue end's state, read once
        feed = end.feeds.get(instrument)
        if feed is None:
            self._now.append(Counted("troupe_sim_ignored_total", (("kind", "unknown_instrument"),)))
            return
        message = event.message
        kind = type(message)
        if kind is hyperliquid.AssetCtx:  # a recorded context, not a book
            self._on_context(instrument, message, now)
            return
        # One conversion of the depth levels and trades: the venue's copy and our book take the
        # same integers (a converted message, from a catalog or the raw replay, is taken as is).
        if kind is not binance.TradeInUnits and kind is not binance.DepthDiffInUnits:
            message = feed.in_units(message)
            kind = type(message)
        exchange = self._exchange
        mid, venue_ns = None, None
        if kind is binance.TradeInUnits and feed.takes_units(message):
            # A print changes no book: straight to the matching engine (the venue's feed would
            # only wrap it in a TradePrint).
            self._report(exchange.on_trade(instrument, message.price, message.qty,
                                           message.aggressor, now), now, feed)
        else:
            step = feed.on_message(message, now, now)
            if step.resync is not None:
                # The venue's own copy lost the thread: only the source can give it a fresh book.
                self._now.append(ResyncRequest(instrument, step.resync))
                self._now.append(Counted("troupe_sim_venue_resyncs_total",
                                         (("reason", step.resync),)))
            reports: list[VenueReport] = []
            if step.applied and feed.healthy:
                reports += exchange.on_depth_change(instrument, now)
            for trade in step.trades:
                reports += exchange.on_trade(instrument, trade.price, trade.qty,
                                             trade.aggressor, now)
            if reports:
                self._report(reports, now, feed)
            if kind is binance.DepthSnapshot:
                self._answer_resyncs(instrument, now)
                return  # a REST answer, not a stream message: books get their own on request
            if step.applied and feed.healthy:
                mid = feed.sync.book.mid_x2
            venue_ns = step.venue_ns
        market = end.market
        fifo = ("feed", instrument)
        if market is None:
            # Nothing else travels on this path: the data goes now, stamped with its arrival,
            # and the connection tells it to land then (no wake of the connection per event).
            self._now.append(MarketData(instrument, message, self._due(now, Path.FEED, fifo)))
        else:
            # The asset context, and what a fault does to our books. Its updates and the data
            # share the path: the delay line keeps them in order.
            for update in market.on_book(instrument, mid, venue_ns, now):
                self._push(now, Path.FEED, update, fifo=fifo)
            message = market.feed(instrument, message, now)
            if message is None:
                return
            self._push(now, Path.FEED, MarketData(instrument, message), fifo=fifo)
        if instrument in end.resync_pending and feed.healthy:
            self._answer_resyncs(instrument, now)

    def _on_context(self, instrument: str, ctx: hyperliquid.AssetCtx, now: int) -> None:
        market = self.end.market
        for update in [] if market is None else market.on_context(instrument, ctx, now):
            self._push(now, Path.FEED, update, fifo=("feed", instrument))

    def _answer_resyncs(self, instrument: str, now: int) -> None:
        if instrument not in self.resync_pending:
            return
        feed = self.feeds[instrument]
        if not feed.healthy:
            return
        self.resync_pending.discard(instrument)
        self._push(now, Path.ACK, MarketData(instrument, _snapshot_of(feed)),
                   fifo=("rest", instrument))

    # -- requests at the venue end --------------------------------------------------------------
    def _arrive(self, send: SendActions, now: int) -> None:
        """A request reaches the matching engine."""
        if not self._admit(send.batch.weight, now):
            for report in throttled_reports(send.batch.intents, _TOO_MANY, now):
                self._push(now, Path.ACK, Reported(report), fifo="ack")
            return
        self._push(now, Path.ACK, RequestAccepted(0), fifo="ack")
        exchange = self._exchange
        reports: list[tuple[VenueReport, BookFeed | None]] = []
        for intent in send.batch.intents:
            if not isinstance(intent, CancelIntent):
                self.end.remember(intent)
            if isinstance(intent, CancelIntent):
                caused = exchange.cancel(intent, now)
            elif isinstance(intent, OrderIntent):
                caused = exchange.submit(intent, now)
            else:
                caused = exchange.replace(intent, now)
            feed = self.feeds.get(intent.instrument)
            reports += ((report, feed) for report in caused)
        for report, feed in reports:
            self._report([report], now, feed)

    def _admit(self, weight: int, now: int) -> bool:
        bucket, rl = self.bucket, self.config.rate_limit
        if bucket is None or rl is None:
            return True
        wait = bucket.wait_ns(weight, now)
        if wait == 0:
            bucket.spend(weight, now)
            return True
        retry = max(rl.retry_after_ns, wait)
        self._push(now, Path.ACK, RateLimited(retry, 0), fifo="ack")
        return False

    def _report(self, reports: list[VenueReport], now: int, feed: BookFeed | None) -> None:
        for report in reports:
            # The mid when a fill happened, from the venue-side book: what a markout starts at.
            mid = feed.sync.book.mid_x2 if isinstance(report, Fill) and feed is not None else None
            self._push(now, Path.ACK, Reported(report, mid), fifo="ack")

    # -- delivery ------------------------------------------------------------------------------
    def _push(self, now: int, path: Path, item: Any, fifo: Any = None) -> None:
        latency = self.config.latency.draw(path, self.end.rng)
        self._line.push(now + latency, item, fifo_key=fifo if fifo is not None else path)

    def _due(self, now: int, path: Path, fifo: Any) -> int:
        latency = self.config.latency.draw(path, self.end.rng)
        return self._line.stamp(now + latency, fifo)


def _snapshot_of(feed: BookFeed) -> binance.DepthSnapshot:
    """The venue-side book as a REST depth answer, in the venue's decimal strings."""
    book, tick, lot = feed.sync.book, feed.tick, feed.lot
    sync = feed.sync
    last_id = getattr(sync, "last_update_id", 0)

    def levels(side: Side) -> tuple[tuple[str, str], ...]:
        return tuple((str(p * tick), str(q * lot))
                     for p, q in book.depth(side, book.level_count(side)))

    return binance.DepthSnapshot(last_id, levels(Side.BUY), levels(Side.SELL))
