"""The simulated exchange itself, which outlives any connection to it: `SimVenueEnd`, and its
config, `SimVenueConfig`.

A venue does not lose its orders, balances or book because our connection to it dropped. The node
builds one `SimVenueEnd` (`supervision.node.venues`) and every `actors.sim.venue.SimTransport`
incarnation attaches to it: the matching engine and account (`actors.sim.exchange`), the venue's
own copy of each book, the fill-id sequence, the rate-limit bucket and what is on the wire (the
delay line). It also remembers the orders it accepted, so that a new connection can be told the
ones it holds or still reports on (`held_for`), as a real venue's reconciliation would tell it.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.token_bucket import TokenBucket
from actors.execution.venue_connection import ConnectionConfig
from actors.execution.venue_transport import Reported, VenueOrder
from actors.market.book_feed import BookConfig, BookFeed
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange, SimInstrument
from actors.sim.latency import DelayLine, LatencyModel
from actors.sim.market_state import MarketModel, SimMarketState
from actors.sim.queue_models import QueueModel
from protocols.codec import Side
from protocols.instruments import InstrumentSpec
from protocols.orders import Ack, OrderIntent, Reject, ReplaceIntent

__all__ = ["SimVenueConfig", "SimVenueEnd", "VenueRateLimit"]

SECOND = 1_000_000_000
_REMEMBER_INTENTS = 100_000


@attrs.frozen(slots=True)
class VenueRateLimit:
    """`burst` request weight at once, refilled at `requests_per_s`; a throttled request is told
    to retry after `retry_after_ns` or until the bucket has room, whichever is later."""

    requests_per_s: float = attrs.field(validator=attrs.validators.gt(0))
    burst: int = attrs.field(validator=attrs.validators.gt(0))
    retry_after_ns: int = attrs.field(default=SECOND, validator=attrs.validators.ge(0))


@attrs.frozen(slots=True)
class SimVenueConfig:
    """The simulated venue. `name`, `reconcile_interval_s` and `observe_only` are the generic
    connection's (`ConnectionConfig`), kept here so that one config builds a whole `SimVenue`."""

    instruments: Mapping[str, SimInstrument]
    queue_model: QueueModel
    latency: LatencyModel = attrs.Factory(LatencyModel)
    balances: Mapping[str, Decimal] = attrs.Factory(dict)
    leverage: Decimal = Decimal(1)
    rate_limit: VenueRateLimit | None = None
    reconcile_interval_s: float | None = 5.0
    name: str = "sim"
    # Observe mode: intents are journaled as ObservedIntent and answered with shadow acks; none
    # reaches the matching engine, so nothing ever fills. The market flow runs as usual.
    observe_only: bool = False
    # The venue session: fill ids are "sim-<session>-<n>" ("sim-<n>" without one). The node
    # builds one venue (`SimVenueEnd`) per run, which every connection incarnation continues, so
    # the session is the run's: a later run on the same journal must not repeat this one's ids
    # (the portfolio and recovery would take them for duplicates).
    session: str = ""
    # Oracle, mark, open-interest cap, funding, status and their faults (`actors.sim.
    # market_state`); None: the venue says nothing but the spec, as a spot venue.
    market: MarketModel | None = None

    def connection_config(self) -> ConnectionConfig:
        return ConnectionConfig(
            name=self.name, instruments={n: i.spec for n, i in self.instruments.items()},
            reconcile_interval_s=self.reconcile_interval_s, observe_only=self.observe_only)


class _LiveDepth:
    """The venue-side book of one instrument, read through its feed: the feed replaces its sync
    (and so its book) after a crossed book or a spec change, and the exchange must follow."""

    __slots__ = ("_feed",)

    def __init__(self, feed: BookFeed) -> None:
        self._feed = feed

    # What the matching engine reads on every market event, spelled out: `__getattr__` runs
    # only after an ordinary lookup has failed, which costs more than the read itself.
    @property
    def best_bid(self) -> int | None:
        return self._feed.sync.book.best_bid

    @property
    def best_ask(self) -> int | None:
        return self._feed.sync.book.best_ask

    def qty_at(self, side: Side, price: int) -> int:
        return self._feed.sync.book.qty_at(side, price)

    def depth(self, side: Side, n: int) -> list[tuple[int, int]]:
        return self._feed.sync.book.depth(side, n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed.sync.book, name)


class SimVenueEnd:
    """The simulated exchange itself: matching engine, account, its own copy of each book, the
    fill-id sequence, its rate-limit bucket and what is on the wire. It outlives any connection
    to it, as a venue outlives our connection: the node builds one (`supervision.node.venues`)
    and every `SimTransport` incarnation attaches to it. `open` builds it on the first attach."""

    def __init__(self, config: SimVenueConfig) -> None:
        self.config = config
        self.delay = DelayLine()
        self.feeds: dict[str, BookFeed] = {}
        self.specs: list[InstrumentSpec] = []
        self.exchange: SimExchange | None = None
        self.bucket: TokenBucket | None = None
        self.resync_pending: set[str] = set()
        self.rng = random.Random(0)
        # The orders the venue has accepted, by client order id (bounded): what a reconnect
        # tells the new incarnation about the orders an earlier one sent.
        self.intents: OrderedDict[str, OrderIntent] = OrderedDict()
        self.market: SimMarketState | None = None

    def open(self, now_ns: int, rng: random.Random) -> None:
        cfg = self.config
        self.rng = rng
        account = SimAccount(dict(cfg.balances), cfg.leverage)
        self.exchange = SimExchange(cfg.instruments, account, cfg.queue_model, rng,
                                    fill_id_prefix=f"sim-{cfg.session}" if cfg.session
                                    else "sim")
        for name, instrument in cfg.instruments.items():
            spec = attrs.evolve(instrument.spec, symbol=name)
            feed = BookFeed(BookConfig.for_spec(spec))
            self.feeds[name] = feed
            self.exchange.attach_depth(name, _LiveDepth(feed))
            self.specs.append(spec)
        if cfg.market is not None:
            self.market = SimMarketState(cfg.market, {s.symbol: s for s in self.specs}, now_ns)
        if cfg.rate_limit is not None:
            rl = cfg.rate_limit
            self.bucket = TokenBucket(rl.burst, round(rl.burst / rl.requests_per_s * SECOND),
                                      now_ns)

    def remember(self, intent: OrderIntent | ReplaceIntent) -> None:
        intents, cid = self.intents, intent.client_order_id
        if isinstance(intent, OrderIntent):
            intents[cid] = intent
            if len(intents) > _REMEMBER_INTENTS:
                intents.popitem(last=False)
        elif cid in intents:  # the amended order is what rests now
            intents[cid] = attrs.evolve(intents[cid], qty=intent.qty, price=intent.price,
                                        reduce_only=intent.reduce_only)

    def held_for(self) -> list[VenueOrder]:
        """The orders a new connection must know: open at the exchange or with a report still
        on its way, oldest first; acknowledged unless the Ack (or a Reject) is in flight."""
        assert self.exchange is not None
        cids = [o.client_order_id for o in self.exchange.open_orders()]
        answering: set[str] = set()
        for item in self.delay.items():
            if isinstance(item, Reported):
                cids.append(item.report.client_order_id)
                if isinstance(item.report, Ack | Reject):
                    answering.add(item.report.client_order_id)
        return [VenueOrder(self.intents[cid], cid not in answering)
                for cid in dict.fromkeys(cids) if cid in self.intents]
