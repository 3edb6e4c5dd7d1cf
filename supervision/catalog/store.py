"""The catalog's file: a recording decoded once into one Parquet file of integer columns.

One row per recorded event, in recorded order, in row groups of `ROW_GROUP` events, so a reader
streams a day of depth data in bounded memory (`iter_events` holds one batch at a time).
Decimal strings are stored as integers at the recording's own precision (`scale` decimal
places, the most any price or size of the file has: 8 for Binance), which is exact: the reader
turns them into an instrument's ticks and lots, or back into the same decimal values.

Columns (absent values are null):

| column | type | what |
|---|---|---|
| line | int64 | the recording's line number (Hyperliquid trades of one frame share it) |
| recv_ns | int64 | local receive time, ns since the epoch |
| kind | int8 | `Kind`: depth diff, depth snapshot, trade, ticker, l2Book, Hyperliquid trade |
| symbol | dictionary string | venue symbol (coin for Hyperliquid) |
| venue_ms | int64 | venue time: E (diff), T (trade), time (l2Book, Hyperliquid trade) |
| event_ms | int64 | E of a Binance trade; T (transaction time) of a USD-M diff |
| id_first, id_last, id_prev | int64 | U, u, pu (diff); lastUpdateId (snapshot); trade id; u |
| price, qty, price2, qty2 | int64 | trade price and size; ticker bid, bid size, ask, ask size |
| flag | int8 | Binance trade: buyer is maker; Hyperliquid trade: 1 if the buyer took the ask |
| hash | string | Hyperliquid trade hash |
| bid_px, bid_qty, ask_px, ask_qty | list<int64> | depth levels, in the venue's order |
| bid_n, ask_n | list<int64> | Hyperliquid: orders at each level |

The file's metadata (`troupe.catalog`, JSON) names its source file, that file's SHA-256, the
scale, the row and line counts, the decode errors and the format version.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq

from protocols.codec import DecodeError
from protocols.recording import classify
from protocols.venues import binance, hyperliquid
from supervision.sources.recording_reader import RecordingReader
from supervision.sources.replay import sniff_messages

__all__ = ["FORMAT", "CatalogInfo", "Kind", "build", "content_hash", "read_info"]

FORMAT = 2  # 2: venue and symbols in the metadata
ROW_GROUP = 16_384
_META_KEY = b"troupe.catalog"
_DECIMAL = re.compile(r'"-?\d+\.(\d+)"')


class Kind(enum.IntEnum):
    DIFF = 0
    SNAPSHOT = 1
    TRADE = 2
    TICKER = 3
    L2BOOK = 4
    HL_TRADE = 5


_INT = pa.int64()
_LEVELS = pa.list_(pa.int64())
SCHEMA = pa.schema([
    ("line", _INT), ("recv_ns", _INT), ("kind", pa.int8()),
    ("symbol", pa.dictionary(pa.int32(), pa.string())),
    ("venue_ms", _INT), ("event_ms", _INT),
    ("id_first", _INT), ("id_last", _INT), ("id_prev", _INT),
    ("price", _INT), ("qty", _INT), ("price2", _INT), ("qty2", _INT),
    ("flag", pa.int8()), ("hash", pa.string()),
    ("bid_px", _LEVELS), ("bid_qty", _LEVELS), ("ask_px", _LEVELS), ("ask_qty", _LEVELS),
    ("bid_n", _LEVELS), ("ask_n", _LEVELS),
])
COLUMNS = tuple(SCHEMA.names)


@attrs.frozen(slots=True)
class CatalogInfo:
    """What a catalog file says about itself."""

    path: str
    source: str
    sha256: str
    scale: int  # decimal places of every stored price and size
    rows: int
    lines: int
    row_groups: int
    decode_errors: int
    kinds: dict[str, int]
    venue: str = ""  # "binance" or "hyperliquid"
    symbols: tuple[str, ...] = ()  # venue symbols, in order of first appearance
    format: int = FORMAT

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v:,}" for k, v in self.kinds.items() if v)
        return (f"{self.path}\n  source {self.source} (sha256 {self.sha256[:16]})\n"
                f"  {self.rows:,} events from {self.lines:,} lines in {self.row_groups} row "
                f"group(s); {kinds}\n  prices and sizes as integers of 1e-{self.scale}; "
                f"{self.decode_errors} malformed line(s) left out; format {self.format}\n"
                f"  {self.venue or 'no'} market data for {', '.join(self.symbols) or '-'}")


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks: the catalog's cache key."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _scale_of(path: Path) -> int:
    """The most decimal places any quoted decimal of the recording has (a first, cheap pass)."""
    scale = 0
    for _, ts, raw in RecordingReader(path):
        if ts is not None:
            for fraction in _DECIMAL.findall(raw):
                if len(fraction) > scale:
                    scale = len(fraction)
    return scale


class _Columns:
    """Rows of one row group, column by column, until they are written."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.data: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self.rows = 0

    def units(self, text: Any) -> int:
        """A decimal (string or Decimal) as an integer of 1e-scale; exact by construction."""
        value = Decimal(text).scaleb(self.scale)
        if value != value.to_integral_value():
            raise DecodeError(f"{text!r:.40} has more than {self.scale} decimal places")
        return int(value)

    def levels(self, levels: Any) -> tuple[list[int], list[int]]:
        units = self.units
        return [units(level[0]) for level in levels], [units(level[1]) for level in levels]

    def add(self, **values: Any) -> None:
        data = self.data
        for name in COLUMNS:
            data[name].append(values.get(name))
        self.rows += 1

    def table(self) -> pa.Table:
        return pa.table(self.data, schema=SCHEMA)


def _add_message(cols: _Columns, line: int, recv_ns: int, message: Any) -> int:
    """Append one decoded message; returns the rows added (0: nothing worth keeping)."""
    if isinstance(message, binance.DepthDiff):
        bid_px, bid_qty = cols.levels(message.bids)
        ask_px, ask_qty = cols.levels(message.asks)
        cols.add(line=line, recv_ns=recv_ns, kind=Kind.DIFF, symbol=message.symbol,
                 venue_ms=message.event_time_ms, event_ms=message.transaction_time_ms,
                 id_first=message.first_update_id, id_last=message.final_update_id,
                 id_prev=message.prev_final_update_id, bid_px=bid_px, bid_qty=bid_qty,
                 ask_px=ask_px, ask_qty=ask_qty)
    elif isinstance(message, binance.DepthSnapshot):
        bid_px, bid_qty = cols.levels(message.bids)
        ask_px, ask_qty = cols.levels(message.asks)
        cols.add(line=line, recv_ns=recv_ns, kind=Kind.SNAPSHOT, id_first=message.last_update_id,
                 bid_px=bid_px, bid_qty=bid_qty, ask_px=ask_px, ask_qty=ask_qty)
    elif isinstance(message, binance.Trade):
        cols.add(line=line, recv_ns=recv_ns, kind=Kind.TRADE, symbol=message.symbol,
                 venue_ms=message.trade_time_ms, event_ms=message.event_time_ms,
                 id_first=message.trade_id, price=cols.units(message.price),
                 qty=cols.units(message.qty), flag=int(message.buyer_is_maker))
    elif isinstance(message, binance.BookTicker):
        cols.add(line=line, recv_ns=recv_ns, kind=Kind.TICKER, symbol=message.symbol,
                 id_first=message.update_id, price=cols.units(message.bid_price),
                 qty=cols.units(message.bid_qty), price2=cols.units(message.ask_price),
                 qty2=cols.units(message.ask_qty))
    elif isinstance(message, hyperliquid.L2Book):
        bid_px, bid_qty = cols.levels(message.bids)
        ask_px, ask_qty = cols.levels(message.asks)
        cols.add(line=line, recv_ns=recv_ns, kind=Kind.L2BOOK, symbol=message.coin,
                 venue_ms=message.time_ms, bid_px=bid_px, bid_qty=bid_qty, ask_px=ask_px,
                 ask_qty=ask_qty, bid_n=[level[2] for level in message.bids],
                 ask_n=[level[2] for level in message.asks])
    elif isinstance(message, hyperliquid.Trades):
        for t in message.trades:
            cols.add(line=line, recv_ns=recv_ns, kind=Kind.HL_TRADE, symbol=t.coin,
                     venue_ms=t.time_ms, id_first=t.tid, price=cols.units(t.price),
                     qty=cols.units(t.size), flag=int(t.side.value == "buy"), hash=t.hash)
        return len(message.trades)
    else:
        return 0
    return 1


def build(source: Path, target: Path, *, sha256: str | None = None,
          row_group: int = ROW_GROUP) -> CatalogInfo:
    """Decode `source` (a recording) into the catalog file `target`, streaming: at most one
    row group of rows is held at a time. The file appears only once complete: a damaged
    recording (`RecordingError`: truncated, not gzip) or any other failure leaves nothing."""
    scale = _scale_of(source)
    sha = sha256 or content_hash(source)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        info = _write(source, partial, target, sha=sha, scale=scale, row_group=row_group)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return info


def _write(source: Path, partial: Path, target: Path, *, sha: str, scale: int,
           row_group: int) -> CatalogInfo:
    kinds = dict.fromkeys((k.name.lower() for k in Kind), 0)
    rows = groups = errors = 0
    reader = RecordingReader(source)
    cols = _Columns(scale)
    seen = _Seen()
    with pq.ParquetWriter(partial, SCHEMA, compression="zstd") as writer:
        for line, ts, raw in reader:
            if ts is None:
                errors += 1
                continue
            try:
                message = classify(raw)
                added = _add_message(cols, line, ts, message)
            except DecodeError:
                errors += 1
                continue
            if added:
                kinds[_kind_name(message)] += added
                seen.append(message)
            if cols.rows >= row_group:
                writer.write_table(cols.table(), row_group_size=row_group)
                rows, groups, cols = rows + cols.rows, groups + 1, _Columns(scale)
        if cols.rows:
            writer.write_table(cols.table(), row_group_size=row_group)
            rows, groups = rows + cols.rows, groups + 1
        info = CatalogInfo(path=str(target), source=source.name, sha256=sha, scale=scale,
                           rows=rows, lines=reader.lines, row_groups=groups,
                           decode_errors=errors, kinds=kinds, venue=seen.venue,
                           symbols=tuple(seen.symbols))
        writer.add_key_value_metadata({_META_KEY: json.dumps(attrs.asdict(info)).encode()})
    return info


class _Seen:
    """The venue and symbols of the messages written, for the metadata."""

    def __init__(self) -> None:
        self.venue, self.symbols = "", dict[str, None]()

    def append(self, message: Any) -> None:
        if len(self.symbols) < 1000:  # a multi-symbol recording's first thousand are plenty
            venue, symbols = sniff_messages((message,))
            self.venue = self.venue or venue
            self.symbols.update(dict.fromkeys(symbols))


def _kind_name(message: Any) -> str:
    kind = {binance.DepthDiff: Kind.DIFF, binance.DepthSnapshot: Kind.SNAPSHOT,
            binance.Trade: Kind.TRADE, binance.BookTicker: Kind.TICKER,
            hyperliquid.L2Book: Kind.L2BOOK, hyperliquid.Trades: Kind.HL_TRADE}[type(message)]
    return kind.name.lower()


def read_info(path: Path) -> CatalogInfo:
    """A catalog file's own description; ValueError if `path` is not a Troupe catalog."""
    try:
        metadata = pq.ParquetFile(path).metadata.metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable catalog: {exc}") from None
    raw = metadata.get(_META_KEY)
    if raw is None:
        raise ValueError(f"{path}: a Parquet file, but not a Troupe catalog")
    fields = json.loads(raw)
    if fields.get("format") != FORMAT:
        raise ValueError(f"{path}: catalog format {fields.get('format')}, this Troupe reads "
                         f"{FORMAT}: rebuild it")
    fields["path"] = str(path)
    fields["symbols"] = tuple(fields.get("symbols", ()))
    return CatalogInfo(**fields)
