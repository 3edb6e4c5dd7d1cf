"""`python -m supervision.catalog`: build, inspect and convert catalogs.

    python -m supervision.catalog build RECORDING [--dir var/catalog]   # decode once (cached)
    python -m supervision.catalog info CATALOG                          # what it holds
    python -m supervision.catalog head CATALOG [-n 10]                  # the first events
    python -m supervision.catalog export CATALOG OUT.parquet --kinds diff,trade  # a subset

Exit codes: 0 done, 2 a user mistake (a missing file, not a catalog, a recording that is
truncated or not gzip, which is never cached): one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from supervision.catalog import build_catalog, read_info
from supervision.catalog.replay import CatalogReader
from supervision.catalog.store import Kind
from supervision.sources.recording_reader import RecordingError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m supervision.catalog",
                                description="Build and inspect Troupe's data catalog.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="decode a recording once into the catalog")
    b.add_argument("recording")
    b.add_argument("--dir", default="var/catalog", help="the catalog directory")
    i = sub.add_parser("info", help="describe a catalog file")
    i.add_argument("catalog")
    h = sub.add_parser("head", help="print the first events as the replay rebuilds them")
    h.add_argument("catalog")
    h.add_argument("-n", type=int, default=10)
    e = sub.add_parser("export", help="write some kinds of events to another Parquet file")
    e.add_argument("catalog")
    e.add_argument("out")
    e.add_argument("--kinds", default="diff,snapshot,trade",
                   help=f"comma-separated, of {', '.join(k.name.lower() for k in Kind)}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            recording = Path(args.recording)
            if not recording.is_file():
                raise ValueError(f"no recording at {recording}")
            try:
                path, built = build_catalog(recording, Path(args.dir))
            except RecordingError as exc:
                raise RecordingError(f"{exc}; not cached") from None
            sys.stdout.write(("built " if built else "cached ") + read_info(path).describe()
                             + "\n")
        elif args.command == "info":
            sys.stdout.write(read_info(Path(args.catalog)).describe() + "\n")
        elif args.command == "head":
            reader = CatalogReader(Path(args.catalog))
            for count, (line, recv_ns, message) in enumerate(reader):
                if count >= args.n:
                    break
                sys.stdout.write(f"{line} {recv_ns} {message!r:.200}\n")
        else:
            _export(Path(args.catalog), Path(args.out), args.kinds)
    except (ValueError, OSError, pa.ArrowException) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def _export(source: Path, out: Path, kinds_text: str) -> None:
    read_info(source)
    try:
        kinds = [Kind[name.strip().upper()] for name in kinds_text.split(",") if name.strip()]
    except KeyError as exc:
        raise ValueError(f"unknown kind {exc.args[0].lower()!r}") from None
    wanted = pa.array([int(k) for k in kinds], pa.int8())
    parquet = pq.ParquetFile(source)
    with pq.ParquetWriter(out, parquet.schema_arrow) as writer:
        rows = 0
        for batch in parquet.iter_batches():
            kept = batch.filter(pc.is_in(batch.column("kind"), value_set=wanted))
            writer.write_batch(kept)
            rows += kept.num_rows
    sys.stdout.write(f"wrote {rows:,} events to {out}\n")


if __name__ == "__main__":
    raise SystemExit(main())
