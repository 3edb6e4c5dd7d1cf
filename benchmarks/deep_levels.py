"""A depth diff's way to its published top, with its deep levels deferred or not.

    python -m benchmarks.deep_levels [--rounds 5] [--json PATH]

The live Binance decode converts only the first `DEEP_AFTER` levels of a diff's side and the book
publishes its top before it applies the rest (`protocols.venues.binance.DeepLevels`,
`actors.market.book_actor`). This replays every depth frame of the shipped recording, as the
fake venue writes it, through the transport's decoder and one book actor, both ways in the
same run: `whole` (every level converted and applied before the top is published: the
decode without a head, as before) and `deferred` (the live decode; the book's timer for the
rest fires after the frame, as the loop's dispatcher fires it after the chain). Per frame, CPU
ns from the frame's text to the top told to the book's four subscribers, for the diffs that
moved the top (the ones a market maker answers), and for every diff; for `deferred`, also
the deferred levels' own cost when they are applied. The book's final state is checked the
same both ways. The minimum of each frame over `--rounds` passes (collections off).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.market.book_actor import _DEEP_MESSAGE, OrderBookActor
from actors.market.book_feed import BookConfig
from benchmarks.book import _Context, _subscribers
from benchmarks.book_frames import frames_of
from protocols.feed import FeedEvent
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.unit_decode import UnitDecoder
from supervision.venues.binance.transport import DEEP_AFTER

__all__ = ["main", "measure"]

TICK, LOT = Decimal("0.01"), Decimal("0.00000001")
SYMBOL = "S00USDT"


def _pass(lines: list[tuple[int, Any, list[str]]], head: int | None) -> tuple[
        list[tuple[bool, int, int]], Any]:
    """Per depth frame (moved the top, ns to the published top, ns of its deferred levels);
    and the book's final top."""
    decoder = UnitDecoder({SYMBOL: (TICK, LOT)}, head=head)
    actor = OrderBookActor(BookConfig(SYMBOL, "binance", TICK, LOT),
                           subscribers=_subscribers())
    context: Any = _Context()  # what the book needs of a context, at next to no cost
    clock, out = time.process_time_ns, []
    for ts, snapshot, texts in lines:
        if snapshot is not None:
            actor.receive(FeedEvent(SYMBOL, snapshot, ts), context)
            continue
        text = texts[0]
        if '"depthUpdate"' not in text:
            continue
        book = actor.feed.sync.book
        before = book.best_bid, book.best_ask
        start = clock()
        actor.receive(FeedEvent(SYMBOL, decoder.fast(text), ts), context)
        published = clock()
        rest = published
        if context.timers.pop("book.deep", None) is not None:
            actor.receive(_DEEP_MESSAGE, context)
            rest = clock()
        out.append(((book.best_bid, book.best_ask) != before, published - start,
                    rest - published))
    return out, actor.feed.top(50)


def _quantiles(values: list[int]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * q))] / 1000, 1)
    return {"frames": len(values), "p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99),
            "mean_us": round(sum(values) / len(values) / 1000, 1)}


def measure(rounds: int) -> dict[str, Any]:
    lines = frames_of(BINANCE_SPOT_BTCUSDT, 1)
    best: dict[str, list[tuple[bool, int, int]]] = {}
    tops: dict[str, Any] = {}
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for way, head in (("whole", None), ("deferred", DEEP_AFTER)):
                frames, tops[way] = _pass(lines, head)
                seen = best.get(way)
                best[way] = frames if seen is None else [
                    (a[0], min(a[1], b[1]), min(a[2], b[2])) for a, b in zip(seen, frames,
                                                                             strict=True)]
    finally:
        gc.enable()
    assert tops["whole"] == tops["deferred"], "the two ways built different books"
    result: dict[str, Any] = {"benchmark": "deep_levels", "deep_after": DEEP_AFTER,
                              "rounds": rounds}
    for way, frames in best.items():
        result[way] = {"top_moving_to_top": _quantiles([ns for moved, ns, _ in frames if moved]),
                       "every_diff_to_top": _quantiles([ns for _, ns, _ in frames]),
                       "deferred_levels": _quantiles([rest for _, _, rest in frames if rest])}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    result = measure(args.rounds)
    print(f"a depth frame to its published top, one book, CPU us (min of {args.rounds} passes); "
          f"deferred after {DEEP_AFTER} levels a side")
    print(f"{'way':9} {'frames':18} {'count':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'mean':>7}")
    for way in ("whole", "deferred"):
        for kind in ("top_moving_to_top", "every_diff_to_top", "deferred_levels"):
            row = result[way][kind]
            if row:
                print(f"{way:9} {kind:18} {row['frames']:6} {row['p50_us']:7} "
                      f"{row['p90_us']:7} {row['p99_us']:7} {row['mean_us']:7}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
