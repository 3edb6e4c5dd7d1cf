"""The fake venue's public market: a shipped recording turned back into Binance's streams.

A recording holds Binance spot frames in the combined-stream format
(`{"stream": "btcusdt@depth@100ms", "data": {...}}`) and one REST depth snapshot. The venue
needs two things from it:

- frames to stream, each as the venue would send it: `frames()` yields `(recorded_ns, stream,
  text)` for every depth diff, trade and bookTicker, in recorded order. A recording of one
  symbol can serve several (`symbols`): each frame is repeated once per symbol with `s` and the
  stream name rewritten, so a benchmark gets twenty instruments out of one file.
- a book to answer `GET /depth` consistently with what it streamed: the venue keeps its own copy
  (`BinanceBookSync`), seeded from the recording's snapshot, and advanced by each diff it
  streams; `snapshot()` is that book with `lastUpdateId` = the last diff applied. The frames
  before the venue's book is synced are consumed silently (`prime`), as a real venue's history.

`dialect="usdm"` speaks USD-M futures: diffs get `pu` (the previous diff's `u`) and `T`, trades
become `aggTrade` (`a` = the trade id), bookTicker events get `e` and `E`; streams are named
`<symbol>@depth@100ms`, `<symbol>@aggTrade` and `<symbol>@bookTicker` like Binance's, plus
`<symbol>@markPrice@1s` (mark and index at the last trade price, a fixed funding rate).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.market.l2_book import BinanceBookSync, SyncState
from protocols.codec import DecodeError, Side
from protocols.venues import binance
from supervision.sources.recording_reader import iter_recording

__all__ = ["RecordedMarket", "format_units"]

Frame = tuple[int, str, str]  # (recorded receive ns, stream name, text to send)


def format_units(units: int, unit: Decimal) -> str:
    """`units` x `unit` as Binance writes it: eight decimals."""
    return f"{units * unit:.8f}"


class RecordedMarket:
    def __init__(self, path: str | Path, symbols: Sequence[str], *, tick: Decimal,
                 lot: Decimal, dialect: str = "spot") -> None:
        if dialect not in ("spot", "usdm"):
            raise ValueError(f"dialect must be spot or usdm, not {dialect!r}")
        self.path, self.symbols, self.dialect = Path(path), tuple(symbols), dialect
        self.tick, self.lot = tick, lot
        self.sync = BinanceBookSync(tick, lot, max_buffer=100_000)
        self.source_symbol: str | None = None
        self._lines = iter_recording(self.path)
        self._prev_u: int | None = None
        self._last_mark = 0
        self.streamed = self.undecodable = 0

    # -- the venue's book ----------------------------------------------------------------------
    def prime(self) -> None:
        """Read the recording up to the point where the venue's own book is synced."""
        foreign = 0
        for _n, ts, raw in self._lines:
            if ts is None:
                continue
            try:
                message = binance.parse_message(raw)
            except DecodeError:
                foreign += 1
                continue
            if isinstance(message, binance.DepthSnapshot):
                self.sync.on_snapshot(message, ts)
                if self.sync.state is SyncState.SYNCED:
                    return
            elif isinstance(message, binance.DepthDiff):
                self.source_symbol = message.symbol
                self.sync.on_diff(message, ts)
        why = (f" ({foreign} lines are not Binance messages: another venue's recording?)"
               if foreign else "")
        raise ValueError(f"{self.path}: no depth snapshot joins the diffs; cannot build a "
                         f"book{why}")

    @property
    def last_update_id(self) -> int:
        return self.sync.last_update_id

    def snapshot(self, limit: int = 1000) -> dict[str, Any]:
        book = self.sync.book
        body: dict[str, Any] = {
            "lastUpdateId": self.sync.last_update_id,
            "bids": [[format_units(p, self.tick), format_units(q, self.lot)]
                     for p, q in book.depth(Side.BUY, limit)],
            "asks": [[format_units(p, self.tick), format_units(q, self.lot)]
                     for p, q in book.depth(Side.SELL, limit)]}
        if self.dialect == "usdm":
            body["E"] = body["T"] = 0
        return body

    # -- the streams ---------------------------------------------------------------------------
    def frames(self) -> Iterator[tuple[int, Any, list[Frame]]]:
        """Per recorded line: (ts, the parsed message, its frames for every symbol). The venue
        applies the message (book, matching) and streams the frames."""
        for _n, ts, raw in self._lines:
            if ts is None:
                continue
            obj = json.loads(raw)
            if "lastUpdateId" in obj or "stream" not in obj:
                continue  # a REST snapshot in the recording: not a stream frame
            message = binance.parse_message(obj)
            if isinstance(message, binance.DepthDiff):
                try:
                    self.sync.on_diff(message, ts)
                except DecodeError:
                    self.undecodable += 1  # streamed all the same: the client decides
            data = self._dialect(obj["stream"], obj["data"])
            if data is None:
                continue
            kind, event = data
            events = [(kind, event)]
            if self.dialect == "usdm" and kind == "aggTrade" and ts - self._last_mark >= 1e9:
                self._last_mark = ts  # mark price once a second, from the last trade
                events.append(("markPrice@1s", {
                    "e": "markPriceUpdate", "E": event["E"], "s": event["s"], "p": event["p"],
                    "i": event["p"], "P": event["p"], "r": "0.00010000",
                    "T": (event["E"] // 28_800_000 + 1) * 28_800_000}))
            frames = []
            for symbol in self.symbols:
                for stream_kind, body in events:
                    named = {**body, "s": symbol} if "s" in body else body
                    stream = f"{symbol.lower()}@{stream_kind}"
                    frames.append((ts, stream, json.dumps({"stream": stream, "data": named},
                                                           separators=(",", ":"))))
            self.streamed += 1
            yield ts, message, frames

    def _dialect(self, stream: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        kind = stream.split("@", 1)[1] if "@" in stream else stream
        if self.dialect == "spot":
            return kind, data
        if kind.startswith("depth"):
            prev, self._prev_u = self._prev_u, data["u"]
            pu = data["U"] - 1 if prev is None else prev
            # Futures ids overlap: the first diff after a snapshot has U <= lastUpdateId <= u.
            return kind, {**data, "U": pu, "pu": pu, "T": data["E"]}
        if kind == "trade":
            event = {**data, "e": "aggTrade", "a": data["t"], "f": data["t"], "l": data["t"]}
            event.pop("t", None)
            return "aggTrade", event
        if kind == "bookTicker":
            return kind, {"e": "bookTicker", "E": 0, "T": 0, **data}
        return None
