"""The `[venue]` section: the one venue account a node trades on, the rate limits it spends, and
the tables of the venue kinds that need their own (`[venue.sim]`, `[venue.hyperliquid]`).

A venue's rate limits are written as the venue publishes them and counted as it counts them:
"100 orders per 10 s" in Binance's fixed windows is `model = "fixed_window"`, `capacity = 100`,
`period_s = 10`, `unit = "orders"`; a limit that really is a token bucket (the simulated
venue's) is `model = "token_bucket"` with `refill_per_s` (or `period_s`, the time it takes to
refill). They are turned here into the integer-nanosecond
`actors.execution.token_bucket.VenueLimits` the action budget spends (`to_venue_limits`). The
model is the venue's arithmetic, not a tuning choice: a token bucket at a fixed window's
capacity lets twice it through in one window, so a Binance limit must be a fixed window
(`supervision.config.load` refuses a bucket there). A limit's `reserve` is the part new orders
may not spend, kept for reduce-only exits and cancels.
A 429 backs off only new orders by default (`backoff_blocks`): cancels and reduce-only exits are
the requests most needed while a venue throttles us, so they keep flowing unless a venue is known
to punish them too. A real venue without `[[venue.limits]]` is refused at load, since its budget
would be unbounded.

Credentials are secrets by reference only (`{ env = "NAME" }` or `{ file = "/path" }`, see
`supervision.config.secrets`); which profiles need them is a check across sections, in
`supervision.config.load`. `rest_url`/`ws_url` left unset (written "testnet") reach the venue
kind's test network, so a config has to name the production endpoints to reach them.

`[venue.sim]` describes the simulated venue a paper node or backtest trades on: its latencies,
queue model, balances, its own 429 budget and the market state it publishes (oracle, mark,
funding, status, scheduled faults). The node turns it into the SimVenue's own `SimVenueConfig`.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from actors.execution.token_bucket import BatchPolicy, LimitModel, LimitUnit, RateLimit, VenueLimits
from actors.sim.market_state import MarketModel
from protocols.orders import Priority
from supervision.config.fields import NONE_WORD, ge, gt, le, non_empty, non_negative_values
from supervision.config.secrets import Secret
from supervision.config.structure import Where

_NS = 1_000_000_000
AUTO_REST_WORKERS, AUTO_EXIT_WORKERS = 4, 2  # a Binance lane's worker processes, "auto"


class VenueKind(enum.StrEnum):
    SIM = "sim"
    BINANCE = "binance"
    BINANCE_USDM = "binance_usdm"
    HYPERLIQUID = "hyperliquid"


class PriorityName(enum.StrEnum):
    """`protocols.orders.Priority` as a config spells it."""

    REDUCE_ONLY = "reduce_only"
    CANCEL = "cancel"
    NEW = "new"

    def priority(self) -> Priority:
        return Priority[self.name]


@attrs.frozen(slots=True, kw_only=True)
class RateLimitConfig:
    """`capacity` per `period_s` (or refilled at `refill_per_s`: period = capacity / refill),
    counted as `model` says: "6000 weight per minute" is capacity 6000, period_s 60. `unit`:
    what a request costs, its weight or the orders it places. `kinds`: the priorities it counts
    (absent: all). `reserve`: the part new orders may not spend."""

    name: str = attrs.field(validator=non_empty)
    model: LimitModel = LimitModel.TOKEN_BUCKET
    capacity: int = attrs.field(validator=gt(0))
    period_s: float | None = attrs.field(default=None, validator=gt(0))
    refill_per_s: float | None = attrs.field(default=None, validator=gt(0))
    unit: LimitUnit = LimitUnit.WEIGHT
    kinds: tuple[PriorityName, ...] | None = None
    reserve: int = attrs.field(default=0, validator=ge(0))

    def __attrs_post_init__(self) -> None:
        if (self.period_s is None) == (self.refill_per_s is None):
            raise ValueError("give period_s (the venue's interval) or refill_per_s, one of the "
                             "two")
        if self.reserve >= self.capacity:
            raise ValueError(f"reserve must be under capacity ({self.capacity}), got "
                             f"{self.reserve}")

    @property
    def period_ns(self) -> int:
        if self.period_s is not None:
            return max(1, round(self.period_s * _NS))
        assert self.refill_per_s is not None
        return max(1, round(self.capacity * _NS / self.refill_per_s))

    def to_rate_limit(self) -> RateLimit:
        kinds = frozenset(k.priority() for k in self.kinds) if self.kinds is not None else None
        return RateLimit(self.name, self.capacity, self.period_ns, kinds, self.model, self.unit,
                         self.reserve)


@attrs.frozen(slots=True, kw_only=True)
class BatchConfig:
    max_items: int = attrs.field(validator=gt(0))
    window_ms: float = attrs.field(default=0.0, validator=ge(0))
    base_weight: int = attrs.field(default=1, validator=ge(0))
    items_per_extra_weight: int = attrs.field(default=0, validator=ge(0))

    def to_policy(self) -> BatchPolicy:
        return BatchPolicy(
            self.max_items,
            round(self.window_ms * 1_000_000),
            self.base_weight,
            self.items_per_extra_weight,
        )


class LatencyDistribution(enum.StrEnum):
    CONSTANT = "constant"
    LOGNORMAL = "lognormal"


@attrs.frozen(slots=True, kw_only=True)
class LatencyConfig:
    insert_ms: float = attrs.field(default=3.0, validator=ge(0))
    cancel_ms: float = attrs.field(default=3.0, validator=ge(0))
    ack_ms: float = attrs.field(default=2.0, validator=ge(0))
    feed_ms: float = attrs.field(default=1.0, validator=ge(0))
    distribution: LatencyDistribution = LatencyDistribution.CONSTANT
    sigma: float = attrs.field(default=0.0, validator=ge(0))  # of the lognormal's log


class QueueModelName(enum.StrEnum):
    """Which `actors.sim.queue_models` model the simulated venue uses (`venue.sim.queue_model`)."""

    RISK_AVERSE = "risk_averse"
    POWER_PROB = "power_prob"


class SimAccountKind(enum.StrEnum):
    SPOT = "spot"
    PERP = "perp"


@attrs.frozen(slots=True, kw_only=True)
class SimRateLimitConfig:
    """The simulated venue answers 429 with Retry-After past this budget."""

    requests_per_s: float = attrs.field(validator=gt(0))
    burst: int = attrs.field(validator=gt(0))
    retry_after_ms: int = attrs.field(default=1_000, validator=ge(0))


@attrs.frozen(slots=True, kw_only=True)
class SimVenueSection:
    """The `[venue.sim]` table; the node turns it into the SimVenue's own `SimVenueConfig`."""

    latency: LatencyConfig = attrs.field(factory=LatencyConfig)
    queue_model: QueueModelName = QueueModelName.RISK_AVERSE
    power_n: int = attrs.field(default=2, validator=ge(0))  # f(x) = x ** n, for power_prob
    balances: dict[str, Decimal] = attrs.field(
        factory=lambda: {"USDT": Decimal(100_000), "BTC": Decimal(1)},
        validator=non_negative_values,
    )
    leverage: Decimal = attrs.field(default=Decimal(1), validator=ge(1))
    kind: SimAccountKind = SimAccountKind.SPOT
    rate_limit: SimRateLimitConfig | None = None
    # Oracle, mark, open-interest cap, funding, status and scheduled faults
    # (actors/sim/market_state.py). Unset: the default model when an instrument is a derivative
    # (its gates need an oracle), nothing for spot.
    market: MarketModel | None = None

    def fault_instrument_problems(self, symbols: list[str]) -> list[tuple[Where, str]]:
        """A fault aimed at an instrument the node does not trade would never fire: say so."""
        faults = self.market.faults if self.market is not None else ()
        return [(("venue", "sim", "market", "faults", index, "instrument"),
                 f"no instrument {fault.instrument!r} in [[instruments]] "
                 f"(have: {', '.join(symbols) or 'none'})")
                for index, fault in enumerate(faults)
                if fault.instrument is not None and fault.instrument not in symbols]


class HyperliquidNetwork(enum.StrEnum):
    TESTNET = "testnet"  # the testnet signs differently (its phantom agent's source is "b")
    MAINNET = "mainnet"


@attrs.frozen(slots=True, kw_only=True)
class HyperliquidVenueSection:
    """The `[venue.hyperliquid]` table (supervision/venues/hyperliquid)."""

    # The DEX, by name: "default" for Hyperliquid's own, or a builder-deployed (HIP-3) DEX's.
    dex: str = attrs.field(default="default", validator=non_empty)
    network: HyperliquidNetwork = HyperliquidNetwork.TESTNET
    batch_period_ms: float = attrs.field(default=100.0, validator=ge(0))
    max_subscriptions: int = attrs.field(default=1000, validator=gt(0))
    hip3_fee_multiple: Decimal = attrs.field(default=Decimal(2), validator=gt(0))


@attrs.frozen(slots=True, kw_only=True)
class VenueConfig:
    """One venue account, and the rate limits its ActionBudget spends (`to_venue_limits`)."""

    name: str = attrs.field(default="sim", validator=non_empty)
    kind: VenueKind = VenueKind.SIM
    account: str = attrs.field(default="default", validator=non_empty)
    api_key: Secret | None = None
    api_secret: Secret | None = None
    limits: tuple[RateLimitConfig, ...] = ()
    cancel_allowance: RateLimitConfig | None = None
    order_weight: int = attrs.field(default=1, validator=gt(0))
    cancel_weight: int = attrs.field(default=1, validator=gt(0))
    replace_weight: int = attrs.field(default=1, validator=gt(0))
    batch: BatchConfig | None = None
    backoff_blocks: tuple[PriorityName, ...] = (PriorityName.NEW,)
    backoff_min_s: float = attrs.field(default=1.0, validator=gt(0))
    backoff_max_s: float = attrs.field(default=60.0, validator=gt(0))
    # A new order (or replace) the rate limit holds longer than this is dropped ("stale"), not
    # sent at a price decided that long ago; its strategy is told and decides again on current
    # data. Reduce-only orders and cancels never expire. "none": held orders never expire.
    new_order_ttl_s: float | None = attrs.field(
        default=1.0, validator=gt(0), metadata={NONE_WORD: "none"}
    )
    # Fixed windows: a request sent this close to a boundary may be counted in either window,
    # so it must fit in both (our clock's error against the venue's plus the one-way latency).
    window_margin_ms: float = attrs.field(default=250.0, validator=ge(0))
    sim: SimVenueSection = attrs.field(factory=SimVenueSection)
    # A real venue's endpoints (Binance: its REST base and websocket base); none: the venue
    # kind's test network. The fake venue (python -m supervision.fakevenue) prints its two.
    rest_url: str | None = attrs.field(default=None, metadata={NONE_WORD: "testnet"})
    ws_url: str | None = attrs.field(default=None, metadata={NONE_WORD: "testnet"})
    request_timeout_s: float = attrs.field(default=10.0, validator=gt(0))
    # A replace whose answer was lost stays UNKNOWN while its order is looked up (no other
    # replace of it goes out meanwhile); after this long unresolved it is given up.
    replace_unknown_s: float = attrs.field(default=5.0, validator=gt(0))
    heartbeat_s: float = attrs.field(default=45.0, validator=gt(0))  # silence -> reconnect
    # Binance: the REST worker processes of each lane (`supervision.venues.binance.rest_pool`).
    # Requests of different symbols go at once, one per worker; a symbol's, in order, so a
    # lane never uses more workers than the venue has instruments. Each worker is a process
    # with its own ccxt client (~80 MB). "auto": 4 and 2, or the instruments if fewer.
    rest_workers: int | None = attrs.field(default=None, validator=[ge(1), le(32)],
                                           metadata={NONE_WORD: "auto"})
    exit_workers: int | None = attrs.field(default=None, validator=[ge(1), le(32)],
                                           metadata={NONE_WORD: "auto"})
    # Spot: per base asset, the amount held that is not the strategies' position (a spot
    # position is what is held beyond it). Left out, the journal's: the balance the node found
    # at its first start on the account.
    starting_inventory: dict[str, Decimal] = attrs.field(factory=dict,
                                                         validator=non_negative_values)
    hyperliquid: HyperliquidVenueSection = attrs.field(factory=HyperliquidVenueSection)

    def lane_workers(self, instruments: int) -> tuple[int, int]:
        """(order lane, exits lane) worker processes for a venue of `instruments`."""
        fit = max(1, instruments)
        return (self.rest_workers or min(AUTO_REST_WORKERS, fit),
                self.exit_workers or min(AUTO_EXIT_WORKERS, fit))

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
            window_margin_ns=round(self.window_margin_ms * 1_000_000),
        )
