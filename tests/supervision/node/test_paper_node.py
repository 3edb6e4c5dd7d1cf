"""The paper node as a user runs it: `python -m supervision.main config/paper.toml`, in a real
process, with its journal in a temporary directory and the control plane on an ephemeral port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from supervision.node.journal import iter_journal, recover_journal

ROOT = Path(__file__).resolve().parents[3]


def node_command(journal: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "supervision.main", "config/paper.toml",
            "--set", f"journal.path={journal}", "--set", "control.listen_port=0",
            "--set", "node.status_interval_s=1", "--set", "market.speed=5", *extra]


def run_for(journal: Path, seconds: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}
    return subprocess.run(node_command(journal, "--duration", str(seconds)), cwd=ROOT,
                          capture_output=True, text=True, timeout=90, env=env)


def kinds(journal: Path) -> Counter[str]:
    return Counter(record["kind"] for record in iter_journal(journal))


def test_the_paper_node_starts_trades_and_exits_cleanly_under_duration(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    result = run_for(journal, 6)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "paper mode" in out and "state=ACTIVE md=synced" in out
    assert "summary after" in out and "Traceback" not in result.stderr
    seen = kinds(journal)
    assert seen["NodeStarted"] == 1 and seen["NodeStopped"] == 1
    assert seen["OrderSent"] > 0 and seen["Ack"] > 0
    recovered = recover_journal(journal)
    assert recovered.stopped is not None and recovered.stopped.reason == "duration"
    assert recovered.open_orders == {}  # the shutdown cancelled every resting quote


def test_sigint_stops_new_orders_and_cancels_every_open_order(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}
    proc = subprocess.Popen(node_command(journal), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        sent = 0
        while time.monotonic() < deadline and sent == 0:
            time.sleep(0.5)
            sent = kinds(journal)["OrderSent"] if journal.exists() else 0
        assert sent > 0, "the node never quoted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT: stopping" in out and "summary after" in out
    recovered = recover_journal(journal)
    assert recovered.stopped is not None and recovered.stopped.reason == "SIGINT"
    assert recovered.open_orders == {}
    assert kinds(journal)["CancelAck"] > 0


def test_a_restart_continues_the_client_order_ids_from_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    assert run_for(journal, 4).returncode == 0
    first = [r["data"]["client_order_id"] for r in iter_journal(journal)
             if r["kind"] == "OrderSent"]
    assert first
    assert run_for(journal, 4).returncode == 0
    every = [r["data"]["client_order_id"] for r in iter_journal(journal)
             if r["kind"] == "OrderSent"]
    assert len(every) > len(first)
    assert len(set(every)) == len(every), "a client order id was reused after the restart"


def test_two_runs_on_one_journal_leave_no_phantom_open_orders(tmp_path: Path) -> None:
    """Each run's simulated venue is a new venue session: its fill ids never repeat an earlier
    run's, and the second start (and the one after it) finds no order open that had filled."""
    journal = tmp_path / "journal.jsonl"
    assert run_for(journal, 5).returncode == 0
    second = run_for(journal, 5)
    assert second.returncode == 0, second.stderr
    assert "were open at the last stop" not in second.stdout
    fills = [r["data"]["fill_id"] for r in iter_journal(journal) if r["kind"] == "Fill"]
    assert len(fills) >= 2, "the paper node did not fill in 10 s"
    assert len(set(fills)) == len(fills), "a fill id was reused by a later run"
    starts = [r["data"]["run_id"] for r in iter_journal(journal) if r["kind"] == "NodeStarted"]
    assert len(set(starts)) == 2 and all(starts)
    assert all(f.startswith(f"sim-{run}.") for f, run in _fill_runs(journal))
    assert recover_journal(journal).open_orders == {}


def _fill_runs(journal: Path) -> list[tuple[str, str]]:
    """Each fill id with the run id of the NodeStarted before it."""
    out, run = [], ""
    for record in iter_journal(journal):
        if record["kind"] == "NodeStarted":
            run = record["data"]["run_id"]
        elif record["kind"] == "Fill":
            out.append((record["data"]["fill_id"], run))
    return out
