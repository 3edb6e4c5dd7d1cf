"""Fault injection: make a named actor fail on demand, to rehearse what a failure does.

A `Fault` is armed on a cell (`Cell.inject_fault`), not on a behaviour: any actor can be
targeted, supervisors included, without its code knowing. While armed, the cell raises
`InjectedFault` instead of handling a matching message, exactly where an exception in `receive`
would surface, so the failure takes the ordinary path (the incarnation is discarded, the
supervisor decides). The message that triggered it is consumed, as a message whose handler raised
would be.

- `times`: how many matching messages fail (1: once; None: every one, forever, which is how a
  poison fault that escalates is rehearsed). The count survives restarts: the fault belongs to
  the cell, and the cell outlives its incarnations.
- `message_type`: only messages whose class is named so (e.g. "BookTop") fail; None: any.

Unarmed cells pay nothing: the cell swaps its `_invoke` only while a fault is armed, the same
trick as handling-time measurement. Whether injecting is *allowed* is not decided here: the node
refuses it under the live profile (`supervision.node.assembly.Node.inject_fault`).
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.errors import TroupeError

__all__ = ["Fault", "FaultState", "InjectedFault"]


class InjectedFault(TroupeError, RuntimeError):
    """Raised in place of handling a message, by an armed `Fault`."""


def _positive_or_none(_inst: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError(f"{attribute.name} must be a positive int or None, got {value!r}")


@attrs.frozen(slots=True)
class Fault:
    """Fail `times` matching messages (None: every one); match only `message_type` if given."""

    times: int | None = attrs.field(default=1, validator=_positive_or_none)
    message_type: str | None = None
    reason: str = "injected fault"

    def describe(self) -> str:
        times = "every message" if self.times is None else f"{self.times} message(s)"
        scope = f" of type {self.message_type}" if self.message_type else ""
        return f"{times}{scope} ({self.reason})"


class FaultState:
    """An armed fault and what it has done so far."""

    __slots__ = ("fault", "fired", "left")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.left = fault.times
        self.fired = 0

    def matches(self, message: Any) -> bool:
        wanted = self.fault.message_type
        return wanted is None or type(message).__name__ == wanted

    def fire(self, actor: str) -> InjectedFault:
        """Count one firing; the caller raises what this returns."""
        self.fired += 1
        if self.left is not None:
            self.left -= 1
        return InjectedFault(f"{self.fault.reason} in {actor} (#{self.fired})")

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0
