"""Crossing from other threads into the trio thread, safely.

`TrioToken.run_sync_soon` never blocks the calling thread, but an exception escaping the callback
crashes `trio.run` with TrioInternalError: one bad callback would take down every actor on the
loop. Everything handed to trio from another thread therefore goes through `guarded`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import trio

log = logging.getLogger("troupe.bridge")


class LoopBridge:
    """Schedules callables on one trio loop from any thread; counts what failed."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self.errors = 0
        self.dropped = 0  # the loop had already closed

    def guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException:
            self.errors += 1
            log.exception("callback %r raised on the trio thread; the loop carries on", fn)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run `fn(*args)` on the loop thread soon. Never blocks; returns False if the loop is
        gone (the call is counted in `dropped`)."""
        try:
            self._token.run_sync_soon(self.guarded, fn, *args)
        except trio.RunFinishedError:
            self.dropped += 1
            return False
        return True

    def call_and_wait(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """`fn(*args)` run on this bridge's loop, waited for by a plain thread (never the loop's
        own, nor a task of another loop: those use `call`): its result, or the exception it
        raised. `TimeoutError` if the loop has not run it within `timeout` s (it may still run
        later); `trio.RunFinishedError` if the loop is gone."""
        done = threading.Event()
        outcome = self._send(fn, args, done.set)
        if not done.wait(timeout):
            raise TimeoutError(f"the loop did not run it within {timeout:g} s")
        return outcome.result()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` run on this bridge's loop, awaited from a task on *another* trio loop
        (a control plane's thread): its result, or the exception it raised. Raises
        `trio.RunFinishedError` when the target loop is gone. Cancel the awaiting task to stop
        waiting; `fn` may still run."""
        here = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake_caller() -> None:
            with contextlib.suppress(trio.RunFinishedError):  # the caller's loop is gone
                here.run_sync_soon(done.set)

        outcome = self._send(fn, args, wake_caller)
        await done.wait()
        return outcome.result()

    def _send(self, fn: Callable[..., Any], args: tuple[Any, ...],
              then: Callable[[], None]) -> _Outcome:
        """Run `fn(*args)` on the loop, keep what came of it, then call `then` (there)."""
        outcome = _Outcome()

        def run_there() -> None:
            try:
                outcome.value, outcome.ok = fn(*args), True
            except Exception as error:  # handed back to the caller, not the bridge's log
                outcome.value = error
            then()

        if not self.call_soon(run_there):
            raise trio.RunFinishedError("the loop behind this bridge has finished")
        return outcome


class _Outcome:
    """What came of a call sent to the loop: its value, or the exception it raised."""

    __slots__ = ("ok", "value")

    def __init__(self) -> None:
        self.ok = False
        self.value: Any = None

    def result(self) -> Any:
        if not self.ok:
            raise self.value
        return self.value
