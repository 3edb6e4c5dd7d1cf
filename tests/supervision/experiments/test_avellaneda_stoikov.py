"""The A-S experiment through the real actors: the paper's three tables within its sampling
error on a few dozen paths (the tolerance widens as 1/sqrt(paths), and a wrong gamma or k still
fails it), quotes past the mid in the paper's model and not in Troupe's post-only one, and the
command an operator runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from supervision.config.experiment import ExperimentVariant
from supervision.experiments.as_paper import NOT_REPRODUCED, PAPER_TABLES
from supervision.experiments.as_report import comparisons, misses, write_report
from supervision.experiments.as_tables import TablesResult, run_tables
from supervision.experiments.avellaneda_stoikov import ASParams, closed_form_spread, run_path

PATHS = 24  # a strategy and gamma: about 150 paths in all, on two workers
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tables() -> TablesResult:
    bases = [ASParams(gamma=gamma, paths=PATHS) for gamma in PAPER_TABLES]
    return run_tables(bases, workers=2, trace=True)


def test_the_three_tables_are_within_the_papers_sampling_error(tables: TablesResult) -> None:
    """Every figure but those the paper's own model does not give (`NOT_REPRODUCED`); the
    largest of those, 13 profit units off, is outside even at 24 paths."""
    for table in tables.tables:
        gamma = table.params.gamma
        known = {f"{s} {c}" for g, s, c in NOT_REPRODUCED if g == gamma}
        assert set(misses(table)) <= known, gamma
        assert table.inventory.paths == table.symmetric.paths == PATHS
    assert "inventory profit_mean" in misses(tables.table(0.5, ExperimentVariant.PAPER))
    assert tables.paths_run == 6 * PATHS


def test_a_wrong_gamma_fails_the_comparison(tables: TablesResult) -> None:
    """The gamma = 0.5 run held to the gamma = 0.1 table: far outside its sampling error."""
    wrong = misses(tables.table(0.5, ExperimentVariant.PAPER), paper_gamma=0.1)
    assert {"inventory profit_mean", "symmetric spread"} <= set(wrong)


def test_a_wrong_k_fails_the_comparison() -> None:
    """k = 1.2 instead of 1.5: fewer fills are lost to distance, so both strategies earn more,
    and the symmetric spread (2/gamma) ln(1 + gamma/k) is 1.60, not 1.29."""
    result = run_tables([ASParams(gamma=0.1, k=1.2, paths=12)], trace=False)
    wrong = set(misses(result.tables[0]))
    assert {"inventory profit_mean", "symmetric profit_mean", "symmetric spread"} <= wrong


def test_the_measured_spread_is_the_closed_form_average_spread() -> None:
    params = ASParams(paths=3, gamma=0.1)
    result = run_path(params, "inventory", 0)
    measured = result.spread_sum / result.spread_samples
    assert result.spread_samples == params.steps
    # Quotes are rounded outwards to the 0.001 tick: at most one tick a side.
    assert abs(measured - closed_form_spread(params)) < 0.002
    assert abs(closed_form_spread(params) - (0.1 * 4 * 0.5025 + 20 * 0.0645385)) < 0.01


def test_quotes_cross_the_mid_in_the_papers_model_and_stop_at_it_post_only() -> None:
    """gamma = 0.5: a few shares of inventory move the reservation price a price unit or more,
    past the half spread, so the paper's quotes cross the mid on some paths; Troupe's
    post-only quotes never do (they wait at the touch, a tick from the mid)."""
    paper = ASParams(gamma=0.5, paths=3)
    post = attrs.evolve(paper, variant=ExperimentVariant.POST_ONLY)
    crossed = 0
    for index in range(3):
        for row in run_path(paper, "inventory", index, trace=True).trace:
            _, mid, bid, ask, _q = row
            crossed += (bid is not None and bid > mid) or (ask is not None and ask < mid)
        for row in run_path(post, "inventory", index, trace=True).trace:
            _, mid, bid, ask, _q = row
            assert (bid is None or bid <= mid + 0.001) and (ask is None or ask >= mid - 0.001)
    assert crossed > 0


def test_the_symmetric_strategy_is_the_same_in_both_variants() -> None:
    """Why a post-only table shares its paper twin's symmetric strategy: quotes 0.57 or more
    from the mid are never bounded, and the market is the same, so each path is identical."""
    paper = ASParams(gamma=0.5, paths=2)
    post = attrs.evolve(paper, variant=ExperimentVariant.POST_ONLY)
    spread = 1.1507 / 0.001
    for index in range(2):
        assert (run_path(paper, "symmetric", index, spread_ticks=spread)
                == run_path(post, "symmetric", index, spread_ticks=spread))


def test_the_report_has_every_table_with_the_papers_figures_and_a_plot(
        tables: TablesResult, tmp_path: Path) -> None:
    report_path, markdown, plot = write_report(tables, tmp_path / "out")
    report = json.loads(report_path.read_text())
    assert [t["gamma"] for t in report["tables"]] == list(PAPER_TABLES)
    first = report["tables"][0]
    assert set(first["inventory"]["standard_errors"]) == {
        "profit_mean", "profit_std", "final_q_mean", "final_q_std"}
    assert first["vs_paper"]["inventory"]["profit_mean"]["paper"] == 62.94
    text = markdown.read_text()
    assert text.count("| inventory | paper |") == 3 and "gamma = 0.5" in text
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
    assert comparisons(tables.tables[0])["symmetric"][0].column == "spread"


def test_the_command_shows_progress_and_prints_the_tables(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/avellaneda_stoikov.toml",
         "--set", "experiment.paths=2", "--set", "strategy.gamma=0.5",
         "--set", "experiment.workers=1", "--report", str(tmp_path / "as")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "A-S paths 100.0%" in out.stderr and "ETA" in out.stderr
    assert "| inventory | Troupe post-only |" in out.stdout and "gamma = 0.5" in out.stdout
    assert (tmp_path / "as" / "report.json").exists()
