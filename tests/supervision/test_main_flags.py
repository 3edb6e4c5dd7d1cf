"""`python -m supervision.main` refusing what cannot work before anything runs, as the operator
meets it in a subprocess: a --report directory that cannot be written (a paper node, a
backtest, a sweep), and flags that do not apply to an experiment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.supervision.node.test_paper_node import node_command

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}


def _main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervision.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=ENV)


def _one_error_line(run: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    for part in parts:
        assert part in run.stderr, run.stderr


@pytest.mark.parametrize("where", ["a file", "under a file"])
@pytest.mark.parametrize("kind", ["paper", "backtest", "sweep"])
def test_a_report_directory_that_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path, kind: str, where: str) -> None:
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    report = str(a_file if where == "a file" else a_file / "out")
    journal = tmp_path / "journal.jsonl"
    if kind == "paper":
        command = node_command(journal, "--duration", "30", "--report", report)[3:]
    elif kind == "backtest":
        command = ["config/backtest.toml", "--report", report]
    else:
        command = ["config/backtest.toml", "--report", report,
                   "--sweep", "strategies.0.params.quote_lots=1,2"]
    started = time.monotonic()
    run = _main(*command)
    _one_error_line(run, f"cannot write the report to {report}", "not a directory")
    assert time.monotonic() - started < 20  # refused at start-up, not after a 30 s run
    assert run.stdout == "" and not journal.exists()


def test_a_report_directory_that_does_not_exist_yet_is_fine(tmp_path: Path) -> None:
    run = _main("config/backtest.toml", "--report", str(tmp_path / "new" / "dir"),
)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "new" / "dir" / "report.json").is_file()
