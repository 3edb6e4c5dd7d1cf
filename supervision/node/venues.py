"""The venue registry: how a node turns `venue.kind` into its venue connection.

Every venue connection is the same generic actor,
`actors.execution.venue_connection.VenueConnection`, over a transport that keeps the adapter
contract of `actors.execution.venue_transport`. A registry entry says how to build that
transport for a node: a `VenueAdapter` with the kind it serves and a builder, a function of one
`VenueBuild` (the node's config, mode, instrument specs and venue session) that returns a fresh
transport. The node calls it each time the connection (re)starts, so a restarted connection
gets a fresh transport. An adapter whose venue lives in the process (the simulated one) also
has a `venue` builder, called once per node: what it returns (`VenueBuild.venue`) is handed to
every transport, so the venue outlives our connection to it, as a real one does.

    register(VenueAdapter(
        kind="binance",
        build="supervision.venues.binance:build_transport",
        summary="Binance spot through ccxt (REST) and trio-websocket (streams)",
    ))

`build` may be the function itself or its import path ("package.module:function"), imported only
when a node of that kind starts, so an adapter's dependencies (ccxt, trio-websocket) cost
nothing to a node that does not use it. Real adapters live in `supervision/venues/` and
register there; the simulated venue, `actors.sim.venue.SimTransport`, is registered below as
`sim`. A kind with no entry is refused with one line (`UnknownVenueKind`) before anything
starts: `venue kind 'binance' needs a live venue adapter, ...`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.execution.venue_transport import VenueTransport
from actors.recovered import RecoveredState
from actors.sim.exchange import SimInstrument
from actors.sim.latency import LatencyModel
from actors.sim.market_state import MarketModel, OracleSource
from actors.sim.queue_models import PowerProbQueue, QueueModel, RiskAverseQueue
from actors.sim.venue import SimTransport, SimVenueConfig, SimVenueEnd, VenueRateLimit
from protocols.errors import TroupeError
from protocols.instruments import ContractType, InstrumentSpec
from supervision.config.node import NodeConfig
from supervision.config.venue import VenueKind
from supervision.node.live_guard import Mode

__all__ = [
    "UnknownVenueKind",
    "VenueAdapter",
    "VenueBuild",
    "adapter_for",
    "connection_factory",
    "recorded_oracle",
    "register",
    "registered_kinds",
]


class UnknownVenueKind(TroupeError, KeyError):
    """`venue.kind` names no registered adapter. Raised before the node starts; the process
    says so in one line and exits 2."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@attrs.frozen(slots=True)
class VenueBuild:
    """What a builder gets: the node's `config`, its `mode`, the instrument `specs` it trades
    (by our instrument name) and `session`, this connection incarnation's id ("<run>.<n>"), for
    a venue that must tell its incarnations apart (the simulated one numbers its fills in it)."""

    config: NodeConfig
    mode: Mode
    specs: Mapping[str, InstrumentSpec]
    session: str
    # The client order ids the journal left open at the last stop: a real venue's start-up
    # reconciliation adopts those it still lists and cancels the rest (fail closed).
    expected_open: frozenset[str] = frozenset()
    # What the journal remembers of the account's inventory (`actors.recovery`): asset ->
    # (the amount a spot position counts from, where it came from), and instrument -> the
    # position the journal expects (the last opening plus the fills since).
    starting_inventory: Mapping[str, tuple[Decimal, str]] = attrs.Factory(dict)
    journal_positions: Mapping[str, int] = attrs.Factory(dict)
    # The fill ids (the venue's trade ids) the journal holds for the orders it left open: a
    # venue adapter that fetches fills it missed never passes one of these again.
    known_fills: frozenset[str] = frozenset()
    # What the adapter's `venue` builder made once for the node (the simulated exchange), shared
    # by every connection incarnation; None for a venue that lives elsewhere.
    venue: Any = None


TransportBuilder = Callable[[VenueBuild], VenueTransport]


@attrs.frozen(slots=True)
class VenueAdapter:
    kind: str
    build: TransportBuilder | str  # the builder, or its import path "package.module:function"
    summary: str = ""
    # Builds, once per node, a venue that lives in the process and must outlive a connection
    # (or its import path).
    venue: Callable[[VenueBuild], Any] | str | None = None
    # Checks the venue against the config before the node starts, (config, mode) -> None: a
    # TroupeError refuses the start with its one line (Hyperliquid's market discovery).
    preflight: Callable[[NodeConfig, Mode], Any] | str | None = None

    def builder(self) -> TransportBuilder:
        found: TransportBuilder = _load(self.build)
        return found

    def venue_builder(self) -> Callable[[VenueBuild], Any] | None:
        return None if self.venue is None else _load(self.venue)

    def run_preflight(self, config: NodeConfig, mode: Mode) -> None:
        if self.preflight is not None:
            _load(self.preflight)(config, mode)


def _load(target: Any) -> Any:
    """A callable, or the one an import path "package.module:function" names (imported only
    when a node of that kind starts, so ccxt costs nothing to a paper node)."""
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


_REGISTRY: dict[str, VenueAdapter] = {}


def register(adapter: VenueAdapter) -> None:
    """Add (or replace) the adapter for `adapter.kind`."""
    _REGISTRY[adapter.kind] = adapter


def registered_kinds() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def adapter_for(kind: str) -> VenueAdapter:
    adapter = _REGISTRY.get(kind)
    if adapter is None:
        raise UnknownVenueKind(
            f"venue kind {kind!r} needs a live venue adapter, which this version does not have "
            f"yet (registered: {', '.join(registered_kinds())}); use venue.kind = \"sim\" "
            "(see docs/venues.md)")
    return adapter


def connection_factory(config: NodeConfig, mode: Mode, specs: Mapping[str, InstrumentSpec],
                       peers: VenuePeers, next_session: Callable[[], str], *,
                       expected_open: frozenset[str] = frozenset(),
                       venues: dict[str, Any] | None = None,
                       recovered: RecoveredState | None = None) -> Callable[[], VenueConnection]:
    """The node's venue connection, as a child factory: each call builds a fresh transport
    through the registry (for the next session) under the generic connection. `venues` is the
    node's: where an in-process venue, built on the first call, is kept for every later one
    (a rebuilt tree included). `recovered`: what the journal held at start (its inventory, the
    fills of the orders it left open)."""
    adapter = adapter_for(config.venue.kind.value)
    build, kept = adapter.builder(), venues if venues is not None else {}
    connection = ConnectionConfig(name=config.venue.name, instruments=dict(specs),
                                  observe_only=mode is Mode.OBSERVE,
                                  replace_unknown_s=config.venue.replace_unknown_s)
    frozen_specs = dict(specs)
    known_fills = frozenset(fill for order in recovered.open_orders.values()
                            for fill in order.fill_ids) if recovered is not None else frozenset()

    def factory() -> VenueConnection:
        request = VenueBuild(config, mode, frozen_specs, next_session(), expected_open,
                             recovered.starting_inventory if recovered is not None else {},
                             recovered.positions if recovered is not None else {}, known_fills)
        make_venue = adapter.venue_builder()
        if make_venue is not None:
            if adapter.kind not in kept:
                kept[adapter.kind] = make_venue(request)
            request = attrs.evolve(request, venue=kept[adapter.kind])
        return VenueConnection(connection, build(request), peers)

    return factory


# -- the simulated venue --------------------------------------------------------------------


def sim_config(config: NodeConfig, specs: Mapping[str, InstrumentSpec],
               session: str = "") -> SimVenueConfig:
    """`[venue.sim]` as the simulated venue's own config."""
    sim = config.venue.sim
    lat = sim.latency
    latency = LatencyModel.from_ms(insert=lat.insert_ms, cancel=lat.cancel_ms, ack=lat.ack_ms,
                                   feed=lat.feed_ms,
                                   sigma=lat.sigma if lat.distribution == "lognormal" else 0.0)
    queue: QueueModel = (PowerProbQueue(sim.power_n) if sim.queue_model == "power_prob"
                         else RiskAverseQueue())
    instruments = {name: SimInstrument(spec, *_assets(name, spec), kind=sim.kind.value)
                   for name, spec in specs.items()}
    rate = sim.rate_limit
    return SimVenueConfig(
        instruments=instruments, queue_model=queue, latency=latency,
        balances=dict(sim.balances), leverage=sim.leverage,
        rate_limit=None if rate is None else VenueRateLimit(
            rate.requests_per_s, rate.burst, rate.retry_after_ms * 1_000_000),
        name=config.venue.name, session=session, market=_market_model(sim.market, specs))


def recorded_oracle(config: NodeConfig) -> bool:
    """Whether the simulated venue's oracle comes from the recording's `activeAssetCtx`."""
    market = config.venue.sim.market
    return config.venue.kind == VenueKind.SIM and market is not None and \
        market.oracle is OracleSource.RECORDED


def _market_model(configured: MarketModel | None,
                  specs: Mapping[str, InstrumentSpec]) -> MarketModel | None:
    """The configured model; else the default one when a derivative trades (its risk gates
    need an oracle and a mark), none for spot."""
    if configured is not None:
        return configured
    derivative = any(s.contract_type is not ContractType.SPOT for s in specs.values())
    return MarketModel() if derivative else None


def _sim_venue(build: VenueBuild) -> SimVenueEnd:
    """The node's simulated exchange, numbering its fills in the first connection's session."""
    return SimVenueEnd(sim_config(build.config, build.specs, build.session))


def _sim_transport(build: VenueBuild) -> SimTransport:
    end = build.venue if isinstance(build.venue, SimVenueEnd) else _sim_venue(build)
    return SimTransport(end.config, end)


def _assets(name: str, spec: InstrumentSpec) -> tuple[str, str]:
    """Base and quote of a symbol like BTCUSDT or ETH-USD; quote currencies are checked first."""
    for quote in ("USDT", "USDC", "FDUSD", "USD", "BUSD", "BTC", "ETH"):
        if name.endswith(quote) and len(name) > len(quote):
            return name[: -len(quote)].rstrip("-_/"), quote
    return name, "USD"


register(VenueAdapter(
    "sim", _sim_transport,
    "the embedded simulated venue: matching, queue position, latency, 429s (actors.sim)",
    venue=_sim_venue))
register(VenueAdapter(
    "binance", "supervision.venues.binance.adapter:build_transport",
    "Binance spot through ccxt (REST) and trio-websocket (streams)",
    venue="supervision.venues.binance.adapter:build_account"))
register(VenueAdapter(
    "hyperliquid", "supervision.venues.hyperliquid.adapter:build_transport",
    "Hyperliquid perps and HIP-3 DEXs through ccxt (REST, signing) and trio-websocket (streams)",
    preflight="supervision.venues.hyperliquid.adapter:preflight"))
register(VenueAdapter(
    "binance_usdm", "supervision.venues.binance.adapter:build_transport",
    "Binance USD-M futures through ccxt (REST) and trio-websocket (streams)"))
