"""`--optimize`: Optuna's seeded TPE search on the real executors finds the known optimum of a
synthetic objective, gives the same trials for the same seed, and a walk-forward reports the
best parameters' figures on a span of the recording that no trial replayed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from supervision.catalog import read_info
from supervision.config.load import load_config
from supervision.experiments.executors import LocalExecutor
from supervision.experiments.jobs import Base
from supervision.experiments.optimize import parse_dimension, run_optimize, walk_forward
from supervision.experiments.ranking import parse_objective
from supervision.experiments.spans import SECOND, Span, SpanError
from supervision.experiments.sweep import SweepError
from supervision.main import main
from supervision.sources.recording_reader import iter_recording
from tests.supervision.experiments.synthetic_objective import BEST_GAMMA, BEST_LOTS, RUNNER

CONFIG = "config/backtest.toml"
GAMMA, LOTS = "strategies.0.params.gamma", "strategies.0.params.quote_lots"
SPACE = (f"{GAMMA}=1e-12:1e-8:log", f"{LOTS}=1:20:int")


def _search(tmp: Path, executor: LocalExecutor, seed: int) -> tuple[dict, object]:
    return run_optimize(Base(CONFIG, (), runner=RUNNER), [parse_dimension(s) for s in SPACE],
                        parse_objective("pnl.total"), executor, tmp, trials=40, seed=seed,
                        batch=4)


def test_the_search_finds_the_known_optimum_and_repeats_with_its_seed(tmp_path: Path) -> None:
    with LocalExecutor(2) as executor:
        table, best = _search(tmp_path / "a", executor, seed=3)
        again, _ = _search(tmp_path / "b", executor, seed=3)
    assert best is not None and len(table["trials"]) == 40
    params = table["best"]["params"]
    assert int(params[LOTS]) == BEST_LOTS
    assert abs(math.log10(float(params[GAMMA])) - math.log10(BEST_GAMMA)) < 0.3
    assert table["best"]["value"] == max(float(t["value"]) for t in table["trials"])
    assert [t["params"] for t in again["trials"]] == [t["params"] for t in table["trials"]]
    assert table["sampler"] == "Optuna TPE (seed 3, batches of 4)"


@pytest.mark.parametrize(("text", "expected"), [
    ("a.b=1:2", dict(low=1.0, high=2.0, integer=False, log=False)),
    ("a.b=1e-9:1e-6:log", dict(low=1e-9, high=1e-6, log=True)),
    ("a.b=1:9:int", dict(low=1, high=9, integer=True)),
    ("a.b=x,y", dict(choices=("x", "y"))),
])
def test_space_forms(text: str, expected: dict) -> None:
    dimension = parse_dimension(text)
    for name, value in expected.items():
        assert getattr(dimension, name) == value


@pytest.mark.parametrize("text", ["a.b", "a.b=2:1", "a.b=0:1:log", "a.b=1:2:cube",
                                  "a.b=1.5:3:int", "a.b=x,x"])
def test_bad_space_is_refused(text: str) -> None:
    with pytest.raises(SweepError):
        parse_dimension(text)


def test_a_walk_forward_split_inside_the_span_only(tmp_path: Path) -> None:
    recording = tmp_path / "unused.gz"
    assert walk_forward("0.5", Span(0, 40), recording) == (Span(0, 20), Span(20, 40))
    assert walk_forward("30s", Span(10, 40), recording) == (Span(10, 30), Span(30, 40))
    for bad in ("1.5", "0", "50s", "x"):
        with pytest.raises(SpanError):
            walk_forward(bad, Span(0, 40), recording)


def _source_span(directory: Path) -> str:
    """The span a variant replayed, from its own config: its catalog names the cut it came from."""
    config = load_config(directory / "config.toml")
    source = read_info(Path(config.data.path)).source
    return Path(source).name.split("_", 1)[1].removesuffix(".gz")


def test_walk_forward_reports_out_of_sample_on_a_span_it_did_not_search(
        tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main([CONFIG, "--report", str(out), "--set", f"data.catalog_dir={tmp_path / 'cat'}",
                 "--span", "0:50", "--optimize", "pnl.total", "--trials", "2", "--workers", "2",
                 "--space", "strategies.0.params.k=0.005:0.05", "--walk-forward", "0.6"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads((out / "optimize.json").read_text())
    assert result["in_sample_span"] == "0:30"
    assert len(result["trials"]) == 2
    for trial in result["trials"]:
        assert _source_span(out / "trials" / trial["name"]) == "0-30"
    outside = result["out_of_sample"]
    assert outside["span"] == "30:50" and _source_span(out / "out_of_sample") == "30-50"
    assert outside["row"]["params"] == result["best"]["params"]
    report = json.loads((out / "out_of_sample" / "report.json").read_text())
    assert outside["row"]["value"] == report["pnl"]["total"]
    assert report["orders"]["sent"] > 0
    # the cut it replayed holds only the later span of the recording
    config = load_config(CONFIG)
    first = next(ts for _, ts, _ in iter_recording(config.market.recording_path()) if ts)
    source = read_info(Path(load_config(out / "out_of_sample" / "config.toml").data.path)).source
    stamps = [ts for _, ts, _ in iter_recording(out / "data" / source) if ts is not None]
    assert first + 30 * SECOND <= min(stamps) and max(stamps) < first + 50 * SECOND
    assert "out of sample (30:50, not searched)" in captured.out
    html = (out / "optimize.html").read_text()
    assert "Out of sample: span 30:50 s, not used by the search" in html
    assert "0:30 in sample" in html and "30:50 out of sample" in html
