"""Config values are checked for range, not only for type, and `--check-config` output is a
config: what an operator pastes back in loads into the same effective configuration.

A value of the right type can still be absurd: a tick of 1e999999999999, a negative quote size,
an infinite interval, a 50 % fee. Each is refused at load with its own `path: problem` line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from supervision.config.load import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[3]
PAPER = ROOT / "config" / "paper.toml"
SHIPPED = sorted((ROOT / "config").glob("*.toml"))
SECRETS = {
    "BINANCE_API_KEY": "key-0123456789",
    "BINANCE_API_SECRET": "binance-secret-value",
    "TROUPE_CONTROL_TOKEN": "control-token-value-0123",
}


def problems(*overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(PAPER, overrides, environ=SECRETS)
    return caught.value.problems


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ('instruments.0.tick_size="1e999999999999"',
         "instruments.0.tick_size: must be a number of sane size (at most 1e+30 and at least "
         "1e-30 away from zero), got '1e999999999999' (from --set)"),
        ('instruments.0.lot_step="1e-999999999"',
         "instruments.0.lot_step: must be a number of sane size (at most 1e+30 and at least "
         "1e-30 away from zero), got '1e-999999999' (from --set)"),
        ('instruments.0.tick_size="0"', "instruments.0.tick_size: must be > 0, got 0 (from --set)"),
        ('instruments.0.maker_fee="0.5"',
         "instruments.0.maker_fee: must be a fraction of notional between -0.01 (a 1% rebate) "
         "and 0.05 (a 5% fee), got 0.5 (from --set)"),
        ("strategies.0.params.quote_lots=-1",
         "strategies.0.params.quote_lots: must be > 0, got -1 (from --set)"),
        ("strategies.0.params.max_inventory=0",
         "strategies.0.params.max_inventory: must be > 0, got 0 (from --set)"),
        ("strategies.0.params.gamma=-0.5",
         "strategies.0.params.gamma: must be > 0, got -0.5 (from --set)"),
        ("strategies.0.params.k=nan",
         "strategies.0.params.k: must be a finite number, got nan (from --set)"),
        ("node.status_interval_s=inf",
         "node.status_interval_s: must be a finite number, got inf (from --set)"),
        ("venue.sim.latency.insert_ms=-inf",
         "venue.sim.latency.insert_ms: must be a finite number, got -inf (from --set)"),
        ('risk.max_order_notional="1e999999999"',
         "risk.max_order_notional: must be a number of sane size (at most 1e+30 and at least "
         "1e-30 away from zero), got '1e999999999' (from --set)"),
    ],
)
def test_a_value_out_of_range_is_one_path_problem_line(override: str, line: str) -> None:
    assert problems(override) == [line]


def test_every_range_problem_is_reported_at_once() -> None:
    found = problems('instruments.0.tick_size="1e999999999999"',
                     "strategies.0.params.quote_lots=-1", "strategies.0.params.k=0")
    assert [line.split(":")[0] for line in found] == [
        "instruments.0.tick_size", "strategies.0.params.quote_lots", "strategies.0.params.k"]


def test_a_taker_needs_a_positive_entry_size(tmp_path: Path) -> None:
    text = PAPER.read_text().replace('kind = "market_maker"', 'kind = "taker"')
    text = text.split("[strategies.params]")[0] + "[strategies.params]\nentry_lots = 0\n"
    text += 'min_edge_bps = "1"\n'
    path = tmp_path / "taker.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=SECRETS)
    assert caught.value.problems == ["strategies.0.params.entry_lots: must be > 0, got 0"]


def run_main(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervision.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **SECRETS,
                               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get(
                                   "PYTHONPATH", "")})


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_check_config_prints_a_config_that_loads_back_the_same(path: Path,
                                                               tmp_path: Path) -> None:
    printed = run_main(str(path), "--check-config", cwd=ROOT)
    assert printed.returncode == 0, printed.stderr
    effective = tmp_path / path.name
    effective.write_text(printed.stdout)
    again = run_main(str(effective), "--check-config", cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert again.stdout == printed.stdout
    original: Any = load_config(path, environ=SECRETS)
    assert load_config(effective, environ=SECRETS) == original
