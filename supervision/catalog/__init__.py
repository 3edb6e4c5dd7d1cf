"""The data catalog: recordings decoded once into compact integer columns, replayed fast.

    python -m supervision.catalog build supervision/sources/data/binance_spot_btcusdt_20240808.gz
    python -m supervision.catalog info var/catalog/<sha>.parquet
    python -m supervision.catalog head var/catalog/<sha>.parquet -n 5

A recording (gzip JSON lines) is decoded once into a Parquet file of integer columns
(`supervision.catalog.store`: venue and receive timestamps, update ids, prices and sizes as
integers at the recording's own precision, depth levels as lists), cached under a directory by
the source file's SHA-256, so a changed file gets a new catalog and an unchanged one is never
decoded twice. `CatalogSource` (`supervision.catalog.replay`) replays it in bounded memory, one
row group at a time, with depth levels already in ticks and lots: a backtest skips JSON, Decimal
and the venue's level conversion, and makes the same orders, fills and PnL as from the raw file.

Why Parquet (pyarrow): see docs/dependencies.md.
"""

from __future__ import annotations

from pathlib import Path

from supervision.catalog.replay import CatalogReader, CatalogSource
from supervision.catalog.store import CatalogInfo, build, content_hash, read_info

__all__ = ["CatalogInfo", "CatalogReader", "CatalogSource", "build_catalog", "catalog_path",
           "is_catalog", "read_info"]

SUFFIX = ".parquet"


def catalog_path(recording: Path, catalog_dir: Path, sha256: str | None = None) -> Path:
    """Where the catalog of `recording` lives: named by the file's content hash."""
    return catalog_dir / f"{sha256 or content_hash(recording)}{SUFFIX}"


def is_catalog(path: Path) -> bool:
    return path.suffix == SUFFIX


def build_catalog(recording: Path, catalog_dir: Path) -> tuple[Path, bool]:
    """The catalog of `recording`, built unless a valid one is cached. Returns (path, built)."""
    sha = content_hash(recording)
    target = catalog_path(recording, catalog_dir, sha)
    if target.is_file():
        try:
            if read_info(target).sha256 == sha:
                return target, False
        except ValueError:
            pass  # an unreadable or older catalog: rebuild it
    build(recording, target, sha256=sha)
    return target, True
