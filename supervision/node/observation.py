"""The observation statistics on disk: one Parquet file per UTC day, one row per market.

    MarketObserver (actors.market.observation) --MarketStatistics--> ObservationWriter
        -> <dir>/observation-<YYYY-MM-DD>.parquet        (rewritten whole at each update)

    python -m supervision.node.observation var/observation     # print every day's rows
    python -m supervision.node.observation FILE.parquet

A node in observe or paper mode runs the writer (`[observation]`: `enabled`, `dir`, by default
`observation/` beside the journal, and `interval_s`); a backtest does not (it writes nothing but
its report). The file is replaced atomically (written beside it, then renamed), so a reader never
sees half a file, and a write that fails is logged and counted
(`troupe_observation_write_errors_total`) but stops nothing: statistics must not cost a trade.
The columns are the fields of `protocols.observation.MarketStatistics`, in order.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq

from actors.behaviour import Behaviour, Context
from protocols.observation import MarketStatistics

__all__ = ["ObservationFiles", "ObservationWriter", "format_statistics", "main",
           "read_statistics"]

log = logging.getLogger("troupe.observation")
_SHOWN = (("day", "day"), ("instrument", "market"), ("book_updates", "books"),
          ("bbo_null_rate", "null"), ("bbo_interval_ms_p50", "bbo ms p50"),
          ("bbo_interval_ms_p99", "p99"), ("oracle_age_ms_p50", "oracle age ms p50"),
          ("oracle_age_ms_p99", "p99"), ("crossings", "crossings"),
          ("crossing_updates_p50", "dur upd p50"), ("crossing_ms_p50", "dur ms p50"),
          ("edge_after_fees_bps_p50", "edge bps p50"), ("edge_after_fees_bps_p99", "p99"),
          ("edge_after_fees_bps_max", "max"))


@attrs.frozen(slots=True)
class ObservationFiles:
    """Asked of the writer: answered, after every record before it is written, with the
    files it wrote."""


def _path(directory: Path, day: str) -> Path:
    return directory / f"observation-{day}.parquet"


class ObservationWriter(Behaviour):
    """Keeps the newest `MarketStatistics` per (day, instrument) and rewrites that day's file."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.rows: dict[tuple[str, str], MarketStatistics] = {}
        self.written: dict[str, Path] = {}

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, MarketStatistics):
            self.rows[(message.day, message.instrument)] = message
            self._write(message.day, ctx)
        elif isinstance(message, ObservationFiles):
            return tuple(self.written.values())
        return None

    def _write(self, day: str, ctx: Context) -> None:
        rows = [attrs.asdict(r) for (d, _), r in sorted(self.rows.items()) if d == day]
        path = _path(self.directory, day)
        tmp = path.with_name(path.name + ".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            os.replace(tmp, path)
        except OSError as exc:
            ctx.count("troupe_observation_write_errors_total")
            log.warning("observation statistics not written to %s: %s", path, exc)
            return
        ctx.count("troupe_observation_writes_total")
        self.written[day] = path

    def snapshot(self) -> dict[str, Any]:
        return {"dir": str(self.directory), "rows": len(self.rows),
                "files": [str(p) for p in self.written.values()]}


def read_statistics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every row of an observation file, or of every file in a directory (oldest day first)."""
    where = Path(path)
    files = sorted(where.glob("observation-*.parquet")) if where.is_dir() else [where]
    rows: list[dict[str, Any]] = []
    for file in files:
        rows.extend(pq.read_table(file).to_pylist())
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def format_statistics(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as a plain text table of the columns an operator compares markets by."""
    table = [[title for _, title in _SHOWN]]
    table += [[_cell(row.get(name)) + ("*" if name == "day" and row.get("partial") else "")
               for name, _ in _SHOWN] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_SHOWN))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(lines) + "\n(* the day was not over when written)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        sys.stderr.write("usage: python -m supervision.node.observation DIR_OR_FILE\n")
        return 2
    path = Path(args[0])
    if not path.exists():
        sys.stderr.write(f"error: {path}: no such file or directory\n")
        return 2
    try:
        rows = read_statistics(path)
    except (OSError, pa.ArrowInvalid) as exc:
        sys.stderr.write(f"error: {path}: not observation statistics: {exc}\n")
        return 2
    if not rows:
        sys.stderr.write(f"error: {path}: no observation files in it\n")
        return 2
    sys.stdout.write(format_statistics(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
