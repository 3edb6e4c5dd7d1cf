"""The node's own view of its trading: what `/readyz`, the status line and shutdown read.

`NodeMonitor` is an ordinary actor subscribed to the books, the risk gate, the portfolio and the
venue connection. It keeps a `NodeView`, a plain object the node reads on the event-loop thread
(the live host runs loop actors on that thread, so there is no race). Nothing here decides
anything; it only remembers the latest word of each actor.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context
from protocols.control import printable
from protocols.decisions import TradingState, TradingStateChanged
from protocols.journal import JournalHealth
from protocols.market import BookStale, BookTop
from protocols.portfolio import PortfolioSnapshot
from protocols.risk import InstrumentHalted, InstrumentResumed, RiskPersistentState
from protocols.venue_state import VenueReconciled

__all__ = ["NodeMonitor", "NodeView", "halts_of"]

log = logging.getLogger("troupe.node")


@attrs.define
class BookHealth:
    synced: bool = False
    last_top_ns: int | None = None
    stale_reason: str | None = "unsynced"
    bid: int | None = None
    ask: int | None = None


@attrs.define
class NodeView:
    instruments: tuple[str, ...]
    state: TradingState = TradingState.ACTIVE
    state_reason: str = ""
    state_source: str = "start"  # who decided the state: "http", "alertmanager", "risk_gate"...
    books: dict[str, BookHealth] = attrs.Factory(dict)
    portfolio: PortfolioSnapshot | None = None
    reconciled: bool = False
    risk_state: RiskPersistentState | None = None  # the gate's latest, for its next restart
    journal_error: str | None = None  # None: the journal writes; else why it cannot
    halts: dict[str, str] = attrs.Factory(dict)  # instrument -> why the gate halted it

    @property
    def journal_healthy(self) -> bool:
        return self.journal_error is None

    def __attrs_post_init__(self) -> None:
        for name in self.instruments:
            self.books.setdefault(name, BookHealth())

    def md_ready(self, now_ns: int, max_age_ns: int) -> tuple[bool, dict[str, str]]:
        detail, ready = {}, True
        for name, book in self.books.items():
            if not book.synced:
                detail[name], ready = f"stale: {book.stale_reason}", False
            elif book.last_top_ns is None or now_ns - book.last_top_ns > max_age_ns:
                detail[name], ready = "no fresh update", False
            else:
                detail[name] = "synced"
        return ready, detail


def halts_of(record: RiskPersistentState) -> dict[str, str]:
    """Instrument -> why it is halted, as `/readyz` and the status line show it."""
    return {instrument: f"{halt.gate.value}: {halt.reason}" for instrument, halt in record.halts}


class NodeMonitor(Behaviour):
    def __init__(self, view: NodeView) -> None:
        self.view = view

    def receive(self, message: Any, ctx: Context) -> Any:
        view, now = self.view, ctx.monotonic_ns()
        if isinstance(message, BookTop):
            book = view.books.setdefault(message.instrument, BookHealth())
            book.synced, book.stale_reason, book.last_top_ns = True, None, now
            book.bid, book.ask = message.bid, message.ask
        elif isinstance(message, BookStale):
            book = view.books.setdefault(message.instrument, BookHealth())
            book.synced, book.stale_reason = False, message.reason
        elif isinstance(message, TradingStateChanged):
            view.state, view.state_reason = message.new, f"{message.reason} ({message.source})"
            view.state_source = message.source
            log.warning("trading state %s -> %s: %s (source %s)", message.old.name,
                        message.new.name, printable(message.reason), printable(message.source))
        elif isinstance(message, PortfolioSnapshot):
            view.portfolio = message
        elif isinstance(message, VenueReconciled):
            view.reconciled = True
        elif isinstance(message, RiskPersistentState):
            view.risk_state = message
            view.halts = halts_of(message)
        elif isinstance(message, InstrumentHalted):
            view.halts[message.instrument] = f"{message.gate.value}: {message.reason}"
        elif isinstance(message, InstrumentResumed):
            view.halts.pop(message.instrument, None)
        elif isinstance(message, JournalHealth):
            view.journal_error = None if message.healthy else (
                f"{message.error}; {message.backlog} record(s) wait")
        return None

    def snapshot(self) -> Any:
        v = self.view
        return {"state": v.state.name, "reconciled": v.reconciled, "halts": dict(v.halts),
                "books": {n: b.stale_reason or "synced" for n, b in v.books.items()}}
