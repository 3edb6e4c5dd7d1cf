"""`python -m supervision.report JOURNAL --report DIR`: a node's trading report, after the fact.

    python -m supervision.report var/journal.jsonl --report out/            # config/paper.toml
    python -m supervision.report var/journal.jsonl --config config/live.toml --report out/

A journal holds every run of its node; the report is of the last run (from its `NodeStarted`),
or of all of them with `--all-runs`. The same code writes the report of a run given
`--report DIR` (`python -m supervision.main CONFIG --report DIR`: a backtest from the records
it journaled in memory, a paper or live node from its own journal once flushed at the stop).
The records are the journal's, structured back into the node's typed records, and
`actors.analytics.build_report` computes every figure. The config gives what the
journal does not hold: the instruments' ticks and lots, position limits, the acceptance
criteria. Written to DIR (created if missing):

- `report.json`: the figures (docs/analytics.md lists every field). Same records, same bytes,
  but for the wall-time fields `WALL_FIELDS`.
- `report.html`: one self-contained page (plots embedded as PNG), `supervision.report_html`.
- `orders.parquet`, `fills.parquet` (with markouts), `equity.parquet`, `inventory.parquet`,
  `latency.parquet`.

Exit codes: 0 written, 2 a user mistake (a journal or config that cannot be read, a DIR that
cannot be written), one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from actors.analytics import Criterion, Report, ReportSettings, build_report
from protocols.journal import JournalError, NodeStarted
from protocols.journal_codec import RECORD_TYPES, structure_record
from supervision.config.load import ConfigError, NodeConfig, load_config
from supervision.node.journal import iter_journal

__all__ = ["WALL_FIELDS", "journal_records", "last_run", "main", "quote_currency",
           "report_dir_problem", "report_journal", "settings_for", "write_report"]

WALL_FIELDS = ("wall_seconds", "events_per_s")
"""The only fields of report.json that differ between two runs over the same config and data."""

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


def report_dir_problem(directory: str | Path) -> str | None:
    """Why a report cannot be written to `directory`, or None: checked before a run starts, so
    that a typo costs a line on stderr and not a whole run. Nothing is created: the nearest
    existing ancestor must be a directory this process may write into."""
    if not str(directory).strip():
        return "--report needs a directory, got an empty path"
    path = Path(directory)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == path else f"is under {existing}, a file"
        return f"cannot write the report to {directory}: it {what}, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write the report to {directory}: {existing} is not writable"
    return None


def quote_currency(config: NodeConfig) -> str:
    """The currency PnL is in: the quote asset ending the instruments' symbols ("USDT" for
    BTCUSDT, "USDC" for BTCUSDC even when the venue calls it "BTC"), else their venue symbols;
    "quote" when none ends in one we know; several joined by "/"."""
    quotes = {next((q for name in (i.symbol, i.venue_symbol) for q in _QUOTES
                    if name.upper().endswith(q)), "quote")
              for i in config.instruments}
    return "/".join(sorted(quotes)) or "quote"


def settings_for(config: NodeConfig) -> ReportSettings:
    """Specs, quote currency and position limits (a strategy's `max_inventory` lots) of a node."""
    specs = {i.symbol: i.to_spec(config.venue.name) for i in config.instruments}
    limits: dict[str, int] = {}
    for strategy in config.strategies:
        limit = strategy.params.get("max_inventory")
        if isinstance(limit, int) and strategy.instrument in specs:
            limits[strategy.instrument] = limit
    report = config.report
    return ReportSettings(specs, currency=quote_currency(config), limits=limits,
                          decomposition_horizon_s=report.decomposition_horizon_s,
                          criteria=tuple(Criterion(c.metric, c.op, c.threshold)
                                         for c in report.go_no_go))


def journal_records(path: str | Path) -> Iterator[Any]:
    """The typed records of a journal file that a report reads, in file order."""
    for line in iter_journal(path):
        if line["kind"] in RECORD_TYPES:
            yield structure_record(line["kind"], line["data"])


def last_run(records: Iterable[Any]) -> list[Any]:
    """The records from the last `NodeStarted` on: a node appends every run to one journal,
    and a run's report is about that run (the simulated venue restarts empty)."""
    out: list[Any] = []
    for record in records:
        if isinstance(record, NodeStarted):
            out = []
        out.append(record)
    return out


def report_journal(journal: Path, config: NodeConfig, directory: Path, *, started: float,
                   every_run: bool = False, config_text: str = "") -> tuple[Path, int]:
    """The report of a journal's last run (or of all of them): the path and records read."""
    records = list(journal_records(journal))
    if not records:
        # a recording or an empty file passed by mistake is not a run that never traded
        raise JournalError("no journal record in it: not a node's journal")
    if not every_run:
        records = last_run(records)
    out = report_from_records(records, settings_for(config), directory, started=started,
                              config_text=config_text)
    return out, len(records)


def write_report(report: Report, directory: Path, *, wall_seconds: float,
                 config_text: str = "") -> Path:
    """report.json (with the wall-time fields first) and the Parquet tables; returns the JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    events = report.data["events"]
    data = {"wall_seconds": round(wall_seconds, 3),
            "events_per_s": round(events / wall_seconds, 1) if wall_seconds > 0 else None,
            **report.data}
    path = directory / "report.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    for name, rows in report.tables.items():
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
        pq.write_table(table, directory / f"{name}.parquet")
    if config_text:
        (directory / "config.toml").write_text(config_text)
    from supervision.report_html import render_html

    (directory / "report.html").write_text(render_html(data, report.tables, config_text))
    return path


def report_from_records(records: Iterable[Any], settings: ReportSettings, directory: Path, *,
                        started: float, config_text: str = "") -> Path:
    """Build and write; `started` is the perf_counter the wall time counts from."""
    report = build_report(list(records), settings)
    return write_report(report, directory, wall_seconds=time.perf_counter() - started,
                        config_text=config_text)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m supervision.report",
                                description="Write a node's trading report from its journal.")
    p.add_argument("journal", help="the node's journal, e.g. var/journal.jsonl")
    p.add_argument("--report", required=True, metavar="DIR", help="where to write the report")
    p.add_argument("--config", default="config/paper.toml",
                   help="the node's config: instruments, limits (default: config/paper.toml)")
    p.add_argument("--all-runs", action="store_true",
                   help="report every run in the journal (default: the last one)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    try:
        config = load_config(args.config, [])
    except ConfigError as exc:
        sys.stderr.write(f"error: {args.config}: {'; '.join(exc.problems)}\n")
        return 2
    if not isinstance(config, NodeConfig):
        sys.stderr.write(f"error: {args.config} is not a node config\n")
        return 2
    if not Path(args.journal).is_file():
        sys.stderr.write(f"error: {args.journal}: no such journal\n")
        return 2
    try:
        out, count = report_journal(Path(args.journal), config, Path(args.report),
                                    started=started, every_run=args.all_runs,
                                    config_text=Path(args.config).read_text())
    except JournalError as exc:
        message = str(exc)  # the reader's message names the file where it names a line
        if not message.startswith(f"{args.journal}:"):
            message = f"{args.journal}: {message}"
        sys.stderr.write(f"error: {message}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"error: cannot write the report to {args.report}: {exc}\n")
        return 2
    sys.stdout.write(f"wrote {out} and its tables ({count} records)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
