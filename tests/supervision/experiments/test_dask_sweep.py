"""A sweep on a real Dask cluster: a scheduler and two workers started as separate processes on
loopback (the `dask` command line), the sweep run as a researcher runs it
(`python -m supervision.main ... --scheduler tcp://...`), and one worker killed with SIGKILL
while it runs a variant. Dask reschedules that variant on the other worker: the table is
complete, and the rerun variant's figures are those of the same backtest run here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervision.experiments.jobs import Base, prepare_data
from supervision.experiments.spans import Span
from supervision.experiments.variants import run_backtest_job

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "config/backtest.toml"
GAMMA, K = "strategies.0.params.gamma", "strategies.0.params.k"
_START_S = 120


def _dask(tmp: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the scheduler unpickles tasks too
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=tmp, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
    from distributed import Client

    info = tmp_path / "scheduler.json"
    # If this test's process is killed before its teardown, the cluster ends itself: the
    # scheduler when idle, a worker when its scheduler is gone.
    procs = {"scheduler": _dask(tmp_path, "scheduler", "scheduler", "--host", "127.0.0.1",
                                "--port", "0", "--no-dashboard", "--scheduler-file", str(info),
                                "--idle-timeout", "600")}
    try:
        deadline = time.monotonic() + _START_S
        while not (info.is_file() and info.stat().st_size) and time.monotonic() < deadline:
            assert procs["scheduler"].poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for name in ("w1", "w2"):
            procs[name] = _dask(tmp_path, name, "worker", address, "--name", name,
                                "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                "--host", "127.0.0.1", "--death-timeout", "60")
        with Client(address, set_as_default=False, timeout=_START_S) as client:
            client.wait_for_workers(2, timeout=_START_S)
        yield address, procs
    finally:
        # The workers first, while their scheduler is there to say goodbye to (a worker whose
        # scheduler went first retries it for a while before it exits), then the scheduler.
        for group in ([p for n, p in procs.items() if n != "scheduler"], [procs["scheduler"]]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _kill_when_busy(address: str, worker: str, proc: subprocess.Popen[bytes]) -> str:
    """SIGKILL `worker` as soon as the scheduler says it is running a task; that task's key."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ids = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
            busy = client.processing().get(ids.get(worker, ""), ())
            if busy:
                proc.send_signal(signal.SIGKILL)
                return str(busy[0])
            time.sleep(0.05)
    raise AssertionError(f"{worker} never ran a task")


def test_a_sweep_on_dask_survives_a_worker_killed_mid_sweep(tmp_path: Path, cluster) -> None:
    address, procs = cluster
    out = tmp_path / "out"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "supervision.main", CONFIG, "--report", str(out),
         "--set", f"data.catalog_dir={tmp_path / 'cat'}", "--span", "0:45",
         "--scheduler", address, "--sweep", f"{GAMMA}=1e-10,4e-10", "--sweep", f"{K}=0.01,0.04"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _kill_when_busy(address, "w1", procs["w1"])
    stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr
    assert procs["w1"].wait(timeout=10) == -signal.SIGKILL

    table = json.loads((out / "sweep.json").read_text())
    rows = table["variants"]
    assert len(rows) == 4 and all(r["error"] is None and r["rank"] for r in rows)
    assert table["executor"].startswith(f"Dask cluster {address}")
    assert "4/4 done" in stderr and "Dask cluster" in stderr
    for row in rows:
        assert (out / row["name"] / "report.json").is_file()
        assert row["name"] in stdout

    # The variant the dead worker was running: its rerun equals the same backtest run here.
    (row,) = [r for r in rows if killed.startswith(f"troupe-{r['name']}-")]
    config = Base(CONFIG, (f"data.catalog_dir={tmp_path / 'cat'}",)).load()
    data = prepare_data(config, Span(0, 45), out / "data")
    base = Base(CONFIG, (f"data.catalog_dir={tmp_path / 'cat'}",), data)
    here = run_backtest_job(base.job(row["name"], list(row["params"].items())))
    assert here.figures is not None
    assert here.figures["pnl"]["total"] == row["value"]
    assert here.figures["fills"] == row["figures"]["fills"]
