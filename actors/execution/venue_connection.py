"""VenueConnection: the generic half of every venue connection, over one `VenueTransport`.

    ActionBudget --SendActions / CancelAllOrders--> connection --RateLimited, RequestAccepted--> it
    connection --Ack / Reject / Fill / CancelAck / ...--> the owner (strategy) of each order
    connection --OwnFill--> Portfolio;  --VenuePositions (every reconcile interval)--> Portfolio
    connection --PositionAdopted (the start's opening position)--> Portfolio, journal
    connection --OrderSent, CancelSent, ReplaceSent / ObservedIntent, every report--> journal
    connection --FeedEvent--> OrderBook[instrument];  --SpecUpdate, ...--> Market[instrument]
    connection --VenueReconciled (after the first reconciliation)--> watchers (the monitor)
    OrderBook --ResyncRequest--> connection

What is the same on every venue lives here; what differs is the transport's
(`actors.execution.venue_transport`, whose docstring is the adapter contract):

- Orders. `actors.execution.venue_session.VenueSession` keeps one order state machine per client
  order id, its owner and send times. A request is registered there before the transport puts it
  on the wire; each report is applied there, then told to the order's owner with `recv_ns` set,
  journaled, and a fill also goes to the portfolio as an `OwnFill`. A `TimedOut` request makes
  its order UNKNOWN (never REJECTED), journaled as the timeout and told to nobody: the owner
  still waits for the answer, which may yet come. A replace that times out leaves its order's
  amends UNKNOWN: no other replace of it goes out, and the wait is bounded
  (`actors.execution.lost_replaces`, this actor's base). An order the venue placed after a cancel
  (or a cancel-all) that overtook it is cancelled again by client id when it shows up
  (`troupe_orders_recancelled_total`). Orders an earlier incarnation sent, which
  the transport lists at `open` (`VenueOrder`), are tracked owned by nobody: their reports are
  journaled and their fills reach the portfolio, and a cancel-all takes them.
- Journal. Every intent sent is journaled (`OrderSent`, `CancelSent`, `ReplaceSent`) before it
  leaves, and every report as it arrives, so recovery can rebuild what rests.
- Metrics. `troupe_orders_sent_total{venue,kind}`; per order (cancels excluded) one latency
  (`connection_records.order_latency`): tick-to-trade (from the market data that triggered the
  decision to the order leaving) when market data caused it and the budget sent it at once,
  decision-to-trade`{trigger}` when a timer, a report or a command did, and the budget's hold
  when the rate limit kept it queued (the venue's rule, not the node's latency);
  acknowledgement latencies, and per-report counters (acked, rejected by reason, cancelled,
  fills by liquidity, fill notional, fees and rebates).
- Observe mode (`observe_only`): intents are journaled as `ObservedIntent` and answered with
  shadow acks (`Ack`, `CancelAck`, and `RequestAccepted` for the budget); nothing reaches the
  transport, which keeps streaming market data. A transport may delay the shadow answers like
  real ones (`VenueTransport.echo`); a cancel-all cancels, in the shadows, what the session holds.
- The budget hears every answer the transport passes on (`RateLimited`, `RequestAccepted`,
  `Banned`), stamped with our receive time, and every request of the transport's own to be
  paid for (`VenueRequest`); the budget's `RequestCleared` and `BudgetOpened` go to the
  transport. Orders the venue placed after a cancel that overtook them are cancelled again
  through the budget too (a `Proposal` of the cancel, owned by nobody): a cancel is an exit, and
  paid like one.
- Reconciliation: at start and every `reconcile_interval_s` the transport is asked for the
  account's positions; the first answer tells the watchers `VenueReconciled`, which the node
  needs before it reports ready for trading.

Time: the transport says when it next has something due (`next_due_ns`, a simulated venue's
delay line); the connection keeps one timer armed for it and polls the transport after every
message, until nothing more is due. Market data a transport hands over before it is due
(`MarketData.recv_ns` later than now) goes to the book as a timed tell: no wake per event. A
`FeedBatch` (a backtest's replay sends the events of one instant so) is handled event by event,
pumped after each as a lone event is, and what it sends a book to land at one instant goes as
one `FeedBatch` while nothing could come between (`actors.execution.landings`).

Mailbox (`connection_priority`, `CONNECTION_LEVELS`, for a `StablePriority` mailbox): the
actions the budget hands over (`SendActions`, `CancelAllOrders`) are handled before anything
else queued, market frames above all, so under a burst of market data a cancel or a
reduce-only exit waits for the frame being handled and no more. Everything else (frames, REST
answers, stream up/down, resyncs, timers) keeps one FIFO level, as in a plain mailbox. The
actions keep one level of their own too, in the order the budget dispatched them, which is
already its priority order (reduce-only, cancels, new orders): reordering them again here would
reopen the overtakes the budget guards against (a cancel reaching the venue before the order it
cancels; a new order slipping past a cancel-all, or a reduce-only exit sent before a cancel-all
that then sweeps it).

`peers` is filled in by whoever builds the connection before messages flow (the budget is built
with this actor's ref, so the connection learns the budget's afterwards); a restart reuses the
same object. Messages the connection does not know go to the transport (`on_message`) and are
counted if the transport does not take them either.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from actors.behaviour import Context, Counting, Ref
from actors.execution.connection_records import (
    count_report,
    log_fill,
    order_latency,
    sent_record,
    shadow_ack,
)
from actors.execution.landings import Landings
from actors.execution.lost_replaces import GiveUpReplace, LostReplaces
from actors.execution.venue_session import VenueSession
from actors.execution.venue_transport import (
    BudgetAnswer,
    Counted,
    Gauged,
    MarketData,
    MarketUpdate,
    Reported,
    TimedOut,
    TransportEvent,
    VenueOrder,
    VenueTransport,
)
from protocols.decisions import Proposal, Trigger
from protocols.feed import FeedBatch, FeedEvent, ResyncRequest
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Batch,
    CancelAck,
    CancelIntent,
    Intent,
    OrderIntent,
    Priority,
    ReplaceIntent,
    VenueReport,
)
from protocols.portfolio import PositionAdopted, VenuePositions
from protocols.venue_state import (
    BudgetOpened,
    CancelAllOrders,
    RequestAccepted,
    RequestCleared,
    SendActions,
    VenueReconciled,
)

# Fills at INFO (a trader wants each one; the paper node shows them), orders at DEBUG (a market
# maker sends several a second: --log-level DEBUG shows them).
log = logging.getLogger("troupe.orders")


__all__ = ["CONNECTION_LEVELS", "ConnectionConfig", "GetVenueState", "VenueConnection",
           "VenuePeers", "connection_priority"]

SECOND = 1_000_000_000
_WAKE = "venue.wake"
_RECONCILE = "venue.reconcile"


CONNECTION_LEVELS = 2
_ACTIONS = (SendActions, CancelAllOrders, RequestCleared)


def connection_priority(message: Any) -> int:
    """Mailbox level: 0 the budget's actions, in its order; 1 the rest (market data first of
    all), FIFO."""
    return 0 if isinstance(message, _ACTIONS) else 1


@attrs.frozen(slots=True)
class ConnectionConfig:
    """`name` labels the metrics (`venue=`); `instruments` give each fill's notional in quote
    currency; `reconcile_interval_s` None reconciles only at start."""

    name: str = "sim"
    instruments: Mapping[str, InstrumentSpec] = attrs.Factory(dict)
    reconcile_interval_s: float | None = 5.0
    # Observe mode: intents are journaled as ObservedIntent and answered with shadow acks; none
    # reaches the transport, so nothing ever fills. The market flow runs as usual.
    observe_only: bool = False
    # A replace whose answer was lost is UNKNOWN while the adapter looks its order up; no
    # other replace of the order goes out meanwhile, and after this long it is given up.
    replace_unknown_s: float = 5.0


@attrs.define(slots=True)
class VenuePeers:
    books: dict[str, Ref] = attrs.Factory(dict)
    markets: dict[str, Ref] = attrs.Factory(dict)
    budget: Ref | None = None
    portfolio: Ref | None = None
    journal: Ref | None = None
    watchers: list[Ref] = attrs.Factory(list)  # told VenueReconciled after the first check
    source: Ref | None = None  # asked for a snapshot when a simulated venue's own book needs one


@attrs.frozen(slots=True)
class GetVenueState:
    """Ask: answered with the transport's `state()`: positions, balances, open orders,
    statistics, as far as the venue tells them."""


@attrs.frozen(slots=True)
class _Wake:
    pass


_WAKE_MESSAGE = _Wake()  # immutable: one for every wake


@attrs.frozen(slots=True)
class _Reconcile:
    pass


# What the connection handles itself (besides its wake, market data and batches); anything else
# is the transport's (its I/O's frames and answers: most of what arrives), tested first with one
# isinstance rather than one per kind.
_OWN = (SendActions, CancelAllOrders, ResyncRequest, _Reconcile, GetVenueState, BudgetOpened,
        GiveUpReplace)


class VenueConnection(LostReplaces):
    def __init__(self, config: ConnectionConfig, transport: VenueTransport,
                 peers: VenuePeers) -> None:
        self.config = config
        self.transport = transport
        self.peers = peers
        self.venue = config.name
        self.session = VenueSession()
        self.armed_due: int | None = None
        self.reconciled = False
        self._tick_values = {name: spec.tick_value for name, spec in config.instruments.items()}
        self._landings: Landings | None = None  # while a FeedBatch is handled
        self._sent_counts: dict[str, Counting] = {}  # troupe_orders_sent_total by kind, bound

    # -- lifecycle -----------------------------------------------------------------------------
    def on_start(self, ctx: Context) -> None:
        now = ctx.monotonic_ns()
        self.transport.attach(ctx.self_ref)
        self.transport.open(now, ctx.random)
        self._pump(now, ctx)  # what the transport knows at once (specs) goes out first
        # The first reconciliation is asked for at once, then every interval.
        self.transport.reconcile(now)
        if self.config.reconcile_interval_s:
            ctx.schedule(self.config.reconcile_interval_s, _Reconcile(), key=_RECONCILE)
        self._pump(now, ctx)

    def on_stop(self, ctx: Context) -> None:
        self.transport.close()

    # -- messages ------------------------------------------------------------------------------
    def receive(self, message: Any, ctx: Context) -> Any:
        now = ctx.monotonic_ns()
        transport = self.transport
        kind = type(message)
        if kind is _Wake:
            # The armed wake has fired (maybe early: see _pump): whatever is still due needs
            # a timer of its own.
            self.armed_due = None
        elif kind is FeedEvent:  # the hot one: market data
            if not transport.on_message(message, now):
                ctx.count("troupe_venue_ignored_total", venue=self.venue, kind=kind.__name__)
        elif kind is FeedBatch:
            self._on_batch(message, now, ctx)
            return None  # pumped after each event
        elif not isinstance(message, _OWN):  # the transport's own I/O: frames, REST answers
            if not transport.on_message(message, now):
                ctx.count("troupe_venue_ignored_total", venue=self.venue, kind=kind.__name__)
        elif isinstance(message, SendActions):
            self._on_send(message, now, ctx)
        elif isinstance(message, CancelAllOrders):
            self._on_cancel_all(message, now, ctx)
        elif isinstance(message, ResyncRequest):
            transport.resync(message.instrument, message.reason, now)
        elif isinstance(message, _Reconcile):
            transport.reconcile(now)
            assert self.config.reconcile_interval_s
            ctx.schedule(self.config.reconcile_interval_s, _Reconcile(), key=_RECONCILE)
        elif isinstance(message, GetVenueState):
            return transport.state()
        elif isinstance(message, BudgetOpened):
            transport.on_message(message, now)  # a transport that asked for nothing ignores it
        else:  # GiveUpReplace: the last of _OWN
            self._give_up_replace(message.client_order_id, now, ctx)
        self._pump(now, ctx)
        return None

    def _on_batch(self, batch: FeedBatch, now: int, ctx: Context) -> None:
        """One instant's events, each as if told alone (pumped after it); what they send our
        books in one timed tell per book and landing (`actors.execution.landings`)."""
        transport = self.transport
        landings = self._landings = Landings()
        try:
            for event in batch.events:
                if not transport.on_message(event, now):
                    ctx.count("troupe_venue_ignored_total", venue=self.venue,
                              kind=type(event).__name__)
                self._pump(now, ctx)
        finally:
            self._landings = None
            landings.flush(ctx)

    # -- requests ------------------------------------------------------------------------------
    def _on_send(self, send: SendActions, now: int, ctx: Context) -> None:
        session = self.session
        if session.replace_lost:  # else no replace can be unresolved: none is piled
            send = self._without_piled_replaces(send, now, ctx)
        if not send.batch.intents:
            return
        observe, journal = self.config.observe_only, self.peers.journal
        for o in send.owners:
            if o is not None and o.reply_to is None:
                # A cancel sent again for the connection itself (its owner hears nothing): the
                # order keeps the owner it has.
                send = attrs.evolve(send, owners=tuple(
                    None if o is not None and o.reply_to is None else o for o in send.owners))
                break
        debug = log.isEnabledFor(logging.DEBUG)
        for sent, owner in zip(session.on_send(send, now), send.owners, strict=True):
            strategy = owner.strategy if owner is not None else ""
            if journal is not None:
                ctx.tell(journal, sent_record(sent.intent, strategy, now, observe))
            # Observe mode hands the order to the shadow instead of the transport, at the same
            # point: its latency is the same figure, and an operator rehearsing sees it.
            if owner is not None and sent.tick_to_trade_ns is not None and sent.kind != "cancel":
                metric, ns, labels = order_latency(owner, sent.tick_to_trade_ns, send.sent_ns)
                ctx.observe(metric, ns / SECOND, **labels)
            if observe:
                ctx.count("troupe_orders_observed_total", venue=self.venue, kind=sent.kind)
                self._echo(Reported(shadow_ack(sent.intent, now)), now, ctx)
                continue
            counted = self._sent_counts.get(sent.kind)  # bound once a kind: on every order
            if counted is None:
                counted = self._sent_counts[sent.kind] = ctx.bind_count(
                    "troupe_orders_sent_total", venue=self.venue, kind=sent.kind)
            counted()
            if debug:
                log.debug("%s: %s %s", self.venue, sent.kind, sent.intent)
        if observe:
            self._echo(RequestAccepted(0), now, ctx)
            return
        self.transport.send(send, now)

    def _on_cancel_all(self, request: CancelAllOrders, now: int, ctx: Context) -> None:
        open_ids = self.session.cancel_all(request.instrument, now, request.strategy)
        if not self.config.observe_only:
            self.transport.cancel_all(request, open_ids, now)
            return
        for cid in open_ids:
            self._echo(Reported(CancelAck(cid, venue_ns=now)), now, ctx)
        self._echo(RequestAccepted(0), now, ctx)

    def _echo(self, event: TransportEvent, now: int, ctx: Context) -> None:
        if not self.transport.echo(event, now):
            self._route(event, now, ctx)

    # -- what the transport hands back ---------------------------------------------------------
    def _pump(self, now: int, ctx: Context) -> None:
        transport = self.transport
        # Routing never feeds the transport, but a transport may release more once it has
        # handed something over (a simulated request reaching its matching engine): poll until
        # nothing is due now.
        while True:
            while events := transport.poll(now):
                for event in events:
                    self._route(event, now, ctx)
            # Orders the venue placed after a cancel that overtook them (`VenueSession`): cancel
            # them again, through the budget like every cancel (it pays them as exits).
            if not (again := self.session.take_recancels()):
                break
            ctx.count("troupe_orders_recancelled_total", len(again), venue=self.venue)
            # With no budget to pay (a connection driven alone, or a stop that has ended the
            # budget already) they go at once: an exit is never blocked.
            budget = self.peers.budget
            if budget is not None:
                again = [c for c in again if ctx.tell(budget, Proposal(
                    "", c, None, now, Trigger.REPORT)) is not None]
            if again:
                self._on_send(SendActions(Batch(Priority.CANCEL, tuple(again), len(again)),
                                          (None,) * len(again), now), now, ctx)
        nxt = transport.next_due_ns()
        if nxt is not None and nxt != self.armed_due:
            self.armed_due = nxt
            if self._landings is not None:  # what lands before this timer is told before it
                self._landings.flush(ctx)
            # A timer takes float seconds, which a host turns back into ns: half a ns more
            # keeps a truncating conversion on the due ns (0.000999999 s * 1e9 truncates to
            # 999,998). Were the wake early all the same, it finds nothing due and re-arms.
            ctx.schedule((max(nxt - now, 0) + 0.5) / SECOND, _WAKE_MESSAGE, key=_WAKE)
        elif nxt is None:
            self.armed_due = None

    def _route(self, event: TransportEvent, now: int, ctx: Context) -> None:
        peers = self.peers
        if isinstance(event, MarketData):  # the hot one, first
            book = peers.books.get(event.instrument)
            if book is not None:
                recv_ns = now if event.recv_ns is None else event.recv_ns
                feed = FeedEvent(event.instrument, event.message, recv_ns)
                if recv_ns > now:  # on its way (a simulated wire): it lands then
                    if self._landings is not None:
                        self._landings.add(book, feed, ctx)
                    else:
                        ctx.tell_at(recv_ns, book, feed)
                # A refusal is counted and the book recovers by resync. In a backtest the
                # book's mailbox is a FlowControl one, which never refuses: this actor waits.
                elif ctx.tell(book, feed) is not None:
                    ctx.count("troupe_venue_feed_refused_total", venue=self.venue)
        elif isinstance(event, Reported):
            self._on_report(event.report, event.mid_x2, now, ctx)
        elif isinstance(event, BudgetAnswer):
            if peers.budget is not None:  # stamped with our receive time (most have it)
                ctx.tell(peers.budget, event if event.recv_ns == now
                         else attrs.evolve(event, recv_ns=now))
        elif isinstance(event, VenuePositions):
            self._on_positions(event, now, ctx)
        elif isinstance(event, PositionAdopted):
            adopted = attrs.evolve(event, recv_ns=now)
            for peer in (peers.portfolio, peers.journal):  # the journal: for the next start
                if peer is not None:
                    ctx.tell(peer, adopted)
        elif isinstance(event, MarketUpdate):
            market = peers.markets.get(event.instrument)
            if market is not None:
                ctx.tell(market, attrs.evolve(event, recv_ns=now))
        elif isinstance(event, TimedOut):
            self._on_timeout(event.intent, now, ctx)
        elif isinstance(event, Counted):
            ctx.count(event.metric, 1, **dict(event.labels))
        elif isinstance(event, Gauged):
            ctx.gauge(event.metric, event.value, **dict(event.labels))
        elif isinstance(event, VenueOrder):
            if self.session.adopt(event.intent, event.acked, now):
                ctx.count("troupe_venue_orders_adopted_total", venue=self.venue)
        elif isinstance(event, ResyncRequest):
            if peers.source is not None:
                ctx.tell(peers.source, event)
        else:
            ctx.count("troupe_venue_ignored_total", venue=self.venue, kind=type(event).__name__)

    def _on_positions(self, positions: VenuePositions, now: int, ctx: Context) -> None:
        peers = self.peers
        if peers.portfolio is not None:
            ctx.tell(peers.portfolio, attrs.evolve(positions, recv_ns=now))
        if not self.reconciled:
            self.reconciled = True
            for watcher in peers.watchers:
                ctx.tell(watcher, VenueReconciled(now))

    def _on_report(self, report: VenueReport, mid_x2: int | None, now: int,
                   ctx: Context) -> None:
        routed = self.session.on_report(report, now, mid_x2)
        count_report(ctx, self.venue, routed.report, self._tick_values.get(
            routed.instrument or ""))
        if routed.latency is not None:
            metric, ns = routed.latency
            ctx.observe(metric, ns / SECOND)
        if routed.owner is not None:
            ctx.tell(routed.owner.reply_to, routed.report)
        else:
            ctx.count("troupe_venue_unowned_reports_total", venue=self.venue,
                      kind=type(report).__name__)
        if routed.own_fill is not None:
            log_fill(log, routed.own_fill, self.config.instruments)
            if self.peers.portfolio is not None:
                ctx.tell(self.peers.portfolio, routed.own_fill)
        if self.peers.journal is not None:
            ctx.tell(self.peers.journal, routed.report)
            if routed.own_fill is not None:  # side, instrument, strategy and mid, for reports
                ctx.tell(self.peers.journal, routed.own_fill)

    def _on_timeout(self, intent: Intent, now: int, ctx: Context) -> None:
        kind = "cancel" if isinstance(intent, CancelIntent) else (
            "new" if isinstance(intent, OrderIntent) else "replace")
        ctx.count("troupe_order_timeouts_total", venue=self.venue, kind=kind)
        timed_out = self.session.on_timeout(intent, now)
        if isinstance(intent, ReplaceIntent):
            self._bound_replace(intent, ctx)
        if timed_out is not None and self.peers.journal is not None:
            ctx.tell(self.peers.journal, timed_out[0])

    # -- views ---------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        return {**self.transport.snapshot(), "session_open": len(self.session.open_orders())}

