"""The RiskGate actor: one per account, between the strategies and the action budget.

    Strategy --Proposal--> RiskGate --Proposal (possibly scaled)--> ActionBudget
        ^                     |  \\--CancelAll---------------------> ActionBudget
        |  RiskRefused/Scaled |   \\--TradingStateChanged, InstrumentHalted/Resumed, Flatten
        +---------------------+       --> subscribers (strategies, journal, control plane)

The actor is a thin shell: every decision is made by the pure `actors.risk.rules.RiskState`, and
this class only feeds it messages with the injected clocks and carries out what it returns. So a
decision never depends on which host runs the gate, and the rules are tested without actors.

Messages it understands:
- `Proposal` from strategies: approved ones go to the budget (the intent already scaled when it
  was); a refusal (RiskRefused) or a scaling notice (Scaled) goes back to `proposal.reply_to`.
  The `ask` answer is the Verdict itself.
- Market and portfolio events: BookTop, BookStale, MarketState, SpecChanged, PortfolioSnapshot,
  ReconciliationDrift. Freshness is judged with `ctx.monotonic_ns()` against their `recv_ns`;
  the UTC day of the daily loss with `ctx.time_ns()`.
- The journal writer's JournalHealth: a node that cannot journal takes no new risk (REDUCING,
  source "journal") and is not resumed past REDUCING until the journal writes again.
- Control commands, from `protocols.risk`: SetTradingState, Flatten, ResumeInstrument.
- `ActorDown` for a strategy (the gate watches every strategy): a `CancelAll` scoped to that
  strategy goes to the budget. The gate is the right watcher because everything the dead
  incarnation proposed reached the gate's mailbox before the notice did, so the budget's fence
  for the scope stands behind all of it: nothing that incarnation proposed rests on the venue
  unknown to the next one. Which strategy an actor is comes from `strategy_actors` (the node's
  map) and from the proposals themselves.

Every refusal (`RiskRefused`: one gate, one action) and every scaling (`Scaled`) is also told to
`journal`, so a run's report counts the gate's reasons next to the strategies' own (`NoTrade`).

Metrics: `troupe_risk_refusals_total{gate}` for every refusal, `troupe_risk_scaled_total{gate}`,
`troupe_trading_state` (0 ACTIVE, 1 REDUCING, 2 HALTED),
`troupe_trading_state_changes_total{state,source}` (every change, by who made it),
`troupe_instrument_halted{instrument}`,
`troupe_risk_cancel_all_total`.

Persistence: when the persisted record changes (trading state, daily loss day/breach, halts) the
gate tells `journal` and `persist_to`, if given, the new `RiskPersistentState`; the node passes
the latest back as `restored` when it builds the gate again, after an in-process restart (from
what `persist_to` kept) or a process restart (from the journal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actors.behaviour import Behaviour, Context, Ref
from actors.risk.limits import RiskConfig
from actors.risk.rules import Approved, Effect, RiskState, Verdict
from protocols.commands import CancelAll
from protocols.decisions import Proposal, TradingStateChanged
from protocols.journal import JournalHealth
from protocols.market import BookStale, BookTop, MarketState, SpecChanged
from protocols.portfolio import PortfolioSnapshot, ReconciliationDrift
from protocols.risk import (
    Flatten,
    InstrumentHalted,
    InstrumentResumed,
    ResumeInstrument,
    RiskPersistentState,
    SetTradingState,
)
from protocols.runtime import ActorDown

__all__ = ["RiskGate"]


class RiskGate(Behaviour):
    """One account's pre-trade gate. See the module docstring for its messages."""

    def __init__(
        self,
        budget: Ref,
        *,
        config: RiskConfig | None = None,
        subscribers: Sequence[Ref] = (),
        journal: Ref | None = None,
        restored: RiskPersistentState | None = None,
        persist_to: Sequence[Ref] = (),
        strategy_actors: Mapping[str, str] | None = None,
    ) -> None:
        self.budget = budget
        self.subscribers = tuple(subscribers)
        self.journal = journal
        # Also told each new RiskPersistentState: whoever builds the next incarnation of this
        # gate after an in-process restart needs the latest, not the state at process start.
        self.persist_to = tuple(persist_to)
        self.rules = RiskState(config, restored)
        self._journaled = self.rules.version
        # A proposer's actor name -> its strategy id: what the node said, then what proposals say.
        self._strategy_of: dict[str, str] = dict(strategy_actors or {})

    def on_start(self, ctx: Context) -> None:
        ctx.gauge("troupe_trading_state", int(self.rules.state))
        for instrument, _halt in self.rules.persistent_state().halts:
            ctx.gauge("troupe_instrument_halted", 1, instrument=instrument)

    def receive(self, message: Any, ctx: Context) -> Any:
        now = ctx.monotonic_ns()
        rules = self.rules
        effects: list[Effect]
        if type(message) is BookTop:  # the usual message, and its usual answer: no effects
            effects = rules.on_book_top(message, now)
            if effects or rules.version != self._journaled:
                self._carry_out(effects, ctx)
            return effects
        if isinstance(message, Proposal):
            return self._proposal(message, now, ctx)
        if isinstance(message, ActorDown):
            self._sweep(message, ctx)
            return None
        if isinstance(message, BookTop):
            effects = rules.on_book_top(message, now)
        elif isinstance(message, MarketState):
            effects = rules.on_market_state(message, now)
        elif isinstance(message, PortfolioSnapshot):
            effects = rules.on_portfolio(message, now, ctx.time_ns())
        elif isinstance(message, BookStale):
            effects = rules.on_book_stale(message, now)
        elif isinstance(message, SpecChanged):
            effects = rules.on_spec_changed(message, now)
        elif isinstance(message, ReconciliationDrift):
            effects = rules.on_drift(message, now)
        elif isinstance(message, JournalHealth):
            effects = rules.on_journal_health(message.healthy, message.error, now)
        elif isinstance(message, SetTradingState):
            effects = rules.set_trading_state(
                message.state, message.reason, message.source, now, ctx.time_ns(),
                only_tighten=message.only_tighten, only_from=message.only_from,
            )
        elif isinstance(message, Flatten):
            effects = rules.flatten_instrument(message.instrument, message.reason)
            for subscriber in self.subscribers:
                ctx.tell(subscriber, message)
        elif isinstance(message, ResumeInstrument):
            effects = rules.resume_instrument(
                message.instrument, message.reason, message.source, now
            )
        else:
            ctx.count("troupe_risk_unhandled_total", kind=type(message).__name__)
            return None
        self._carry_out(effects, ctx)
        return effects

    def _sweep(self, down: ActorDown, ctx: Context) -> None:
        strategy = self._strategy_of.get(down.actor)
        if strategy is None:
            return
        ctx.tell(self.budget, CancelAll(None, f"{down.actor} went down: {down.reason}"[:200],
                                        strategy=strategy))
        ctx.count("troupe_risk_cancel_all_total")

    def _proposal(self, proposal: Proposal, now: int, ctx: Context) -> Verdict:
        if proposal.reply_to is not None:
            self._strategy_of[proposal.reply_to.name] = proposal.strategy
        decision = self.rules.check(proposal, now)
        if isinstance(decision, Approved):
            refused = ctx.tell(self.budget, decision.proposal)
            if refused is not None:  # the budget's mailbox said no: the strategy must know
                ctx.count("troupe_risk_budget_refused_total")
                self._reply(proposal, refused, ctx)
            if decision.scaled is not None:
                ctx.count("troupe_risk_scaled_total", gate=decision.scaled.gate.value)
                self._reply(proposal, decision.scaled, ctx)
                self._journal(decision.scaled, ctx)
        else:
            ctx.count("troupe_risk_refusals_total", gate=decision.gate.value)
            self._reply(proposal, decision, ctx)
            self._journal(decision, ctx)
        return decision

    def _journal(self, record: Any, ctx: Context) -> None:
        if self.journal is not None:
            ctx.tell(self.journal, record)

    @staticmethod
    def _reply(proposal: Proposal, message: Any, ctx: Context) -> None:
        if proposal.reply_to is not None:
            ctx.tell(proposal.reply_to, message)

    def _carry_out(self, effects: list[Effect], ctx: Context) -> None:
        for effect in effects:
            if isinstance(effect, CancelAll):
                ctx.tell(self.budget, effect)
                ctx.count("troupe_risk_cancel_all_total")
                continue
            for subscriber in self.subscribers:
                ctx.tell(subscriber, effect)
            if isinstance(effect, TradingStateChanged):
                ctx.gauge("troupe_trading_state", int(effect.new))
                ctx.count("troupe_trading_state_changes_total", state=effect.new.name.lower(),
                          source=effect.source)
            elif isinstance(effect, InstrumentHalted):
                ctx.gauge("troupe_instrument_halted", 1, instrument=effect.instrument)
            elif isinstance(effect, InstrumentResumed):
                ctx.gauge("troupe_instrument_halted", 0, instrument=effect.instrument)
        if self.rules.version != self._journaled:
            self._journaled = self.rules.version
            state = self.rules.persistent_state()
            for ref in (self.journal, *self.persist_to):
                if ref is not None:
                    ctx.tell(ref, state)

    def persistent_state(self) -> RiskPersistentState:
        return self.rules.persistent_state()

    def snapshot(self) -> dict[str, Any]:
        return self.rules.snapshot()
