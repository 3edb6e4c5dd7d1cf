"""The process-level failure: a paper node, in its own process on the live host, whose risk gate
raises on every message. The tree gives up to the root; the process must not linger as a zombie
that reports ACTIVE: it halts, cancels, journals why and exits non-zero, so a process supervisor
restarts it, and the restart comes back HALTED."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from supervision.node.failsafe import EXIT_TREE_GAVE_UP
from supervision.node.journal import iter_journal, recover_journal

ROOT = Path(__file__).resolve().parents[3]

# The node as `python -m supervision.main` runs it, plus one thing an operator would do from
# the REPL: arm a fault on the risk gate once the gate runs.
DRIVER = """
import sys, trio
from supervision import main as entry
from supervision.node import run
from supervision.runtime.faults import Fault

start_control = run._start_control

async def start_control_and_arm(config, node, nursery):
    async def arm():
        while node.host.existing_cell("node/risk/gate") is None:
            await trio.sleep(0.05)
        await trio.sleep(1.0)
        node.inject_fault("risk/gate", Fault(times=None), source="rehearsal")
    nursery.start_soon(arm)
    return await start_control(config, node, nursery)

run._start_control = start_control_and_arm
sys.exit(entry.main(sys.argv[1:]))
"""


def test_a_risk_gate_raising_on_every_message_ends_the_process_with_a_nonzero_code(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, "config/paper.toml", "--set", f"journal.path={journal}",
         "--set", "control.listen_port=0", "--set", "market.speed=5", "--duration", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == EXIT_TREE_GAVE_UP, done.stdout + done.stderr[-2000:]
    assert "stopping: node gave up" in done.stdout
    records = list(iter_journal(journal))
    gave_up = [(r["data"]["actor"], r["data"]["subtree"]) for r in records
               if r["kind"] == "SupervisorGaveUp"]
    assert ("node/risk", "risk") in gave_up and ("node", "root") in gave_up
    assert any(r["kind"] == "FaultInjected" and r["data"]["source"] == "rehearsal"
               for r in records)
    recovered = recover_journal(journal)
    assert recovered.stopped is not None and recovered.stopped.reason.startswith("tree gave up")
    assert recovered.open_orders == {}
    assert recovered.trading_state.name == "HALTED"  # the restart waits for an operator
