"""The trading path, wired once: market:<i>, book:<i> -> strategies -> risk gate -> action budget
-> venue connection, and the reports back.

    path = TradingPath(specs={"BTCUSDT": spec}, strategies=[StrategyPlan("mm1", "BTCUSDT", mm)],
                       limits=limits, connection=lambda refs: lambda: AckingVenue(refs.budget))
    refs = path.spawn(host)                 # tests and experiments: every actor at the top level
    groups = path.children(node_address)    # the node: ChildSpecs for its own supervisors

Who hears what (the same for every user of the path):

    market:<i>  -> the gate, the strategies on <i>, the observer
    book:<i>    -> the strategies on <i>, the gate, the portfolio, the watchers, the observer;
                   public trades only to the strategies and the portfolio; resyncs via the
                   connection
    observer    -> (when the node keeps observation statistics) MarketStatistics to their writer
    gate        -> approved proposals to the budget; its effects to the strategies, the
                   watchers and the journal; its persistent state to the watchers
    portfolio   -> snapshots to the gate and the watchers
    budget      -> the connection; connection -> whatever its factory wires (`PathRefs`)

The venue connection is the one part the path does not build: `connection(refs)` returns its
factory, so a simulated venue, a real adapter or a test stand-in plugs in the same way. Actors
address each other by name (`PathRefs`, over `supervision.runtime.refs`), so the groups can live
under different supervisors and still find each other; every name is the node's (`venue/budget`,
`risk/gate`, `strategies/<id>`), which keeps the seeds of each actor's `ctx.random` the same
wherever the path runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from actors.behaviour import Behaviour, Ref
from actors.execution.budget_actor import BUDGET_LEVELS, ActionBudget, budget_priority
from actors.execution.token_bucket import VenueLimits
from actors.execution.venue_connection import CONNECTION_LEVELS, connection_priority
from actors.market.book_actor import OrderBookActor, book_conflation_key
from actors.market.book_feed import BookConfig
from actors.market.market_actor import MarketActor
from actors.market.observation import MarketObserver
from actors.portfolio.portfolio_actor import Portfolio
from actors.risk.gate import RiskGate
from actors.risk.limits import RiskConfig
from actors.strategies.shell import StrategyShell
from protocols.feed import Subscribe
from protocols.instruments import InstrumentSpec
from supervision.runtime.mailbox import BoundedReject, ConflateByKey, FlowControl, StablePriority
from supervision.runtime.refs import RefBook
from supervision.runtime.specs import ChildSpec, Restart, RestartLimit

__all__ = ["PathRefs", "StrategyPlan", "TradingPath"]

VENUE, RISK, STRATEGIES = "venue", "risk", "strategies"


@attrs.frozen
class StrategyPlan:
    """One strategy on the path: `build(risk_gate, journal)` makes its behaviour (called again
    on each restart)."""

    id: str
    instrument: str
    build: Callable[[Ref, Ref | None], Behaviour]


@attrs.frozen
class PathRefs:
    """Every actor of the path by name; `address(path)` turns a name into a ref."""

    address: Callable[[str], Any]

    @property
    def connection(self) -> Any:
        return self.address(f"{VENUE}/connection")

    @property
    def budget(self) -> Any:
        return self.address(f"{VENUE}/budget")

    @property
    def gate(self) -> Any:
        return self.address(f"{RISK}/gate")

    @property
    def portfolio(self) -> Any:
        return self.address(f"{RISK}/portfolio")

    def book(self, instrument: str) -> Any:
        return self.address(f"{VENUE}/book:{instrument}")

    def market(self, instrument: str) -> Any:
        return self.address(f"{VENUE}/market:{instrument}")

    @property
    def observer(self) -> Any:
        return self.address(f"{VENUE}/observer")

    def strategy(self, strategy_id: str) -> Any:
        return self.address(f"{STRATEGIES}/{strategy_id}")


@attrs.frozen(kw_only=True)
class TradingPath:
    """The actors of one venue account's path and how they subscribe to each other.

    `risk` configures the gate (None: its defaults) and `restored()` gives the persistent state
    a (re)started gate restores; `portfolio` adds the Portfolio actor; `watchers` (a monitor)
    hear books (unless `watch_books` is False), the gate and the portfolio; `journal` gets the
    gate's records. The gate watches
    every strategy (when one goes down it cancels that strategy's orders); `strategy_limit` is
    each strategy's own restart limit under a supervisor."""

    specs: Mapping[str, InstrumentSpec]
    strategies: Sequence[StrategyPlan]
    limits: VenueLimits
    connection: Callable[[PathRefs], Callable[[], Behaviour]]
    risk: RiskConfig | None = None
    restored: Callable[[], Any] = lambda: None
    portfolio: bool = True
    watchers: Sequence[Ref] = ()
    # The watchers' book health is for /readyz and the status line. A backtest has neither:
    # there the books' tops (one message per diff each) would go to a view nobody reads.
    watch_books: bool = True
    journal: Ref | None = None
    strategy_limit: RestartLimit | None = None
    mailbox_capacity: int = 10_000
    venue_mailbox_capacity: int = 10_000
    budget_mailbox_capacity: int = 10_000
    book_mailbox_capacity: int = 10_000
    # Virtual time (a backtest): the feed's consumers (the connection, the books) have
    # FlowControl mailboxes, so a full one makes its sender wait and no market data is lost.
    flow_control: bool = False
    remember_cancelled: int = 100_000  # cancelled ids the budget keeps (ActionBudget)
    # The observation statistics' sink: with one, venue/observer watches every book and market
    # and sends it `MarketStatistics` every `observation_interval_s` (actors.market.observation).
    observation: Ref | None = None
    observation_interval_s: float = 5.0

    def children(self, address: Callable[[str], Any]) -> dict[str, list[ChildSpec]]:
        """The path's actors as ChildSpecs in start order, by group (venue, risk, strategies):
        what a node puts under its supervisors."""
        refs = PathRefs(address)
        return {VENUE: self._venue(refs), RISK: self._risk(refs),
                STRATEGIES: self._strategies(refs)}

    def spawn(self, host: Any) -> PathRefs:
        """Spawn every actor directly on `host`, named as in a node (`venue/budget`...), with
        no supervisor: for tests and experiments. Returns the refs. Listeners start before
        those they listen to (strategies, risk, venue), so on the live host, where an actor
        starts as it is spawned, a market's first state or a book's first top finds them."""
        refs = PathRefs(RefBook(host))
        groups = self.children(refs.address)
        for group in (STRATEGIES, RISK, VENUE):
            for child in groups[group]:
                host.spawn(f"{group}/{child.id}", child.factory, mailbox=child.mailbox,
                           blocking=child.blocking)
        return refs

    def _venue(self, refs: PathRefs) -> list[ChildSpec]:
        limits, budget_target, remember = self.limits, refs.connection, self.remember_cancelled
        feed_mailbox = FlowControl if self.flow_control else BoundedReject
        children = [
            # The budget's actions ahead of the market data (venue_connection's docstring);
            # in virtual time one flow-controlled FIFO: nothing queues long enough to overtake.
            ChildSpec("connection", self.connection(refs),
                      mailbox=FlowControl(self.venue_mailbox_capacity) if self.flow_control
                      else StablePriority(CONNECTION_LEVELS, connection_priority,
                                          self.venue_mailbox_capacity)),
            ChildSpec("budget", lambda: ActionBudget(limits, budget_target,
                                                     remember_cancelled=remember),
                      mailbox=StablePriority(BUDGET_LEVELS, budget_priority,
                                             self.budget_mailbox_capacity)),
        ]
        observer = [refs.observer] if self.observation is not None else []
        for name, spec in self.specs.items():
            market_subs = [refs.gate, *self._strategy_refs(refs, name), *observer]
            children.append(ChildSpec(f"market:{name}", _bind(MarketActor, spec,
                                                              subscribers=market_subs),
                                      mailbox=BoundedReject(self.mailbox_capacity)))
        for name, spec in self.specs.items():
            # The gate, the watchers and the observer read the book, not the prints: no trades.
            book_subs = [*self._strategy_refs(refs, name), Subscribe(refs.gate, trades=False),
                         *([refs.portfolio] if self.portfolio else []),
                         *(Subscribe(ref, trades=False) for ref in (
                             *(self.watchers if self.watch_books else ()), *observer))]
            children.append(ChildSpec(f"book:{name}", _bind(
                OrderBookActor, BookConfig.for_spec(spec), subscribers=book_subs,
                resync=refs.connection), mailbox=feed_mailbox(self.book_mailbox_capacity)))
        sink, specs, interval = self.observation, dict(self.specs), self.observation_interval_s
        if sink is not None:
            children.append(ChildSpec("observer", lambda: MarketObserver(specs, sink, interval),
                                      mailbox=BoundedReject(self.mailbox_capacity)))
        return children

    def _risk(self, refs: PathRefs) -> list[ChildSpec]:
        journal, watchers, risk, restored = self.journal, list(self.watchers), self.risk, \
            self.restored
        budget, gate, specs = refs.budget, refs.gate, dict(self.specs)
        gate_subs = [refs.strategy(plan.id) for plan in self.strategies]
        gate_subs += [*watchers, *([journal] if journal is not None else [])]
        strategy_actors = {refs.strategy(plan.id).name: plan.id for plan in self.strategies}
        # A restart's opening goes to the strategy of its instrument, where only one trades it.
        holders = {name: refs_ for name in specs
                   if len(refs_ := self._strategy_refs(refs, name)) == 1}
        children = []
        if self.portfolio:
            children.append(ChildSpec(
                "portfolio", lambda: Portfolio(specs, subscribers=[gate, *watchers],
                                               risk_gate=gate, drift_confirmations=2,
                                               journal=journal, holders=holders),
                mailbox=ConflateByKey(book_conflation_key)))
        children.append(ChildSpec(
            "gate", lambda: RiskGate(budget, config=risk, subscribers=gate_subs, journal=journal,
                                     restored=restored(), persist_to=watchers,
                                     strategy_actors=strategy_actors),
            mailbox=ConflateByKey(book_conflation_key)))
        return children

    def _strategies(self, refs: PathRefs) -> list[ChildSpec]:
        gate, journal = refs.gate, self.journal
        portfolio = refs.portfolio if self.portfolio else None
        return [ChildSpec(plan.id, _bind_strategy(plan, gate, journal, portfolio),
                          restart=Restart.TRANSIENT,
                          mailbox=ConflateByKey(book_conflation_key), limit=self.strategy_limit,
                          watchers=(gate,))
                for plan in self.strategies]

    def _strategy_refs(self, refs: PathRefs, instrument: str) -> list[Any]:
        return [refs.strategy(plan.id) for plan in self.strategies
                if plan.instrument == instrument]


def _bind(cls: type[Behaviour], *args: Any, **kwargs: Any) -> Callable[[], Behaviour]:
    return lambda: cls(*args, **kwargs)


def _bind_strategy(plan: StrategyPlan, gate: Ref, journal: Ref | None,
                   portfolio: Ref | None) -> Callable[[], Behaviour]:
    def build() -> Behaviour:
        behaviour = plan.build(gate, journal)
        if isinstance(behaviour, StrategyShell):  # it asks where its position stands at start
            behaviour.portfolio = portfolio
        return behaviour
    return build
