"""`python -m supervision.main` given a hostile new user's mistakes, in a subprocess as they meet
it: each is refused with one line saying what was given and what is expected, exit 2, no
traceback, and no node started (no journal written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}


@pytest.mark.parametrize(("args", "line"), [
    # an unclosed quote used to be taken as the bare string '"paper' and start the node
    (("--set", 'node.name="paper'),
     '  --set node.name="paper: "paper is not a TOML value (Unterminated string)'),
    (("--set", "strategies.x.id=mm"),
     "  strategies: is an array: index it from 0, e.g. strategies.0.id, not 'x' (from --set)"),
    (("--set", 'venue.sim.market.faults=[{kind="mark_divergence",at_s=1,value="lots"}]'),
     "  venue.sim.market.faults.0: mark_divergence value: expected a whole number of basis "
     "points of the mark above the mid, from 1 to 10000 (default 100), got 'lots' (from --set)"),
    (("--report", ""), "error: --report needs a directory, got an empty path"),
    (("--duration", "inf"),
     "error: --duration must be a positive number of seconds (leave it out to run until "
     "Ctrl-C), got inf"),
])
def test_a_mistake_is_one_line_and_no_node_starts(tmp_path: Path, args: tuple[str, ...],
                                                   line: str) -> None:
    journal = tmp_path / "journal.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/paper.toml",
         "--set", f'journal.path="{journal}"', *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.splitlines()[-1] == line
    assert not journal.exists()


def test_an_empty_config_path_is_named_as_such_not_as_the_current_directory() -> None:
    done = subprocess.run([sys.executable, "-m", "supervision.main", ""], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        "  no config file named: give one, e.g. config/paper.toml")


def test_a_config_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbf" + (ROOT / "config" / "paper.toml").read_bytes())
    done = subprocess.run([sys.executable, "-m", "supervision.main", str(config),
                           "--check-config"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=ENV)
    assert done.returncode == 0, done.stderr
    assert 'profile = "paper"' in done.stdout
