"""Sweeps as a researcher runs them: `python -m supervision.main CONFIG --sweep ...` on local
processes over a span of the shipped recording, its table, each variant's report, sweep.html in
headless Chromium; mistakes caught before anything runs; spans that a book can start from."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from supervision.config.load import load_config
from supervision.experiments import executors
from supervision.experiments.ranking import ObjectiveError, parse_objective
from supervision.experiments.spans import SECOND, Span, cut_recording
from supervision.experiments.sweep import parse_axis, variant_names
from supervision.main import main
from supervision.node.backtest import backtest_data, run_backtest
from supervision.sources.recording_reader import iter_recording
from tests.supervision.report.test_report_html import _browse

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "config/backtest.toml"
GAMMA = "strategies.0.params.gamma"
K = "strategies.0.params.k"


def _sweep(tmp: Path, *flags: str) -> list[str]:
    return [CONFIG, "--report", str(tmp / "out"), "--set", f"data.catalog_dir={tmp / 'cat'}",
            *flags]


def test_a_sweep_ranks_every_variant_and_writes_each_report(tmp_path: Path, capsys) -> None:
    code = main(_sweep(tmp_path, "--span", "0:30", "--workers", "2",
                       "--sweep", f"{GAMMA}=1e-10,4e-10", "--sweep", f"{K}=0.01,0.04"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = tmp_path / "out"
    table = json.loads((out / "sweep.json").read_text())
    rows = table["variants"]
    assert sorted(r["name"] for r in rows) == variant_names(
        [((GAMMA, g), (K, k)) for g in ("1e-10", "4e-10") for k in ("0.01", "0.04")])
    assert table["rank"] == {"field": "pnl.total", "direction": "max"}
    assert table["span"] == "0:30"
    values = [float(r["value"]) for r in rows]
    assert values == sorted(values, reverse=True)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    for row in rows:  # the table's figures are the variant's own report's
        report = json.loads((out / row["report"]).read_text())
        assert row["value"] == report["pnl"]["total"]
        assert row["figures"]["fills"] == report["fills"]
        assert (out / row["name"] / "report.html").is_file()
        config = tomllib.loads((out / row["name"] / "config.toml").read_text())
        assert config["strategies"][0]["params"]["gamma"] == float(row["params"][GAMMA])
    assert len({r["figures"]["fills"] for r in rows} | {r["value"] for r in rows}) > 2
    # the table on stdout, progress on stderr, one line per variant
    assert re.search(r"^1 +01_gamma|^1 +0\d_gamma", captured.out, re.M)
    assert len(re.findall(r"^sweep: \d/4 done", captured.err, re.M)) == 4

    html = (out / "sweep.html").read_text()
    assert "http://" not in html and "https://" not in html
    dom = _browse(out / "sweep.html", tmp_path, "--dump-dom")
    assert dom.count("<tr class=") == 4 and dom.count('class="best"') == 1
    for row in rows:
        assert f'href="{row["name"]}/report.html"' in dom
    _browse(out / "sweep.html", tmp_path, "--window-size=1200,600",
            f"--screenshot={tmp_path / 'sweep.png'}")
    assert (tmp_path / "sweep.png").stat().st_size > 5_000


@pytest.mark.parametrize(("flags", "message"), [
    (["--sweep", f"{GAMMA}=1e-10,abc", "--sweep", "strategies.0.params.nope=1,2"],
     ["strategies.0.params.gamma", "nope"]),
    (["--sweep", f"{GAMMA}"], ["expected KEY=V1,V2"]),
    (["--sweep", f"{GAMMA}=1e-10,1e-10"], ["given twice"]),
    (["--sweep", f"{GAMMA}=1e-10", "--rank", "pnl.totl"], ["no field 'totl' under pnl"]),
    (["--sweep", f"{GAMMA}=1e-10", "--rank", "pnl.total:up"], [":max or :min"]),
    (["--sweep", f"{GAMMA}=1e-10", "--span", "9:3"], ["need 0 <= start < end"]),
    (["--scheduler", "tcp://127.0.0.1:1"], ["go with --sweep or --optimize"]),
])
def test_mistakes_are_one_clear_error_before_anything_runs(tmp_path: Path, capsys, flags,
                                                           message) -> None:
    assert main(_sweep(tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for part in message:
        assert part in err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(executors, "_CONNECT_TIMEOUT_S", 2)
    code = main(_sweep(tmp_path, "--sweep", f"{GAMMA}=1e-10", "--span", "0:5",
                       "--scheduler", "tcp://127.0.0.1:9"))
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("address", ["foo", "tcp://127.0.0.1:9"])
def test_a_bad_scheduler_is_one_line_and_a_prompt_exit(tmp_path: Path, address: str) -> None:
    """On the command line: a scheduler address with no port, or one nobody listens on, is one
    error line and exit 2 within the connect timeout; the half-made Dask client is closed, so
    no `Client.__del__` traceback after a 30 s wait at exit."""
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "supervision.main",
                          *_sweep(tmp_path, "--sweep", f"{GAMMA}=1e-10,4e-10", "--span", "0:5",
                                  "--scheduler", address)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert f"Dask scheduler at {address}" in run.stderr
    assert took < 25, f"{took:.0f} s to exit"


def test_ranking_direction_defaults() -> None:
    assert parse_objective("pnl.total").maximize
    assert not parse_objective("max_drawdown").maximize
    assert not parse_objective("latency_ms.order_ack.p99").maximize
    assert parse_objective("max_drawdown:max").maximize
    with pytest.raises(ObjectiveError):
        parse_objective(":max")
    assert parse_axis("a.b=1, 2").values == ("1", "2")


def test_a_span_after_the_snapshot_opens_with_one_and_the_book_trades(tmp_path: Path) -> None:
    config = load_config(CONFIG, [f"data.catalog_dir={tmp_path / 'cat'}"])
    recording = backtest_data(config)
    cut = cut_recording(recording, Span(30, 60), tmp_path / "data")
    assert cut_recording(recording, Span(30, 60), tmp_path / "data") == cut  # reused
    start = next(ts for _, ts, _ in iter_recording(recording) if ts is not None)
    stamps = [ts for _, ts, _ in iter_recording(cut) if ts is not None]
    assert start + 30 * SECOND <= min(stamps) and max(stamps) < start + 60 * SECOND
    first = next(raw for _, _, raw in iter_recording(cut))
    assert first.startswith('{"lastUpdateId":')  # made at the span's start
    result = run_backtest(config, data=cut)
    assert result.book_gaps == 0 and result.feed_refused == 0
    assert result.orders_sent > 0 and result.fills > 0  # the book synced and was traded on
