"""The OrderBook actor: one per instrument, between a venue connection and the strategies.

    connection --FeedEvent--> OrderBookActor --BookTop / BookStale / TradePrint--> subscribers
         ^                          |
         +------ResyncRequest-------+

The venue rules live in `actors.market.l2_book` (BinanceBookSync, HyperliquidBookSync).
`BookFeed` (`actors.market.book_feed`) is the pure layer that turns their outcomes into
decisions (publish, go stale, ask for a snapshot); `OrderBookActor` only carries those out
through its context. Rules:

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
- Deep levels after the top: the live Binance decode converts only a diff side's first levels
  and leaves the rest (`DeepLevels`, most of a diff of hundreds of levels) for the book. When
  every subscriber reads the top alone (depth 0), the book applies the first levels (and more,
  doubling, while the nearest deferred level of a side could still be at its top: a sweep that
  took the top levels), publishes the top, and applies the rest on a timer due at once (it fires
  when the loop's current chain is done: the order that top caused is not kept waiting) or
  before anything else that reads or changes its levels, whichever comes first (counted:
  troupe_book_deep_deferred_total). A side comes best first from the venue, so the rest never
  moves the top; if a venue's did, the book publishes the top it makes at once
  (troupe_book_deep_top_moved_total), and a deferred level that does not count makes the book
  stale ("decode_error") and asks for a snapshot, as a diff that does not decode does.
  (tests/actors/market/test_book_deep_levels.py: the same tops and the same book as the whole
  diffs, over the shipped recording and random diffs.)

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
troupe_book_bbo_null_side_total, troupe_book_deep_deferred_total,
troupe_book_deep_top_moved_total.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from actors.market.book_feed import PUBLISHED, SECOND, BookConfig, BookFeed, Step
from protocols.feed import FeedBatch, FeedEvent, ResyncRequest, Subscribe, Unsubscribe
from protocols.market import BookStale, BookTop, SpecChanged, TradePrint
from protocols.venues import binance

__all__ = ["OrderBookActor", "book_conflation_key"]

_WATCHDOG = "book.freshness"
_RESYNC = "book.resync"
_DEEP = "book.deep"


def book_conflation_key(message: Any) -> Hashable | None:
    """For a subscriber's `ConflateByKey`: the newest BookTop per instrument replaces a queued
    one; trades, stale notices, fills and everything else are never conflated (None)."""
    if type(message) is BookTop:
        return message.instrument
    return None


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
        elif type(message) is _DeepLevelsDue:
            self._flush_deep(ctx.monotonic_ns(), ctx)
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
            self._flush_deep(ctx.monotonic_ns(), ctx)  # its top may show levels in depth
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
        feed = self.feed
        if kind is binance.DepthDiffInUnits:  # most of the rest: the usual diff's own path
            if feed.deep_pending:
                self._flush_deep(now_ns, ctx)
            chained = feed.on_chained_diff(message, event.recv_ns, now_ns,
                                           self._one_depth == 0)
            if chained is PUBLISHED:  # what `_carry_out` does with it, read from no step
                ctx.count("troupe_book_updates_total", 1)
                self._publish_top(ctx)
                if feed.deep_pending:  # the rest of the diff when the loop has time
                    ctx.count("troupe_book_deep_deferred_total", 1)
                    ctx.schedule(0.0, _DEEP_MESSAGE, key=_DEEP)
                if not self._watchdog_armed:
                    self._arm_watchdog(self.config.max_age_ns, ctx)
                return
            if chained is not None:
                self._carry_out(chained, event.recv_ns, ctx)
                return
        step = feed.on_message(message, event.recv_ns, now_ns)
        self._carry_out(step, event.recv_ns, ctx)

    def _flush_deep(self, now_ns: int, ctx: Context) -> None:
        step = self.feed.flush_deep(now_ns)
        if step is not None:
            self._carry_out(step, self.feed.last_recv_ns, ctx)

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
class _DeepLevelsDue:
    """Apply the last diff's deferred levels (`BookFeed.flush_deep`), if they still wait."""


_DEEP_MESSAGE = _DeepLevelsDue()


@attrs.frozen(slots=True)
class _FreshnessCheck:
    """The watchdog's timer message."""


@attrs.frozen(slots=True)
class _ResyncRetry:
    """Ask for the snapshot again if the book is still waiting for one."""
