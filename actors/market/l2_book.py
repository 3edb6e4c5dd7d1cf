"""L2 order book in integer ticks and lots, and the pure sync state machines that feed it.

`OrderBook` is a plain data structure; `BinanceBookSync` and `HyperliquidBookSync` decide which
venue messages may touch it. They take parsed messages (from `protocols`) plus the monotonic
receive time as an int passed in by the caller, and return a small `SyncResult` value: they never
read a clock, log or raise on venue misbehaviour, so the book actor stays a pure function of its
input and the same code runs live, in a backtest and in tests.

Performance design (target >= 1M level updates/s on CPython): each side is a dict price -> qty,
so updating an existing level is one dict store. The best price comes from a heap of prices with
lazy deletion: inserting a new level pushes its price, deleting a level only removes it from the
dict, and settling the best after an update pops heap entries that are no longer in the dict. A
price deleted and re-added may sit in the heap twice; the heap is rebuilt from the dict when it
grows past twice the level count. The best bid and ask are settled once per update and read as
plain attributes: every update's top is read several times (the crossed check, the published
top, the simulated venue's matching and mid), and a lazy read paid a property call and a look at
the heap each time (7 % of the book's work per diff with its reads). Top-N depth is computed on
demand from the dict, since it is read far less often than levels change.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from heapq import heapify, heappop, heappush, nlargest, nsmallest

import attrs

from protocols.codec import DecodeError, LevelConverter, Side, levels_to_units, parse_units
from protocols.venues.binance import (
    AnyDepthDiff,
    DeepLevels,
    DepthDiff,
    DepthDiffInUnits,
    DepthSnapshot,
)
from protocols.venues.hyperliquid import L2Book

__all__ = [
    "BinanceBookSync",
    "HyperliquidBookSync",
    "OrderBook",
    "SyncOutcome",
    "SyncResult",
    "SyncState",
    "levels_to_units",  # re-exported from protocols.codec for callers that hold a book
    "parse_units",
]

IntLevels = Sequence[tuple[int, int]]


class OrderBook:
    """Both sides of one instrument's book. Quantities are absolute; a quantity of 0 deletes.

    Prices are ticks and sizes lots, both ints. The mid is exposed as `mid_x2`, bid + ask in
    ticks (twice the mid), because the mid of a one-tick spread is a half tick and an int keeps
    it exact; `mid_price(tick)` gives the Decimal price. Callers pass non-negative ints: the
    per-level hot path does not re-validate what the codec's conversion already checked.
    """

    __slots__ = ("_ask_heap", "_asks", "_bid_heap", "_bids", "best_ask", "best_bid",
                 "last_update_ns")

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_heap: list[int] = []  # negated prices: heapq is a min-heap
        self._ask_heap: list[int] = []
        # The best prices (None: that side is empty), settled after every update. Read-only.
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self.last_update_ns: int | None = None  # monotonic receive time of the last update

    def apply_snapshot(self, bids: IntLevels, asks: IntLevels, recv_ns: int) -> None:
        """Replace both sides. Zero quantities are skipped; a repeated price keeps its last qty."""
        self._bids = {p: q for p, q in dict(bids).items() if q}
        self._asks = {p: q for p, q in dict(asks).items() if q}
        self._bid_heap = [-p for p in self._bids]
        self._ask_heap = list(self._asks)
        heapify(self._bid_heap)
        heapify(self._ask_heap)
        self.last_update_ns = recv_ns
        self._settle()

    def apply_diff(self, bids: IntLevels, asks: IntLevels, recv_ns: int) -> None:
        """Apply one venue diff: absolute quantity per level, 0 deletes (absent levels ignored)."""
        levels, heap = self._bids, self._bid_heap
        for price, qty in bids:
            if qty:
                if price not in levels:
                    heappush(heap, -price)
                levels[price] = qty
            elif price in levels:
                del levels[price]
        levels, heap = self._asks, self._ask_heap
        for price, qty in asks:
            if qty:
                if price not in levels:
                    heappush(heap, price)
                levels[price] = qty
            elif price in levels:
                del levels[price]
        self.last_update_ns = recv_ns
        self._settle()

    def apply_updates(self, updates: Iterable[tuple[Side, int, int]], recv_ns: int) -> None:
        """Apply `(side, price_ticks, qty_lots)` updates; Side.BUY is the bid side."""
        bids, asks, bid_heap, ask_heap = self._bids, self._asks, self._bid_heap, self._ask_heap
        buy = Side.BUY
        for side, price, qty in updates:
            if side is buy:
                if qty:
                    if price not in bids:
                        heappush(bid_heap, -price)
                    bids[price] = qty
                elif price in bids:
                    del bids[price]
            elif qty:
                if price not in asks:
                    heappush(ask_heap, price)
                asks[price] = qty
            elif price in asks:
                del asks[price]
        self.last_update_ns = recv_ns
        self._settle()

    def _settle(self) -> None:
        """After an update: bound the heaps' stale entries (rebuilding is O(n) and happens at
        most once per n pushes), then drop the deleted prices off their tops: the best."""
        levels, heap = self._bids, self._bid_heap
        if len(heap) > 2 * len(levels) + 64:
            heap = self._bid_heap = [-p for p in levels]
            heapify(heap)
        while heap and -heap[0] not in levels:
            heappop(heap)
        self.best_bid = -heap[0] if heap else None
        levels, heap = self._asks, self._ask_heap
        if len(heap) > 2 * len(levels) + 64:
            heap = self._ask_heap = list(levels)
            heapify(heap)
        while heap and heap[0] not in levels:
            heappop(heap)
        self.best_ask = heap[0] if heap else None

    @property
    def spread(self) -> int | None:
        """best_ask - best_bid in ticks (negative or zero when crossed); None if a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else ask - bid

    @property
    def mid_x2(self) -> int | None:
        """best_bid + best_ask in ticks: twice the mid, kept an int so a half tick stays exact."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else ask + bid

    def mid_price(self, tick: Decimal) -> Decimal | None:
        mid_x2 = self.mid_x2
        return None if mid_x2 is None else Decimal(mid_x2) * tick / 2

    @property
    def crossed(self) -> bool:
        """best_bid >= best_ask: impossible on a live venue, so the book is inconsistent."""
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask

    def depth(self, side: Side, n: int) -> list[tuple[int, int]]:
        """The best `n` levels of one side, best first, as (price_ticks, qty_lots)."""
        if side is Side.BUY:
            return [(p, self._bids[p]) for p in nlargest(n, self._bids)]
        return [(p, self._asks[p]) for p in nsmallest(n, self._asks)]

    def top_sizes(self) -> tuple[int, int]:
        """The sizes at the best bid and the best ask, 0 for an empty side: read once per
        published top, in one call."""
        bid, ask = self.best_bid, self.best_ask
        return (0 if bid is None else self._bids[bid]), (0 if ask is None else self._asks[ask])

    def qty_at(self, side: Side, price: int) -> int:
        return (self._bids if side is Side.BUY else self._asks).get(price, 0)

    def level_count(self, side: Side) -> int:
        return len(self._bids if side is Side.BUY else self._asks)

    def is_fresh(self, now_ns: int, max_age_ns: int) -> bool:
        """Whether the last update was received at most `max_age_ns` before `now_ns`."""
        last = self.last_update_ns
        return last is not None and now_ns - last <= max_age_ns


class SyncState(enum.Enum):
    AWAITING_SNAPSHOT = "awaiting_snapshot"
    SYNCED = "synced"
    STALE = "stale"  # a gap or an unjoinable snapshot: needs a new snapshot


class SyncOutcome(enum.Enum):
    APPLIED = "applied"  # a diff changed the book
    BUFFERED = "buffered"  # kept until a snapshot arrives
    DROPPED = "dropped"  # older than the book (u <= last update id)
    GAP_DETECTED = "gap_detected"  # the stream skipped updates: book is STALE, fetch a snapshot
    RESYNC_NEEDED = "resync_needed"  # the snapshot does not join the stream: fetch another
    SNAPSHOT_APPLIED = "snapshot_applied"
    IGNORED = "ignored"  # a snapshot older than the book


@attrs.frozen(slots=True)
class SyncResult:
    """What one message did. `crossed` reports an inconsistent book; the caller decides."""

    outcome: SyncOutcome
    crossed: bool = False
    applied: int = 0  # diffs applied by this call (a snapshot replays the buffered ones)


_APPLIED = SyncResult(SyncOutcome.APPLIED, applied=1)
_APPLIED_CROSSED = SyncResult(SyncOutcome.APPLIED, crossed=True, applied=1)
_BUFFERED = SyncResult(SyncOutcome.BUFFERED)
_DROPPED = SyncResult(SyncOutcome.DROPPED)
_GAP = SyncResult(SyncOutcome.GAP_DETECTED)
_RESYNC = SyncResult(SyncOutcome.RESYNC_NEEDED)
_IGNORED = SyncResult(SyncOutcome.IGNORED)


class BinanceBookSync:
    """Binance spot diff-depth sync: buffer diffs, join a REST snapshot, then chain `U == u+1`.

    Rules: diffs are buffered until a snapshot arrives; diffs with `u <= lastUpdateId` are
    dropped; the first applied diff must have `U <= lastUpdateId + 1 <= u`; each later one must
    have `U == previous u + 1`. A break marks the book STALE: it publishes nothing and buffers
    diffs until a new snapshot, which joins the buffered stream the same way. A diff whose levels
    do not decode raises DecodeError and also leaves the book STALE (the book never half-applies).

    Counters: `applied`, `dropped`, `buffered` (diffs), `gaps` (sequence breaks after a join),
    `stale_snapshots` (snapshots that could not be joined), `snapshots` (taken), `resyncs`
    (snapshots taken while STALE) and `crossed` (times the book was crossed after a change).

    USD-M futures diffs carry `pu` (`prev_final_update_id`) and follow Binance's futures rules
    instead, chosen per diff by its presence: drop diffs with `u < lastUpdateId`; the first
    applied diff must have `U <= lastUpdateId <= u`; each later one must have `pu == previous u`
    (futures update ids are not consecutive, so `U == u + 1` cannot be asked of them).
    """

    def __init__(self, tick: Decimal, lot: Decimal, max_buffer: int = 1000) -> None:
        self.book = OrderBook()
        self.state = SyncState.AWAITING_SNAPSHOT
        self.tick, self.lot = tick, lot
        self._units = LevelConverter(tick, lot)
        # Bounded: when it overflows the oldest diffs go, and the next snapshot will not join
        # (RESYNC_NEEDED), which is the correct outcome rather than a silent hole.
        self._buffer: deque[tuple[AnyDepthDiff, int]] = deque(maxlen=max_buffer)
        self._last_id = -1  # update id the book reflects (snapshot's lastUpdateId or diff's u)
        self._joined = False  # a diff has been applied on top of the current snapshot
        self.applied = self.dropped = self.buffered = self.gaps = 0
        self.resyncs = self.snapshots = self.stale_snapshots = self.crossed = 0
        # The deferred levels of the last diff applied (`on_chained_diff` with `defer`) and its
        # receive time: `flush_deep` applies them, before anything else reads or changes the
        # book's levels.
        self.pending_deep: tuple[DeepLevels, int] | None = None

    @property
    def last_update_id(self) -> int:
        return self._last_id

    def published(self) -> OrderBook | None:
        """The book when it may be shown to strategies, None while unsynced or stale."""
        return self.book if self.state is SyncState.SYNCED else None

    def in_units(self, diff: DepthDiff) -> DepthDiffInUnits:
        """The diff with its levels converted to this book's ticks and lots, once, so the same
        object can feed several books of the same units. DecodeError if a level is off-unit."""
        units = self._units
        return DepthDiffInUnits(diff.symbol, diff.event_time_ms, diff.first_update_id,
                                diff.final_update_id, self.tick, self.lot,
                                tuple(units.convert(diff.bids)), tuple(units.convert(diff.asks)),
                                diff.prev_final_update_id, diff.transaction_time_ms)

    def _levels(self, diff: AnyDepthDiff) -> tuple[IntLevels, IntLevels]:
        if type(diff) is DepthDiffInUnits:
            tick, lot = diff.tick, diff.lot  # `is` first: usually the very Decimals of our spec
            if not (tick is self.tick or tick == self.tick) or \
                    not (lot is self.lot or lot == self.lot):
                raise DecodeError(f"levels in units {diff.tick}/{diff.lot}, the book's are "
                                  f"{self.tick}/{self.lot}")
            diff = diff.whole()  # its deferred levels too, if any
            return diff.bids, diff.asks
        units = self._units
        return units.convert(diff.bids), units.convert(diff.asks)

    def on_diff(self, diff: AnyDepthDiff, recv_ns: int) -> SyncResult:
        if self.state is not SyncState.SYNCED:
            self._buffer.append((diff, recv_ns))
            self.buffered += 1
            return _BUFFERED
        return self._step(diff, recv_ns)

    def on_snapshot(self, snapshot: DepthSnapshot, recv_ns: int) -> SyncResult:
        if self.state is SyncState.SYNCED and snapshot.last_update_id <= self._last_id:
            return _IGNORED
        if self.state is SyncState.STALE:
            self.resyncs += 1
        self.snapshots += 1
        units = self._units
        bids, asks = units.convert(snapshot.bids), units.convert(snapshot.asks)
        self.book.apply_snapshot(bids, asks, recv_ns)
        self.pending_deep = None  # an older diff's: the snapshot is newer
        self._last_id, self._joined = snapshot.last_update_id, False
        self.state = SyncState.SYNCED
        pending = list(self._buffer)
        self._buffer.clear()
        applied = 0
        for i, (diff, diff_ns) in enumerate(pending):
            try:
                result = self._step(diff, diff_ns)
            except DecodeError:
                self._buffer.extend(pending[i + 1 :])
                raise
            if self.state is not SyncState.SYNCED:
                # _step buffered the offending diff; keep the newer ones for the next snapshot.
                self._buffer.extend(pending[i + 1 :])
                return SyncResult(result.outcome, applied=applied)
            applied += result.applied
        # Replayed diffs were received before the snapshot, which is the newest receipt.
        self.book.last_update_ns = recv_ns
        crossed = self.book.crossed
        if crossed and not applied:  # otherwise _step counted it after the last replayed diff
            self.crossed += 1
        return SyncResult(SyncOutcome.SNAPSHOT_APPLIED, crossed=crossed, applied=applied)

    def _step(self, diff: AnyDepthDiff, recv_ns: int) -> SyncResult:
        last = self._last_id
        prev = diff.prev_final_update_id
        if prev is None:  # spot
            if diff.final_update_id <= last:
                self.dropped += 1
                return _DROPPED
            if self._joined:
                if diff.first_update_id != last + 1:
                    self.gaps += 1
                    return self._go_stale(diff, recv_ns, _GAP)
            elif diff.first_update_id > last + 1:
                # The snapshot is older than the oldest diff we still have: updates are missing.
                self.stale_snapshots += 1
                return self._go_stale(diff, recv_ns, _RESYNC)
        elif self._joined:  # USD-M futures, chained on pu
            if diff.final_update_id <= last:
                self.dropped += 1
                return _DROPPED
            if prev != last:
                self.gaps += 1
                return self._go_stale(diff, recv_ns, _GAP)
        else:
            if diff.final_update_id < last:
                self.dropped += 1
                return _DROPPED
            if diff.first_update_id > last:
                self.stale_snapshots += 1
                return self._go_stale(diff, recv_ns, _RESYNC)
        bids: IntLevels
        asks: IntLevels
        if type(diff) is DepthDiffInUnits and diff.tick is self.tick and diff.lot is self.lot \
                and diff.deep is None:
            bids, asks = diff.bids, diff.asks  # in this book's very units: as they are
        else:
            try:
                bids, asks = self._levels(diff)
            except DecodeError:
                # The book cannot take this diff, so the stream now has a hole: stale, and
                # re-raise.
                self.state = SyncState.STALE
                raise
        return self._apply(bids, asks, diff.final_update_id, recv_ns)

    def on_chained_diff(self, diff: DepthDiffInUnits, recv_ns: int,
                        defer: bool = False) -> SyncResult | None:
        """`on_diff` for the usual diff, or None with nothing changed (`on_diff` then decides):
        the book synced and joined, the diff in its very units (`is`: the Decimals of our spec)
        and chained onto the last applied one (spot `U == u + 1`, USD-M `pu == u`), newer than
        it. Those are the diffs `_step` applies at once; this skips its other rules' tests.

        A diff with deferred levels (`diff.deep`) is taken only with `defer`: its first levels
        are applied, then deferred ones, more each time, on a side whose nearest deferred level
        could still be at the top (a bid at or above the new best bid, an ask at or below the
        best ask, or a side left empty: a side's levels come best first), and the rest are
        left in `pending_deep`. DecodeError (the book STALE, as for any diff it cannot take)
        for a deferred level that does not count, when it has to be applied at once."""
        if self.state is not SyncState.SYNCED or not self._joined \
                or diff.tick is not self.tick or diff.lot is not self.lot \
                or self.pending_deep is not None:
            return None
        last, prev = self._last_id, diff.prev_final_update_id
        if diff.final_update_id <= last \
                or (diff.first_update_id != last + 1 if prev is None else prev != last):
            return None
        deep = diff.deep
        if deep is None:
            return self._apply(diff.bids, diff.asks, diff.final_update_id, recv_ns)
        if not defer:
            return None
        try:
            near_bid, near_ask = deep.nearest()
        except DecodeError:
            return None  # `on_diff` decides, and words the error
        book = self.book
        book.apply_diff(diff.bids, diff.asks, recv_ns)
        more = max(8, len(diff.bids) + len(diff.asks))
        while True:
            bid, ask = book.best_bid, book.best_ask
            bids_near = near_bid is not None and (bid is None or bid <= near_bid)
            asks_near = near_ask is not None and (ask is None or ask >= near_ask)
            if not bids_near and not asks_near:
                break
            try:  # a sweep took the top levels: the next ones may be deferred, apply more
                bids, asks, deep = deep.split(more if bids_near else 0, more if asks_near else 0)
                book.apply_diff(bids, asks, recv_ns)
                near_bid, near_ask = deep.nearest()
            except DecodeError:
                self.state = SyncState.STALE
                raise
            more *= 2
        if len(deep):
            self.pending_deep = (deep, recv_ns)
        self._last_id, self._joined = diff.final_update_id, True
        self.applied += 1
        if bid is not None and ask is not None and bid >= ask:
            self.crossed += 1
            return _APPLIED_CROSSED
        return _APPLIED

    def flush_deep(self) -> bool:
        """Apply `pending_deep`, if any. True if that moved the top (best prices or their
        sizes): a deferred level was at the top after all, so the top published without it
        was wrong; it cannot be when the venue sends a side best first. DecodeError (the book
        STALE) for a level that does not count."""
        pending = self.pending_deep
        if pending is None:
            return False
        self.pending_deep = None
        deep, recv_ns = pending
        book = self.book
        before = book.best_bid, book.best_ask, book.top_sizes()
        try:
            bids, asks = deep.convert()
        except DecodeError:
            self.state = SyncState.STALE
            raise
        book.apply_diff(bids, asks, recv_ns)
        moved = (book.best_bid, book.best_ask, book.top_sizes()) != before
        if moved and book.crossed:
            self.crossed += 1
        return moved

    def _apply(self, bids: IntLevels, asks: IntLevels, final_id: int,
               recv_ns: int) -> SyncResult:
        book = self.book
        book.apply_diff(bids, asks, recv_ns)
        self._last_id, self._joined = final_id, True
        self.applied += 1
        bid, ask = book.best_bid, book.best_ask
        if bid is not None and ask is not None and bid >= ask:  # crossed
            self.crossed += 1
            return _APPLIED_CROSSED
        return _APPLIED

    def _go_stale(self, diff: AnyDepthDiff, recv_ns: int, result: SyncResult) -> SyncResult:
        self.state = SyncState.STALE
        self._buffer.append((diff, recv_ns))
        self.buffered += 1
        return result


class HyperliquidBookSync:
    """Hyperliquid `l2Book`: every message is a full snapshot, so syncing is replacing.

    The one hazard is order: a snapshot whose venue `time` is older than the last applied one
    (a reconnect race, a replayed frame) would roll the book back, so it is ignored and counted
    in `regressions`. Equal times are applied: the content is the same and it proves liveness.
    """

    def __init__(self, tick: Decimal, lot: Decimal) -> None:
        self.book = OrderBook()
        self.state = SyncState.AWAITING_SNAPSHOT
        self._units = LevelConverter(tick, lot)
        self.last_time_ms: int | None = None
        self.applied = self.regressions = self.crossed = 0

    def published(self) -> OrderBook | None:
        return self.book if self.state is SyncState.SYNCED else None

    def on_l2book(self, message: L2Book, recv_ns: int) -> SyncResult:
        if self.last_time_ms is not None and message.time_ms < self.last_time_ms:
            self.regressions += 1
            return _IGNORED
        units = self._units
        bids, asks = units.convert(message.bids), units.convert(message.asks)
        self.book.apply_snapshot(bids, asks, recv_ns)
        self.last_time_ms = message.time_ms
        self.state = SyncState.SYNCED
        self.applied += 1
        crossed = self.book.crossed
        if crossed:
            self.crossed += 1
        return SyncResult(SyncOutcome.SNAPSHOT_APPLIED, crossed=crossed)
