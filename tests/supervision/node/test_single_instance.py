"""One node per journal and venue account, and no node without a journal: real processes.

A second paper node on a running node's journal exits 2 naming the holder's pid; once the holder
is killed with SIGKILL the kernel has released its lock and a new node runs. A journal that
cannot be opened stops the node before anything trades."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervision.node.instance_lock import (
    InstanceLock,
    InstanceLockError,
    account_lock_path,
    acquire_all,
    node_locks,
)

ROOT = Path(__file__).resolve().parents[3]


def node_command(journal: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "supervision.main", "config/paper.toml",
            "--set", f"journal.path={journal}", "--set", "control.listen_port=0",
            "--set", "market.speed=5", *extra]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}


def start_node(journal: Path) -> subprocess.Popen[str]:
    """A paper node, returned once its control plane is up (it holds its locks by then)."""
    proc = subprocess.Popen(node_command(journal), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout is not None
    for line in proc.stdout:
        if "control plane: http://" in line:
            return proc
    proc.kill()
    raise AssertionError(f"the node did not start: {proc.communicate()[1]}")


def run_briefly(journal: Path, seconds: float = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(node_command(journal, "--duration", str(seconds)), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=_env())


def test_a_second_node_on_the_journal_exits_2_naming_the_holder_until_it_dies(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    first = start_node(journal)
    try:
        second = run_briefly(journal)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid}" in lines[0] and str(journal) in lines[0]
        assert "control plane" not in second.stdout  # it stopped before starting anything
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    third = run_briefly(journal)
    assert third.returncode == 0, third.stderr
    assert "summary after" in third.stdout


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "plain").write_text("not a directory\n")
    return tmp_path / "plain" / "journal.jsonl"


def _a_directory(tmp_path: Path) -> Path:
    (tmp_path / "journal.jsonl").mkdir()
    return tmp_path / "journal.jsonl"


def _immutable(tmp_path: Path) -> Path:
    path = tmp_path / "journal.jsonl"
    path.write_text("")
    chattr = shutil.which("chattr")
    if chattr is not None and subprocess.run([chattr, "+i", str(path)],
                                             capture_output=True).returncode == 0:
        return path
    if os.geteuid() != 0:  # no chattr: an unwritable file shows the same for a non-root user
        path.chmod(0o400)
        return path
    pytest.skip("neither chattr +i nor a read-only file can stop root writing here")


WHY = {"_under_a_file": "plain is a file, not a directory",
       "_a_directory": "it is a directory",
       "_immutable": "Operation not permitted" if os.geteuid() == 0 else "Permission denied"}


@pytest.mark.parametrize("where", [_under_a_file, _a_directory, _immutable],
                         ids=["under a file", "a directory", "immutable"])
def test_a_journal_that_cannot_be_opened_stops_the_node_before_it_trades(
        tmp_path: Path, where: object) -> None:
    journal = where(tmp_path)  # type: ignore[operator]
    try:
        result = run_briefly(journal)
    finally:
        if shutil.which("chattr") and journal.is_file():
            subprocess.run(["chattr", "-i", str(journal)], capture_output=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot open the journal {journal}")
    assert lines[0].endswith(WHY[where.__name__]), lines[0]  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr and "control plane" not in result.stdout


_HOLDER = """
import sys, time
from supervision.node.instance_lock import InstanceLock
InstanceLock(sys.argv[1], "venue account binance:main").acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_venue_account_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    path = account_lock_path(tmp_path / "locks", "binance", "main")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(InstanceLockError, match=rf"binance:main is in use by pid "
                                                    rf"{holder.pid} "):
            InstanceLock(path, "venue account binance:main").acquire()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the lock as the process is reaped
        try:
            lock = InstanceLock(path, "venue account binance:main").acquire()
            break
        except InstanceLockError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert lock.held and re.fullmatch(rf"{os.getpid()}\n", path.read_text())
    lock.release()


def test_only_a_real_venue_account_is_locked_and_a_refusal_takes_nothing(
        tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    paper = node_locks(journal, venue_kind="sim", account="default", lock_dir=tmp_path / "l")
    assert [lock.path.name for lock in paper] == ["j.jsonl.lock"]
    live = node_locks(journal, venue_kind="binance", account="main/1", lock_dir=tmp_path / "l")
    assert [lock.path.name for lock in live] == ["j.jsonl.lock", "binance-main_1.lock"]
    other = InstanceLock(live[1].path, "account").acquire()
    try:
        with pytest.raises(InstanceLockError):
            acquire_all(live)
        assert not live[0].held  # the journal lock taken first was given back
        again = InstanceLock(live[0].path, "journal").acquire()
        again.release()
    finally:
        other.release()


def test_a_journal_another_node_wrote_stops_the_node_before_it_trades(tmp_path: Path) -> None:
    """Two configs left on one journal path (paper and paper_taker once shipped so) would fold
    one node's halts, ids and orders into the other: the node refuses, naming both, and the
    journal is left as it was."""
    journal = tmp_path / "journal.jsonl"
    other = subprocess.run(node_command(journal, "--set", "node.name=other", "--duration", "1"),
                           cwd=ROOT, capture_output=True, text=True, timeout=60, env=_env())
    assert other.returncode == 0, other.stderr
    before = journal.read_bytes()
    result = run_briefly(journal)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: the journal {journal} belongs to node 'other'")
    assert "'paper'" in lines[0] and "journal.path" in lines[0]
    assert "control plane" not in result.stdout and journal.read_bytes() == before
    same = subprocess.run(node_command(journal, "--set", "node.name=other", "--duration", "1"),
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=_env())
    assert same.returncode == 0, same.stderr  # its own node goes on with it
