"""Commands that stop or pause order flow, sent from outside the data path.

- `CancelAll` goes to an action budget: the risk gate's rules emit it (a halt, a spec change),
  and the node sends it on a kill switch and on shutdown. The budget fences everything queued
  before it and cancels every resting order of the account (or of one instrument).
- `PauseQuoting` / `ResumeQuoting` go to a quoting strategy: an operator pulls its quotes and
  lets it quote again, without touching the risk gate's trading state.

Commands to the risk gate itself (`SetTradingState`, `Flatten`, `ResumeInstrument`) are in
`protocols.risk`.
"""

from __future__ import annotations

import attrs

__all__ = ["CancelAll", "PauseQuoting", "ResumeQuoting"]


@attrs.frozen(slots=True)
class CancelAll:
    """Cancel every resting order of the account (`instrument` None) or of one instrument, and
    with `strategy` only that strategy's orders (what a crashed strategy left behind)."""

    instrument: str | None
    reason: str
    strategy: str | None = None


@attrs.frozen(slots=True)
class PauseQuoting:
    """Pull both quotes and place none until `ResumeQuoting` (the strategy's WHY is `paused`)."""

    reason: str = "operator"


@attrs.frozen(slots=True)
class ResumeQuoting:
    """Quote again after a `PauseQuoting`."""
