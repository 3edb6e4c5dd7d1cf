"""Replaying a catalog: `CatalogSource` is a `ReplaySource` whose lines come decoded.

`CatalogReader` streams the catalog's row groups (one batch in memory at a time), leaves out
the kinds nobody subscribed to before they become Python objects, and rebuilds the messages the
raw recording's decoder would have made, with one difference that saves the venue its one
conversion: a Binance depth diff or trade of an instrument whose tick and lot are known comes
out as a `DepthDiffInUnits` or `TradeInUnits`, its prices and sizes divided into ticks and lots
for a whole batch at once (numpy). A level or trade that is not a whole number of ticks or lots
keeps its decimals, so the book refuses it exactly as it refuses the raw line. Other trades and
snapshots carry the same Decimal values and strings as the raw decode (the catalog's scale is
the recording's own precision).
So a backtest from the catalog and from the raw file make the same orders, fills and PnL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from protocols.codec import Side
from protocols.feed import ALL_STREAMS, Stream
from protocols.venues import binance, hyperliquid
from supervision.catalog.store import COLUMNS, ROW_GROUP, Kind, read_info
from supervision.sources.recording_reader import Line
from supervision.sources.replay import ReplaySource

__all__ = ["CatalogReader", "CatalogSource"]

_KINDS_OF = {Stream.DEPTH: (Kind.DIFF, Kind.SNAPSHOT, Kind.L2BOOK),
             Stream.TRADES: (Kind.TRADE, Kind.HL_TRADE), Stream.TICKER: (Kind.TICKER,),
             Stream.CONTEXT: ()}  # asset contexts are not kept: a recorded oracle reads the file
_LEVEL_COLUMNS = ("bid_px", "bid_qty", "ask_px", "ask_qty")
_MEMO = 8192  # distinct values a reader's decimal memo holds before it starts over


class _Columns(dict[str, list[Any]]):
    """A batch's scalar columns as Python lists, each converted on its first use: a batch of
    diffs and trades never pays for the columns only tickers or Hyperliquid use."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        super().__init__()
        self.batch = batch

    def __missing__(self, name: str) -> list[Any]:
        column = self.batch.column(name)
        values: list[Any]
        if isinstance(column, pa.DictionaryArray):
            # by code: pyarrow's own to_pylist makes a scalar per row (15 ms a batch)
            names = [*column.dictionary.to_pylist(), None]
            codes = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False).tolist()
            values = [names[code] for code in codes]
        else:
            values = column.to_pylist()
        self[name] = values
        return values


def _ratio(unit: Decimal, scale: int) -> tuple[int, int]:
    """`unit` in stored integers (of 1e-scale) as a fraction (num, den): a stored value v is
    v * den / num units, exact when num divides v * den."""
    num, den = unit.scaleb(scale).as_integer_ratio()
    return num, den


class CatalogReader:
    """The catalog's events as `(line, recv_ns, message)`, in recorded order, for the kinds of
    `streams`. `units` maps a venue symbol to its (tick, lot): its depth diffs and trades come
    converted."""

    def __init__(self, path: str | PathLike[str], *, streams: frozenset[Stream] = ALL_STREAMS,
                 units: Mapping[str, tuple[Decimal, Decimal]] | None = None,
                 batch_rows: int = ROW_GROUP) -> None:
        self.path = Path(path)
        self.info = read_info(self.path)
        self.scale = self.info.scale
        self.kinds = sorted(int(k) for s in streams for k in _KINDS_OF[s])
        self.units = dict(units or {})
        self.batch_rows = batch_rows
        self.rows_read = 0
        self.lines = 0  # the recording line of the latest event read
        self.skipped = 0
        self._decimals: dict[int, Decimal] = {}

    def fraction(self) -> float:
        """How far through the recording: the line of the latest event over all lines."""
        return min(self.lines / self.info.lines, 1.0) if self.info.lines else 1.0

    def _decimal(self, value: int) -> Decimal:
        """A stored integer as the decimal the raw decode makes; memoized (a trade stream
        repeats the same few hundred prices and sizes), bounded."""
        memo = self._decimals
        decimal = memo.get(value)
        if decimal is None:
            if len(memo) >= _MEMO:
                memo.clear()
            decimal = memo[value] = Decimal(value).scaleb(-self.scale)
        return decimal

    def _text(self, value: int) -> str:
        return format(Decimal(value).scaleb(-self.scale), "f")

    def __iter__(self) -> Iterator[Line]:
        wanted = pa.array(self.kinds, pa.int8())
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows,
                                                             columns=list(COLUMNS)):
            kept = batch.filter(pc.is_in(batch.column("kind"), value_set=wanted))
            self.skipped += batch.num_rows - kept.num_rows
            yield from self._events(kept)
            self.rows_read += batch.num_rows
        self.lines = self.info.lines

    def _events(self, batch: pa.RecordBatch) -> Iterator[Line]:
        col = _Columns(batch)
        levels = self._levels(batch)
        line, recv, kind, symbol = col["line"], col["recv_ns"], col["kind"], col["symbol"]
        n, i = batch.num_rows, 0
        while i < n:
            k = kind[i]
            self.lines = line[i]
            if k == Kind.HL_TRADE:  # one frame's trades travel together, as recorded
                j = i
                while j + 1 < n and kind[j + 1] == Kind.HL_TRADE and line[j + 1] == line[i]:
                    j += 1
                yield line[i], recv[i], hyperliquid.Trades(
                    tuple(self._hl_trade(col, t) for t in range(i, j + 1)))
                i = j + 1
                continue
            if k == Kind.DIFF:
                message: Any = self._diff(col, levels, i, symbol[i])
            elif k == Kind.TRADE:
                message = self._trade(col, levels, i, symbol[i])
            elif k == Kind.SNAPSHOT:
                message = binance.DepthSnapshot(col["id_first"][i], *self._text_levels(levels, i))
            elif k == Kind.L2BOOK:
                bids, asks = self._text_levels(levels, i)
                message = hyperliquid.L2Book(
                    symbol[i], col["venue_ms"][i],
                    tuple((p, q, c) for (p, q), c in zip(bids, col["bid_n"][i], strict=True)),
                    tuple((p, q, c) for (p, q), c in zip(asks, col["ask_n"][i], strict=True)))
            else:
                message = binance.BookTicker(
                    symbol[i], col["id_first"][i], self._decimal(col["price"][i]),
                    self._decimal(col["qty"][i]), self._decimal(col["price2"][i]),
                    self._decimal(col["qty2"][i]))
            yield line[i], recv[i], message
            i += 1

    def _trade(self, col: dict[str, list[Any]], levels: dict[str, Any], i: int,
               symbol: str) -> Any:
        converted = levels["converted"]
        units = self.units.get(symbol)
        if converted is not None and units is not None and converted["trade_exact"][i]:
            return binance.TradeInUnits(symbol, col["id_first"][i], converted["price"][i],
                                        converted["qty"][i], units[0], units[1],
                                        col["venue_ms"][i], col["event_ms"][i],
                                        bool(col["flag"][i]))
        return binance.Trade(symbol, col["id_first"][i], self._decimal(col["price"][i]),
                             self._decimal(col["qty"][i]), col["venue_ms"][i],
                             col["event_ms"][i], bool(col["flag"][i]))

    def _hl_trade(self, col: dict[str, list[Any]], i: int) -> hyperliquid.Trade:
        return hyperliquid.Trade(col["symbol"][i], col["id_first"][i],
                                 self._decimal(col["price"][i]), self._decimal(col["qty"][i]),
                                 Side.BUY if col["flag"][i] else Side.SELL,
                                 col["venue_ms"][i], col["hash"][i])

    # -- levels ------------------------------------------------------------------------------
    def _levels(self, batch: pa.RecordBatch) -> dict[str, Any]:
        """Per level column: the stored integers, the row offsets, and (for diffs of known
        units) the converted integers with a per-row flag saying whether all were whole."""
        out: dict[str, Any] = {}
        for name in _LEVEL_COLUMNS:
            column = batch.column(name)
            lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy()
            flat = column.flatten().to_numpy()
            out[name] = (flat, np.concatenate(([0], np.cumsum(lengths))), lengths)
        out["converted"] = self._convert(out, batch)
        return out

    def _convert(self, levels: dict[str, Any], batch: pa.RecordBatch) -> dict[str, Any] | None:
        """Every level of the batch's diffs, and every trade's price and size, in ticks and lots,
        vectorised: the stored value times `den` divided by `num` of its row's unit; a diff is
        `exact` when all its levels divide, a trade `trade_exact` when both its values do (rows
        of unknown units are neither)."""
        if not self.units or not batch.num_rows:
            return None
        symbols = batch.column("symbol")
        if not isinstance(symbols, pa.DictionaryArray):
            symbols = symbols.dictionary_encode()
        codes = pc.fill_null(symbols.indices, -1).to_numpy(zero_copy_only=False)
        kinds = batch.column("kind").to_numpy(zero_copy_only=False)
        convertible = ((kinds == Kind.DIFF) | (kinds == Kind.TRADE)) & (codes >= 0)
        ratios: dict[str, tuple[Any, Any]] = {}
        for name, index in (("px", 0), ("qty", 1)):
            # per symbol of the batch's dictionary, then per row: no Python loop over rows
            by_code = [(0, 0) if (unit := self.units.get(symbol)) is None
                       else _ratio(unit[index], self.scale)
                       for symbol in symbols.dictionary.to_pylist()]
            table = np.array([*by_code, (0, 0)], dtype=np.int64).reshape(-1, 2)
            picked = table[np.where(convertible, codes, len(by_code))]
            ratios[name] = picked[:, 0], picked[:, 1]
        rows = batch.num_rows
        converted: dict[str, Any] = {}
        exact = np.ones(rows, dtype=bool)
        for name in _LEVEL_COLUMNS:
            flat, offsets, lengths = levels[name]
            nums, dens = ratios["px" if name.endswith("px") else "qty"]
            known = nums > 0
            exact &= known
            num = np.repeat(np.where(known, nums, 1), lengths)
            den = np.repeat(np.where(known, dens, 1), lengths)
            if len(flat) and int(flat.max(initial=0)) * int(den.max(initial=1)) >= 2**62:
                exact &= False  # beyond int64: these rows keep their strings
                converted[name] = flat.tolist()
                continue
            whole, rest = np.divmod(flat * den, num)
            bad = np.concatenate(([0], np.cumsum(rest != 0)))
            exact &= (bad[offsets[1:]] - bad[offsets[:-1]]) == 0
            converted[name] = whole.tolist()
        converted["exact"] = exact.tolist()
        trade_exact = kinds == Kind.TRADE
        for name, ratio in (("price", "px"), ("qty", "qty")):
            nums, dens = ratios[ratio]
            known = nums > 0
            values = pc.fill_null(batch.column(name), 0).to_numpy(zero_copy_only=False)
            den = np.where(known, dens, 1)
            trade_exact &= known & (values >= 0)
            if len(values) and int(values.max(initial=0)) * int(den.max(initial=1)) >= 2**62:
                trade_exact &= False  # beyond int64: these trades keep their decimals
                converted[name] = values.tolist()
                continue
            whole, rest = np.divmod(values * den, np.where(known, nums, 1))
            trade_exact &= rest == 0
            converted[name] = whole.tolist()
        converted["trade_exact"] = trade_exact.tolist()
        converted["offsets"] = levels["bid_px"][1].tolist(), levels["ask_px"][1].tolist()
        return converted

    def _diff(self, col: dict[str, list[Any]], levels: dict[str, Any], i: int,
              symbol: str) -> Any:
        converted = levels["converted"]
        units = self.units.get(symbol)
        if converted is not None and units is not None and converted["exact"][i]:
            bid_off, ask_off = converted["offsets"]
            b0, b1, a0, a1 = bid_off[i], bid_off[i + 1], ask_off[i], ask_off[i + 1]
            return binance.DepthDiffInUnits(
                symbol, col["venue_ms"][i], col["id_first"][i], col["id_last"][i],
                units[0], units[1],
                tuple(zip(converted["bid_px"][b0:b1], converted["bid_qty"][b0:b1], strict=True)),
                tuple(zip(converted["ask_px"][a0:a1], converted["ask_qty"][a0:a1], strict=True)),
                col["id_prev"][i], col["event_ms"][i])
        bids, asks = self._text_levels(levels, i)
        return binance.DepthDiff(symbol, col["venue_ms"][i], col["id_first"][i],
                                 col["id_last"][i], bids, asks, col["id_prev"][i],
                                 col["event_ms"][i])

    def _text_levels(self, levels: dict[str, Any],
                     i: int) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        text = self._text
        sides = []
        for px_name, qty_name in (("bid_px", "bid_qty"), ("ask_px", "ask_qty")):
            px, offsets, _ = levels[px_name]
            qty = levels[qty_name][0]
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            sides.append(tuple((text(int(p)), text(int(q)))
                               for p, q in zip(px[lo:hi], qty[lo:hi], strict=True)))
        return sides[0], sides[1]


class CatalogSource(ReplaySource):
    """`ReplaySource` over a catalog file. `units`: venue symbol -> (tick, lot), so depth
    diffs and trades arrive converted (see the module docstring)."""

    def open_reader(self) -> CatalogReader:
        return CatalogReader(self.path, streams=self.streams, units=self.units)

    def decoder(self) -> Callable[[Any], Any]:
        return _as_is  # the catalog's events come decoded


def _as_is(message: Any) -> Any:
    return message
