"""Order book benchmark: level updates per second on the recorded Binance BTCUSDT depth stream.

    python -m benchmarks.book --json out/book.json [--data supervision/sources/data] [--repeat 9]

Every depth diff after the REST snapshot is pre-parsed into integer (price_ticks, qty_lots)
levels. One pass starts from the snapshot (untimed) and applies every diff in order, reading the
best bid and best ask after each one, as the book actor does to publish top of book; that read
matters, because a lazily maintained best is only cheap if reading it is too. The pass is timed
`--repeat` times in CPU time (the machine is shared) and the MEDIAN pass is reported (best-of
alongside).

Measured side by side in the same process, on the same updates:
- `OrderBook.apply_diff` (the headline `level_updates_per_s`) and `apply_updates` fed flat
  (side, price, qty) triples;
- baseline: per side a dict plus a sorted price list kept with `bisect` (insort / delete);
- naive: per side a dict, best recomputed with max()/min() on every read;
- sync end to end: `BinanceBookSync.on_diff` from parsed messages, including the
  conversion of the venue's strings to ticks and lots.

And the book stage as a live node runs it (`book_stage`, CPU time per message, best of
`--stage-repeat` passes): the `OrderBookActor` handling the recording's `FeedEvent`s, diffs
with the venue's strings and trades with Decimals, as the venue connection hands them over,
publishing to four subscribers (the strategy, the risk gate, the portfolio, the monitor)
through a context that costs next to nothing. The strings are fresh objects, as a websocket
frame's decode makes them (a string's hash is computed once and then cached on it). Reported:
the mean and median depth message, and the median of the diffs that moved the best bid or ask
(279 of 3,449, 118 levels at the median against 15: the diffs a market maker answers, whose
book work is what tick-to-trade waits for), and a trade. Three runs: one book; `--books N`
(20) books taking every message in turn with strings of their own (each book's strings end in
its own number of zeros: the same numbers, as different instruments have different strings),
so their state competes for the caches as in a node; and N clones given the same strings, as
the tick-to-trade load's cloned instruments are.

Then the decode and book stages from the websocket frame's text (`benchmarks.book_frames`): the
venue connection's decode before the unit path (the venue's strings, converted by the book) and
the live transport's (straight into ticks and lots; the book applies them), alternated pass by
pass from cold memos, one book and N clones, decode and book timed apart per frame. Last, the
frame path: each frame as the reader hands it over (`WsFrame`) through the venue connection and
the live transport into the N clones' book actors, CPU per frame.

    python -m benchmarks.book --frame-stage [--books 20] [--stage-repeat 3]

runs the decode and book stages from the frame's text alone, with their figures by diff size
(levels): the A/B for a change to the decode or the book's diff.

    python -m benchmarks.book --instructions [--books 4]

counts the frame path's instructions under cachegrind instead (one pass from cold memos, less
the process's setup): the A/B figure the machine's load cannot move.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Hashable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from actors.market.l2_book import BinanceBookSync, OrderBook, levels_to_units
from benchmarks import book_frames
from protocols.codec import Side
from protocols.feed import FeedEvent
from protocols.recording import iter_messages
from protocols.venues.binance import DepthDiff, DepthSnapshot, Trade
from supervision.sources.data import DATA_DIR

RECORDING = "binance_spot_btcusdt_20240808.gz"
DEFAULT_DATA = DATA_DIR  # the recordings shipped in supervision/sources/data
TICK = Decimal("0.01")
LOT = Decimal("0.00000001")  # the wire's precision: aggregated level sizes can be finer than lots

Pairs = list[tuple[int, int]]
Diff = tuple[Pairs, Pairs]


class SortedListBook:
    """Baseline: dict per side for quantities plus a sorted price list (bisect) for order."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []
        self.ask_prices: list[int] = []

    def apply_snapshot(self, bids: Pairs, asks: Pairs) -> None:
        self.bids, self.asks = dict(bids), dict(asks)
        self.bid_prices, self.ask_prices = sorted(self.bids), sorted(self.asks)

    def apply_diff(self, bids: Pairs, asks: Pairs) -> None:
        for levels, prices, pairs in ((self.bids, self.bid_prices, bids),
                                      (self.asks, self.ask_prices, asks)):
            for price, qty in pairs:
                if qty:
                    if price not in levels:
                        bisect.insort(prices, price)
                    levels[price] = qty
                elif price in levels:
                    del levels[price]
                    del prices[bisect.bisect_left(prices, price)]

    def best(self) -> tuple[int | None, int | None]:
        return (self.bid_prices[-1] if self.bid_prices else None,
                self.ask_prices[0] if self.ask_prices else None)


class NaiveBook(SortedListBook):
    """Naive: dicts only; the best price is recomputed from every level on each read."""

    def apply_snapshot(self, bids: Pairs, asks: Pairs) -> None:
        self.bids, self.asks = dict(bids), dict(asks)

    def apply_diff(self, bids: Pairs, asks: Pairs) -> None:
        for levels, pairs in ((self.bids, bids), (self.asks, asks)):
            for price, qty in pairs:
                if qty:
                    levels[price] = qty
                else:
                    levels.pop(price, None)

    def best(self) -> tuple[int | None, int | None]:
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)


def load(data_dir: Path) -> tuple[DepthSnapshot, list[tuple[int, DepthDiff]],
                                 list[tuple[int, Any]]]:
    """The snapshot, the depth diffs, and every message of the recording, in order."""
    path = data_dir / RECORDING
    if not path.is_file():
        raise SystemExit(
            f"benchmarks.book: recording not found: {path}\n"
            f"pass --data DIR pointing at the directory holding {RECORDING}"
        )
    snapshot: DepthSnapshot | None = None
    diffs: list[tuple[int, DepthDiff]] = []
    messages = list(iter_messages(path))
    for ts, message in messages:
        if isinstance(message, DepthSnapshot):
            snapshot = message
        elif isinstance(message, DepthDiff):
            diffs.append((ts, message))
    if snapshot is None:
        raise SystemExit(f"benchmarks.book: {path} holds no depth snapshot")
    return snapshot, diffs, messages


class _Subscriber:
    """A subscriber's address that only counts what it is told."""

    __slots__ = ("name", "told")

    def __init__(self, name: str) -> None:
        self.name = name
        self.told: collections.Counter[str] = collections.Counter()

    def tell(self, message: Any) -> None:
        self.told[type(message).__name__] += 1


class _Context:
    """What the book actor needs of a context, at next to no cost: the bench times the book."""

    def __init__(self) -> None:
        self.now_ns = 0
        self.counts: dict[str, float] = collections.defaultdict(float)
        self.timers: dict[Hashable, Any] = {}

    def tell(self, ref: Any, message: Any) -> None:
        ref.tell(message)

    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        self.counts[metric] += amount

    def schedule(self, delay: float, message: Any, *, key: Hashable | None = None) -> Hashable:
        self.timers[key] = message
        return key

    def cancel_timer(self, key: Hashable) -> bool:
        return self.timers.pop(key, None) is not None

    def monotonic_ns(self) -> int:
        return self.now_ns


def _subscribers() -> list[_Subscriber]:
    return [_Subscriber(name) for name in ("strategy", "gate", "portfolio", "monitor")]


def _fresh(text: str, tail: str) -> str:
    return (text + tail + " ")[:-1]  # a new object (its hash not yet computed), `tail` added


def _fresh_levels(levels: tuple[tuple[str, str], ...], tail: str) -> tuple[tuple[str, str], ...]:
    return tuple([(_fresh(p, tail), _fresh(q, tail)) for p, q in levels])


def _copy(message: Any, tail: str) -> Any:
    """The message as a frame's own decode would make it: new strings for the levels, each with
    `tail` (zeros, one more per book, or none) after it: the same numbers, but strings of a
    book's own, as the different prices and sizes of different instruments would be."""
    if type(message) is DepthDiff:
        return attrs.evolve(message, bids=_fresh_levels(message.bids, tail),
                            asks=_fresh_levels(message.asks, tail))
    if type(message) is DepthSnapshot:
        return DepthSnapshot(message.last_update_id, _fresh_levels(message.bids, tail),
                             _fresh_levels(message.asks, tail))
    return message


def _chunks(feed: list[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    for start in range(0, len(feed), size):
        yield feed[start:start + size]


def book_stage(feed: list[tuple[int, Any]], books: int, *, clones: bool) -> dict[str, Any]:
    """One pass of the recording through `books` book actors, each message to each in turn.
    Returns the CPU seconds in `receive` per depth message (the books' mean; a snapshot or a
    diff), whether it moved the best bid or ask, the total for the trades, what was applied and
    what the first subscriber was told. `clones`: every book gets the recording's own strings
    (as the tick-to-trade load's cloned instruments do); otherwise each its own."""
    config = BookConfig("B", "binance", TICK, LOT)
    ctx = _Context()
    subscribers = _subscribers()
    actors = [OrderBookActor(attrs.evolve(config, instrument=f"B{i:02d}"),
                             subscribers=subscribers) for i in range(books)]
    for actor in actors:
        actor.on_start(ctx)  # type: ignore[arg-type]
    tails = [""] * books if clones else ["0" * i for i in range(books)]
    book = actors[0].feed.sync.book
    depth: list[tuple[float, bool]] = []
    trade_s = 0.0
    clock = time.process_time
    for chunk in _chunks(feed, 64):
        events = [[(actor, FeedEvent(actor.config.instrument, _copy(message, tails[i]), ts))
                   for i, actor in enumerate(actors)] for ts, message in chunk]
        for ts_events, (ts, message) in zip(events, chunk, strict=True):
            ctx.now_ns = ts
            before = book.best_bid, book.best_ask
            start = clock()
            for actor, event in ts_events:
                actor.receive(event, ctx)  # type: ignore[arg-type]
            elapsed = clock() - start
            if type(message) is Trade:
                trade_s += elapsed
            else:
                book = actors[0].feed.sync.book
                depth.append((elapsed / books, (book.best_bid, book.best_ask) != before))
    return {"depth": depth, "trade_s": trade_s,
            "applied": sum(actor.feed.sequence for actor in actors),
            "trades": sum(type(m) is Trade for _, m in feed) * books,
            "told": dict(subscribers[0].told)}


def timed(passes: int, setup: Callable[[], Any], run: Callable[[Any], None]) -> list[float]:
    seconds = []
    for _ in range(passes):
        state = setup()
        start = time.process_time()
        run(state)
        seconds.append(time.process_time() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"directory holding {RECORDING} (default: {DEFAULT_DATA})")
    parser.add_argument("--repeat", type=int, default=9, help="timed passes per variant")
    parser.add_argument("--books", type=int, default=20,
                        help="book actors taking every message in turn in the book-stage run")
    parser.add_argument("--stage-repeat", type=int, default=3,
                        help="passes of each book-stage run")
    parser.add_argument("--instructions", action="store_true",
                        help="count the frame path's instructions under cachegrind (one pass of "
                             "the recording's frames, --books clones) and nothing else")
    parser.add_argument("--frame-stage", action="store_true",
                        help="only the decode and book stages from the frame's text, by diff "
                             "size (--stage-repeat passes, one book and --books clones)")
    parser.add_argument("--frame-path-passes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.instructions or args.frame_path_passes:
        return book_frames.frame_path_only(
            args.data, RECORDING, args.books, args.frame_path_passes, args.json, tick=TICK,
            lot=LOT, context=_Context, subscribers=_subscribers)
    if args.frame_stage:
        frames = book_frames.run(args.data / RECORDING, sorted({1, args.books}),
                                 args.stage_repeat, tick=TICK, lot=LOT, context=_Context,
                                 subscribers=_subscribers)
        book_frames.print_frame_stage(frames, args.stage_repeat)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"frame_stage": frames}, indent=2) + "\n")
        return 0

    snapshot, raw_diffs, messages = load(args.data)
    snap_bids = levels_to_units(snapshot.bids, TICK, LOT)
    snap_asks = levels_to_units(snapshot.asks, TICK, LOT)
    live = [d for _, d in raw_diffs if d.final_update_id > snapshot.last_update_id]
    diffs: list[Diff] = [(levels_to_units(d.bids, TICK, LOT), levels_to_units(d.asks, TICK, LOT))
                         for d in live]
    triples = [[(Side.BUY, p, q) for p, q in b] + [(Side.SELL, p, q) for p, q in a]
               for b, a in diffs]
    n_levels = sum(len(b) + len(a) for b, a in diffs)

    def fresh_book() -> OrderBook:
        book = OrderBook()
        book.apply_snapshot(snap_bids, snap_asks, 0)
        return book

    def run_diff(book: OrderBook) -> None:
        for i, (bids, asks) in enumerate(diffs):
            book.apply_diff(bids, asks, i)
            book.best_bid  # noqa: B018 - the read is part of the measured work
            book.best_ask  # noqa: B018

    def run_triples(book: OrderBook) -> None:
        for i, updates in enumerate(triples):
            book.apply_updates(updates, i)
            book.best_bid  # noqa: B018
            book.best_ask  # noqa: B018

    def make_other(cls: type[SortedListBook]) -> Callable[[], SortedListBook]:
        def setup() -> SortedListBook:
            book = cls()
            book.apply_snapshot(snap_bids, snap_asks)
            return book
        return setup

    def run_other(book: SortedListBook) -> None:
        for bids, asks in diffs:
            book.apply_diff(bids, asks)
            book.best()

    def fresh_sync() -> BinanceBookSync:
        sync = BinanceBookSync(TICK, LOT)
        sync.on_snapshot(snapshot, 0)
        return sync

    def run_sync(sync: BinanceBookSync) -> None:
        for ts, message in raw_diffs:
            sync.on_diff(message, ts)
            sync.book.best_bid  # noqa: B018
            sync.book.best_ask  # noqa: B018

    # The variants must agree before their speeds mean anything.
    book, sorted_book, naive_book, sync = fresh_book(), make_other(SortedListBook)(), \
        make_other(NaiveBook)(), fresh_sync()
    run_diff(book)
    run_other(sorted_book)
    run_other(naive_book)
    run_sync(sync)
    expected = (book.best_bid, book.best_ask)
    assert sorted_book.best() == naive_book.best() == expected, "baselines disagree"
    assert (sync.book.best_bid, sync.book.best_ask) == expected and sync.gaps == 0
    assert sync.applied == len(diffs), "sync applied a different set of diffs"

    variants: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
        "orderbook_apply_diff": (fresh_book, run_diff),
        "orderbook_apply_updates": (fresh_book, run_triples),
        "baseline_sorted_list_bisect": (make_other(SortedListBook), run_other),
        "naive_dict_max_min": (make_other(NaiveBook), run_other),
        "sync_on_diff_from_strings": (fresh_sync, run_sync),
    }
    figures: dict[str, dict[str, float]] = {}
    for name, (setup, run) in variants.items():
        seconds = timed(args.repeat, setup, run)
        figures[name] = {
            "median_per_s": n_levels / statistics.median(seconds),
            "best_per_s": n_levels / min(seconds),
            "median_pass_ms": statistics.median(seconds) * 1e3,
        }

    print(f"{len(diffs)} diffs, {n_levels} level updates per pass, {args.repeat} passes; "
          f"final book {book.level_count(Side.BUY)} bids / {book.level_count(Side.SELL)} asks")
    print(f"{'variant':<30} {'median upd/s':>14} {'best upd/s':>14} {'median pass':>12}")
    for name, f in figures.items():
        print(f"{name:<30} {f['median_per_s']:>14,.0f} {f['best_per_s']:>14,.0f} "
              f"{f['median_pass_ms']:>9.1f} ms")

    # The book stage, actor and all, from the venue's strings; depth and trades, as subscribed.
    feed = [(ts, m) for ts, m in messages if type(m) in (DepthDiff, DepthSnapshot, Trade)]
    stage: dict[str, dict[str, Any]] = {}
    for books, clones in sorted({(1, False), (args.books, False), (args.books, True)}):
        runs = [book_stage(feed, books, clones=clones) for _ in range(args.stage_repeat)]
        first = runs[0]
        assert all((r["applied"], r["told"]) == (first["applied"], first["told"]) for r in runs), \
            "passes disagree"
        # Per message, the best of the passes: the machine's other load only ever adds.
        best = [min(r["depth"][i][0] for r in runs) for i in range(len(first["depth"]))]
        moved = [t for t, (_, m) in zip(best, first["depth"], strict=True) if m]
        stage[f"book_actor_{books}_{'clones' if clones else 'books'}"] = {
            "books": books, "clones": clones,
            "cpu_us_per_depth_message": sum(best) / len(best) * 1e6,
            "cpu_us_depth_p50": statistics.median(best) * 1e6,
            "cpu_us_top_moving_diff_p50": statistics.median(moved) * 1e6,
            "cpu_us_top_moving_diff_mean": statistics.mean(moved) * 1e6,
            "top_moving_diffs": len(moved),
            "cpu_us_per_trade": min(r["trade_s"] for r in runs) / first["trades"] * 1e6,
            "depth_messages": len(best),
            "told_each_subscriber": first["told"],
        }
    print(f"\nthe book stage: OrderBookActor from the venue's strings, depth and trades "
          f"({len(feed)} messages), 4 subscribers; CPU us per book, best of "
          f"{args.stage_repeat} passes per message")
    print(f"{'run':<22} {'depth msg mean':>14} {'p50':>6} {'top-moving diff p50':>20} "
          f"{'(mean)':>8} {'trade':>6}")
    for name, f in stage.items():
        print(f"{name:<22} {f['cpu_us_per_depth_message']:>14.1f} {f['cpu_us_depth_p50']:>6.1f} "
              f"{f['cpu_us_top_moving_diff_p50']:>20.1f} {f['cpu_us_top_moving_diff_mean']:>8.1f} "
              f"{f['cpu_us_per_trade']:>6.2f}")

    # The decode and book stages from the frame's text: the decode before the unit path and
    # the live transport's, alternated pass by pass, each pass from cold memos.
    frames = book_frames.run(args.data / RECORDING, sorted({1, args.books}), args.stage_repeat,
                             tick=TICK, lot=LOT, context=_Context, subscribers=_subscribers)
    book_frames.print_frame_stage(frames, args.stage_repeat)
    path = book_frames.frame_path_runs(args.data / RECORDING, args.books, args.stage_repeat,
                                       tick=TICK, lot=LOT, context=_Context,
                                       subscribers=_subscribers)
    book_frames.print_frame_path(path, args.books, args.stage_repeat)

    headline = figures["orderbook_apply_diff"]["median_per_s"]
    baseline = figures["baseline_sorted_list_bisect"]["median_per_s"]
    results = {
        "level_updates_per_s": headline,
        "baseline_level_updates_per_s": baseline,
        "naive_level_updates_per_s": figures["naive_dict_max_min"]["median_per_s"],
        "apply_updates_level_updates_per_s": figures["orderbook_apply_updates"]["median_per_s"],
        "sync_from_strings_level_updates_per_s":
            figures["sync_on_diff_from_strings"]["median_per_s"],
        "speedup_vs_baseline": headline / baseline,
        "statistic": "median of passes (best-of also given per variant)",
        "variants": figures,
        "book_stage": stage,
        "frame_stage": frames,
        "frame_path": path,
        "level_updates_per_pass": n_levels,
        "diffs_per_pass": len(diffs),
        "repeat": args.repeat,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "recording": str(args.data / RECORDING),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
