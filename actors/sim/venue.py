"""SimVenue: the embedded simulated venue, as a venue-connection actor.

    source --FeedEvent--> SimVenue --FeedEvent (after feed latency)--> OrderBook[instrument]
    ActionBudget --SendActions / CancelAllOrders--> SimVenue --RateLimited, RequestAccepted--> it
    SimVenue --Ack / Reject / Fill / CancelAck / ...--> the owner (strategy) of each order
    SimVenue --OwnFill--> Portfolio;  --VenuePositions (every reconcile interval)--> Portfolio
    SimVenue --SpecUpdate (at start)--> Market[instrument];  OrderBook --ResyncRequest--> SimVenue

It plays both ends of a wire. The venue end is `actors.sim.exchange.SimExchange` (matching, queue
position, balances, refusals) fed with the market flow at *venue* time, the moment a source
emits it, through a venue-side copy of each book (`actors.market.book_actor.BookFeed`). The
connection
end is `actors.execution.venue_session.VenueSession` (order state machines, owners, OwnFill
enrichment).
Between them, `actors.sim.latency`: a request reaches the matching engine `insert` (or `cancel`)
later, its reports come back `ack` later, market data reaches our books `feed` later. So a quote
cannot fill before it has arrived, our books always lag the venue, and a fill can still come
back after we sent a cancel: the race a live bot lives with.

Rate-limit emulation: past `rate_limit` (a token bucket of request weight, checked when a request
arrives) the venue answers 429 with a Retry-After: `RateLimited` to the budget and a
RATE_LIMITED refusal for every intent in the request, so the budget's backoff and priorities are
exercised as a real venue would exercise them.

Snapshots: the venue answers a book's `ResyncRequest` like a REST depth call, with a snapshot of
its own book (after an ack latency). Recorded REST snapshot lines are consumed at the venue end
only: a snapshot is an answer to a request, not part of the stream.

`peers` is filled in by the node before messages flow (the budget is built with this actor's ref,
so this actor learns the budget's afterwards); a restart reuses the same object.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from actors.execution.token_bucket import TokenBucket
from actors.execution.venue_session import VenueSession
from actors.market.book_actor import BookConfig, BookFeed
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange, SimInstrument
from actors.sim.latency import DelayLine, LatencyModel, Path
from actors.sim.queue_models import QueueModel
from protocols.codec import Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.journal import CancelSent, ObservedIntent, OrderSent, ReplaceSent
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Fill,
    Intent,
    OrderIntent,
    Reject,
    RejectCode,
    VenueReport,
)
from protocols.venue_state import (
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
    SpecUpdate,
    VenueReconciled,
)
from protocols.venues import binance

__all__ = ["GetVenueState", "SimVenue", "SimVenueConfig", "VenuePeers", "VenueRateLimit"]

SECOND = 1_000_000_000
_WAKE = "sim.wake"
_RECONCILE = "sim.reconcile"


@attrs.frozen(slots=True)
class VenueRateLimit:
    """`burst` request weight at once, refilled at `requests_per_s`; a throttled request is told
    to retry after `retry_after_ns` or until the bucket has room, whichever is later."""

    requests_per_s: float = attrs.field(validator=attrs.validators.gt(0))
    burst: int = attrs.field(validator=attrs.validators.gt(0))
    retry_after_ns: int = attrs.field(default=SECOND, validator=attrs.validators.ge(0))


@attrs.frozen(slots=True)
class SimVenueConfig:
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


@attrs.define(slots=True)
class VenuePeers:
    books: dict[str, Ref] = attrs.Factory(dict)
    markets: dict[str, Ref] = attrs.Factory(dict)
    budget: Ref | None = None
    portfolio: Ref | None = None
    journal: Ref | None = None
    watchers: list[Ref] = attrs.Factory(list)  # told VenueReconciled after the first check
    source: Ref | None = None  # asked for a snapshot when the venue-side book needs one


@attrs.frozen(slots=True)
class GetVenueState:
    """Ask: answered with a dict of the venue's positions, balances, open orders, statistics."""


@attrs.frozen(slots=True)
class _Wake:
    pass


@attrs.frozen(slots=True)
class _Reconcile:
    pass


class _LiveDepth:
    """The venue-side book of one instrument, read through its feed: the feed replaces its sync
    (and so its book) after a crossed book or a spec change, and the exchange must follow."""

    __slots__ = ("_feed",)

    def __init__(self, feed: BookFeed) -> None:
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed.sync.book, name)


class SimVenue(Behaviour):
    def __init__(self, config: SimVenueConfig, peers: VenuePeers) -> None:
        self.config = config
        self.peers = peers
        self.venue = config.name
        self.delay = DelayLine()
        self.session = VenueSession()
        self.feeds: dict[str, BookFeed] = {}
        self.exchange: SimExchange | None = None
        self.bucket: TokenBucket | None = None
        self.resync_pending: set[str] = set()
        self.rng = random.Random(0)
        self.armed_due: int | None = None
        self.reconciled = False

    # -- lifecycle -----------------------------------------------------------------------------
    def on_start(self, ctx: Context) -> None:
        cfg, now = self.config, ctx.monotonic_ns()
        self.rng = ctx.random
        account = SimAccount(dict(cfg.balances), cfg.leverage)
        self.exchange = SimExchange(cfg.instruments, account, cfg.queue_model, ctx.random,
                                    fill_id_prefix=f"sim-{cfg.session}" if cfg.session
                                    else "sim")
        for name, instrument in cfg.instruments.items():
            spec = instrument.spec
            feed = BookFeed(BookConfig.for_spec(attrs.evolve(spec, symbol=name)))
            self.feeds[name] = feed
            self.exchange.attach_depth(name, _LiveDepth(feed))
            market = self.peers.markets.get(name)
            if market is not None:
                ctx.tell(market, SpecUpdate(attrs.evolve(spec, symbol=name), now))
        if cfg.rate_limit is not None:
            rl = cfg.rate_limit
            self.bucket = TokenBucket(rl.burst, round(rl.burst / rl.requests_per_s * SECOND), now)
        # A fresh simulated venue has nothing resting: the first reconciliation is its
        # positions, sent at once (an ack latency away), then every interval.
        self._push(now, Path.ACK, ("positions", self._exchange.positions()))
        if cfg.reconcile_interval_s:
            ctx.schedule(cfg.reconcile_interval_s, _Reconcile(), key=_RECONCILE)
        self._release(now, ctx)

    # -- messages ------------------------------------------------------------------------------
    def receive(self, message: Any, ctx: Context) -> Any:
        now = ctx.monotonic_ns()
        if isinstance(message, FeedEvent):
            self._on_feed(message, now, ctx)
        elif isinstance(message, SendActions):
            self._on_send(message, now, ctx)
        elif isinstance(message, CancelAllOrders):
            self.session.cancel_all(message.instrument, now)
            self._push(now, Path.CANCEL, ("cancel_all", message))
        elif isinstance(message, ResyncRequest):
            self._on_resync(message.instrument, now)
        elif isinstance(message, _Reconcile):
            self._push(now, Path.ACK, ("positions", self._exchange.positions()))
            assert self.config.reconcile_interval_s
            ctx.schedule(self.config.reconcile_interval_s, _Reconcile(), key=_RECONCILE)
        elif isinstance(message, GetVenueState):
            return self._state()
        elif not isinstance(message, _Wake):
            ctx.count("troupe_sim_ignored_total", kind=type(message).__name__)
        self._release(now, ctx)
        return None

    @property
    def _exchange(self) -> SimExchange:
        assert self.exchange is not None, "on_start builds the exchange"
        return self.exchange

    # -- market flow: the venue end, then our books ---------------------------------------------
    def _on_feed(self, event: FeedEvent, now: int, ctx: Context) -> None:
        feed = self.feeds.get(event.instrument)
        if feed is None:
            ctx.count("troupe_sim_ignored_total", kind="unknown_instrument")
            return
        step = feed.on_message(event.message, now, now)
        if step.resync is not None and self.peers.source is not None:
            # The venue's own copy lost the thread: only the source can give it a fresh book.
            ctx.tell(self.peers.source, ResyncRequest(event.instrument, step.resync))
            ctx.count("troupe_sim_venue_resyncs_total", reason=step.resync)
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
        self._push(now, Path.FEED, ("feed", event.instrument, event.message),
                   fifo=("feed", event.instrument))
        if event.instrument in self.resync_pending and feed.healthy:
            self._answer_resyncs(event.instrument, now)

    def _on_resync(self, instrument: str, now: int) -> None:
        feed = self.feeds.get(instrument)
        if feed is None or feed.config.venue != "binance":
            return  # Hyperliquid streams full snapshots: the next one cures the book
        self.resync_pending.add(instrument)
        if feed.healthy:
            self._answer_resyncs(instrument, now)

    def _answer_resyncs(self, instrument: str, now: int) -> None:
        if instrument not in self.resync_pending:
            return
        feed = self.feeds[instrument]
        if not feed.healthy:
            return
        self.resync_pending.discard(instrument)
        self._push(now, Path.ACK, ("feed", instrument, _snapshot_of(feed)),
                   fifo=("rest", instrument))

    # -- requests: the connection end, then the venue end ---------------------------------------
    def _on_send(self, send: SendActions, now: int, ctx: Context) -> None:
        observe, journal = self.config.observe_only, self.peers.journal
        for sent, owner in zip(self.session.on_send(send, now), send.owners, strict=True):
            strategy = owner.strategy if owner is not None else ""
            if journal is not None:
                ctx.tell(journal, _sent_record(sent.intent, strategy, now, observe))
            if observe:
                ctx.count("troupe_orders_observed_total", venue=self.venue, kind=sent.kind)
                self._push(now, Path.ACK, ("report", _shadow_ack(sent.intent, now), None),
                           fifo="ack")
                continue
            ctx.count("troupe_orders_sent_total", venue=self.venue, kind=sent.kind)
            if sent.tick_to_trade_ns is not None and sent.kind != "cancel":
                ctx.observe("troupe_tick_to_trade_seconds", sent.tick_to_trade_ns / SECOND)
        if observe:
            self._push(now, Path.ACK, ("budget", RequestAccepted(0)), fifo="ack")
            return
        cancels = all(isinstance(i, CancelIntent) for i in send.batch.intents)
        self._push(now, Path.CANCEL if cancels else Path.INSERT, ("request", send))

    def _arrive(self, send: SendActions, now: int) -> None:
        """A request reaches the matching engine."""
        if not self._admit(send.batch.weight, now):
            for intent in send.batch.intents:
                cid = intent.client_order_id
                report: VenueReport = (
                    CancelReject(cid, CancelRejectCode.RATE_LIMITED, "-1003 Too many requests",
                                 venue_ns=now)
                    if isinstance(intent, CancelIntent)
                    else Reject(cid, RejectCode.RATE_LIMITED, "-1003 Too many requests",
                                venue_ns=now))
                self._push(now, Path.ACK, ("report", report, None), fifo="ack")
            return
        self._push(now, Path.ACK, ("budget", RequestAccepted(0)), fifo="ack")
        exchange, reports = self._exchange, []
        for intent in send.batch.intents:
            if isinstance(intent, CancelIntent):
                reports += exchange.cancel(intent, now)
            elif isinstance(intent, OrderIntent):
                reports += exchange.submit(intent, now)
            else:
                reports += exchange.replace(intent, now)
        self._report(reports, now, None)

    def _admit(self, weight: int, now: int) -> bool:
        bucket, rl = self.bucket, self.config.rate_limit
        if bucket is None or rl is None:
            return True
        wait = bucket.wait_ns(weight, now)
        if wait == 0:
            bucket.spend(weight, now)
            return True
        retry = max(rl.retry_after_ns, wait)
        self._push(now, Path.ACK, ("budget", RateLimited(retry, 0)), fifo="ack")
        return False

    def _report(self, reports: list[VenueReport], now: int, feed: BookFeed | None) -> None:
        for report in reports:
            mid = None
            if isinstance(report, Fill):
                instrument = self.session.instrument_of(report.client_order_id)
                book_feed = feed or (self.feeds.get(instrument) if instrument else None)
                mid = book_feed.sync.book.mid_x2 if book_feed is not None else None
            self._push(now, Path.ACK, ("report", report, mid), fifo="ack")

    # -- delivery ------------------------------------------------------------------------------
    def _push(self, now: int, path: Path, item: tuple[Any, ...],
              fifo: Any = None) -> None:
        latency = self.config.latency.draw(path, self.rng)
        self.delay.push(now + latency, item, fifo_key=fifo if fifo is not None else path)

    def _release(self, now: int, ctx: Context) -> None:
        # Deliveries can cause more (a request arriving makes reports), so loop until the
        # line holds nothing due now.
        while True:
            due = self.delay.pop_due(now)
            if not due:
                break
            for item in due:
                self._deliver(item, now, ctx)
        nxt = self.delay.next_due()
        if nxt is not None and nxt != self.armed_due:
            self.armed_due = nxt
            ctx.schedule(max(nxt - now, 0) / SECOND, _Wake(), key=_WAKE)
        elif nxt is None:
            self.armed_due = None

    def _deliver(self, item: tuple[Any, ...], now: int, ctx: Context) -> None:
        kind = item[0]
        peers = self.peers
        if kind == "feed":
            book = peers.books.get(item[1])
            if book is not None and ctx.tell(book, FeedEvent(item[1], item[2], now)) is not None:
                ctx.count("troupe_sim_feed_refused_total")
        elif kind == "request":
            self._arrive(item[1], now)
        elif kind == "cancel_all":
            request: CancelAllOrders = item[1]
            if self._admit(1, now):
                self._push(now, Path.ACK, ("budget", RequestAccepted(0)), fifo="ack")
                self._report(self._exchange.cancel_all(request.instrument, now), now, None)
        elif kind == "budget":
            if peers.budget is not None:
                ctx.tell(peers.budget, attrs.evolve(item[1], recv_ns=now))
        elif kind == "positions":
            if peers.portfolio is not None:
                ctx.tell(peers.portfolio, attrs.evolve(item[1], recv_ns=now))
            if not self.reconciled:
                self.reconciled = True
                for watcher in peers.watchers:
                    ctx.tell(watcher, VenueReconciled(now))
        elif kind == "report":
            self._route(item[1], item[2], now, ctx)

    def _route(self, report: VenueReport, mid_x2: int | None, now: int, ctx: Context) -> None:
        routed = self.session.on_report(report, now, mid_x2)
        self._count_report(routed.report, ctx)
        if routed.latency is not None:
            metric, ns = routed.latency
            ctx.observe(metric, ns / SECOND)
        if routed.owner is not None:
            ctx.tell(routed.owner.reply_to, routed.report)
        else:
            ctx.count("troupe_sim_unowned_reports_total", kind=type(report).__name__)
        if routed.own_fill is not None and self.peers.portfolio is not None:
            ctx.tell(self.peers.portfolio, routed.own_fill)
        if self.peers.journal is not None:
            ctx.tell(self.peers.journal, routed.report)

    def _count_report(self, report: VenueReport, ctx: Context) -> None:
        venue = self.venue
        if isinstance(report, Ack):
            ctx.count("troupe_orders_acked_total", venue=venue)
        elif isinstance(report, Reject):
            ctx.count("troupe_orders_rejected_total", venue=venue, reason=report.code.value)
        elif isinstance(report, CancelAck):
            ctx.count("troupe_orders_cancelled_total", venue=venue)
        elif isinstance(report, Fill):
            ctx.count("troupe_fills_total", venue=venue, liquidity=report.liquidity.value)
            instrument = self.config.instruments.get(
                self.session.instrument_of(report.client_order_id) or "")
            if instrument is not None:  # float only here, at the metrics boundary
                notional = instrument.value * report.price * report.qty
                ctx.count("troupe_fill_notional_quote_total", float(notional), venue=venue)
            fee = Decimal(report.fee)
            if fee > 0:
                ctx.count("troupe_fees_quote_total", float(fee), venue=venue)
            elif fee < 0:  # counters never go down: a rebate is its own counter
                ctx.count("troupe_rebates_quote_total", float(-fee), venue=venue)

    # -- views ---------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        exchange = self._exchange
        return {"positions": exchange.positions(), "open_orders": exchange.open_orders(),
                "statistics": exchange.statistics(), "in_flight": len(self.delay)}

    def snapshot(self) -> Any:
        if self.exchange is None:
            return {"started": False}
        return {"open_orders": len(self.exchange.open_orders()), "in_flight": len(self.delay),
                "session_open": len(self.session.open_orders()),
                "books": {n: f.sync.state.value for n, f in self.feeds.items()}}


def _sent_record(intent: Intent, strategy: str, now: int, observe: bool) -> Any:
    if observe:
        return ObservedIntent.from_intent(intent, strategy, now)
    if isinstance(intent, OrderIntent):
        return OrderSent.from_intent(intent, strategy, now)
    if isinstance(intent, CancelIntent):
        return CancelSent(intent.client_order_id, intent.instrument, strategy, now)
    return ReplaceSent(intent.client_order_id, intent.instrument, intent.qty, intent.price,
                       intent.reduce_only, strategy, now)


def _shadow_ack(intent: Intent, now: int) -> VenueReport:
    if isinstance(intent, CancelIntent):
        return CancelAck(intent.client_order_id, venue_ns=now)
    return Ack(intent.client_order_id, "observed", venue_ns=now)


def _snapshot_of(feed: BookFeed) -> binance.DepthSnapshot:
    """The venue-side book as a REST depth answer, in the venue's decimal strings."""
    book, tick, lot = feed.sync.book, feed.tick, feed.lot
    sync = feed.sync
    last_id = getattr(sync, "last_update_id", 0)

    def levels(side: Side) -> tuple[tuple[str, str], ...]:
        return tuple((str(p * tick), str(q * lot))
                     for p, q in book.depth(side, book.level_count(side)))

    return binance.DepthSnapshot(last_id, levels(Side.BUY), levels(Side.SELL))
