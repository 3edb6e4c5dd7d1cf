"""The dislocation taker and its market gates in a running node: config/backtest_taker.toml (the
node's own actors over the shipped Hyperliquid recording, in virtual time) with the simulated
venue's oracle and its faults (actors/sim/market_state.py).

The oracle noise is off, so without a fault the taker never trades here (checked first): every
order below comes from the dislocation the test scheduled, and every refusal from the fault."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from protocols.decisions import Gate, NoTrade, RiskRefused, Scaled
from protocols.journal import OrderSent
from protocols.orders import Fill, TimeInForce
from protocols.risk import InstrumentHalted
from supervision.config.load import NodeConfig, load_config
from supervision.node.backtest import BacktestResult, run_backtest

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config" / "backtest_taker.toml"
S, MS = 1_000_000_000, 1_000_000
DISLOCATION = '{kind = "dislocation", at_s = 5.0, for_s = 30, value = "10"}'


def run(*faults: str, **params: object) -> BacktestResult:
    sets = ["data.catalog=false", "venue.sim.market.noise_bps=0",
            f"venue.sim.market.faults=[{', '.join(faults)}]"]
    sets += [f"strategies.0.params.{k}={v}" for k, v in params.items()
             if not k.startswith("risk_")]
    sets += [f"risk.{k[5:]}={v}" for k, v in params.items() if k.startswith("risk_")]
    config = load_config(CONFIG, sets)
    assert isinstance(config, NodeConfig)
    return run_backtest(config)


def of(records: Iterable[Any], kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind)]


def entries(result: BacktestResult) -> list[OrderSent]:
    return [o for o in of(result.journal, OrderSent) if not o.reduce_only]


def exits(result: BacktestResult) -> list[OrderSent]:
    return [o for o in of(result.journal, OrderSent) if o.reduce_only]


def fill_of(result: BacktestResult, cid: str) -> Fill:
    [fill] = [f for f in of(result.journal, Fill) if f.client_order_id == cid]
    return fill


def test_without_a_dislocation_the_noiseless_oracle_gives_the_taker_nothing_to_trade() -> None:
    result = run()
    assert result.orders_sent == 0
    why = {r.reason for r in of(result.journal, NoTrade)}
    assert "edge_below_fees" in why and "no_reference" not in why  # the oracle is alive


@pytest.mark.parametrize(("value", "side"), [("10", "buy"), ("-10", "sell")])
def test_fed_a_dislocation_the_taker_sends_one_ioc_per_confirmed_signal_and_flattens_on_time(
        value: str, side: str) -> None:
    hold_ms = 2_000
    result = run(f'{{kind = "dislocation", at_s = 5.0, for_s = 1.5, value = "{value}"}}',
                 hold_ms=hold_ms)
    [entry], [exit_] = entries(result), exits(result)
    assert (entry.side.value, entry.tif, entry.qty) == (side, TimeInForce.IOC, 100)
    assert exit_.tif is TimeInForce.IOC and exit_.side is not entry.side
    assert 5 * S <= entry.sent_ns < 6.5 * S
    filled = fill_of(result, entry.client_order_id)
    # the time stop runs from the entry fill; the exit leaves at once and fills in full
    assert exit_.sent_ns - filled.recv_ns == hold_ms * MS
    assert fill_of(result, exit_.client_order_id).qty == 100
    assert result.position == "flat"
    why = [r.reason for r in of(result.journal, NoTrade)]
    assert why.count("awaiting_confirmation") == 1  # the first hit; the second is the IOC


def test_a_stalled_oracle_refuses_new_orders_past_its_threshold_and_lets_the_exit_out() -> None:
    stall_at, stall_s, threshold_ms = 6.0, 10.0, 3_000
    result = run(DISLOCATION, f'{{kind = "oracle_stall", at_s = {stall_at}, for_s = {stall_s}}}',
                 hold_ms=5_000, reference_max_age_ms=60_000, risk_stale_oracle_ms=threshold_ms)
    refused = of(result.journal, RiskRefused)
    assert refused and {r.gate for r in refused} == {Gate.STALE_ORACLE}
    # the entry before the stall is flattened during it, with the oracle already stale
    first, later = entries(result)[0], entries(result)[1:]
    exit_ = exits(result)[0]
    assert first.sent_ns < stall_at * S < (stall_at + threshold_ms / 1000) * S < exit_.sent_ns
    assert fill_of(result, exit_.client_order_id).qty == first.qty
    # nothing new once the oracle is older than the threshold, until it publishes again
    quiet = ((stall_at + threshold_ms / 1000) * S, (stall_at + stall_s) * S)
    assert not [e for e in later if quiet[0] <= e.sent_ns < quiet[1]]
    assert later and later[0].sent_ns >= quiet[1]  # trading resumes with the oracle


@pytest.mark.parametrize(("fault", "gate"), [
    ('{kind = "halt", at_s = 8.0, for_s = 6}', Gate.VENUE_HALT),
    ('{kind = "oi_cap", at_s = 8.0, for_s = 6}', Gate.OPEN_INTEREST_CAP),
    ('{kind = "mark_divergence", at_s = 8.0, for_s = 6, value = "100"}',
     Gate.MARK_MID_DIVERGENCE),
])
def test_a_venue_state_fault_refuses_new_orders_while_it_lasts(fault: str, gate: Gate) -> None:
    result = run(DISLOCATION, fault, hold_ms=5_000)
    refused = of(result.journal, RiskRefused)
    assert len(refused) >= 3 and {r.gate for r in refused} == {gate}
    first, *later = entries(result)
    # the position taken before the fault is flattened during it: exits are never blocked
    exit_ = exits(result)[0]
    assert first.sent_ns < 8 * S < exit_.sent_ns < 14 * S
    assert fill_of(result, exit_.client_order_id).qty == first.qty
    assert not [e for e in later if 8 * S <= e.sent_ns < 14 * S]
    assert later  # and trading resumes when the venue does


@pytest.mark.parametrize(("fault", "gate"), [
    ('{kind = "spec_change", at_s = 8.0, value = "taker_fee=0.0006"}', Gate.SPEC_CHANGE),
    ('{kind = "time_regression", at_s = 8.0}', Gate.TIME_REGRESSION),
])
def test_a_spec_change_or_a_time_regression_halts_the_market_but_not_the_exit(
        fault: str, gate: Gate) -> None:
    result = run(DISLOCATION, fault, hold_ms=5_000)
    [halted] = of(result.journal, InstrumentHalted)
    assert halted.gate is gate and 8 * S <= halted.recv_ns < 9 * S
    first, *later = entries(result)
    assert first.sent_ns < halted.recv_ns and not later  # halted until an operator resumes
    refused = of(result.journal, RiskRefused)
    assert refused and {r.gate for r in refused} == {gate}
    [exit_] = exits(result)  # reduce then stop: the position still gets out
    assert exit_.sent_ns > halted.recv_ns
    assert fill_of(result, exit_.client_order_id).qty == first.qty
    assert result.position == "flat"


def test_a_spread_shock_scales_the_entry_to_a_fifth() -> None:
    result = run(DISLOCATION, '{kind = "spread_shock", at_s = 14.0, for_s = 6}',
                 hold_ms=3_000, cap_to_touch_qty="false")
    scaled = of(result.journal, Scaled)
    assert scaled and {(s.gate, s.original_qty, s.qty) for s in scaled} == {
        (Gate.SPREAD_SHOCK, 100, 20)}
    sizes = {e.client_order_id: e.qty for e in entries(result)}
    assert all(sizes[s.client_order_id] == 20 for s in scaled)
    assert 100 in sizes.values()  # before and after the shock, full size


def test_a_silent_book_refuses_new_orders_past_the_book_threshold() -> None:
    result = run(DISLOCATION, '{kind = "book_stall", at_s = 8.0, for_s = 6}', hold_ms=1_000,
                 risk_stale_book_ms=1_000)
    refused = of(result.journal, RiskRefused)
    assert refused and {r.gate for r in refused} == {Gate.STALE_BOOK}
    assert not [e for e in entries(result) if 9 * S <= e.sent_ns < 14 * S]


def test_the_report_counts_the_gates_refusals_by_reason(tmp_path: Path) -> None:
    """As an operator runs it: a backtest with a halt in the middle, and its report."""
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", str(CONFIG), "--report", str(tmp_path),
         "--set", "data.catalog=false", "--set", "venue.sim.market.noise_bps=0", "--set",
         f"venue.sim.market.faults=[{DISLOCATION}, "
         '{kind = "halt", at_s = 8.0, for_s = 6}]'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    refusals = report["risk_refusals"]
    assert list(refusals) == ["venue_halt"] and refusals["venue_halt"] >= 3
    assert report["why"]["risk_refused"] == refusals["venue_halt"]  # the taker's side of each
    assert report["orders"]["filled"] == report["fills"] > 0
