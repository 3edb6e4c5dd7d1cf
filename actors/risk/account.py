"""One account's risk state machine: the market and portfolio views, the trading state, the
instrument halts, flatten authorizations and what is persisted. Pure; time is passed in.

The rules that judge a proposal against this state, and the written order of every rule and
event, are in `actors.risk.rules` (whose `RiskState` extends `AccountState`). This half answers
the events: it keeps the views current and returns the effects a change calls for (CancelAll,
TradingStateChanged, InstrumentHalted, InstrumentResumed) for the actor to carry out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from actors.risk.limits import RiskConfig
from actors.risk.views import MS, InstrumentView, PortfolioView, utc_day
from protocols.commands import CancelAll
from protocols.decisions import Gate, TradingState
from protocols.decisions import TradingStateChanged as StateChanged
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState, SpecChanged
from protocols.portfolio import PortfolioSnapshot, ReconciliationDrift
from protocols.risk import (
    DailyLoss,
    InstrumentHalt,
    InstrumentHalted,
    InstrumentResumed,
    RiskPersistentState,
)

Effect = CancelAll | StateChanged | InstrumentHalted | InstrumentResumed


class AccountState:
    """Views, trading state and halts of one account. Not thread-safe: one actor owns it."""

    def __init__(self, config: RiskConfig | None = None,
                 restored: RiskPersistentState | None = None) -> None:
        self.config = config or RiskConfig()
        self.views: dict[str, InstrumentView] = {}
        self.portfolio = PortfolioView()
        self.state = TradingState.ACTIVE
        self.cause = Gate.TRADING_STATE
        self.reason = "start"
        # Who decided the current state ("http" for an operator, "alertmanager", "risk_gate"...):
        # a command may be limited to undoing only its own source's decision.
        self.source = "start"
        self.daily = DailyLoss(utc_day=0)
        self.flatten_all = False
        self.flatten: set[str] = set()
        self.journal_error: str | None = None  # the journal cannot write: no resume past REDUCING
        self.version = 0  # bumped whenever the persisted record changes: the journal's cue
        self._half_life_ns = self.config.spread_half_life_ms * MS  # of the spread EWMA
        if restored is not None:
            self.restore(restored)

    # -- persistence ---------------------------------------------------------------------------
    def persistent_state(self) -> RiskPersistentState:
        halts = tuple((i, v.halt) for i, v in sorted(self.views.items()) if v.halt is not None)
        return RiskPersistentState(self.state, self.cause, self.reason, self.daily, halts)

    def restore(self, record: RiskPersistentState) -> None:
        """Take a persisted record as the truth: state, its cause, the day's loss, the halts.
        Flatten authorizations are not persisted: after a restart an operator re-sends them."""
        self.state, self.cause, self.reason = record.trading_state, record.cause, record.reason
        self.source = "journal"  # not persisted: after a restart only an operator relaxes it
        self.daily = record.daily
        for view in self.views.values():
            view.halt = None
        for instrument, halt in record.halts:
            self._view(instrument).halt = halt
        self.flatten_all, self.flatten = False, set()
        self.version += 1

    # -- events --------------------------------------------------------------------------------
    def _view(self, instrument: str) -> InstrumentView:
        view = self.views.get(instrument)
        if view is None:
            view = self.views[instrument] = InstrumentView(instrument)
        return view

    def on_book_top(self, top: BookTop, now_ns: int) -> list[Effect]:
        view = self.views.get(top.instrument) or self._view(top.instrument)
        if view.book_recv_ns is not None and top.recv_ns < view.book_recv_ns:
            return []  # an older version delivered late: the newer one already counts
        last, venue_ns = view.last_venue_ns, top.venue_ns
        if (venue_ns is not None and last is not None
                and venue_ns < last - self.config.time_regression_tolerance_ns):
            return self._halt(view, Gate.TIME_REGRESSION,
                              f"venue time went back {last - venue_ns} ns", now_ns)
        view.apply_top(top, self._half_life_ns)
        return []

    def on_book_stale(self, stale: BookStale, now_ns: int) -> list[Effect]:
        view = self._view(stale.instrument)
        view.book_stale = stale.reason
        if stale.reason == "time_regression":
            return self._halt(view, Gate.TIME_REGRESSION, "the book saw time go back", now_ns)
        return []

    def on_market_state(self, market: MarketState, now_ns: int) -> list[Effect]:
        view = self._view(market.instrument)
        effects: list[Effect] = []
        if view.spec is not None and market.spec != view.spec:
            effects = self._halt(view, Gate.SPEC_CHANGE, _spec_change(view.spec, market.spec),
                                 now_ns)
        view.spec = market.spec
        view.status = market.status
        view.oi_capped = market.open_interest_capped
        view.mark_x2, view.oracle_x2 = market.mark_x2, market.oracle_x2
        view.oracle_recv_ns = market.oracle_recv_ns
        return effects

    def on_spec_changed(self, change: SpecChanged, now_ns: int) -> list[Effect]:
        view = self._view(change.instrument)
        if view.spec == change.new:
            return []  # a MarketState already brought this spec (and halted on it)
        effects = self._halt(view, Gate.SPEC_CHANGE, _spec_change(change.old, change.new), now_ns)
        view.spec = change.new
        return effects

    def on_portfolio(self, snap: PortfolioSnapshot, now_ns: int, epoch_ns: int) -> list[Effect]:
        self.portfolio = PortfolioView(
            {p.instrument: p.qty for p in snap.positions}, snap.total_exposure,
            snap.daily_realized_pnl, snap.peak_equity, snap.equity, snap.recv_ns,
            utc_day(epoch_ns))
        return self._judge_account(now_ns, epoch_ns)

    def on_drift(self, drift: ReconciliationDrift, now_ns: int) -> list[Effect]:
        return self._escalate(TradingState.REDUCING, Gate.TRADING_STATE,
                              f"reconciliation drift on {drift.instrument}: ours {drift.ours}, "
                              f"venue {drift.venue}", "reconciliation", now_ns)

    def on_journal_health(self, healthy: bool, error: str, now_ns: int) -> list[Effect]:
        """The journal is part of the safety case: while it cannot write, orders would go out
        unrecorded (ids not provably unused after a crash, no evidence), so no new risk. Its
        recovery does not resume trading: an operator does, once it writes again."""
        if healthy:
            self.journal_error = None
            return []
        self.journal_error = error or "write failed"
        return self._escalate(TradingState.REDUCING, Gate.TRADING_STATE,
                              f"journal write failed: {self.journal_error}", "journal", now_ns)

    def _judge_account(self, now_ns: int, epoch_ns: int) -> list[Effect]:
        day = utc_day(epoch_ns)
        if day != self.daily.utc_day:  # a new UTC day: the loss resets, the state does not
            self.daily = DailyLoss(day)
            self.version += 1
        p, c = self.portfolio, self.config
        if p.recv_ns is None:
            return []
        effects: list[Effect] = []
        loss = Decimal(0)
        if p.utc_day == day:  # a snapshot from yesterday carries yesterday's loss, not today's
            daily = self.daily  # every field of it, built directly: `attrs.evolve` costs ~2 us
            if daily.realized_pnl is not p.daily_realized_pnl:  # else the record is the same
                self.daily = DailyLoss(daily.utc_day, p.daily_realized_pnl, daily.breached)
            loss = -p.daily_realized_pnl
        if loss > 0 and loss >= c.daily_loss_limit:
            if not self.daily.breached:
                self.daily = attrs.evolve(self.daily, breached=True)
                self.version += 1
            effects += self._escalate(TradingState.REDUCING, Gate.DAILY_LOSS,
                                      f"daily realized loss {loss} >= {c.daily_loss_limit}",
                                      "risk_gate", now_ns)
        drawdown = p.peak_equity - p.equity
        if drawdown > 0 and drawdown >= c.max_drawdown:
            effects += self._escalate(TradingState.REDUCING, Gate.MAX_DRAWDOWN,
                                      f"drawdown {drawdown} >= {c.max_drawdown}",
                                      "risk_gate", now_ns)
        return effects

    # -- trading state and commands -------------------------------------------------------------
    def _escalate(self, new: TradingState, cause: Gate, reason: str, source: str,
                  now_ns: int) -> list[Effect]:
        return self._move(new, cause, reason, source, now_ns) if new > self.state else []

    def _move(self, new: TradingState, cause: Gate, reason: str, source: str,
              now_ns: int) -> list[Effect]:
        old = self.state
        if new is old:
            return []
        self.state, self.cause, self.reason, self.source = new, cause, reason, source
        self.version += 1
        effects: list[Effect] = []
        if new > old and self.config.cancel_all_on_escalation:
            effects.append(CancelAll(None, f"{new.name}: {reason}"))
        if new is TradingState.ACTIVE:
            self.flatten_all, self.flatten = False, set()
        effects.append(StateChanged(old, new, reason, source, now_ns))
        return effects

    def set_trading_state(self, new: TradingState, reason: str, source: str, now_ns: int,
                          epoch_ns: int, *, only_tighten: bool = False,
                          only_from: str | None = None) -> list[Effect]:
        """A commanded move, in either direction. A resume to ACTIVE is re-judged at once
        against the latest portfolio: a limit still breached sends the account back; while the
        journal cannot write it goes no further than REDUCING.

        `only_tighten`: nothing happens unless `new` is stricter than the current state (an
        alert never moves HALTED to REDUCING). `only_from`: nothing happens unless the current
        state was decided by that source (an alert's resume never undoes an operator's
        decision). A command to the state the account is already in makes its source the
        decider: an operator's reduce_only over an alert's REDUCING is the operator's now."""
        if only_tighten and not new > self.state:
            return []
        if only_from is not None and self.source != only_from:
            return []
        if new is TradingState.ACTIVE and self.journal_error is not None:
            new, reason = TradingState.REDUCING, f"{reason} (held at REDUCING: the journal " \
                f"cannot write: {self.journal_error})"
        if new is self.state:
            self.source = source
        effects = self._move(new, Gate.TRADING_STATE, reason, source, now_ns)
        if new is TradingState.ACTIVE:
            effects += self._judge_account(now_ns, epoch_ns)
        return effects

    def flatten_instrument(self, instrument: str | None, reason: str) -> list[Effect]:
        """Authorize reduce-only exits through HALTED and instrument halts (`None`: all
        instruments), and cancel what rests so the exits start from a clean book. The exits
        themselves come from strategies (or an operator tool): the gate has no order ids to give.
        The authorization lasts until ACTIVE (or the instrument's resume)."""
        if instrument is None:
            self.flatten_all = True
        else:
            self.flatten.add(instrument)
        return [CancelAll(instrument, f"flatten: {reason}")]

    def resume_instrument(self, instrument: str, reason: str, source: str,
                          now_ns: int) -> list[Effect]:
        view = self.views.get(instrument)
        self.flatten.discard(instrument)
        if view is None or view.halt is None:
            return []
        view.halt = None
        self.version += 1
        return [InstrumentResumed(instrument, reason, source, now_ns)]

    def _halt(self, view: InstrumentView, gate: Gate, reason: str, now_ns: int) -> list[Effect]:
        if view.halt is not None and view.halt.gate is gate:
            return []  # already halted and cancelled for this; a flood must not repeat it
        view.halt = InstrumentHalt(gate, reason)
        self.version += 1
        effects: list[Effect] = [CancelAll(view.instrument, f"{gate.value}: {reason}"),
                                 InstrumentHalted(view.instrument, gate, reason, now_ns)]
        if self.config.halt_account_on_instrument_halt:
            effects += self._escalate(TradingState.HALTED, gate, f"{view.instrument}: {reason}",
                                      "risk_gate", now_ns)
        return effects

    def snapshot(self) -> dict[str, Any]:
        return {
            "trading_state": self.state.name, "cause": self.cause.value, "reason": self.reason,
            "daily": attrs.asdict(self.daily),
            "halts": {i: v.halt.gate.value for i, v in self.views.items() if v.halt},
            "flatten": "all" if self.flatten_all else sorted(self.flatten),
            "positions": dict(self.portfolio.positions),
        }


def _spec_change(old: InstrumentSpec | None, new: InstrumentSpec) -> str:
    if old is None:
        return f"spec changed to v{new.spec_version}"
    fields = [f.name for f in attrs.fields(InstrumentSpec)
              if getattr(old, f.name) != getattr(new, f.name)]
    return f"spec v{old.spec_version} -> v{new.spec_version}: {', '.join(fields)}"
