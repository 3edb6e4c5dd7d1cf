"""One attached console: a `code.InteractiveConsole` whose terminal is a socket.

Each session has two threads of its own: the console thread runs what the operator types, and
the reader thread takes the client's messages off the socket (lines, keys, completion requests,
Ctrl-C). Output goes back as `out` messages; `print()` and the display of results reach the
right client because `sys.stdout` is routed per thread while the REPL serves (`StdoutRouter`:
a thread that is not a session's still writes to the real stdout, so the node's status line is
undisturbed).

Ctrl-C while a command runs raises KeyboardInterrupt in the console thread (the async-exception
call that debuggers use); at the prompt it clears the line. A client that goes away (detach,
crash, a closed terminal) ends the session the same way: the node never notices beyond a log
line. Exceptions print as one line; `tb()` shows the last full traceback on request.
"""

from __future__ import annotations

import code
import contextlib
import ctypes
import logging
import queue
import rlcompleter
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from protocols.errors import TroupeError
from supervision.repl.wire import LineReader, WireError, encode

log = logging.getLogger("troupe.repl")

SEND_TIMEOUT_S = 10.0


class ReplError(TroupeError):
    """A mistake or refusal the operator reads as one line (unknown name, timeout, refused)."""


class StdoutRouter:
    """`sys.stdout` while the REPL serves: writes from a session's console thread go to that
    session (by `routes`, thread id -> sink), everything else to the stream it replaced."""

    def __init__(self, fallback: TextIO, routes: dict[int, Callable[[str], None]]) -> None:
        self.fallback = fallback
        self.routes = routes

    def write(self, text: str) -> int:
        route = self.routes.get(threading.get_ident())
        if route is None:
            return self.fallback.write(text)
        route(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.routes:
            self.fallback.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fallback, name)


class _Routing:
    """Puts a router in front of `sys.stdout` while any session is attached. Every router
    shares one table of routes, so a router that something else has wrapped or replaced since
    (the node's guard of a closed stdout, a test's capture) still routes right, and a session
    that leaves leaves no route behind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: dict[int, Callable[[str], None]] = {}

    def _ours(self) -> StdoutRouter | None:
        stream = sys.stdout
        return stream if isinstance(stream, StdoutRouter) and stream.routes is self.routes \
            else None

    def route(self, thread_id: int, sink: Callable[[str], None] | None) -> None:
        with self.lock:
            if sink is not None:
                self.routes[thread_id] = sink
                if self._ours() is None:
                    sys.stdout = StdoutRouter(sys.stdout, self.routes)
                return
            self.routes.pop(thread_id, None)
            router = self._ours()
            if not self.routes and router is not None:
                sys.stdout = router.fallback


_route = _Routing().route


def _interrupt(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(KeyboardInterrupt))


class Session(code.InteractiveConsole):
    """The console of one client. `namespace_for(session)` builds what the operator sees."""

    def __init__(self, sock: socket.socket, name: str,
                 namespace_for: Callable[[Session], dict[str, Any]],
                 banner: str, confirm_changes: bool) -> None:
        self.sock = sock
        self.name = name
        self.banner_text = banner
        self.confirm_changes = confirm_changes
        self.cols, self.rows = 100, 30
        self.closed = threading.Event()
        self.last_traceback = ""
        self._send_lock = threading.Lock()
        self._events: queue.Queue[tuple[str, str]] = queue.Queue()
        self._keys: queue.Queue[str] = queue.Queue()
        self._cleanups: list[Callable[[], None]] = []
        self._console_thread: int | None = None
        self._executing = False
        self._gone_already = False
        namespace = namespace_for(self)
        super().__init__(namespace, filename="<repl>")
        self._completer = rlcompleter.Completer(namespace)
        self.actor_names: Callable[[], list[str]] = namespace.get("_actor_names", list)

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> None:
        """The console thread's body: read, evaluate, print until EOF, exit() or the end."""
        self._console_thread = threading.get_ident()
        sock = self.sock
        sock.settimeout(SEND_TIMEOUT_S)
        reader = threading.Thread(target=self._read, name=f"troupe:repl-read:{self.name}",
                                  daemon=True)
        reader.start()
        _route(self._console_thread, self.write)
        try:
            self.interact(banner=self.banner_text, exitmsg="")
        except (SystemExit, KeyboardInterrupt):
            pass  # exit(), or an interrupt that arrived as the client left
        except Exception:  # a bug of ours must not leave the client hanging without a word
            log.exception("repl session %s failed", self.name)
        finally:
            self._executing = False
            _route(self._console_thread, None)
            self.close("detached")

    def close(self, why: str) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for cleanup in self._cleanups:
            try:
                cleanup()
            except Exception:
                log.exception("repl session %s: cleanup failed", self.name)
        self.send("bye", s=why)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._events.put(("eof", ""))

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    # -- the socket -------------------------------------------------------------------------------
    def send(self, kind: str, **fields: Any) -> bool:
        data = encode(kind, **fields)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self._gone()
                return False
        return True

    def _read(self) -> None:
        reader = LineReader(self.sock)
        while not self.closed.is_set():
            try:
                message = reader.read()
            except WireError as exc:
                log.warning("repl session %s: %s; closing it", self.name, exc)
                message = None
            if message is None:
                self._gone()
                return
            kind = message["t"]
            if kind in ("line", "eof"):
                self._events.put((kind, str(message.get("s", ""))))
            elif kind == "interrupt":
                self._on_interrupt()
            elif kind == "key":
                self._keys.put(str(message.get("k", "")))
            elif kind == "complete":
                self.send("completions", m=self.complete(str(message.get("line", "")),
                                                         str(message.get("text", ""))))
            elif kind == "hello":
                self.cols = _int(message.get("cols"), self.cols)
                self.rows = _int(message.get("rows"), self.rows)

    def _gone(self) -> None:
        """The client went away: end the session wherever it is."""
        if self.closed.is_set() or self._gone_already:
            return
        self._gone_already = True
        self._events.put(("eof", ""))
        self._interrupt_console()

    def _on_interrupt(self) -> None:
        self._keys.put("\x03")
        if not self._interrupt_console():
            self._events.put(("interrupt", ""))

    def _interrupt_console(self) -> bool:
        """Raise KeyboardInterrupt in the console thread if it is running a command (from
        another thread only). It lands at the thread's next bytecode: a command blocked in one
        long C call (time.sleep(60)) sees it when that call returns."""
        console = self._console_thread
        if not self._executing or console is None or console == threading.get_ident():
            return False
        _interrupt(console)
        return True

    # -- InteractiveConsole -----------------------------------------------------------------------
    def raw_input(self, prompt: str = "") -> str:
        self._executing = False
        try:
            if self.closed.is_set() or self._gone_already or not self.send("input", p=prompt):
                raise EOFError
            kind, text = self._events.get()
            if kind == "eof" or self.closed.is_set():
                raise EOFError
            if kind == "interrupt":
                raise KeyboardInterrupt
            return text
        finally:
            self._executing = True

    def write(self, data: str) -> None:
        if data:
            self.send("out", s=data)

    def showtraceback(self) -> None:
        kind, error, tb = sys.exc_info()
        self.last_traceback = "".join(traceback.format_exception(kind, error, tb))
        self.write(one_line(error) + "\n")

    def showsyntaxerror(self, filename: str | None = None, **kwargs: Any) -> None:
        kind, error, tb = sys.exc_info()
        self.last_traceback = "".join(traceback.format_exception(kind, error, tb))
        if isinstance(error, SyntaxError):
            where = f" (column {error.offset})" if error.offset else ""
            self.write(f"SyntaxError: {error.msg}{where}\n")
        else:
            self.write(one_line(error) + "\n")

    # -- what helpers use -------------------------------------------------------------------------
    def confirm(self, question: str) -> bool:
        """Under the live profile, ask before any change; elsewhere, yes."""
        if not self.confirm_changes:
            return True
        answer = self.raw_input(f"{question} [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    @contextmanager
    def keys(self) -> Iterator[None]:
        """Single keys reach `next_key` while inside (the client switches its terminal)."""
        while not self._keys.empty():
            self._keys.get_nowait()
        self.send("keys", on=True)
        try:
            yield
        finally:
            self.send("keys", on=False)

    def next_key(self, timeout: float) -> str | None:
        try:
            return self._keys.get(timeout=timeout)
        except queue.Empty:
            return None

    def complete(self, line: str, text: str) -> list[str]:
        before = line[: len(line) - len(text)] if line.endswith(text) else line
        if before.endswith(("'", '"')):
            return sorted(n for n in self.actor_names() if n.startswith(text))
        matches = []
        for state in range(200):
            match = self._completer.complete(text, state)
            if match is None:
                break
            matches.append(match)
        return matches


def one_line(error: BaseException | None) -> str:
    if error is None:
        return "error"
    if isinstance(error, ReplError):
        return f"error: {error}"
    if isinstance(error, KeyboardInterrupt):
        return "KeyboardInterrupt"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and 0 < value < 10_000 else default
