"""Timers leave no reference cycles behind: a firing and its host handle are freed by reference
counting once the timer fired or was cancelled, so a backtest's tens of thousands of timers do
not wait for the garbage collector."""

from __future__ import annotations

import gc
from typing import Any

from actors.behaviour import Behaviour, Context
from supervision.runtime.deterministic import DeterministicHost

ROUNDS = 2_000


class Rearming(Behaviour):
    """Each tick re-arms its own timer, arms one it then cancels, and replaces a third."""

    def __init__(self) -> None:
        self.ticks = 0

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(0.001, "tick", key="tick")

    def receive(self, message: Any, ctx: Context) -> Any:
        if message != "tick":
            return None  # the last round's replaced timer
        self.ticks += 1
        if self.ticks < ROUNDS:
            ctx.schedule(0.001, "tick", key="tick")
            ctx.schedule(0.5, "never", key="cancelled")
            ctx.cancel_timer("cancelled")
            ctx.schedule(0.5, "replaced", key="replaced")  # replaces the previous round's
        return None


def test_fired_cancelled_and_replaced_timers_leave_no_cyclic_garbage() -> None:
    host = DeterministicHost()
    gc.collect()
    gc.disable()
    try:
        host.spawn("timers", Rearming)
        host.run_until_idle(max_seconds=100)
        unreachable = gc.collect()
    finally:
        gc.enable()
    behaviour = host.cell("timers").behaviour
    assert isinstance(behaviour, Rearming) and behaviour.ticks == ROUNDS
    assert unreachable < 100  # with the firing-handle cycle: about 12,000
