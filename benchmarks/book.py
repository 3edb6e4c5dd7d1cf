"""Order book benchmark: level updates per second on the recorded Binance BTCUSDT depth stream.

    python -m benchmarks.book --json out/book.json [--data supervision/sources/data] [--repeat 9]

Every depth diff after the REST snapshot is pre-parsed into integer (price_ticks, qty_lots)
levels. One pass starts from the snapshot (untimed) and applies every diff in order, reading the
best bid and best ask after each one, as the book actor does to publish top of book; that read
matters, because a lazily maintained best is only cheap if reading it is too. The pass is timed
`--repeat` times and the MEDIAN pass is reported (best-of alongside).

Measured side by side in the same process, on the same updates:
- `OrderBook.apply_diff` (the headline `level_updates_per_s`) and `apply_updates` fed flat
  (side, price, qty) triples;
- baseline: per side a dict plus a sorted price list kept with `bisect` (insort / delete);
- naive: per side a dict, best recomputed with max()/min() on every read;
- sync end to end: `BinanceBookSync.on_diff` from parsed messages, including the Decimal
  conversion of the venue's strings, i.e. everything between the codec and a strategy.
"""

from __future__ import annotations

import argparse
import bisect
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.market.l2_book import BinanceBookSync, OrderBook, levels_to_units
from protocols.codec import Side
from protocols.recording import iter_messages
from protocols.venues.binance import DepthDiff, DepthSnapshot
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


def load(data_dir: Path) -> tuple[DepthSnapshot, list[tuple[int, DepthDiff]]]:
    path = data_dir / RECORDING
    if not path.is_file():
        raise SystemExit(
            f"benchmarks.book: recording not found: {path}\n"
            f"pass --data DIR pointing at the directory holding {RECORDING}"
        )
    snapshot: DepthSnapshot | None = None
    diffs: list[tuple[int, DepthDiff]] = []
    for ts, message in iter_messages(path):
        if isinstance(message, DepthSnapshot):
            snapshot = message
        elif isinstance(message, DepthDiff):
            diffs.append((ts, message))
    if snapshot is None:
        raise SystemExit(f"benchmarks.book: {path} holds no depth snapshot")
    return snapshot, diffs


def timed(passes: int, setup: Callable[[], Any], run: Callable[[Any], None]) -> list[float]:
    seconds = []
    for _ in range(passes):
        state = setup()
        start = time.perf_counter()
        run(state)
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"directory holding {RECORDING} (default: {DEFAULT_DATA})")
    parser.add_argument("--repeat", type=int, default=9, help="timed passes per variant")
    args = parser.parse_args(argv)

    snapshot, raw_diffs = load(args.data)
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
