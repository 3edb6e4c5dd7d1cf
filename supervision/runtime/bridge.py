"""Crossing from other threads into the trio thread, safely.

`TrioToken.run_sync_soon` never blocks the calling thread, but an exception escaping the callback
crashes `trio.run` with TrioInternalError: one bad callback would take down every actor on the
loop. Everything handed to trio from another thread therefore goes through `guarded`.
"""

from __future__ import annotations

import logging
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
