"""Shared by the config tests: the shipped configs, a minimal node and `problems()`."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervision.config.load import ConfigError, load_config

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
PAPER = CONFIG_DIR / "paper.toml"
LIVE = CONFIG_DIR / "live.toml"
EXPERIMENT = CONFIG_DIR / "avellaneda_stoikov.toml"
LIVE_ENV = {
    "BINANCE_API_KEY": "key-0123456789",
    "BINANCE_API_SECRET": "binance-secret-value",
    "TROUPE_CONTROL_TOKEN": "control-token-value-0123",
}
MINIMAL = '[node]\nprofile = "paper"\n'
INSTRUMENT = """
[[instruments]]
symbol = "BTCUSDT"
tick_size = "0.01"
lot_step = "0.00001"
min_notional = "5"
maker_fee = "0.0001"
taker_fee = "0.0005"
"""


def problems(path: Path, overrides: tuple[str, ...] = (), **environ: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides, environ=environ)
    return caught.value.problems
