"""`python -m supervision.repl`: the terminal end of the REPL, a thin relay.

The console runs inside the node; this program only moves lines. It reads a line with readline
(tab completion is asked of the node, so it knows the live actor names; history is kept in a
file across sessions), sends it, and prints whatever the node sends back, also between prompts
(trace lines). While `top()` runs the terminal is switched to single keys. Ctrl-C interrupts
what runs in the node, or clears the line at the prompt; Ctrl-D or exit() detaches. Standard
library only: attaching needs nothing the node's dependencies bring.

Exit codes: 0 detached, 1 could not attach or was refused.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import select
import shutil
import signal
import socket
import stat
import sys
import termios
import threading
import tty
from pathlib import Path
from typing import Any

from supervision.repl.wire import LineReader, WireError, encode

try:
    import readline
except ImportError:  # pragma: no cover  # a Python built without it: no completion, no history
    readline = None  # type: ignore[assignment]

DEFAULT_SOCKET = "var/journal.repl.sock"  # beside the default journal, var/journal.jsonl
DEFAULT_HISTORY = "~/.troupe_repl_history"
_DELIMS = " \t\n`~!@#$%^&*()=+[{]}\\|;'\",<>?"  # not / : - (they occur in actor names)


class Relay:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.control: queue.Queue[dict[str, Any]] = queue.Queue()
        self.completions: queue.Queue[list[str]] = queue.Queue()
        self.prompt: str | None = None  # set while the operator types at a prompt
        self._out = threading.Lock()
        self._matches: list[str] = []

    def send(self, kind: str, **fields: Any) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(encode(kind, **fields))

    # -- from the node ----------------------------------------------------------------------------
    def receive(self) -> None:
        reader = LineReader(self.sock)
        while True:
            try:
                message = reader.read()
            except WireError as exc:
                message = {"t": "bye", "s": f"protocol error: {exc}"}
            if message is None:
                message = {"t": "bye", "s": "the node closed the connection"}
            kind = message["t"]
            if kind == "out":
                self.show(str(message.get("s", "")))
            elif kind == "completions":
                self.completions.put([str(m) for m in message.get("m", [])])
            else:
                self.control.put(message)
                if kind == "bye":
                    if self.prompt is not None:
                        os.kill(os.getpid(), signal.SIGINT)  # out of input(): the node is gone
                    return

    def show(self, text: str) -> None:
        with self._out:
            prompt = self.prompt
            if prompt is not None and readline is not None:
                # Output between prompts (a trace): print it above the line being typed.
                if not text.endswith("\n"):
                    text += "\n"
                text = f"\r\x1b[K{text}{prompt}{readline.get_line_buffer()}"
            sys.stdout.write(text)
            sys.stdout.flush()

    # -- readline completion ----------------------------------------------------------------------
    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            line = readline.get_line_buffer()[: readline.get_endidx()]
            self.send("complete", line=line, text=text)
            try:
                self._matches = self.completions.get(timeout=2.0)
            except queue.Empty:
                self._matches = []
        return self._matches[state] if state < len(self._matches) else None

    # -- the operator's side ----------------------------------------------------------------------
    def run(self) -> int:
        cols, rows = shutil.get_terminal_size()
        self.send("hello", cols=cols, rows=rows)
        threading.Thread(target=self.receive, daemon=True, name="repl-receive").start()
        while True:
            try:
                message = self.control.get(timeout=0.2)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                self.send("interrupt")
                continue
            kind = message["t"]
            if kind == "input":
                self.read_line(str(message.get("p", "")))
            elif kind == "keys" and message.get("on"):
                self.relay_keys()
            elif kind == "bye":
                why = str(message.get("s", ""))
                if why != "detached":
                    sys.stderr.write(f"{why}\n")
                return 1 if why.startswith("refused") else 0

    def read_line(self, prompt: str) -> None:
        self.prompt = prompt
        try:
            line = input(prompt)
        except EOFError:
            self.prompt = None
            sys.stdout.write("\n")
            self.send("eof")
            return
        except KeyboardInterrupt:
            self.prompt = None
            self.send("interrupt")
            return
        self.prompt = None
        self.send("line", s=line)

    def relay_keys(self) -> None:
        """Until the node says stop: every key goes to the node as it is pressed."""
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
        if saved is not None:
            tty.setcbreak(fd)
        try:
            while True:
                try:
                    message = self.control.get_nowait()
                except queue.Empty:
                    message = None
                except KeyboardInterrupt:
                    self.send("interrupt")
                    continue
                if message is not None:
                    if message["t"] == "keys" and not message.get("on"):
                        return
                    self.control.put(message)  # a bye: the main loop handles it
                    if message["t"] == "bye":
                        return
                try:
                    ready, _, _ = select.select([fd], [], [], 0.1)
                    if ready:
                        key = os.read(fd, 1).decode(errors="replace")
                        self.send("key", k=key or "\x04")
                except KeyboardInterrupt:
                    self.send("interrupt")
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _history(path: Path) -> None:
    if readline is None:
        return
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(2000)


def _save_history(path: Path) -> None:
    if readline is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(path)
        os.chmod(path, 0o600)
    except OSError as exc:
        sys.stderr.write(f"history not saved to {path}: {exc.strerror}\n")


def _attach_problem(path: str, exc: OSError) -> str:
    """Why `path` cannot be attached to, in the words of what the operator should check."""
    if isinstance(exc, FileNotFoundError):
        return ("no such socket: is the node running, with its REPL on? (the node makes the "
                "socket at start: config key repl.socket; --socket names another)")
    with contextlib.suppress(OSError):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return "not a socket (give the node's REPL socket: config key repl.socket)"
    if isinstance(exc, ConnectionRefusedError):
        return "no node is listening there (the socket of a node that has stopped)"
    return str(exc.strerror or exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervision.repl",
                                     description="Attach a console to a running Troupe node.")
    parser.add_argument("--socket", default=os.environ.get("TROUPE_REPL_SOCKET", DEFAULT_SOCKET),
                        help="the node's REPL socket (config key repl.socket; default "
                             f"{DEFAULT_SOCKET}, or $TROUPE_REPL_SOCKET)")
    parser.add_argument("--history", default=os.environ.get("TROUPE_REPL_HISTORY",
                                                            DEFAULT_HISTORY),
                        help=f"history file (default {DEFAULT_HISTORY})")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except OSError as exc:
        problem = _attach_problem(args.socket, exc)
        sys.stderr.write(f"error: cannot attach to {args.socket}: {problem}\n")
        return 1
    history = Path(args.history).expanduser()
    relay = Relay(sock)
    if readline is not None:
        _history(history)
        readline.set_completer_delims(_DELIMS)
        readline.set_completer(relay.complete)
        readline.parse_and_bind("tab: complete")
    try:
        return relay.run()
    finally:
        _save_history(history)
        sock.close()
