"""`python -m supervision.repl` with no node to attach to, as an operator meets it: one line
that says what to check, exit 1, no traceback, whether the socket is missing, is not a socket,
or was left behind by a node that has stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="repl-") as name:  # AF_UNIX: 108 bytes
        yield Path(name)


def _attach(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervision.repl", "--socket", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _stale(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as left_behind:
        left_behind.bind(str(path))  # bound, never listening, then closed: as a killed node


@pytest.mark.parametrize(("make", "problem"), [
    (None, "no such socket: is the node running, with its REPL on? (the node makes the socket "
     "at start: config key repl.socket; --socket names another)"),
    (lambda path: path.write_text("x = 1\n"),
     "not a socket (give the node's REPL socket: config key repl.socket)"),
    (_stale, "no node is listening there (the socket of a node that has stopped)"),
], ids=["missing", "a file", "stale"])
def test_no_node_to_attach_to_is_one_line_saying_what_to_check(short_dir: Path, make: object,
                                                               problem: str) -> None:
    path = short_dir / "node.sock"
    if callable(make):
        make(path)
    attached = _attach(path)
    assert attached.returncode == 1 and attached.stdout == ""
    assert attached.stderr == f"error: cannot attach to {path}: {problem}\n"
