"""The OrderBook actor: one per instrument, between a venue connection and the strategies.

    connection --FeedEvent--> OrderBookActor --BookTop / BookStale / TradePrint--> subscribers
         ^                          |
         +------ResyncRequest-------+

The venue rules live in `actors.market.l2_book` (BinanceBookSync, HyperliquidBookSync). `BookFeed`,
below,
is the pure layer that turns their outcomes into decisions (publish, go stale, ask for a
snapshot); `OrderBookActor` only carries those out through its context. Rules:

- A `BookTop` goes out after every applied update, and only while the book is healthy: synced,
  not crossed, venue time not going backwards. Nothing is published while stale or unsynced.
- `BookStale(reason)` goes out when the book stops being healthy, and again only if the reason
  changes (a repeat of the same reason is silent: "once"). Reasons: "gap" (a diff was missed),
  "resync" (a snapshot did not join the stream), "crossed", "decode_error" (a diff the book could
  not take), "spec_change" (tick or lot changed: the book is rebuilt), "no_data" (the freshness
  watchdog), "time_regression". The next good update publishes a `BookTop` again.
- Every time the sync needs a snapshot (gap, unjoinable snapshot, crossed, decode error, spec
  change, and at start for Binance, since a restarted book is empty and its connection cannot
  know that) the connection is told a `ResyncRequest`, repeated every `resync_retry_ns` until the
  book is healthy: a lost request must not leave the book stale for ever.
- A crossed Binance book cannot be repaired by later diffs (it means an update was lost or
  misapplied), so the sync is replaced by a fresh one that buffers diffs until the snapshot.
  A crossed Hyperliquid book is replaced by the next snapshot anyway.
- Time regression rule: on the depth stream, a message whose venue time is earlier than the
  latest venue time seen so far is a regression (counted). Binance diffs are still applied when
  their update ids chain (the ids, not the clock, define the book), but nothing is published
  until a message at or after the latest venue time arrives; Hyperliquid's sync ignores the
  older snapshot. Trades are not checked: Hyperliquid replays old trades by design.
- Freshness is judged on the actor's own monotonic clock (`ctx.monotonic_ns()`) at the time an
  update was applied, the clock its timers run on; a recording replayed with foreign receive
  times cannot fool it. The watchdog is one keyed timer, re-armed lazily at last-applied +
  max_age rather than on every update, so a busy book costs one timer per `max_age`.
- Trades become `TradePrint`s whatever the book's state; Hyperliquid trades are deduplicated by
  `tid` (its subscription replays recent trades). They go only to the subscribers that want
  them (`Subscribe(ref, trades=False)` leaves them out: a risk gate or a monitor reads the book
  alone, and prints are three messages in four of a busy feed).
- A `FeedBatch` (the events a backtest's venue delivers at one instant) is handled event by
  event, exactly as the same events told one after the other.
- A Binance trade or diff already converted to this book's units (`TradeInUnits`,
  `DepthDiffInUnits`: by the simulated venue, or by the live Binance transport's decode) is
  taken as it is: one conversion per event per node. In other units it is undecodable.
- The usual message after a trade, a converted diff that chains onto a healthy book, takes a
  path of its own (`BookFeed.on_chained_diff`: none of the other rules' tests, no new `Step`);
  what it does is the step path's, effect for effect (tests/actors/market/test_book_diff_path.py).

Subscribers should use `ConflateByKey(book_conflation_key)`: a slow one then sees the newest
book per instrument, never a backlog, and every trade and stale notice. A newer BookTop takes the
queued one's turn, so it can be read before a BookStale sent in between: the subscriber then
ends up believing the book stale until the next top, which is the safe way to be wrong. The
book's own mailbox must not conflate (every diff matters); with `BoundedReject` a refused diff
shows up as a gap and is repaired by a resync, but a refused trade is lost (counted by the host).

Metrics: troupe_book_updates_total, troupe_book_resyncs_total{reason}, troupe_book_gaps_total,
troupe_book_crossed_total, troupe_book_stale_total{reason}, troupe_book_time_regressions_total,
troupe_book_decode_errors_total, troupe_book_trades_total, troupe_book_duplicate_trades_total,
troupe_book_ignored_total{kind}, troupe_book_publish_refused_total,
troupe_book_bbo_null_side_total.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from actors.market.l2_book import (
    BinanceBookSync,
    HyperliquidBookSync,
    SyncOutcome,
    SyncResult,
    SyncState,
)
from protocols.codec import DecodeError, LevelConverter, Side, TradeDeduper
from protocols.feed import FeedBatch, FeedEvent, ResyncRequest, Stream, Subscribe, Unsubscribe
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, SpecChanged, TradePrint
from protocols.venues import binance, hyperliquid

__all__ = ["BookConfig", "BookFeed", "OrderBookActor", "Step", "book_conflation_key"]

_BINANCE_DEPTH = (binance.DepthDiff, binance.DepthSnapshot, binance.DepthDiffInUnits)

SECOND = 1_000_000_000
MS = 1_000_000
VENUES = ("binance", "hyperliquid")
_WATCHDOG = "book.freshness"
_TRADE_COUNT: tuple[str, int, dict[str, str]] = ("troupe_book_trades_total", 1, {})
_UPDATE_COUNT: tuple[str, int, dict[str, str]] = ("troupe_book_updates_total", 1, {})
_RESYNC = "book.resync"
_BUY, _SELL = Side.BUY, Side.SELL  # an enum member read through its class costs ~10x a global


def book_conflation_key(message: Any) -> Hashable | None:
    """For a subscriber's `ConflateByKey`: the newest BookTop per instrument replaces a queued
    one; trades, stale notices, fills and everything else are never conflated (None)."""
    if type(message) is BookTop:
        return message.instrument
    return None


@attrs.frozen(slots=True)
class BookConfig:
    instrument: str
    venue: str = attrs.field(validator=attrs.validators.in_(VENUES))
    tick: Decimal
    lot: Decimal
    max_age_ns: int = 5 * SECOND
    resync_retry_ns: int | None = 10 * SECOND
    max_buffer: int = 1000
    trade_memory: int = 10_000

    @classmethod
    def for_spec(cls, spec: InstrumentSpec, **overrides: Any) -> BookConfig:
        return cls(spec.symbol, spec.venue, spec.tick_size, spec.lot_step, **overrides)


class Step:
    """What one input did. `stale`: publish BookStale(stale); `resync`: ask for a snapshot.
    A plain slotted class: one is made per message, and attrs' generated `__init__` with two
    list factories cost three times as much."""

    __slots__ = ("applied", "counts", "publish", "resync", "stale", "trades", "venue_ns")

    def __init__(self) -> None:
        self.applied = 0
        self.publish = False
        self.stale: str | None = None
        self.resync: str | None = None
        self.venue_ns: int | None = None
        self.trades: list[TradePrint] = []
        self.counts: list[tuple[str, int, dict[str, str]]] = []

    def count(self, metric: str, amount: int = 1, **labels: str) -> None:
        self.counts.append((metric, amount, labels))

    def __repr__(self) -> str:
        return (f"Step(applied={self.applied}, publish={self.publish}, stale={self.stale!r}, "
                f"resync={self.resync!r}, venue_ns={self.venue_ns}, trades={self.trades!r}, "
                f"counts={self.counts!r})")


def _published() -> Step:
    step = Step()
    step.applied, step.publish = 1, True
    step.counts.append(_UPDATE_COUNT)
    return step


# The step of the usual diff (`BookFeed.on_chained_diff`): one update applied, the top to
# publish. Shared, so read only (its `venue_ns` is left None: the feed has recorded the diff's).
_PUBLISHED = _published()


class BookFeed:
    """The pure core: venue messages in, `Step`s out. No clock, no refs, no metrics sink."""

    # What a book uses: a source need not deliver anything else (tickers are left out below).
    STREAMS = frozenset({Stream.DEPTH, Stream.TRADES})

    def __init__(self, config: BookConfig) -> None:
        self.config = config
        self.binance = config.venue == "binance"
        self.tick, self.lot = config.tick, config.lot
        self.units = LevelConverter(self.tick, self.lot)  # trades' prices and sizes, memoized
        self.sync: BinanceBookSync | HyperliquidBookSync = self._new_sync()
        self.stale_reason: str | None = "unsynced"  # None: healthy, BookTops flow
        self.resync_reason: str | None = "start" if config.venue == "binance" else None
        self.sequence = 0  # applied updates: BookTop.sequence
        self.max_venue_ms: int | None = None
        self.last_applied_ns: int | None = None  # the actor's clock, for the watchdog
        self.last_recv_ns = 0
        self.last_venue_ns: int | None = None
        self.deduper = TradeDeduper(config.trade_memory)
        self.one_sided = False  # Hyperliquid's bbo said a side is empty

    def _new_sync(self) -> BinanceBookSync | HyperliquidBookSync:
        if self.config.venue == "binance":
            return BinanceBookSync(self.tick, self.lot, self.config.max_buffer)
        return HyperliquidBookSync(self.tick, self.lot)

    @property
    def healthy(self) -> bool:
        return self.stale_reason is None

    def in_units(self, message: Any) -> Any:
        """`message` converted to this book's units, once, when it is a Binance diff or trade
        that converts (`DepthDiffInUnits`, `TradeInUnits`: for every book of the same units);
        anything else as it is, to be decided (and any error counted) by `on_message`."""
        sync, kind = self.sync, type(message)
        if kind is binance.DepthDiff and isinstance(sync, BinanceBookSync):
            try:
                return sync.in_units(message)
            except DecodeError:
                return message
        if kind is binance.Trade:
            try:
                price = self.units.ticks(str(message.price))
                qty = self.units.lots(str(message.qty))
            except DecodeError:
                return message
            return binance.TradeInUnits(message.symbol, message.trade_id, price, qty, self.tick,
                                        self.lot, message.trade_time_ms, message.event_time_ms,
                                        message.buyer_is_maker)
        return message

    # -- input ----------------------------------------------------------------------------
    def on_message(self, message: Any, recv_ns: int, now_ns: int) -> Step:
        step = Step()
        binance_venue = self.binance
        # A backtest's two messages first: a converted trade, then a converted diff.
        if type(message) is binance.TradeInUnits:
            trade = self.print_of(message, recv_ns)
            if trade is None:
                step.count("troupe_book_decode_errors_total")
                return step
            step.trades.append(trade)
            step.counts.append(_TRADE_COUNT)
        elif isinstance(message, _BINANCE_DEPTH) and binance_venue:
            regressed = not isinstance(message, binance.DepthSnapshot) and self._venue_time(
                message.event_time_ms, step)
            self._depth(message, recv_ns, now_ns, regressed, step)
        elif isinstance(message, hyperliquid.L2Book) and not binance_venue:
            regressed = self._venue_time(message.time_ms, step)
            self._depth(message, recv_ns, now_ns, regressed, step)
        elif isinstance(message, binance.Trade):
            self._trade(step, message.price, message.qty, aggressor=message.aggressor,
                        trade_id=str(message.trade_id), time_ms=message.trade_time_ms,
                        recv_ns=recv_ns)
        elif isinstance(message, hyperliquid.Bbo) and not binance_venue:
            self._bbo(message, step)
            return step
        elif isinstance(message, hyperliquid.Trades):
            for t in message.trades:
                if self.deduper.is_new(t.tid):
                    self._trade(step, t.price, t.size, aggressor=t.side, trade_id=str(t.tid),
                                time_ms=t.time_ms, recv_ns=recv_ns)
                else:
                    step.count("troupe_book_duplicate_trades_total")
        else:
            # bookTicker is a separate stream that cannot delete levels: the depth book is the
            # authority, so it is counted and left out rather than mixed in.
            step.count("troupe_book_ignored_total", kind=type(message).__name__)
            return step
        if step.applied:
            self.last_recv_ns = recv_ns
            self.last_venue_ns = step.venue_ns
        return step

    def on_chained_diff(self, diff: binance.DepthDiffInUnits, recv_ns: int,
                        now_ns: int) -> Step | None:
        """`on_message` for the usual diff, or None with nothing changed (`on_message` then
        decides): a healthy Binance book, the diff's venue time not going back, the diff in the
        book's very units and chained onto the last one (`BinanceBookSync.on_chained_diff`).
        Applied and not crossed, it is `_PUBLISHED`: a top to publish and one update to count,
        what the step of `on_message` says then (proven the same, effect for effect, by
        tests/actors/market/test_book_diff_path.py); a crossed book gets its own step."""
        sync, venue_ms, latest = self.sync, diff.event_time_ms, self.max_venue_ms
        if self.stale_reason is not None or self.one_sided or not isinstance(
                sync, BinanceBookSync) or (latest is not None and venue_ms < latest):
            return None
        result = sync.on_chained_diff(diff, recv_ns)
        if result is None:
            return None
        self.max_venue_ms = venue_ms
        self.last_recv_ns, self.last_venue_ns = recv_ns, venue_ms * MS
        if result.crossed:
            step = Step()
            step.venue_ns = self.last_venue_ns
            self._outcome(result, sync, now_ns, step, regressed=False, again=False)
            return step
        self.sequence += 1
        self.last_applied_ns = now_ns
        self.resync_reason = None  # as the step's publish leaves it (stale_reason is None)
        return _PUBLISHED

    def print_of(self, message: binance.TradeInUnits, recv_ns: int) -> TradePrint | None:
        """A converted trade's print, or None if it is in other units (undecodable): all a
        `TradeInUnits` does (`on_message` adds its count, or the decode error's)."""
        if not ((message.tick is self.tick and message.lot is self.lot)
                or self.takes_units(message)):
            return None
        return TradePrint(self.config.instrument, message.price, message.qty,
                          _SELL if message.buyer_is_maker else _BUY, str(message.trade_id),
                          recv_ns, message.trade_time_ms * MS)

    def takes_units(self, message: binance.TradeInUnits | binance.DepthDiffInUnits) -> bool:
        """Whether a converted message is in this book's units (else it is undecodable).
        `is` first: converted messages usually carry the very Decimals of our spec."""
        tick, lot = message.tick, message.lot
        return (tick is self.tick or tick == self.tick) and (lot is self.lot or lot == self.lot)

    def respec(self, tick: Decimal, lot: Decimal) -> Step:
        """Tick or lot changed: the book's integer units mean something else now. Rebuild."""
        self.tick, self.lot = tick, lot
        self.units = LevelConverter(tick, lot)
        self.sync = self._new_sync()
        step = Step()
        self._go_stale("spec_change", step, resync=True)
        return step

    def on_silence(self, now_ns: int) -> tuple[Step | None, int | None]:
        """The watchdog fired. Returns (a stale step or None, ns until the next check or None)."""
        if self.last_applied_ns is None:
            return None, None
        age = now_ns - self.last_applied_ns
        if age < self.config.max_age_ns:
            return None, self.config.max_age_ns - age
        if not self.healthy:
            return None, None
        step = Step()
        self._go_stale("no_data", step)
        return step, None

    # -- depth ----------------------------------------------------------------------------
    def _venue_time(self, venue_ms: int, step: Step) -> bool:
        step.venue_ns = venue_ms * MS
        if self.max_venue_ms is not None and venue_ms < self.max_venue_ms:
            step.count("troupe_book_time_regressions_total")
            return True
        self.max_venue_ms = venue_ms
        return False

    def _depth(self, message: Any, recv_ns: int, now_ns: int, regressed: bool,
               step: Step) -> None:
        sync = self.sync
        again = type(message) is binance.DepthSnapshot  # a requested snapshot is used up
        try:
            if isinstance(sync, HyperliquidBookSync):
                result = sync.on_l2book(message, recv_ns)
            elif again:
                result = sync.on_snapshot(message, recv_ns)
            else:  # a diff, in strings or in units
                result = sync.on_diff(message, recv_ns)
        except DecodeError:
            # The sync kept its last consistent book; Binance's goes STALE on a bad diff and
            # waits for a snapshot, Hyperliquid's is replaced by the next good snapshot.
            step.count("troupe_book_decode_errors_total")
            self._go_stale("decode_error", step, resync=True, again=again)
            return
        self._outcome(result, sync, now_ns, step, regressed=regressed, again=again)

    def _outcome(self, result: SyncResult, sync: BinanceBookSync | HyperliquidBookSync,
                 now_ns: int, step: Step, *, regressed: bool, again: bool) -> None:
        """What the sync's `result` on one depth message means for the book: `step` says."""
        outcome = result.outcome
        if outcome is SyncOutcome.APPLIED or outcome is SyncOutcome.SNAPSHOT_APPLIED:
            applied = step.applied = result.applied + (outcome is SyncOutcome.SNAPSHOT_APPLIED)
            self.sequence += applied
            self.last_applied_ns = now_ns
            step.counts.append(_UPDATE_COUNT if applied == 1
                               else ("troupe_book_updates_total", applied, {}))
            if result.crossed:
                step.count("troupe_book_crossed_total")
                if isinstance(sync, BinanceBookSync):
                    self.sync = self._new_sync()  # later diffs cannot repair it: start over
                self._go_stale("crossed", step, resync=True, again=again)
            elif regressed:
                self._go_stale("time_regression", step)
            elif self.one_sided:
                self._go_stale("bbo_null_side", step)
            elif sync.state is SyncState.SYNCED:
                self.stale_reason = self.resync_reason = None
                step.publish = True
        elif outcome is SyncOutcome.GAP_DETECTED:
            step.count("troupe_book_gaps_total")
            self._go_stale("gap", step, resync=True)
        elif outcome is SyncOutcome.RESYNC_NEEDED:
            self._go_stale("resync", step, resync=True, again=again)
        elif regressed:  # IGNORED (an older Hyperliquid snapshot) or a DROPPED old diff
            self._go_stale("time_regression", step)

    def _bbo(self, message: hyperliquid.Bbo, step: Step) -> None:
        """Hyperliquid's best bid and offer: a null side means that side of the book is empty,
        and the market is out of READY until both sides are back (the next snapshot then
        publishes). A two-sided bbo carries nothing the snapshots do not."""
        if message.one_sided:
            self.one_sided = True
            step.count("troupe_book_bbo_null_side_total")
            self._go_stale("bbo_null_side", step)
        else:
            self.one_sided = False

    def _go_stale(self, reason: str, step: Step, *, resync: bool = False,
                  again: bool = False) -> None:
        """Stale notice and snapshot request on a change of reason. `again`: the input was a
        requested snapshot that did not cure the book, so another one is needed at once; other
        repeats (a Hyperliquid book crossed twice) wait for the retry timer."""
        changed = reason != self.stale_reason
        if changed:
            self.stale_reason = step.stale = reason
            step.count("troupe_book_stale_total", reason=reason)
        if resync and (changed or again or self.resync_reason is None):
            self.resync_reason = step.resync = reason

    # -- trades ---------------------------------------------------------------------------
    def _trade(self, step: Step, price: Decimal, qty: Decimal, *, aggressor: Side,
               trade_id: str, time_ms: int, recv_ns: int) -> None:
        try:
            ticks, lots = self.units.ticks(str(price)), self.units.lots(str(qty))
        except DecodeError:
            step.count("troupe_book_decode_errors_total")
            return
        step.trades.append(TradePrint(self.config.instrument, ticks, lots, aggressor, trade_id,
                                      recv_ns, time_ms * MS))
        step.count("troupe_book_trades_total")

    # -- output ---------------------------------------------------------------------------
    def top(self, depth: int) -> BookTop:
        book = self.sync.book
        bid_qty, ask_qty = book.top_sizes()
        return BookTop(
            self.config.instrument, book.best_bid, bid_qty, book.best_ask, ask_qty,
            self.last_recv_ns, self.last_venue_ns, self.sequence,
            tuple(book.depth(Side.BUY, depth)) if depth else (),
            tuple(book.depth(Side.SELL, depth)) if depth else (),
        )


class OrderBookActor(Behaviour):
    """One instrument's book. `resync` is the venue connection (ResyncRequest goes there)."""

    def __init__(
        self,
        config: BookConfig,
        *,
        subscribers: Iterable[Ref | tuple[Ref, int] | Subscribe] = (),
        resync: Ref | None = None,
    ) -> None:
        self.config = config
        self.feed = BookFeed(config)
        self.resync = resync
        self.subscribers: dict[Any, int] = {}  # ref -> depth, in subscription order
        self._no_trades: set[Any] = set()  # subscribers that asked not to be sent trades
        self._trade_subscribers: tuple[Any, ...] = ()
        self._one_depth: int | None = None
        for sub in subscribers:
            if isinstance(sub, Subscribe):
                self._subscribe(sub)
            else:
                ref, depth = sub if isinstance(sub, tuple) else (sub, 0)
                self._subscribe(Subscribe(ref, depth))
        self._watchdog_armed = False
        self._retry_armed = False  # a resync retry timer may be pending: cancel it when healthy

    def _subscribe(self, sub: Subscribe) -> None:
        self.subscribers[sub.ref] = sub.depth
        if sub.trades:
            self._no_trades.discard(sub.ref)
        else:
            self._no_trades.add(sub.ref)
        self._index()

    def _index(self) -> None:
        self._trade_subscribers = tuple(ref for ref in self.subscribers
                                        if ref not in self._no_trades)
        depths = set(self.subscribers.values())
        # The depth every subscriber asked for, when they agree (None: they do not, or none)
        self._one_depth = depths.pop() if len(depths) == 1 else None

    def on_start(self, ctx: Context) -> None:
        if self.feed.resync_reason is not None:
            self._request_resync(self.feed.resync_reason, ctx)

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, FeedEvent):
            self._on_feed(message, ctx)
        elif type(message) is FeedBatch:  # one instant's events: each as if told alone
            for event in message.events:
                self._on_feed(event, ctx)
        elif isinstance(message, _FreshnessCheck):
            self._watchdog_armed = False
            stale, wait_ns = self.feed.on_silence(ctx.monotonic_ns())
            if stale is not None:
                self._carry_out(stale, ctx.monotonic_ns(), ctx)
            if wait_ns is not None:
                self._arm_watchdog(wait_ns, ctx)
        elif isinstance(message, _ResyncRetry):
            self._retry_armed = False
            if self.feed.resync_reason is not None:
                self._request_resync(self.feed.resync_reason, ctx)
        elif isinstance(message, SpecChanged):
            if message.instrument == self.config.instrument and (
                message.new.tick_size != self.feed.tick or message.new.lot_step != self.feed.lot
            ):
                step = self.feed.respec(message.new.tick_size, message.new.lot_step)
                self._carry_out(step, message.recv_ns, ctx)
        elif isinstance(message, Subscribe):
            self._subscribe(message)
            if self.feed.healthy:
                self._tell(message.ref, self.feed.top(message.depth), ctx)
        elif isinstance(message, Unsubscribe):
            self.subscribers.pop(message.ref, None)
            self._no_trades.discard(message.ref)
            self._index()
        else:
            ctx.count("troupe_book_ignored_total", kind=type(message).__name__)
        return None

    def _on_feed(self, event: FeedEvent, ctx: Context) -> None:
        if event.instrument != self.config.instrument:
            ctx.count("troupe_book_ignored_total", kind="misrouted")
            return
        message, kind = event.message, type(event.message)
        if kind is binance.TradeInUnits:
            # Most frames: the print and its count, what the step would carry, without one.
            trade = self.feed.print_of(message, event.recv_ns)
            if trade is not None:
                ctx.count("troupe_book_trades_total", 1)
                self._tell_trades((trade,), ctx)
                return
        now_ns = ctx.monotonic_ns()
        if kind is binance.DepthDiffInUnits:  # most of the rest: the usual diff's own path
            chained = self.feed.on_chained_diff(message, event.recv_ns, now_ns)
            if chained is _PUBLISHED:  # what `_carry_out` does with it, read from no step
                ctx.count("troupe_book_updates_total", 1)
                self._publish_top(ctx)
                if not self._watchdog_armed:
                    self._arm_watchdog(self.config.max_age_ns, ctx)
                return
            if chained is not None:
                self._carry_out(chained, event.recv_ns, ctx)
                return
        step = self.feed.on_message(message, event.recv_ns, now_ns)
        self._carry_out(step, event.recv_ns, ctx)

    def _carry_out(self, step: Step, recv_ns: int, ctx: Context) -> None:
        for metric, amount, labels in step.counts:
            ctx.count(metric, amount, **labels)
        if step.trades:
            self._tell_trades(step.trades, ctx)
        if step.stale is not None:
            self._publish(BookStale(self.config.instrument, step.stale, recv_ns), ctx)
        if step.resync is not None:
            self._request_resync(step.resync, ctx)
        if step.publish:
            self._publish_top(ctx)
        if step.applied and not self._watchdog_armed:
            self._arm_watchdog(self.config.max_age_ns, ctx)

    def _publish_top(self, ctx: Context) -> None:
        """The book's top to every subscriber, at the depth it asked for."""
        if self._retry_armed:
            ctx.cancel_timer(_RESYNC)
            self._retry_armed = False
        tell, refused, depth = ctx.tell, 0, self._one_depth
        if depth is not None:  # the usual: one top for every subscriber
            top = self.feed.top(depth)
            for ref in self.subscribers:
                if tell(ref, top) is not None:
                    refused += 1
        else:
            tops: dict[int, BookTop] = {}
            for ref, depth in self.subscribers.items():
                top_of = tops.get(depth)
                if top_of is None:
                    top_of = tops[depth] = self.feed.top(depth)
                if tell(ref, top_of) is not None:
                    refused += 1
        if refused:
            ctx.count("troupe_book_publish_refused_total", refused)

    def _tell_trades(self, trades: Iterable[TradePrint], ctx: Context) -> None:
        tell, refused = ctx.tell, 0
        for trade in trades:
            for ref in self._trade_subscribers:
                if tell(ref, trade) is not None:
                    refused += 1
        if refused:
            ctx.count("troupe_book_publish_refused_total", refused)

    def _publish(self, message: Any, ctx: Context) -> None:
        for ref in self.subscribers:
            self._tell(ref, message, ctx)

    def _tell(self, ref: Any, message: Any, ctx: Context) -> None:
        if ctx.tell(ref, message) is not None:
            ctx.count("troupe_book_publish_refused_total")

    def _request_resync(self, reason: str, ctx: Context) -> None:
        ctx.count("troupe_book_resyncs_total", reason=reason)
        if self.resync is not None:
            ctx.tell(self.resync, ResyncRequest(self.config.instrument, reason))
        if self.config.resync_retry_ns is not None:
            ctx.schedule(self.config.resync_retry_ns / SECOND, _ResyncRetry(), key=_RESYNC)
            self._retry_armed = True

    def _arm_watchdog(self, wait_ns: int, ctx: Context) -> None:
        self._watchdog_armed = True
        ctx.schedule(wait_ns / SECOND, _FreshnessCheck(), key=_WATCHDOG)

    def snapshot(self) -> dict[str, Any]:
        feed, book = self.feed, self.feed.sync.book
        return {
            "instrument": self.config.instrument, "venue": self.config.venue,
            "state": feed.sync.state.value, "stale_reason": feed.stale_reason,
            "sequence": feed.sequence, "best_bid": book.best_bid, "best_ask": book.best_ask,
            "subscribers": len(self.subscribers),
        }


@attrs.frozen(slots=True)
class _FreshnessCheck:
    """The watchdog's timer message."""


@attrs.frozen(slots=True)
class _ResyncRetry:
    """Ask for the snapshot again if the book is still waiting for one."""
