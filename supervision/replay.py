"""`python -m supervision.replay FILE --venue binance-spot|binance-usdm|hyperliquid`: the book a
recording ends with, as JSON.

    python -m supervision.replay supervision/sources/data/binance_spot_btcusdt_20240808.gz \
        --venue binance-spot --book-depth 5
    {"bids": [["61390.01000000", "0.50000000"], ...], "asks": [...], "messages": 41249,
     "gaps": 0, "resyncs": 0}

The file is read line by line (`<receive ns> <raw venue JSON>`, gzip) through the
same sync the node's books use (`actors.market.l2_book`: Binance spot chains `U == u + 1`,
USD-M chains `pu`, Hyperliquid replaces on each `l2Book`), so the result is the book a node
would hold after the whole file. Prices and quantities are printed as the venue wrote them:
the book works in integer units of the finest decimal the file uses, and each unit value is
spelled back the way the file spelled it. `messages` counts the venue messages read, `gaps` the
sequence breaks after a join, `resyncs` the snapshots taken while the book was stale.

A file the tool cannot build a book from (no snapshot, none that joins, a missing file, a venue
that is not the file's, a gzip stream that ends early, a file that is not gzip) is one line on
stderr and exit code 2: a book from the first part of a truncated file would pass for the
day's; a malformed line is counted and skipped, as the node skips it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.market.l2_book import BinanceBookSync, HyperliquidBookSync, SyncState
from protocols.codec import DecodeError, Side
from protocols.errors import TroupeError
from protocols.recording import classify
from protocols.venues import binance, hyperliquid
from supervision.sources.recording_reader import RecordingError, iter_recording

__all__ = ["ReplayError", "final_book", "main"]

VENUES = ("binance-spot", "binance-usdm", "hyperliquid")


class ReplayError(TroupeError, ValueError):
    """The file cannot give a book: said in one line."""


def _levels(message: Any) -> Iterator[tuple[str, str]]:
    for side in (message.bids, message.asks):
        for level in side:
            yield level[0], level[1]


def _decimals(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _messages(path: Path, venue: str) -> Iterator[Any]:
    for _n, ts, raw in iter_recording(path):
        if ts is None:
            continue
        try:
            message = classify(raw)
        except DecodeError:
            continue
        if venue == "hyperliquid":
            if isinstance(message, hyperliquid.L2Book | hyperliquid.Trades | hyperliquid.Control):
                yield message
        elif isinstance(message, binance.DepthDiff | binance.DepthSnapshot):
            usdm = isinstance(message, binance.DepthDiff) and message.prev_final_update_id \
                is not None
            if isinstance(message, binance.DepthDiff) and usdm != (venue == "binance-usdm"):
                raise ReplayError(f"{path}: these depth diffs are not {venue}'s "
                                  f"(try --venue {'binance-usdm' if usdm else 'binance-spot'})")
            yield message
        elif isinstance(message, binance.Trade | binance.BookTicker):
            yield message


def _depth(message: Any) -> bool:
    return isinstance(message, binance.DepthDiff | binance.DepthSnapshot | hyperliquid.L2Book)


def final_book(path: Path, venue: str, depth: int) -> dict[str, Any]:
    if path.is_dir():
        raise ReplayError(f"{path}: is a directory, not a recording")
    if not path.is_file():
        raise ReplayError(f"{path}: no such file")
    # First pass: the finest decimals the file uses, so every level is a whole number of units.
    price_places = qty_places = 0
    read = 0
    for message in _messages(path, venue):
        if not _depth(message):
            continue
        read += 1
        for price, qty in _levels(message):
            price_places = max(price_places, _decimals(price))
            qty_places = max(qty_places, _decimals(qty))
    if read == 0:
        raise ReplayError(f"{path}: no {venue} depth messages; cannot build a book")
    tick, lot = Decimal(1).scaleb(-price_places), Decimal(1).scaleb(-qty_places)
    sync: BinanceBookSync | HyperliquidBookSync = (
        HyperliquidBookSync(tick, lot) if venue == "hyperliquid"
        else BinanceBookSync(tick, lot, max_buffer=100_000))
    spelled: dict[tuple[str, int], str] = {}  # ("p"|"q", units) -> the venue's spelling
    messages = snapshots = 0
    for message in _messages(path, venue):
        messages += 1
        if not _depth(message):
            continue
        for price, qty in _levels(message):
            spelled[("p", int(Decimal(price) / tick))] = price
            spelled[("q", int(Decimal(qty) / lot))] = qty
        if isinstance(sync, HyperliquidBookSync):
            snapshots += 1
            sync.on_l2book(message, messages)
        elif isinstance(message, binance.DepthSnapshot):
            snapshots += 1
            sync.on_snapshot(message, messages)
        else:
            sync.on_diff(message, messages)
    if snapshots == 0:
        raise ReplayError(f"{path}: no depth snapshot in the file; cannot build a book "
                          "(a Binance recording needs its REST /depth line)")
    if sync.state is SyncState.AWAITING_SNAPSHOT:
        raise ReplayError(f"{path}: no snapshot joins the depth diffs; cannot build a book")
    book = sync.book

    def side(which: Side) -> list[list[str]]:
        return [[spelled[("p", p)], spelled[("q", q)]] for p, q in book.depth(which, depth)]

    binance_sync = sync if isinstance(sync, BinanceBookSync) else None
    return {"bids": side(Side.BUY), "asks": side(Side.SELL), "messages": messages,
            "gaps": binance_sync.gaps if binance_sync else 0,
            "resyncs": binance_sync.resyncs if binance_sync else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervision.replay",
                                     description="The book a recording ends with, as JSON.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--venue", choices=VENUES, required=True)
    parser.add_argument("--book-depth", type=int, default=10, metavar="N")
    args = parser.parse_args(argv)
    if args.book_depth < 1:
        parser.error("--book-depth must be at least 1")
    try:
        result = final_book(args.file, args.venue, args.book_depth)
    except (ReplayError, RecordingError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
