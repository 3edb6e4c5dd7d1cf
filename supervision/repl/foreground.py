"""`python -m supervision.main CONFIG --repl`: a node with the REPL in the foreground.

The node runs as a child process in a session of its own, exactly as without `--repl` (same
arguments, the REPL forced on), with its output in a log beside the journal
(`<journal>.node.log`), so status lines do not write over the console and a Ctrl-C typed at the
console reaches the console, not the node. This process attaches the ordinary client to the
node's socket. Leaving the console (exit() or Ctrl-D) stops the node gracefully (SIGTERM: stop
quoting, cancel every order, flush the journal) and prints the end of its log; the exit code is
the node's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supervision.repl import client

START_TIMEOUT_S = 60.0


def node_log_path(config: Any) -> Path:
    journal = Path(config.journal.path)
    return journal.with_name(f"{journal.stem}.node.log")


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_with_repl(node_args: Sequence[str], config: Any) -> int:
    """Start the node with `node_args` (the command line without --repl), attach, and stop it
    when the operator leaves."""
    path = config.repl.socket_path(config.journal.path)
    log_path = node_log_path(config)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "supervision.main", *node_args,
               "--set", "repl.enabled=true"]
    with open(log_path, "ab") as log:
        node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"node: pid {node.pid}, output in {log_path}; leaving the console stops it",
          flush=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(path):
        if node.poll() is not None or time.monotonic() > deadline:
            if node.poll() is None:
                node.kill()
            sys.stderr.write(f"the node did not start its REPL; the end of {log_path}:\n"
                             f"{_tail(log_path, 20)}\n")
            return node.wait() or 1
        time.sleep(0.1)
    try:
        client.main(["--socket", os.fspath(path)])
    finally:
        if node.poll() is None:
            print("stopping the node...", flush=True)
            node.send_signal(signal.SIGTERM)
        code = _wait(node, config.shutdown.cancel_timeout_s + 30)
        print(_tail(log_path, 5), flush=True)
    return code


def _wait(node: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return node.wait(timeout)
    except subprocess.TimeoutExpired:
        node.kill()
        return node.wait()
