"""Recorded venue data shipped with Troupe (see README.md here for its source and licence).

The paper node's default market data and the replay tests read these, so a clone needs nothing
outside the project.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
BINANCE_SPOT_BTCUSDT = DATA_DIR / "binance_spot_btcusdt_20240808.gz"
HYPERLIQUID_BTC = DATA_DIR / "hyperliquid_btc_20250126.gz"


def recording_path(name: str) -> Path:
    """The shipped recording `name`; FileNotFoundError naming what is available otherwise."""
    path = DATA_DIR / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.gz")))
        raise FileNotFoundError(f"no shipped recording {name!r}; available: {available}")
    return path
