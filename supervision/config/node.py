"""The shape of a node's configuration: `NodeConfig`, one field per top-level TOML table, and the
sections that belong to the node as a whole (`[node]`, `[budget]`, `[shutdown]`).

Every section is a frozen attrs class and nothing else. `supervision.config.load` turns a TOML
file into these strictly (unknown keys, wrong types and out-of-range values are all reported at
once, each with its path), so every default here is what a config that leaves the key out gets,
and every validator's message is what the operator reads after the key's path
(`supervision.config.fields`). Units are in the names: `_s`, `_ms`, `_bytes`. Money and prices
are `Decimal`, written in TOML as strings ("0.01") or integers; model parameters (gamma, k,
sigma) are floats.

`[runtime]` is how the live host uses the machine (`loop_cpus`, `gc_when_idle`).

The sections live by topic: `venue` (the account and its rate limits), `market` (where market
data comes from), `trading` (instruments and strategies; risk is `actors.risk.limits`),
`operations` (control plane, journal, REPL, metrics, report, observation), and `experiment`
for a file with an `[experiment]` table instead.

`node.profile` has no default: whether a node trades, and where, is never guessed.
"""

from __future__ import annotations

import enum

import attrs

from actors.risk.limits import RiskConfig
from supervision.config.fields import cpu_numbers, ge, gt, non_empty
from supervision.config.market import DataConfig, MarketConfig
from supervision.config.operations import (
    ControlConfig,
    JournalConfig,
    MetricsConfig,
    ObservationConfig,
    ReplConfig,
    ReportConfig,
)
from supervision.config.trading import InstrumentConfig, StrategyConfig
from supervision.config.venue import VenueConfig


class Profile(enum.StrEnum):
    """observe: strategies run and their intents are journaled, nothing is sent. paper: the
    simulated venue. live: a real venue, and still observe unless the command line says
    `--execute --confirm-live YES`."""

    OBSERVE = "observe"
    PAPER = "paper"
    LIVE = "live"
    # The node's actors on the deterministic host over a recording, flat out in virtual time,
    # until the recording ends (supervision/node/backtest.py). Orders reach the simulated venue.
    BACKTEST = "backtest"


@attrs.frozen(slots=True, kw_only=True)
class NodeSection:
    name: str = attrs.field(default="paper", validator=non_empty)
    profile: Profile  # no default: a node never guesses whether it trades
    status_interval_s: float = attrs.field(default=5.0, validator=gt(0))
    seed: int = 1
    # Where venue-account locks live (one node per account; supervision/node/instance_lock.py).
    # Shared by every node of the machine, so it is not relative to the working directory.
    lock_dir: str = attrs.field(default="~/.local/state/troupe/locks", validator=non_empty)


@attrs.frozen(slots=True, kw_only=True)
class BudgetConfig:
    """Resource budgets of the node's actors: bounded mailboxes everywhere, and restarts."""

    mailbox_capacity: int = attrs.field(default=10_000, validator=gt(0))  # source, markets
    # Each order book's mailbox (the feed from the venue connection): past it a frame is refused
    # and the book resyncs, rather than the node falling ever further behind the market.
    book_mailbox_capacity: int = attrs.field(default=10_000, validator=gt(0))
    action_budget_mailbox_capacity: int = attrs.field(default=10_000, validator=gt(0))
    venue_mailbox_capacity: int = attrs.field(default=10_000, validator=gt(0))
    # How many cancelled client order ids the action budget remembers, so an order or replace
    # of an id already cancelled is dropped instead of sent after its cancel.
    remember_cancelled: int = attrs.field(default=100_000, validator=gt(0))
    restart_intensity: int = attrs.field(default=3, validator=ge(0))  # restarts per period
    restart_period_s: float = attrs.field(default=5.0, validator=gt(0))


@attrs.frozen(slots=True, kw_only=True)
class RuntimeConfig:
    """How the live host uses the machine."""

    # Linux: the CPUs the event-loop thread runs on alone, the node's other threads and its
    # child processes (the REST worker) kept on the rest, so the OS never preempts the loop for
    # them (`supervision.runtime.affinity`). Empty: no pinning. Checked at start against the
    # CPUs the process may run on; one must be left for the others.
    loop_cpus: tuple[int, ...] = attrs.field(default=(), validator=cpu_numbers)
    # The cycle collector runs when the loop is between chains, not inside one wherever the
    # allocations happen to cross its threshold (`supervision.runtime.idle_gc`). False: the
    # interpreter's own automatic collection.
    gc_when_idle: bool = True


@attrs.frozen(slots=True, kw_only=True)
class ShutdownConfig:
    cancel_timeout_s: float = attrs.field(default=5.0, validator=gt(0))


@attrs.frozen(slots=True, kw_only=True)
class NodeConfig:
    node: NodeSection
    control: ControlConfig = attrs.field(factory=ControlConfig)
    journal: JournalConfig = attrs.field(factory=JournalConfig)
    repl: ReplConfig = attrs.field(factory=ReplConfig)
    venue: VenueConfig = attrs.field(factory=VenueConfig)
    market: MarketConfig = attrs.field(factory=MarketConfig)
    instruments: tuple[InstrumentConfig, ...] = ()
    strategies: tuple[StrategyConfig, ...] = ()
    risk: RiskConfig = attrs.field(factory=RiskConfig)
    budget: BudgetConfig = attrs.field(factory=BudgetConfig)
    shutdown: ShutdownConfig = attrs.field(factory=ShutdownConfig)
    runtime: RuntimeConfig = attrs.field(factory=RuntimeConfig)
    metrics: MetricsConfig = attrs.field(factory=MetricsConfig)
    data: DataConfig = attrs.field(factory=DataConfig)
    report: ReportConfig = attrs.field(factory=ReportConfig)
    observation: ObservationConfig = attrs.field(factory=ObservationConfig)

    @property
    def profile(self) -> Profile:
        return self.node.profile

    def instrument(self, symbol: str) -> InstrumentConfig:
        for instrument in self.instruments:
            if instrument.symbol == symbol:
                return instrument
        raise KeyError(symbol)
