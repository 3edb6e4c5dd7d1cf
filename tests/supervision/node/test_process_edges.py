"""The process's edges, met the way an operator meets them: a real node in a subprocess.

A port in use or an address this machine does not have: exit 2 and one line naming it, with
nothing started. SIGINT, SIGTERM and SIGHUP: the graceful stop (orders cancelled, NodeStopped
journaled). A second signal during that stop: exit 130 and the one line "forced exit". A closed
stdout: the node trades on and still stops cleanly. Ctrl-C at any moment of the start-up: never
a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervision.node.journal import iter_journal, recover_journal
from tests.supervision.node.test_paper_node import kinds, node_command

ROOT = Path(__file__).resolve().parents[3]
ENV = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}


def start(journal: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(node_command(journal, *extra), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for_orders(journal: Path, proc: subprocess.Popen[str], at_least: int = 1) -> int:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        sent = kinds(journal)["OrderSent"] if journal.exists() else 0
        if sent >= at_least:
            return sent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the node never quoted")


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out or "", err


def test_a_port_in_use_exits_2_with_one_line_naming_the_address(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(node_command(journal, "--set", f"control.listen_port={port}"),
                                cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: control plane: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "NodeStarted" not in kinds(journal)  # nothing started, nothing traded


def test_an_address_this_machine_does_not_have_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        node_command(tmp_path / "journal.jsonl", "--set", "control.listen_host=192.0.2.1",
                     "--set", 'control.alertmanager.token={ env = "AM_TOKEN" }'),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**ENV, "AM_TOKEN": "am-token-0123456789"})
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: control plane: cannot listen on 192.0.2.1:0: ")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_sighup_and_sigterm_stop_gracefully(tmp_path: Path, signum: signal.Signals) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(journal)
    wait_for_orders(journal, proc)
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert f"{signum.name}: stopping" in out and "Traceback" not in err
    recovered = recover_journal(journal)
    assert recovered.stopped is not None and recovered.stopped.reason == signum.name
    assert recovered.open_orders == {}


def test_a_second_signal_during_the_stop_forces_exit_130_with_one_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(journal)
    wait_for_orders(journal, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)  # at once: the stop takes longer than this
    _, err = finish(proc)
    assert proc.returncode == 130
    assert err.splitlines() == ["forced exit"]


def test_a_closed_stdout_never_stops_trading_nor_leaves_orders_open(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(journal, "--set", "node.status_interval_s=0.2")
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    before = wait_for_orders(journal, proc)
    time.sleep(1.0)  # a few status lines into the closed pipe
    assert proc.poll() is None, "the node died with its stdout"
    wait_for_orders(journal, proc, at_least=before + 2)  # still trading
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stdout is closed" in err
    recovered = recover_journal(journal)
    assert recovered.stopped is not None and recovered.open_orders == {}


# Not earlier: for its first ~0.1 s (here, under load) the interpreter itself is starting (the
# `site` import, before any code of ours can run), and a Ctrl-C there is Python's own affair.
@pytest.mark.parametrize("delay", [0.25, 0.5])
def test_ctrl_c_in_the_first_half_second_is_never_a_traceback(tmp_path: Path,
                                                              delay: float) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(journal)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert "Traceback" not in err
    # 0: the loop was up, the graceful stop ran; 130: before that, nothing to stop.
    assert proc.returncode in (0, 130), err
    if proc.returncode == 130:
        assert err.splitlines() == ["interrupted before the node started: nothing to stop"]
    else:  # the loop was up: the graceful stop ran to its end
        assert [r["kind"] for r in iter_journal(journal)][-1] == "NodeStopped"


def test_ctrl_c_as_the_loop_starts_is_the_graceful_stop(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(journal)
    assert proc.stdout is not None
    assert "troupe node" in proc.stdout.readline()  # the loop runs; the tree is starting
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "SIGINT: stopping" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_a_backtest_says_it_stopped_part_way(signum: signal.Signals) -> None:
    # a backtest never arms the graceful stop (nothing trades): it used to say "interrupted
    # before the node started" after the node's own first line
    proc = subprocess.Popen([sys.executable, "-m", "supervision.main", "config/backtest.toml"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert "troupe node 'backtest'" in proc.stdout.readline()
    proc.send_signal(signum)
    _, err = finish(proc)
    assert proc.returncode == 130
    assert err.splitlines() == ["interrupted: the backtest stopped part-way (virtual time, "
                                "nothing was trading; no summary or report)"]
