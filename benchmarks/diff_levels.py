"""A depth diff's cost per level by its size, and the C-iterator ("bulk") ways of doing the
work measured against the loops the live path runs.

    python -m benchmarks.diff_levels [--repeat 7] [--json out/diff_levels.json]

Every recorded Binance depth diff of `supervision/sources/data` as the fake venue writes its
frame, grouped by size in levels (`book_frames.SIZES`: 0-19, 20-59, 60-159, 160+), in CPU ns
per level (best of `--repeat` passes, the diffs of a class summed):

- `loads`: `orjson.loads` of the frame (the JSON alone);
- `convert`: the live decode's conversion of the levels' strings into (ticks, lots) with warm
  memos (every string held, as for the tick-to-trade load's clones after the first):
  `loop`, `UnitDecoder.fast`'s list comprehension with two memo subscripts a level;
  `bulk`, C iterators (`zip(*levels)`, `map` of the memos' `__getitem__`, `zip` into pairs,
  after a one-pass check that every level is a pair);
- `first sighting`: the same conversion from cold memos, every string counted when first met
  (a real feed's deep levels and sizes): `loop`, each through the memo's `__missing__`;
  `batch`, the strings not held counted first in one batch of C loops (`count_plain`), then
  the loop;
- `apply`: `OrderBook.apply_diff` from the REST snapshot through every diff in order, `loop`
  (the book's) against `bulk` (`dict.update`, the new prices found with `filterfalse`, the
  zeros dropped with `map(levels.pop, ...)`, the new prices pushed with `map(heappush, ...)`).

The variants are checked to give the same pairs, and the same levels and best prices after
every diff, before their figures are taken. CPython 3.11 specializes the loops' bytecode (the
unpacking of a pair, a dict store), so a pass in C costs about what the loop's body does, and
the work a level needs (hashing its two fresh strings, the dict operations) is the same
either way: the figures say what that leaves (docs/benchmarks.md, point 32).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from heapq import heappush
from itertools import compress, filterfalse, repeat
from operator import itemgetter, mul, neg, not_, sub
from pathlib import Path
from typing import Any

import orjson

from actors.market.l2_book import OrderBook
from benchmarks import book_frames
from protocols.codec import LevelConverter, levels_to_units
from protocols.venues.binance import DepthSnapshot
from supervision.sources.data import DATA_DIR

RECORDING = DATA_DIR / "binance_spot_btcusdt_20240808.gz"
TICK, LOT = Decimal("0.01"), Decimal("0.00000001")
HOLDERS = 60  # converters holding the shared memos, as a 20-instrument node's (three each)
_FIRST, _SECOND = itemgetter(0), itemgetter(1)

Pairs = tuple[tuple[int, int], ...]
Memo = Any  # the codec's _UnitMemo: a dict subclass that counts a string it does not hold


def convert_loop(levels: list[Any], ticks: Memo, lots: Memo) -> Pairs:
    """`UnitDecoder.fast`'s conversion of one side."""
    return tuple([(ticks[p], lots[q]) for p, q in levels])


def convert_bulk(levels: list[Any], ticks: Memo, lots: Memo) -> Pairs | None:
    """The same in C iterators; None where a level is not a pair (the loop raises)."""
    if not levels:
        return ()
    if set(map(list.__len__, levels)) != {2}:
        return None
    prices, qtys = zip(*levels, strict=True)
    return tuple(zip(map(ticks.__getitem__, prices), map(lots.__getitem__, qtys), strict=True))


def count_plain(texts: list[str], plans: Any) -> list[int] | None:
    """The codec's `_count` of every string in one batch of C loops, when they are all digits
    with one point and the same number of decimals and whole multiples of the unit; else None."""
    joined = "".join(texts)
    digits = joined.replace(".", "")
    if len(joined) - len(digits) != len(texts) or not digits.isascii() or not digits.isdigit():
        return None
    points = list(map(str.find, texts, repeat(".")))
    decimals = set(map(sub, map(len, texts), points))
    if min(points) < 0 or len(decimals) != 1 or (fraction := decimals.pop() - 1) > 40:
        return None
    factor, divisor = plans[fraction]
    values: Iterable[int] = map(int, map(str.replace, texts, repeat("."), repeat("")))
    if factor != 1:
        values = map(mul, values, repeat(factor))
    if divisor == 1:
        return list(values)
    parts = list(map(divmod, values, repeat(divisor)))
    return None if any(map(_SECOND, parts)) else list(map(_FIRST, parts))


def convert_batch(levels: list[Any], ticks: Memo, lots: Memo) -> Pairs:
    """The strings not held counted in one batch per memo, then the loop."""
    for memo, strings in ((ticks, map(_FIRST, levels)), (lots, map(_SECOND, levels))):
        missing = list(filterfalse(memo.__contains__, strings))
        counts = count_plain(missing, memo._plans) if missing else None
        if counts is not None:
            memo.update(zip(missing, counts, strict=True))
    return convert_loop(levels, ticks, lots)


class BulkBook(OrderBook):
    """`OrderBook` whose diff is applied in C iterators (the same levels and best prices)."""

    __slots__ = ()

    def apply_diff(self, bids: Any, asks: Any, recv_ns: int) -> None:
        _apply_side(self._bids, self._bid_heap, bids, neg)
        _apply_side(self._asks, self._ask_heap, asks, None)
        self.last_update_ns = recv_ns
        self._settle()


def _apply_side(levels: dict[int, int], heap: list[int], pairs: Pairs,
                key: Callable[[int], int] | None) -> None:
    if not pairs:
        return
    prices = list(map(_FIRST, pairs))
    new = list(filterfalse(levels.__contains__, prices))
    levels.update(pairs)  # the last of a repeated price wins, as in the loop
    zeros = list(map(not_, map(levels.__getitem__, prices)))  # the last quantity is 0
    if any(zeros):
        deque(map(levels.pop, compress(prices, zeros), repeat(None)), 0)
    if new:
        kept = filter(levels.__contains__, new)
        deque(map(heappush, repeat(heap), kept if key is None else map(key, kept)), 0)


def _frames() -> list[tuple[str, int]]:
    """Each depth frame's text and its size in levels, in the recording's order."""
    out = []
    for _, snapshot, texts in book_frames.frames_of(RECORDING, 1):
        if snapshot is None and '"depthUpdate"' in texts[0]:
            data = orjson.loads(texts[0])["data"]
            out.append((texts[0], len(data["b"]) + len(data["a"])))
    return out


def _best(passes: int, run: Callable[[], list[float]]) -> list[float]:
    """Per item, the least of `passes` runs' seconds."""
    runs = [run() for _ in range(passes)]
    return [min(r[i] for r in runs) for i in range(len(runs[0]))]


def measure(repeat_passes: int) -> dict[str, Any]:
    frames = _frames()
    holders = [LevelConverter(TICK, LOT) for _ in range(HOLDERS)]
    ticks, lots = holders[0].memos()
    clock = time.process_time

    def loads() -> list[float]:
        seconds = []
        for text, _ in frames:
            fresh = (text + " ")[:-1]
            start = clock()
            orjson.loads(fresh)
            seconds.append(clock() - start)
        return seconds

    def converting(convert: Callable[..., Any], cold: bool) -> Callable[[], list[float]]:
        def run() -> list[float]:
            if cold:
                book_frames.cold_memos()
            seconds = []
            for text, _ in frames:
                data = orjson.loads(text)["data"]
                bids, asks = data["b"], data["a"]
                start = clock()
                convert(bids, ticks, lots)
                convert(asks, ticks, lots)
                seconds.append(clock() - start)
            return seconds
        return run

    # The variants agree, pair for pair, warm and from cold memos.
    for text, _ in frames:
        data = orjson.loads(text)["data"]
        for side in (data["b"], data["a"]):
            book_frames.cold_memos()
            expected = convert_loop(side, ticks, lots)
            assert convert_bulk(side, ticks, lots) == expected
            book_frames.cold_memos()
            assert convert_batch(side, ticks, lots) == expected
    converting(convert_loop, False)()  # every string held from here

    snapshot, diffs = _diffs(frames)
    columns = {
        "loads": _best(repeat_passes, loads),
        "convert_loop": _best(repeat_passes, converting(convert_loop, False)),
        "convert_bulk": _best(repeat_passes, converting(convert_bulk, False)),
        "first_loop": _best(repeat_passes, converting(convert_loop, True)),
        "first_batch": _best(repeat_passes, converting(convert_batch, True)),
        "apply_loop": _best(repeat_passes, lambda: _applying(OrderBook, snapshot, diffs)),
        "apply_bulk": _best(repeat_passes, lambda: _applying(BulkBook, snapshot, diffs)),
    }
    sizes: dict[str, dict[str, Any]] = {}
    for i, (_, levels) in enumerate(frames):
        size = sizes.setdefault(book_frames.size_name(levels),
                                {"diffs": 0, "levels": 0, **dict.fromkeys(columns, 0.0)})
        size["diffs"] += 1
        size["levels"] += levels
        for name, seconds in columns.items():
            size[name] += seconds[i]
    for size in sizes.values():
        for name in columns:
            size[name] = size[name] / size["levels"] * 1e9  # ns per level
    return {"ns_per_level": dict(sorted(sizes.items(), key=lambda kv: int(
        kv[0].split("-")[0].rstrip("+")))), "repeat": repeat_passes, "recording": str(RECORDING)}


def _diffs(frames: list[tuple[str, int]]) -> tuple[DepthSnapshot, list[tuple[Pairs, Pairs]]]:
    """The REST snapshot and every frame's diff in (ticks, lots), in order."""
    snapshot = next(s for _, s, _ in book_frames.frames_of(RECORDING, 1) if s is not None)
    diffs = []
    for text, _ in frames:
        data = orjson.loads(text)["data"]
        diffs.append((tuple(levels_to_units(data["b"], TICK, LOT)),
                      tuple(levels_to_units(data["a"], TICK, LOT))))
    reference, bulk = OrderBook(), BulkBook()
    for book in (reference, bulk):
        book.apply_snapshot(levels_to_units(snapshot.bids, TICK, LOT),
                            levels_to_units(snapshot.asks, TICK, LOT), 0)
    for i, (bids, asks) in enumerate(diffs):
        reference.apply_diff(bids, asks, i)
        bulk.apply_diff(bids, asks, i)
        assert (bulk._bids, bulk._asks, bulk.best_bid, bulk.best_ask) == (
            reference._bids, reference._asks, reference.best_bid, reference.best_ask), i
    return snapshot, diffs


def _applying(kind: type[OrderBook], snapshot: DepthSnapshot,
              diffs: list[tuple[Pairs, Pairs]]) -> list[float]:
    book = kind()
    book.apply_snapshot(levels_to_units(snapshot.bids, TICK, LOT),
                        levels_to_units(snapshot.asks, TICK, LOT), 0)
    clock, seconds = time.process_time, []
    for i, (bids, asks) in enumerate(diffs):
        start = clock()
        book.apply_diff(bids, asks, i)
        seconds.append(clock() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="passes per variant")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    result = measure(args.repeat)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"a depth diff's CPU ns per level by its size, best of {args.repeat} passes")
    print(f"{'levels':<8} {'diffs':>6} {'loads':>6} | {'convert loop':>12} {'bulk':>6} | "
          f"{'first sighting loop':>19} {'batch':>6} | {'apply loop':>10} {'bulk':>6}")
    for size, f in result["ns_per_level"].items():
        print(f"{size:<8} {f['diffs']:>6} {f['loads']:>6.0f} | {f['convert_loop']:>12.0f} "
              f"{f['convert_bulk']:>6.0f} | {f['first_loop']:>19.0f} {f['first_batch']:>6.0f} | "
              f"{f['apply_loop']:>10.0f} {f['apply_bulk']:>6.0f}")
    if args.json:
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
