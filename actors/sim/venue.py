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
source emits it, through a venue-side copy of each book (`actors.market.book_actor.BookFeed`).
Between the two ends, `actors.sim.latency`: a request reaches the matching engine `insert` (or
`cancel`) later, its reports come back `ack` later, market data reaches our books `feed` later.
So a quote cannot fill before it has arrived, our books always lag the venue, and a fill can
still come back after we sent a cancel: the race a live bot lives with. Observe mode's shadow
acks come back an `ack` latency later too (`SimTransport.echo`).

Rate-limit emulation: past `rate_limit` (a token bucket of request weight, checked when a request
arrives) the venue answers 429 with a Retry-After: `RateLimited` to the budget and a
RATE_LIMITED refusal for every intent in the request, so the budget's backoff and priorities are
exercised as a real venue would exercise them.

Snapshots: the venue answers a book's `ResyncRequest` like a REST depth call, with a snapshot of
its own book (after an ack latency). Recorded REST snapshot lines are consumed at the venue end
only: a snapshot is an answer to a request, not part of the stream. When the venue's own book
loses the thread, it asks its source for a fresh one (`ResyncRequest`, to `VenuePeers.source`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.token_bucket import TokenBucket
from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.execution.venue_transport import (
    Counted,
    MarketData,
    Reported,
    TransportEvent,
    VenueTransport,
    throttled_reports,
)
from actors.market.book_actor import BookConfig, BookFeed
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange, SimInstrument
from actors.sim.latency import DelayLine, LatencyModel, Path
from actors.sim.queue_models import QueueModel
from protocols.codec import Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.orders import CancelIntent, Fill, OrderIntent, VenueReport
from protocols.venue_state import (
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
)
from protocols.venues import binance

__all__ = ["SimTransport", "SimVenue", "SimVenueConfig", "VenueRateLimit"]

SECOND = 1_000_000_000
_TOO_MANY = "-1003 Too many requests"  # Binance's words for a 429


@attrs.frozen(slots=True)
class VenueRateLimit:
    """`burst` request weight at once, refilled at `requests_per_s`; a throttled request is told
    to retry after `retry_after_ns` or until the bucket has room, whichever is later."""

    requests_per_s: float = attrs.field(validator=attrs.validators.gt(0))
    burst: int = attrs.field(validator=attrs.validators.gt(0))
    retry_after_ns: int = attrs.field(default=SECOND, validator=attrs.validators.ge(0))


@attrs.frozen(slots=True)
class SimVenueConfig:
    """The simulated venue. `name`, `reconcile_interval_s` and `observe_only` are the generic
    connection's (`ConnectionConfig`), kept here so that one config builds a whole `SimVenue`."""

    instruments: Mapping[str, SimInstrument]
    queue_model: QueueModel
    latency: LatencyModel = attrs.Factory(LatencyModel)
    balances: Mapping[str, Decimal] = attrs.Factory(dict)
    leverage: Decimal = Decimal(1)
    rate_limit: VenueRateLimit | None = None
    reconcile_interval_s: float | None = 5.0
    name: str = "sim"
    # Observe mode: intents are journaled as ObservedIntent and answered with shadow acks; none
    # reaches the matching engine, so nothing ever fills. The market flow runs as usual.
    observe_only: bool = False
    # The venue session: fill ids are "sim-<session>-<n>" ("sim-<n>" without one). A restarted
    # simulated venue is a new venue that numbers its fills from 1 again, so each incarnation
    # needs its own session, or its fills would repeat the ids of the last one's (which the
    # portfolio and recovery would take for duplicates).
    session: str = ""

    def connection_config(self) -> ConnectionConfig:
        return ConnectionConfig(
            name=self.name, instruments={n: i.spec for n, i in self.instruments.items()},
            reconcile_interval_s=self.reconcile_interval_s, observe_only=self.observe_only)


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


class _LiveDepth:
    """The venue-side book of one instrument, read through its feed: the feed replaces its sync
    (and so its book) after a crossed book or a spec change, and the exchange must follow."""

    __slots__ = ("_feed",)

    def __init__(self, feed: BookFeed) -> None:
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed.sync.book, name)


class SimTransport(VenueTransport):
    """The simulated venue's end of the wire: matching, latency, 429s, snapshots."""

    def __init__(self, config: SimVenueConfig) -> None:
        self.config = config
        self.delay = DelayLine()
        self.feeds: dict[str, BookFeed] = {}
        self.exchange: SimExchange | None = None
        self.bucket: TokenBucket | None = None
        self.resync_pending: set[str] = set()
        self.rng = random.Random(0)
        self._now: list[TransportEvent] = []  # handed over at the next poll, before the line

    # -- the adapter contract ------------------------------------------------------------------
    def open(self, now_ns: int, rng: random.Random) -> None:
        cfg = self.config
        self.rng = rng
        account = SimAccount(dict(cfg.balances), cfg.leverage)
        self.exchange = SimExchange(cfg.instruments, account, cfg.queue_model, rng,
                                    fill_id_prefix=f"sim-{cfg.session}" if cfg.session
                                    else "sim")
        for name, instrument in cfg.instruments.items():
            spec = attrs.evolve(instrument.spec, symbol=name)
            feed = BookFeed(BookConfig.for_spec(spec))
            self.feeds[name] = feed
            self.exchange.attach_depth(name, _LiveDepth(feed))
            self._now.append(SpecUpdate(spec, now_ns))
        if cfg.rate_limit is not None:
            rl = cfg.rate_limit
            self.bucket = TokenBucket(rl.burst, round(rl.burst / rl.requests_per_s * SECOND),
                                      now_ns)

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
        out, self._now = self._now, []
        # An arrival can cause more (a request makes reports), so loop until the line holds
        # nothing due now.
        while due := self.delay.pop_due(now_ns):
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
        return self.delay.next_due()

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
        feed = self.feeds.get(event.instrument)
        if feed is None:
            self._now.append(Counted("troupe_sim_ignored_total", (("kind", "unknown_instrument"),)))
            return
        # One conversion of the depth levels: the venue's copy and our book take the same
        # integer levels.
        message = feed.in_units(event.message)
        step = feed.on_message(message, now, now)
        if step.resync is not None:
            # The venue's own copy lost the thread: only the source can give it a fresh book.
            self._now.append(ResyncRequest(event.instrument, step.resync))
            self._now.append(Counted("troupe_sim_venue_resyncs_total", (("reason", step.resync),)))
        reports: list[VenueReport] = []
        if step.applied and feed.healthy:
            reports += self._exchange.on_depth_change(event.instrument, now)
        for trade in step.trades:
            reports += self._exchange.on_trade(event.instrument, trade.price, trade.qty,
                                               trade.aggressor, now)
        self._report(reports, now, feed)
        if isinstance(event.message, binance.DepthSnapshot):
            self._answer_resyncs(event.instrument, now)
            return  # a REST answer, not a stream message: books get their own on request
        self._push(now, Path.FEED, MarketData(event.instrument, message),
                   fifo=("feed", event.instrument))
        if event.instrument in self.resync_pending and feed.healthy:
            self._answer_resyncs(event.instrument, now)

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
        latency = self.config.latency.draw(path, self.rng)
        self.delay.push(now + latency, item, fifo_key=fifo if fifo is not None else path)


def _snapshot_of(feed: BookFeed) -> binance.DepthSnapshot:
    """The venue-side book as a REST depth answer, in the venue's decimal strings."""
    book, tick, lot = feed.sync.book, feed.tick, feed.lot
    sync = feed.sync
    last_id = getattr(sync, "last_update_id", 0)

    def levels(side: Side) -> tuple[tuple[str, str], ...]:
        return tuple((str(p * tick), str(q * lot))
                     for p, q in book.depth(side, book.level_count(side)))

    return binance.DepthSnapshot(last_id, levels(Side.BUY), levels(Side.SELL))
