"""`python -m supervision.main` refusing what cannot work before anything runs, as the operator
meets it in a subprocess: a --report directory that cannot be written (a paper node, a
backtest, a sweep), and flags that do not apply to an experiment."""

from __future__ import annotations

import os
import signal
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
@pytest.mark.parametrize(("flags", "instead"), [
    (["--duration", "5"], "--set experiment.paths=N"),
    (["--execute"], "simulates"),
    (["--repl"], "simulates"),
    (["--sweep", "experiment.k=1,2"], "--set"),
])
def test_flags_an_experiment_does_not_take_are_refused(flags: list[str], instead: str) -> None:
    run = _main("config/avellaneda_stoikov.toml", "--set", "experiment.paths=2", *flags)
    _one_error_line(run, flags[0], "experiment", instead)
    assert run.stdout == ""


def test_ctrl_c_during_an_experiment_says_so_once(tmp_path: Path) -> None:
    """Ctrl-C at the terminal reaches the whole process group (the worker processes too): one
    line saying the experiment was interrupted and that nothing was written, exit 130, no
    traceback, and no worker left running."""
    err = tmp_path / "stderr"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", "config/avellaneda_stoikov.toml",
             "--set", "experiment.paths=400", "--report", str(tmp_path / "as")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=sink, text=True, env=ENV,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while "paths" not in err.read_text().partition("\n")[2] and time.monotonic() < deadline:
            assert proc.poll() is None, err.read_text()
            time.sleep(0.2)  # the workers are running paths once progress is reported
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
    text = err.read_text()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "nothing to stop" not in text, text
    assert text.count("interrupted") == 1 and "nothing written" in text, text
    assert not (tmp_path / "as").exists()
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "a worker process outlived the interrupted experiment"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
