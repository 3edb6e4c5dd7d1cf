"""The process's edges: the stop signals and the console, clean from the first instruction to
the exit code.

`StopSignals` owns SIGINT, SIGTERM and SIGHUP for the whole life of the process (`install()`
is the first thing `python -m supervision.main` does), in three phases:

1. before the node's event loop runs (arguments, config, locks, journal replay: nothing is
   trading yet), a signal ends the process at once: exit 130 and the one line
   `interrupted before the node started: nothing to stop` (a backtest, which never arms,
   says instead that it stopped part-way: `unarmed_line`);
2. from `arm()` (just before the loop starts) a signal asks for the graceful stop: `wait()`
   returns its name, and the node stops new orders, cancels all, waits for the acks, journals
   NodeStopped and flushes (`supervision.node.run`). A signal that arrives before the loop
   has attached is kept and acted on as soon as it does;
3. a second signal, at any moment after the first, ends the process at once: exit 130 and the
   one line `forced exit`, whatever shutdown is doing.

The handlers are plain `signal.signal` handlers, installed once and never swapped out: trio's
`open_signal_receiver` restores the original handlers when its block exits, which undid the
second-signal handler in the middle of shutdown. A handler only counts and wakes the loop
(`TrioToken.run_sync_soon` is safe from a signal handler); it never raises into the code it
interrupted, so no traceback can come from a signal.

`Console` writes the node's lines to stdout. A closed stdout (`| head`, a terminal gone) must
never stop trading or leave orders open: the first failed write points stdout at /dev/null,
says so once on stderr, and the node runs on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any, TextIO

# Only the standard library at import: this module is loaded, and its handlers installed, before
# anything slow, so the first moment of a start-up is covered too. trio comes with `attach()`.

__all__ = ["CONSOLE", "STOP", "STOP_SIGNALS", "Console", "StopSignals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INTERRUPTED = 130


def _exit_now(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())
    os._exit(INTERRUPTED)


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP for the process: see the module docstring."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._armed = False
        self.installed = False
        self._token: Any = None  # trio.lowlevel.TrioToken, once attached
        self._event: Any = None  # trio.Event
        self._finished: type[BaseException] = RuntimeError
        self.unarmed_line = "interrupted before the node started: nothing to stop"

    def install(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        self.installed = True
        return self

    def uninstall(self) -> None:
        """Back to Python's defaults (for a command that handles Ctrl-C itself)."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in STOP_SIGNALS[1:]:
            signal.signal(signum, signal.SIG_DFL)
        self.installed = False

    def arm(self) -> None:
        """From now on a first signal asks for the graceful stop (phase 2)."""
        self._armed = True

    def attach(self) -> None:
        """Call on the node's trio loop: signals now wake `wait()`."""
        import trio

        self._finished = trio.RunFinishedError
        self._event = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        if self.received:
            self._event.set()

    async def wait(self) -> str:
        """The name of the first stop signal, once one has come."""
        assert self._event is not None, "attach() first"
        await self._event.wait()
        return self.received[0]

    @property
    def stop_requested(self) -> bool:
        return bool(self.received)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self._armed:
            _exit_now(self.unarmed_line)
        self.received.append(name)
        if len(self.received) > 1:
            _exit_now("forced exit")
        if self._token is not None and self._event is not None:
            with contextlib.suppress(self._finished):  # the loop has ended: nothing to wake
                self._token.run_sync_soon(self._event.set)


STOP = StopSignals()
"""The process's one instance: `python -m supervision.main` installs it first thing."""


class _GuardedStream:
    """A text stream that turns a failed write or flush into `on_failure()`, once."""

    def __init__(self, stream: TextIO, on_failure: Any) -> None:
        self._stream = stream
        self._on_failure = on_failure

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):  # EPIPE, EIO, or a stream already closed
            self._on_failure(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._on_failure(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Console:
    """The node's lines on stdout; a closed stdout is said once and then ignored.

    `guard_stdout()` puts the guard around `sys.stdout` itself, so every print of the process
    (the REPL's address line, a library's) is covered, not only `say`."""

    def __init__(self) -> None:
        self.closed = False

    def guard_stdout(self) -> None:
        if not isinstance(sys.stdout, _GuardedStream):
            sys.stdout = _GuardedStream(sys.stdout, self._silence)

    def say(self, text: str) -> None:
        if self.closed:
            return
        stream = sys.stdout
        if isinstance(stream, _GuardedStream):
            stream.write(text + "\n")
            stream.flush()
            return
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):
            self._silence(stream)

    def _silence(self, stream: TextIO) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            # Point fd 1 at /dev/null, so the interpreter's last flush fails no more either.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        with contextlib.suppress(OSError):
            os.write(2, b"stdout is closed: status lines stop here; the node runs on\n")


CONSOLE = Console()
"""The node's console on the process's stdout."""
