"""The risk gate's vocabulary between actors: the state it persists, the events it publishes,
and the commands it takes.

The gate itself (`actors.risk.gate`) and its pure rules (`actors.risk.rules`) live in `actors`;
the records here are what other actors and the node exchange with it, so a journal, a monitor, a
recovery fold or a control plane can speak to the gate without importing it:

- persisted state: `RiskPersistentState` (with its `DailyLoss` and `InstrumentHalt`), journaled
  whenever it changes and handed back to the next incarnation of the gate;
- events the gate tells its subscribers: `InstrumentHalted`, `InstrumentResumed` (and
  `protocols.decisions.TradingStateChanged` for the account's state);
- commands to the gate: `SetTradingState`, `ResumeInstrument`, and `Flatten`, which the gate
  also forwards to the strategies that send the reduce-only exits.

Money is `Decimal` in the quote currency, times int nanoseconds; the records are frozen, small
and journal-friendly (enums, ints, Decimals, strings, tuples).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from protocols.decisions import Gate, TradingState

__all__ = [
    "DailyLoss",
    "Flatten",
    "InstrumentHalt",
    "InstrumentHalted",
    "InstrumentResumed",
    "ResumeInstrument",
    "RiskPersistentState",
    "SetTradingState",
]


# --------------------------------------------------------------------------------------------
# The persisted state


@attrs.frozen(slots=True)
class DailyLoss:
    """The realized PnL of one UTC day as the Portfolio last reported it.

    `utc_day` is whole days since 1970-01-01 UTC. `breached` is set when the day's loss reached
    the limit; a new day resets both, but not the trading state (an operator resumes).
    """

    utc_day: int
    realized_pnl: Decimal = Decimal(0)
    breached: bool = False


@attrs.frozen(slots=True)
class InstrumentHalt:
    gate: Gate
    reason: str


@attrs.frozen(slots=True)
class RiskPersistentState:
    """What must survive a restart: a gate that forgot it was REDUCING would trade again.

    `cause` is the gate that put the account in its state (DAILY_LOSS, MAX_DRAWDOWN) or
    TRADING_STATE for an operator or reconciliation; refusals report it.
    """

    trading_state: TradingState
    cause: Gate
    reason: str
    daily: DailyLoss
    halts: tuple[tuple[str, InstrumentHalt], ...] = ()


# --------------------------------------------------------------------------------------------
# Events the gate publishes


@attrs.frozen(slots=True)
class InstrumentHalted:
    """The gate halted one instrument (spec change, time regression): cancels and flattens only."""

    instrument: str
    gate: Gate
    reason: str
    recv_ns: int


@attrs.frozen(slots=True)
class InstrumentResumed:
    instrument: str
    reason: str
    source: str
    recv_ns: int


# --------------------------------------------------------------------------------------------
# Commands to the gate


@attrs.frozen(slots=True)
class SetTradingState:
    """An operator (control plane, Alertmanager, supervisor) moves the account's trading state.

    The only way out of REDUCING or HALTED: the gate never resumes by itself. Only an operator
    relaxes an operator's decision, so a command from elsewhere says how far it may go, and the
    gate checks it against its own state, where no race can slip between check and change:
    `only_tighten` (an alert: a stricter state or nothing) and `only_from` (a resolved alert:
    only if the current state was decided by that source, e.g. "alertmanager")."""

    state: TradingState
    reason: str
    source: str = "control"
    only_tighten: bool = False
    only_from: str | None = None


@attrs.frozen(slots=True)
class Flatten:
    """Authorize reduce-only exits on `instrument` (None: every instrument) even while HALTED or
    while the instrument is halted by the gate, and cancel its resting orders first.

    The gate forwards this command to its subscribers: the strategies (or an operator tool) send
    the reduce-only exits, which still have to truly reduce the position. The authorization ends
    when the account returns to ACTIVE or the instrument is resumed; it is not persisted.
    """

    instrument: str | None
    reason: str


@attrs.frozen(slots=True)
class ResumeInstrument:
    """Lift an instrument halt (spec change, time regression) once a human has checked it."""

    instrument: str
    reason: str
    source: str = "control"
