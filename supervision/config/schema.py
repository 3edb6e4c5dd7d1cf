"""The shape of a node's and an experiment's configuration: frozen attrs classes, nothing else.

`supervision.config.load` turns a TOML file into these (strictly: unknown keys, wrong types and
out-of-range values are all reported at once, each with its path), so every default here is
what a config that leaves the key out gets, and every validator's message is what the operator
reads after the key's path. Validators therefore say what is allowed, not which field failed.

Units are in the names: `_s`, `_ms`, `_bytes`. Money and prices are `Decimal`, written in TOML
as strings ("0.01") or integers; model parameters (gamma, k, sigma) are floats.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from actors.analytics import CRITERION_METRICS, DEFAULT_CRITERIA, HORIZONS_S
from actors.execution.token_bucket import BatchPolicy, RateLimit, VenueLimits
from actors.risk.limits import RiskConfig
from actors.sim.market_state import MarketModel
from actors.strategies.registry import StrategyEntry, strategy_entry
from protocols.instruments import ContractType, InstrumentSpec
from protocols.journal import FsyncPolicy
from protocols.orders import Priority
from supervision.config.secrets import Secret
from supervision.sources import data

_NS = 1_000_000_000

# ------------------------------------------------------------------------------------------
# Validators: messages read after "path: "


def show(value: Any) -> str:
    """A value as an operator wrote it: -1 rather than -1.0, 0.01 rather than Decimal('0.01')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _ge(bound: float) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value >= bound:  # `not >=` also refuses NaN
            raise ValueError(f"must be >= {show(bound)}, got {show(value)}")

    return check


def _gt(bound: float) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value > bound:
            raise ValueError(f"must be > {show(bound)}, got {show(value)}")

    return check


def _port(_inst: Any, _attr: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port, 0 to 65535 (0: any free port), got {value}")


MAX_REBATE, MAX_FEE = Decimal("-0.01"), Decimal("0.05")


def _fee(_inst: Any, _attr: Any, value: Decimal) -> None:
    if not MAX_REBATE <= value <= MAX_FEE:  # 0.0002 is 2 bps; the bounds catch a slipped digit
        raise ValueError(
            f"must be a fraction of notional between {MAX_REBATE} (a 1% rebate) and "
            f"{MAX_FEE} (a 5% fee), got {value}"
        )


def _non_empty(_inst: Any, _attr: Any, value: str) -> None:
    if not value:
        raise ValueError("must not be empty")


def _non_negative_values(_inst: Any, _attr: Any, value: dict[str, Decimal]) -> None:
    for key, amount in value.items():
        if amount < 0:
            raise ValueError(f"{key} must be >= 0, got {amount}")


# How an optional value is written in TOML, which has no null: `speed = "max"`.
NONE_WORD = "none_word"


# ------------------------------------------------------------------------------------------
# Choices


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


class VenueKind(enum.StrEnum):
    SIM = "sim"
    BINANCE = "binance"
    BINANCE_USDM = "binance_usdm"
    HYPERLIQUID = "hyperliquid"


class LatencyDistribution(enum.StrEnum):
    CONSTANT = "constant"
    LOGNORMAL = "lognormal"


class QueueModelName(enum.StrEnum):
    """Which `actors.sim.queue_models` model the simulated venue uses (`venue.sim.queue_model`)."""

    RISK_AVERSE = "risk_averse"
    POWER_PROB = "power_prob"


class SimAccountKind(enum.StrEnum):
    SPOT = "spot"
    PERP = "perp"


class MarketSource(enum.StrEnum):
    VENUE = "venue"  # the venue's own feed (a real venue's websocket)
    REPLAY = "replay"
    SYNTHETIC = "synthetic"
    REPLAY_THEN_SYNTHETIC = "replay_then_synthetic"


class PriorityName(enum.StrEnum):
    """`protocols.orders.Priority` as a config spells it."""

    REDUCE_ONLY = "reduce_only"
    CANCEL = "cancel"
    NEW = "new"

    def priority(self) -> Priority:
        return Priority[self.name]


class ExperimentKind(enum.StrEnum):
    AVELLANEDA_STOIKOV = "avellaneda_stoikov"


class Arrivals(enum.StrEnum):
    BERNOULLI = "bernoulli"  # at most one fill per side per step, probability lambda * dt
    POISSON = "poisson"
    # one market order a step and side: fill probability min(1, A dt e^(-k delta)) at any
    # distance, past the mid included (the paper's law where its quotes cross the mid)
    INTENSITY = "intensity"


class ExperimentVariant(enum.StrEnum):
    PAPER = "paper"  # the paper's model: quotes may cross the mid, no book in their way
    POST_ONLY = "post_only"  # Troupe's live market maker: the book at the mid, never through it


class MarketOrders(enum.StrEnum):
    AFTER_MOVE = "after_move"  # a step's orders meet the quotes set before the mid moved
    AFTER_REQUOTE = "after_requote"  # the strategy requotes on the new mid first


class SymmetricSpread(enum.StrEnum):
    PAPER = "paper"  # (2/gamma) ln(1 + gamma/k): the spread column of the paper's tables
    MEASURED = "measured"  # the inventory strategy's measured average spread


# ------------------------------------------------------------------------------------------
# Node sections


@attrs.frozen(slots=True, kw_only=True)
class NodeSection:
    name: str = attrs.field(default="paper", validator=_non_empty)
    profile: Profile  # no default: a node never guesses whether it trades
    status_interval_s: float = attrs.field(default=5.0, validator=_gt(0))
    seed: int = 1
    # Where venue-account locks live (one node per account; supervision/node/instance_lock.py).
    # Shared by every node of the machine, so it is not relative to the working directory.
    lock_dir: str = attrs.field(default="~/.local/state/troupe/locks", validator=_non_empty)


@attrs.frozen(slots=True, kw_only=True)
class AlertmanagerConfig:
    """A firing alert whose labels include every matcher triggers `disable_live`."""

    matchers: dict[str, str] = attrs.field(factory=lambda: {"severity": "critical"})
    resume_on_resolved: bool = False
    # Checked like the control token (Authorization: Bearer, or X-Auth-Token); at least 16
    # characters. Required when control.listen_host is beyond loopback. None: the webhook
    # relies on the loopback bind; it can only tighten, and resume only an alert's REDUCING.
    token: Secret | None = None
    max_body_bytes: int = attrs.field(default=1 << 20, validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class ControlConfig:
    enabled: bool = True
    listen_host: str = attrs.field(default="127.0.0.1", validator=_non_empty)
    listen_port: int = attrs.field(default=8321, validator=_port)
    # None: POST /control is disabled (the GET endpoints and /am-webhook still serve). At least
    # 16 characters.
    token: Secret | None = None
    max_body_bytes: int = attrs.field(default=65_536, validator=_gt(0))
    # Names besides listen_host and the loopback names (localhost, 127.0.0.1, ::1) that clients
    # may use in the Host header: the name Prometheus or an operator reaches the node by. Any
    # other Host is refused (no DNS-rebinding route in).
    allowed_hosts: tuple[str, ...] = ()
    alertmanager: AlertmanagerConfig = attrs.field(factory=AlertmanagerConfig)


@attrs.frozen(slots=True, kw_only=True)
class JournalConfig:
    path: str = attrs.field(default="var/journal.jsonl", validator=_non_empty)  # from the cwd
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_s: float = attrs.field(default=1.0, validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class ReplConfig:
    """The actor-introspection REPL (`python -m supervision.repl`): a Unix socket of mode 0600
    that only the node's own user can attach to."""

    enabled: bool = True
    # "": beside the journal, with the journal's name: var/journal.jsonl -> var/journal.repl.sock
    socket: str = ""

    def socket_path(self, journal_path: str) -> Path:
        if self.socket:
            return Path(self.socket)
        journal = Path(journal_path)
        return journal.with_name(f"{journal.stem}.repl.sock")


@attrs.frozen(slots=True, kw_only=True)
class RateLimitConfig:
    """`capacity` weight, refilled at `refill_per_s`: "6000 weight per minute" is capacity 6000,
    refill_per_s 100. `kinds`: the priorities it counts (absent: all)."""

    name: str = attrs.field(validator=_non_empty)
    capacity: int = attrs.field(validator=_gt(0))
    refill_per_s: float = attrs.field(validator=_gt(0))
    kinds: tuple[PriorityName, ...] | None = None

    @property
    def period_ns(self) -> int:
        return max(1, round(self.capacity * _NS / self.refill_per_s))

    def to_rate_limit(self) -> RateLimit:
        kinds = frozenset(k.priority() for k in self.kinds) if self.kinds is not None else None
        return RateLimit(self.name, self.capacity, self.period_ns, kinds)


@attrs.frozen(slots=True, kw_only=True)
class BatchConfig:
    max_items: int = attrs.field(validator=_gt(0))
    window_ms: float = attrs.field(default=0.0, validator=_ge(0))
    base_weight: int = attrs.field(default=1, validator=_ge(0))
    items_per_extra_weight: int = attrs.field(default=0, validator=_ge(0))

    def to_policy(self) -> BatchPolicy:
        return BatchPolicy(
            self.max_items,
            round(self.window_ms * 1_000_000),
            self.base_weight,
            self.items_per_extra_weight,
        )


@attrs.frozen(slots=True, kw_only=True)
class LatencyConfig:
    insert_ms: float = attrs.field(default=3.0, validator=_ge(0))
    cancel_ms: float = attrs.field(default=3.0, validator=_ge(0))
    ack_ms: float = attrs.field(default=2.0, validator=_ge(0))
    feed_ms: float = attrs.field(default=1.0, validator=_ge(0))
    distribution: LatencyDistribution = LatencyDistribution.CONSTANT
    sigma: float = attrs.field(default=0.0, validator=_ge(0))  # of the lognormal's log


@attrs.frozen(slots=True, kw_only=True)
class SimRateLimitConfig:
    """The simulated venue answers 429 with Retry-After past this budget."""

    requests_per_s: float = attrs.field(validator=_gt(0))
    burst: int = attrs.field(validator=_gt(0))
    retry_after_ms: int = attrs.field(default=1_000, validator=_ge(0))


@attrs.frozen(slots=True, kw_only=True)
class SimVenueSection:
    """The `[venue.sim]` table; the node turns it into the SimVenue's own `SimVenueConfig`."""

    latency: LatencyConfig = attrs.field(factory=LatencyConfig)
    queue_model: QueueModelName = QueueModelName.RISK_AVERSE
    power_n: int = attrs.field(default=2, validator=_ge(0))  # f(x) = x ** n, for power_prob
    balances: dict[str, Decimal] = attrs.field(
        factory=lambda: {"USDT": Decimal(100_000), "BTC": Decimal(1)},
        validator=_non_negative_values,
    )
    leverage: Decimal = attrs.field(default=Decimal(1), validator=_ge(1))
    kind: SimAccountKind = SimAccountKind.SPOT
    rate_limit: SimRateLimitConfig | None = None
    # Oracle, mark, open-interest cap, funding, status and scheduled faults
    # (actors/sim/market_state.py). Unset: the default model when an instrument is a derivative
    # (its gates need an oracle), nothing for spot.
    market: MarketModel | None = None


class HyperliquidNetwork(enum.StrEnum):
    TESTNET = "testnet"  # the testnet signs differently (its phantom agent's source is "b")
    MAINNET = "mainnet"


@attrs.frozen(slots=True, kw_only=True)
class HyperliquidVenueSection:
    """The `[venue.hyperliquid]` table (supervision/venues/hyperliquid)."""

    # The DEX, by name: "default" for Hyperliquid's own, or a builder-deployed (HIP-3) DEX's.
    dex: str = attrs.field(default="default", validator=_non_empty)
    network: HyperliquidNetwork = HyperliquidNetwork.TESTNET
    batch_period_ms: float = attrs.field(default=100.0, validator=_ge(0))
    max_subscriptions: int = attrs.field(default=1000, validator=_gt(0))
    hip3_fee_multiple: Decimal = attrs.field(default=Decimal(2), validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class VenueConfig:
    """One venue account, and the rate limits its ActionBudget spends (`to_venue_limits`)."""

    name: str = attrs.field(default="sim", validator=_non_empty)
    kind: VenueKind = VenueKind.SIM
    account: str = attrs.field(default="default", validator=_non_empty)
    api_key: Secret | None = None
    api_secret: Secret | None = None
    limits: tuple[RateLimitConfig, ...] = ()
    cancel_allowance: RateLimitConfig | None = None
    order_weight: int = attrs.field(default=1, validator=_gt(0))
    cancel_weight: int = attrs.field(default=1, validator=_gt(0))
    replace_weight: int = attrs.field(default=1, validator=_gt(0))
    batch: BatchConfig | None = None
    backoff_blocks: tuple[PriorityName, ...] = (PriorityName.NEW,)
    backoff_min_s: float = attrs.field(default=1.0, validator=_gt(0))
    backoff_max_s: float = attrs.field(default=60.0, validator=_gt(0))
    new_order_ttl_s: float | None = attrs.field(
        default=None, validator=_gt(0), metadata={NONE_WORD: "none"}
    )
    sim: SimVenueSection = attrs.field(factory=SimVenueSection)
    # A real venue's endpoints (Binance: its REST base and websocket base); none: the venue
    # kind's test network. The fake venue (python -m supervision.fakevenue) prints its two.
    rest_url: str | None = attrs.field(default=None, metadata={NONE_WORD: "testnet"})
    ws_url: str | None = attrs.field(default=None, metadata={NONE_WORD: "testnet"})
    request_timeout_s: float = attrs.field(default=10.0, validator=_gt(0))
    heartbeat_s: float = attrs.field(default=45.0, validator=_gt(0))  # silence -> reconnect
    # Spot: per base asset, the amount held that is not the strategies' position (a spot
    # position is what is held beyond it). Left out, the journal's: the balance the node found
    # at its first start on the account.
    starting_inventory: dict[str, Decimal] = attrs.field(factory=dict,
                                                         validator=_non_negative_values)
    hyperliquid: HyperliquidVenueSection = attrs.field(factory=HyperliquidVenueSection)

    def to_venue_limits(self) -> VenueLimits:
        ttl = self.new_order_ttl_s
        return VenueLimits(
            limits=tuple(limit.to_rate_limit() for limit in self.limits),
            order_weight=self.order_weight,
            cancel_weight=self.cancel_weight,
            replace_weight=self.replace_weight,
            cancel_allowance=self.cancel_allowance.to_rate_limit()
            if self.cancel_allowance
            else None,
            batch=self.batch.to_policy() if self.batch else None,
            backoff_blocks=frozenset(b.priority() for b in self.backoff_blocks),
            backoff_min_ns=round(self.backoff_min_s * _NS),
            backoff_max_ns=round(self.backoff_max_s * _NS),
            new_order_ttl_ns=round(ttl * _NS) if ttl is not None else None,
        )


@attrs.frozen(slots=True, kw_only=True)
class SyntheticConfig:
    step_ms: float = attrs.field(default=100.0, validator=_gt(0))
    levels: int = attrs.field(default=10, validator=_gt(0))
    seed: int = 1


SHIPPED_RECORDINGS = {
    "binance_spot_btcusdt": data.BINANCE_SPOT_BTCUSDT,
    "hyperliquid_btc": data.HYPERLIQUID_BTC,
}


@attrs.frozen(slots=True, kw_only=True)
class MarketConfig:
    source: MarketSource = MarketSource.REPLAY_THEN_SYNTHETIC
    # A shipped recording's name (SHIPPED_RECORDINGS, or a file name in
    # supervision/sources/data) or a path to a recording in the same format.
    recording: str = attrs.field(default="binance_spot_btcusdt", validator=_non_empty)
    # x recorded pace; None (written "max"): as fast as possible.
    speed: float | None = attrs.field(default=1.0, validator=_gt(0), metadata={NONE_WORD: "max"})
    synthetic: SyntheticConfig = attrs.field(factory=SyntheticConfig)

    @property
    def uses_recording(self) -> bool:
        return self.source in (MarketSource.REPLAY, MarketSource.REPLAY_THEN_SYNTHETIC)

    def recording_path(self) -> Path:
        """The recording file: a shipped one by name, else the path as given."""
        shipped_path = SHIPPED_RECORDINGS.get(self.recording)
        if shipped_path is not None:
            return shipped_path
        shipped = data.DATA_DIR / self.recording
        return shipped if shipped.is_file() else Path(self.recording)


@attrs.frozen(slots=True, kw_only=True)
class DataConfig:
    """What a backtest replays (`profile = "backtest"`). `path`: a recording in any format the
    replay reads (Binance spot or USD-M, Hyperliquid), or a catalog directory; None replays
    `market.recording`. `catalog`: decode the recording once into the columnar catalog under
    `catalog_dir` (keyed by the file's content hash) and replay from it; false replays the raw
    file. `progress`: "auto" (a bar on a terminal, plain lines otherwise), "bar", "lines",
    "off"; it goes to stderr."""

    path: str | None = None
    catalog: bool = True
    catalog_dir: str = attrs.field(default="var/catalog", validator=_non_empty)
    progress: str = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "bar", "lines", "off")))
    progress_interval_s: float = attrs.field(default=5.0, validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class InstrumentConfig:
    symbol: str = attrs.field(validator=_non_empty)
    # The symbol on the venue's wire, when it differs ("BTC" on Hyperliquid).
    venue_symbol: str = attrs.field(
        default=attrs.Factory(lambda self: self.symbol, takes_self=True), validator=_non_empty
    )
    tick_size: Decimal = attrs.field(validator=_gt(0))
    lot_step: Decimal = attrs.field(validator=_gt(0))
    min_qty: Decimal = attrs.field(default=Decimal(0), validator=_ge(0))
    min_notional: Decimal = attrs.field(default=Decimal(0), validator=_ge(0))
    maker_fee: Decimal = attrs.field(validator=_fee)
    taker_fee: Decimal = attrs.field(validator=_fee)
    contract_type: ContractType = ContractType.SPOT
    multiplier: Decimal = attrs.field(default=Decimal(1), validator=_gt(0))

    def to_spec(self, venue: str) -> InstrumentSpec:
        return InstrumentSpec(
            symbol=self.symbol,
            venue=venue,
            tick_size=self.tick_size,
            lot_step=self.lot_step,
            min_qty=self.min_qty,
            min_notional=self.min_notional,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            contract_type=self.contract_type,
            multiplier=self.multiplier,
        )


@attrs.frozen(slots=True, kw_only=True)
class StrategyConfig:
    """One strategy instance. `kind` names it in `actors.strategies.registry` (a built-in name
    such as "market_maker", or "package.module:Class"); `params` are the fields of its config
    class, checked by name and type at load and held here as typed values (enums, Decimal), so
    `to_config` only adds what the node knows."""

    id: str = attrs.field(validator=_non_empty)
    kind: str = attrs.field(default="market_maker", validator=_non_empty)
    instrument: str = attrs.field(validator=_non_empty)
    params: dict[str, Any] = attrs.field(factory=dict)

    @property
    def entry(self) -> StrategyEntry:
        return strategy_entry(self.kind)

    def to_config(self, spec: InstrumentSpec, *, id_high_water: int = 0,
                  ids: Any = None) -> Any:
        """The strategy's own config object (e.g. a `MarketMakerConfig`)."""
        return self.entry.make_config(strategy=self.id, spec=spec, params=self.params,
                                      id_high_water=id_high_water, ids=ids)


@attrs.frozen(slots=True, kw_only=True)
class BudgetConfig:
    """Resource budgets of the node's actors: bounded mailboxes everywhere, and restarts."""

    mailbox_capacity: int = attrs.field(default=10_000, validator=_gt(0))  # source, markets
    # Each order book's mailbox (the feed from the venue connection): past it a frame is refused
    # and the book resyncs, rather than the node falling ever further behind the market.
    book_mailbox_capacity: int = attrs.field(default=10_000, validator=_gt(0))
    action_budget_mailbox_capacity: int = attrs.field(default=10_000, validator=_gt(0))
    venue_mailbox_capacity: int = attrs.field(default=10_000, validator=_gt(0))
    # How many cancelled client order ids the action budget remembers, so an order or replace
    # of an id already cancelled is dropped instead of sent after its cancel.
    remember_cancelled: int = attrs.field(default=100_000, validator=_gt(0))
    restart_intensity: int = attrs.field(default=3, validator=_ge(0))  # restarts per period
    restart_period_s: float = attrs.field(default=5.0, validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class ShutdownConfig:
    cancel_timeout_s: float = attrs.field(default=5.0, validator=_gt(0))


@attrs.frozen(slots=True, kw_only=True)
class MetricsConfig:
    hdr_per_actor: bool = True


def _criterion_metric(_inst: Any, _attr: Any, value: str) -> None:
    if value not in CRITERION_METRICS:
        raise ValueError(f"must be one of {', '.join(CRITERION_METRICS)}, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class CriterionConfig:
    """One acceptance check of the trading report's go/no-go table: `metric op threshold`."""

    metric: str = attrs.field(validator=_criterion_metric)
    op: str = attrs.field(validator=attrs.validators.in_((">", ">=", "<", "<=", "==")))
    threshold: Decimal


def _default_criteria() -> tuple[CriterionConfig, ...]:
    return tuple(CriterionConfig(metric=c.metric, op=c.op, threshold=c.threshold)
                 for c in DEFAULT_CRITERIA)


@attrs.frozen(slots=True, kw_only=True)
class ReportConfig:
    """The trading report (docs/analytics.md). `decomposition_horizon_s`: the markout horizon
    that splits adverse selection from inventory mark-to-market; `go_no_go`: the acceptance
    criteria, `[[report.go_no_go]]` tables (absent: expectancy > 0, fill_ratio >= 0.35,
    reject_ratio <= 0.03)."""

    decomposition_horizon_s: int = attrs.field(
        default=30, validator=attrs.validators.in_(HORIZONS_S))
    go_no_go: tuple[CriterionConfig, ...] = attrs.field(factory=_default_criteria)


@attrs.frozen(slots=True, kw_only=True)
class ObservationConfig:
    """Daily per-market statistics (oracle crossings, bbo null rate and intervals, oracle age,
    edge after fees) written to `dir` as one Parquet file a day by an observe or paper node
    (supervision/node/observation.py); a backtest writes none."""

    enabled: bool = True
    dir: str = ""  # "": beside the journal, in <journal dir>/observation
    interval_s: float = attrs.field(default=5.0, validator=_gt(0))  # how often it is rewritten


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


# ------------------------------------------------------------------------------------------
# Experiments: a file with an [experiment] table


@attrs.frozen(slots=True, kw_only=True)
class ExperimentSettings:
    """Avellaneda & Stoikov (2008), section 3.3: the mid is s0 + sigma * Brownian motion,
    fills arrive at intensity A * exp(-k * delta) at distance delta, over T in steps of dt."""

    kind: ExperimentKind = ExperimentKind.AVELLANEDA_STOIKOV
    paths: int = attrs.field(default=1_000, validator=_gt(0))
    seed: int = 1
    s0: Decimal = attrs.field(default=Decimal(100), validator=_gt(0))
    T: float = attrs.field(default=1.0, validator=_gt(0))
    sigma: float = attrs.field(default=2.0, validator=_ge(0))
    dt: float = attrs.field(default=0.005, validator=_gt(0))
    q0: int = 0
    k: float = attrs.field(default=1.5, validator=_gt(0))
    A: float = attrs.field(default=140.0, validator=_gt(0))
    tick: Decimal = attrs.field(default=Decimal("0.001"), validator=_gt(0))
    arrivals: Arrivals = Arrivals.INTENSITY
    variants: tuple[ExperimentVariant, ...] = attrs.field(
        default=(ExperimentVariant.PAPER, ExperimentVariant.POST_ONLY),
        validator=attrs.validators.min_len(1))
    display_offset: Decimal = attrs.field(default=Decimal(25), validator=_ge(0))
    market_orders: MarketOrders = MarketOrders.AFTER_MOVE
    symmetric_spread: SymmetricSpread = SymmetricSpread.PAPER
    workers: int = attrs.field(default=2, validator=_gt(0))

    @property
    def steps(self) -> int:
        return round(self.T / self.dt)


def _each_gt0(_inst: Any, _attr: Any, values: tuple[float, ...]) -> None:
    if not values:
        raise ValueError("needs at least one value")
    for value in values:
        _gt(0)(_inst, _attr, value)


@attrs.frozen(slots=True, kw_only=True)
class ExperimentStrategy:
    gammas: tuple[float, ...] = attrs.field(default=(0.1, 0.01, 0.5), validator=_each_gt0)
    gamma: float | None = attrs.field(default=None, validator=_gt(0))  # one gamma, not gammas

    @property
    def gamma_list(self) -> tuple[float, ...]:
        return self.gammas if self.gamma is None else (self.gamma,)


@attrs.frozen(slots=True, kw_only=True)
class ExperimentConfig:
    experiment: ExperimentSettings = attrs.field(factory=ExperimentSettings)
    strategy: ExperimentStrategy = attrs.field(factory=ExperimentStrategy)
