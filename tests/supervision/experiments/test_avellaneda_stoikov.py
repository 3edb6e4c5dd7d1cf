"""The A-S experiment through the real actors: a short run reproduces the closed-form spread,
and the inventory strategy holds less inventory than the symmetric one (the paper's point)."""

from __future__ import annotations

import json

from supervision.experiments.as_report import write_report
from supervision.experiments.avellaneda_stoikov import (
    ASParams,
    closed_form_spread,
    run_experiment,
    run_path,
)


def test_the_measured_spread_is_the_closed_form_average_spread() -> None:
    params = ASParams(paths=3, gamma=0.1)
    result = run_path(params, "inventory", 0)
    measured = result.spread_sum / result.spread_samples
    assert result.spread_samples == params.steps
    # Quotes are rounded outwards to the 0.001 tick: at most one tick a side.
    assert abs(measured - closed_form_spread(params)) < 0.002
    assert abs(closed_form_spread(params) - (0.1 * 4 * 0.5025 + 20 * 0.0645385)) < 0.01


def test_any_gamma_works_and_a_larger_gamma_gives_a_tighter_inventory() -> None:
    wide = run_experiment(ASParams(paths=12, gamma=0.01))
    tight = run_experiment(ASParams(paths=12, gamma=1.0))
    assert abs(wide.inventory.spread_mean - closed_form_spread(ASParams(gamma=0.01))) < 0.002
    assert tight.inventory.final_q_std < wide.symmetric.final_q_std
    assert tight.inventory.final_q_std < tight.symmetric.final_q_std


def test_the_same_seed_gives_the_same_paths() -> None:
    params = ASParams(paths=2, seed=9)
    assert run_path(params, "inventory", 1) == run_path(params, "inventory", 1)
    assert run_path(params, "inventory", 0) != run_path(params, "inventory", 1)


def test_the_report_has_both_strategies_and_a_plot(tmp_path) -> None:
    result = run_experiment(ASParams(paths=4))
    report_path, plot = write_report(result, tmp_path / "out")
    report = json.loads(report_path.read_text())
    keys = {"spread_mean", "profit_mean", "profit_std", "final_q_mean", "final_q_std", "paths"}
    assert set(report) >= {"inventory", "symmetric"}
    assert set(report["inventory"]) == keys and set(report["symmetric"]) == keys
    assert report["inventory"]["paths"] == 4
    # The symmetric strategy quotes the inventory strategy's average spread.
    assert abs(report["symmetric"]["spread_mean"] - report["inventory"]["spread_mean"]) < 0.002
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
