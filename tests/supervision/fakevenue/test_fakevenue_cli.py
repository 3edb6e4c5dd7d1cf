"""The fake venues as a user meets them on the command line: a bad fault or argument is one
`error:` line and exit 2, a taken port is one line too, and Ctrl-C ends them without a
traceback. `Faults.update` arms all of a request or none of it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from supervision.fakevenue.faults import FaultError, Faults
from supervision.sources.data import HYPERLIQUID_BTC

ROOT = Path(__file__).resolve().parents[3]
BINANCE = (sys.executable, "-m", "supervision.fakevenue")
HYPERLIQUID = (sys.executable, "-m", "supervision.fakevenue.hyperliquid")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"rate_limit": "1.5"}, "fault rate_limit: expected a whole number of 0 or more, got '1.5'"),
    ({"rate_limit": 2.7}, "fault rate_limit: expected a whole number of 0 or more, got 2.7"),
    ({"rate_limit": True}, "fault rate_limit: expected a whole number of 0 or more, got True"),
    ({"gap": "-1"}, "fault gap: expected a whole number of 0 or more, got '-1'"),
    ({"stall_s": "nan"}, "fault stall_s: expected seconds, a number of 0 or more, got 'nan'"),
    ({"stall_s": "inf"}, "fault stall_s: expected seconds, a number of 0 or more, got 'inf'"),
    ({"stall_s": "soon"}, "fault stall_s: expected seconds, a number of 0 or more, got 'soon'"),
    ({"rate_limt": 1}, "no fault named 'rate_limt' (did you mean 'rate_limit'? known: "),
])
def test_a_bad_fault_names_the_fault_what_was_given_and_what_it_takes(
        changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(FaultError) as caught:
        Faults().update(changes)
    assert str(caught.value).startswith(expected)


def test_a_request_with_one_bad_fault_arms_none_of_it() -> None:
    faults = Faults()
    with pytest.raises(FaultError):
        faults.update({"gap": 2, "rate_limit": "x"})
    assert faults.as_dict() == Faults().as_dict()
    faults.update({"gap": "2", "stall_s": "0.5", "retry_after_s": 3.0})
    assert (faults.gap, faults.stall_s, faults.retry_after_s) == (2, 0.5, 3)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize(("argv", "expected"), [
    ((*BINANCE, "--fault", "rate_limit=1.5"),
     "error: fault rate_limit: expected a whole number of 0 or more, got '1.5'"),
    ((*BINANCE, "--rest-port", "70000"),
     "error: argument --rest-port: expected a port from 0 to 65535, got '70000'"),
    ((*BINANCE, "--symbols", ",,"), "error: argument --symbols: expected a count of 1 or more"),
    ((*HYPERLIQUID, "--speed", "-1"), "error: argument --speed: expected a number 0 or more"),
    ((*HYPERLIQUID, "--coins", ","), "error: --coins ',': expected coins like BTC,ETH"),
    ((*BINANCE, "--recording", str(HYPERLIQUID_BTC)),
     "cannot build a book (55 lines are not Binance messages: another venue's recording?)"),
])
def test_a_bad_argument_is_one_line_and_exit_2(argv: tuple[str, ...], expected: str) -> None:
    result = _run(*argv)
    assert result.returncode == 2
    assert expected in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(*BINANCE, "--rest-port", str(port))
    assert result.returncode == 2
    assert result.stderr == (f"error: cannot listen on 127.0.0.1 (REST port {port}, websocket "
                             "port 0): [Errno 98] Address already in use\n")


@pytest.mark.parametrize("argv", [BINANCE, HYPERLIQUID], ids=["binance", "hyperliquid"])
def test_ctrl_c_ends_a_fake_venue_cleanly(argv: tuple[str, ...]) -> None:
    venue = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT)
    try:
        assert venue.stdout is not None and '"rest": "http://127.0.0.1:' in venue.stdout.readline()
        venue.send_signal(signal.SIGINT)
        _, err = venue.communicate(timeout=30)
    finally:
        venue.kill()
    assert (venue.returncode, err) == (0, ""), err  # the whole of it: a flake once cut it short
