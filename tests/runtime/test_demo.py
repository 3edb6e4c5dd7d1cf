"""The Quickstart's main job runs, restarts its failing strategy, and exits cleanly."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_supervised_and_exits_cleanly_after_its_duration():
    result = subprocess.run(
        [sys.executable, "-m", "supervision.demo", "--duration", "2.5", "--fault-rate", "0.3"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status = [line for line in result.stdout.splitlines() if line.startswith("t=")]
    assert len(status) == 3
    assert "summary:" in result.stdout
    assert "restarts" in result.stdout
    assert "Traceback" not in result.stderr  # injected faults are logged in one line
    assert "InjectedFault" in result.stderr


def test_demo_refuses_bad_arguments_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "-m", "supervision.demo", "--fault-rate", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "--fault-rate must be" in result.stderr
    assert "Traceback" not in result.stderr
