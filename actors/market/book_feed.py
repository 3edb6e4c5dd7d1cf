"""The order book's pure core: venue messages in, `Step`s out (`BookFeed`), for one instrument.

`BookFeed` holds the venue's sync machine (`actors.market.l2_book`: BinanceBookSync,
HyperliquidBookSync) and turns its outcomes into decisions: publish the top, go stale (and
why), ask for a snapshot, the trades to print, the counts to record. It has no clock, no refs
and no metrics sink, so the book actor (`actors.market.book_actor`, which carries the steps
out and holds the rules' full description), the simulated venue and the backtest share it.

The usual message after a trade, a converted diff that chains onto a healthy book, takes a path
of its own (`BookFeed.on_chained_diff`): none of the other rules' tests and no new `Step`, the
shared read-only `PUBLISHED` instead; what it does is the step path's, effect for effect
(tests/actors/market/test_book_diff_path.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from actors.market.l2_book import (
    BinanceBookSync,
    HyperliquidBookSync,
    SyncOutcome,
    SyncResult,
    SyncState,
)
from protocols.codec import DecodeError, LevelConverter, Side, TradeDeduper
from protocols.feed import Stream
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop, TradePrint
from protocols.venues import binance, hyperliquid

__all__ = ["PUBLISHED", "SECOND", "BookConfig", "BookFeed", "Step"]

_BINANCE_DEPTH = (binance.DepthDiff, binance.DepthSnapshot, binance.DepthDiffInUnits)

SECOND = 1_000_000_000
MS = 1_000_000
VENUES = ("binance", "hyperliquid")
_TRADE_COUNT: tuple[str, int, dict[str, str]] = ("troupe_book_trades_total", 1, {})
_UPDATE_COUNT: tuple[str, int, dict[str, str]] = ("troupe_book_updates_total", 1, {})
_BUY, _SELL = Side.BUY, Side.SELL  # an enum member read through its class costs ~10x a global


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
PUBLISHED = _published()


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
            if self.deep_pending:  # the last diff's levels first, whatever this message is
                self._flush_into(step, now_ns)
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

    @property
    def deep_pending(self) -> bool:
        """Whether the last diff's deferred levels wait to be applied (`flush_deep`)."""
        sync = self.sync
        return type(sync) is BinanceBookSync and sync.pending_deep is not None

    def flush_deep(self, now_ns: int) -> Step | None:
        """Apply the last diff's deferred levels, if any wait: None if none did. The step
        publishes the top again if they moved it (counted: troupe_book_deep_top_moved_total),
        and goes stale, asking for a snapshot, if one did not count."""
        if not self.deep_pending:
            return None
        step = Step()
        self._flush_into(step, now_ns)
        return step

    def _flush_into(self, step: Step, now_ns: int) -> None:
        sync = self.sync
        assert isinstance(sync, BinanceBookSync)
        try:
            moved = sync.flush_deep()
        except DecodeError:
            step.count("troupe_book_decode_errors_total")
            self._go_stale("decode_error", step, resync=True)
            return
        if not moved:
            return
        step.count("troupe_book_deep_top_moved_total")
        if sync.book.crossed:
            step.count("troupe_book_crossed_total")
            self.sync = self._new_sync()
            self._go_stale("crossed", step, resync=True)
        elif self.stale_reason is None:  # the corrected top, as a new version
            self.sequence += 1
            self.last_applied_ns = now_ns
            step.applied, step.publish = 1, True
            step.counts.append(_UPDATE_COUNT)

    def on_chained_diff(self, diff: binance.DepthDiffInUnits, recv_ns: int,
                        now_ns: int, defer: bool = False) -> Step | None:
        """`on_message` for the usual diff, or None with nothing changed (`on_message` then
        decides): a healthy Binance book, the diff's venue time not going back, the diff in the
        book's very units and chained onto the last one (`BinanceBookSync.on_chained_diff`).
        Applied and not crossed, it is `PUBLISHED`: a top to publish and one update to count,
        what the step of `on_message` says then (proven the same, effect for effect, by
        tests/actors/market/test_book_diff_path.py); a crossed book gets its own step.
        With `defer`, a diff's deferred levels may be left for `flush_deep`
        (`BinanceBookSync.on_chained_diff`); without, such a diff goes to `on_message`."""
        sync, venue_ms, latest = self.sync, diff.event_time_ms, self.max_venue_ms
        if self.stale_reason is not None or self.one_sided or not isinstance(
                sync, BinanceBookSync) or (latest is not None and venue_ms < latest):
            return None
        try:
            result = sync.on_chained_diff(diff, recv_ns, defer)
        except DecodeError:  # a deferred level that does not count, the head applied
            step = Step()
            step.count("troupe_book_decode_errors_total")
            self._go_stale("decode_error", step, resync=True)
            return step
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
        return PUBLISHED

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
