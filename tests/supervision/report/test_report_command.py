"""The report of a backtest run (`--report DIR`) and the one computed after the fact from the
same records in a journal file (`python -m supervision.report`) are the same bytes but for the
wall-time fields; every field is there on the shipped recording; the tables load."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from supervision.config.load import ConfigError, NodeConfig, load_config
from supervision.node.backtest import main_backtest, run_backtest
from supervision.report import WALL_FIELDS, main, settings_for
from tests.supervision.node.node_kit import write_journal

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "config/backtest.toml"
TOP_LEVEL = ("events", "span_seconds", "orders", "fills", "fill_ratio", "reject_ratio", "volume",
             "turnover", "per_day", "pnl", "max_drawdown", "sharpe", "sharpe_basis", "expectancy",
             "round_trips", "hold_seconds", "inventory", "markout", "decomposition",
             "fill_sanity", "latency_ms", "rejects", "risk_refusals", "why", "go_no_go")


def _config(tmp: Path) -> NodeConfig:
    config = load_config(CONFIG, [f"data.catalog_dir={tmp / 'catalog'}", "data.progress=off"])
    assert isinstance(config, NodeConfig)
    return config


def _without_wall(path: Path) -> str:
    data = json.loads(path.read_text())
    for field in WALL_FIELDS:
        assert field in data
        del data[field]
    return json.dumps(data, indent=2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    assert main_backtest(_config(tmp), "paper", stderr=io.StringIO(),
                         report=str(tmp / "report")) == 0
    return tmp


def test_the_run_writes_every_field_and_the_tables(run_dir: Path) -> None:
    data = json.loads((run_dir / "report" / "report.json").read_text())
    assert tuple(k for k in data if k not in WALL_FIELDS) == TOP_LEVEL
    assert data["fills"] > 0 and data["decomposition"]["residual"] == "0"
    assert data["pnl"]["currency"] == "USDT"
    assert all(data["markout"][h]["all"]["count"] > 0 for h in ("1s", "5s", "30s", "60s"))
    fills = pq.read_table(run_dir / "report" / "fills.parquet")
    assert fills.num_rows == data["fills"] and "markout_30s_bps" in fills.column_names
    for table in ("orders", "equity", "inventory"):
        assert pq.read_table(run_dir / "report" / f"{table}.parquet").num_rows > 0


def test_the_journal_gives_the_same_report_as_the_run(run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = run_backtest(_config(run_dir))  # its catalog is built already
    journal = tmp_path / "journal.jsonl"
    write_journal(journal, *result.journal)
    assert main([str(journal), "--config", CONFIG, "--report", str(tmp_path / "after")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert _without_wall(tmp_path / "after" / "report.json") == \
        _without_wall(run_dir / "report" / "report.json")


def test_a_missing_journal_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl"), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such journal" in err


@pytest.mark.parametrize("content", [b"\x1f\x8b\x08\x00garbage", b""],
                         ids=["a recording", "empty"])
def test_a_file_no_node_wrote_is_one_line_and_no_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    """A recording passed by mistake (or an empty file) is not an empty run: no report of zero
    records that reads as a node that never traded."""
    not_a_journal = tmp_path / "binance.gz"
    not_a_journal.write_bytes(content)
    assert main([str(not_a_journal), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no journal record in it: not a node's journal" in err, err
    assert not (tmp_path / "r").exists()


def test_a_paper_node_writes_the_report_its_journal_gives(tmp_path: Path) -> None:
    """The paper node as an operator runs it: its own report (from its journal, flushed at the
    stop) and the one computed from the journal afterwards agree byte for byte."""
    journal = tmp_path / "journal.jsonl"
    sets = [f"journal.path={journal}", "control.enabled=false", "market.speed=20",
            f"node.lock_dir={tmp_path / 'locks'}"]
    run = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/paper.toml",
         *(arg for value in sets for arg in ("--set", value)), "--duration", "4",
         "--report", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"report: {tmp_path / 'run' / 'report.json'}" in run.stdout
    assert "stop: open orders cancelled (none left open); journal flushed" in run.stdout
    after = subprocess.run(
        [sys.executable, "-m", "supervision.report", str(journal), "--report",
         str(tmp_path / "after")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    ours = _without_wall(tmp_path / "run" / "report.json")
    assert ours == _without_wall(tmp_path / "after" / "report.json")
    assert json.loads(ours)["orders"]["new"] > 0


def test_the_config_sets_the_go_no_go_criteria(tmp_path: Path) -> None:
    """[[report.go_no_go]] tables replace the default criteria; a metric the report does not
    compute is a one-line config error."""
    toml = tmp_path / "bt.toml"
    toml.write_text(Path(CONFIG).read_text() + '\n[report]\ndecomposition_horizon_s = 5\n'
                    '[[report.go_no_go]]\nmetric = "markout_1s_bps"\nop = ">="\nthreshold = "0"\n')
    config = load_config(str(toml), [])
    assert isinstance(config, NodeConfig)
    settings = settings_for(config)
    assert [(c.metric, c.op, c.threshold) for c in settings.criteria] == \
        [("markout_1s_bps", ">=", Decimal(0))]
    assert settings.decomposition_horizon_s == 5
    toml.write_text(toml.read_text().replace("markout_1s_bps", "profit"))
    with pytest.raises(ConfigError) as err:
        load_config(str(toml), [])
    assert any("report.go_no_go" in p and "markout_1s_bps" in p for p in err.value.problems)


def test_a_malformed_journal_names_its_path_once(tmp_path: Path) -> None:
    """As the operator meets it: the reader's message already names the file and line, so the
    command does not put the path in front a second time."""
    readme = tmp_path / "README.md"
    readme.write_text("# Troupe\n")
    run = subprocess.run([sys.executable, "-m", "supervision.report", str(readme), "--report",
                          str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"error: {readme}:1: malformed journal line"), run.stderr
    assert run.stderr.count(str(readme)) == 1, run.stderr
