"""The Avellaneda-Stoikov experiment: section 3.3 of "High-frequency trading in a limit order
book" (Quantitative Finance 8(3), 2008), run through the real actors on the deterministic host.

Each path is a small node of its own, the node's own trading path
(`supervision.node.pipeline.TradingPath`): the synthetic A-S market (`AvellanedaStoikovFlow`)
feeds the SimVenue, whose books feed the real `MarketMaker`, whose proposals go through the real
`RiskGate` and `ActionBudget` back to the SimVenue, which matches them against the flow's market
orders. Nothing is shortcut: a quote fills because a market order reached it at the venue.

Two strategies per path, on the same random numbers (the same mid path and the same market
orders), so their difference is the strategies' and not the dice's:
- "inventory": the A-S quotes, reservation price r = s - q*gamma*sigma^2*(T-t) and spread
  gamma*sigma^2*(T-t) + (2/gamma)*ln(1 + gamma/k);
- "symmetric": a fixed spread centred on the mid, by default the paper's (2/gamma)*ln(1 + gamma/k)
  (its tables' spread column), or the inventory strategy's measured average spread.

Two variants of the venue and the quote bound (`ExperimentVariant`), the same strategy otherwise:
- "paper": the paper's model. Quotes may cross the mid (`QuoteBound.MODEL`) and fill with
  probability min(1, A*dt*exp(-k*delta)) at any distance delta, negative included (the flow's
  "intensity" arrivals); the displayed book sits `display_offset` away, out of their reach,
  since the paper's market has no book, only a mid.
- "post_only": Troupe's live market maker. The book is displayed at the mid and quotes never go
  through the touch (`QuoteBound.POST_ONLY`): a quote the model puts past the mid waits at the
  touch and fills as a quote at the mid does. Only large gamma*q*(T-t) tells them apart.

Each step the mid moves, then (`market_orders = "after_move"`, the default) that step's market
orders arrive, priced from the new mid, and meet the quotes set before the move; then the book
shows the new mid and the strategy requotes (zero latency, as in the paper). "after_requote"
lets the strategy requote on the new mid before the orders arrive. Model units map to the
runtime's: one model time unit is one second of virtual time, prices are ticks of `tick`, one
share is one lot; gamma, k and sigma are converted to ticks, so the strategy runs the model it
runs in production.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.token_bucket import RateLimit, VenueLimits
from actors.execution.venue_connection import VenuePeers
from actors.risk.limits import RateWindow, RiskConfig
from actors.sim.exchange import SimInstrument
from actors.sim.latency import LatencyModel
from actors.sim.queue_models import RiskAverseQueue
from actors.sim.synthetic_market import AvellanedaStoikovFlow
from actors.sim.venue import SimVenue, SimVenueConfig
from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from actors.strategies.quoting_models import Horizon, HorizonMode, PricingModel, QuoteBound
from protocols.codec import Side
from protocols.feed import FeedBatch, FeedEvent
from protocols.instruments import InstrumentSpec
from supervision.config.experiment import ExperimentVariant
from supervision.node.pipeline import PathRefs, StrategyPlan, TradingPath
from supervision.runtime.deterministic import DeterministicHost

__all__ = ["ASParams", "PathResult", "StrategySummary", "closed_form_spread",
           "paper_spread", "run_path", "summarize"]

SYMBOL = "AS"
SECOND = 1_000_000_000
_CASH, _SHARES = "CASH", "SHARE"
_PLENTY = Decimal(10) ** 12
STRATEGIES = ("inventory", "symmetric")


@attrs.frozen(slots=True)
class ASParams:
    s0: float = 100.0
    T: float = 1.0
    sigma: float = 2.0
    dt: float = 0.005
    q0: int = 0
    k: float = 1.5
    A: float = 140.0
    gamma: float = 0.1
    tick: Decimal = Decimal("0.001")
    arrivals: str = "intensity"
    paths: int = 1000
    seed: int = 1
    variant: ExperimentVariant = ExperimentVariant.PAPER
    display_offset: Decimal = Decimal(25)  # the paper variant's book, this far from the mid
    market_orders: str = "after_move"  # or "after_requote"
    symmetric_spread: str = "paper"  # or "measured": the inventory strategy's average

    @property
    def steps(self) -> int:
        return round(self.T / self.dt)


@attrs.frozen(slots=True)
class PathResult:
    profit: float
    final_q: int
    spread_sum: float  # sum of sampled spreads (price units) and how many samples
    spread_samples: int
    # per step when traced: t, mid, bid, ask, q
    trace: tuple[tuple[float, float, float | None, float | None, int], ...] = ()


@attrs.frozen(slots=True)
class StrategySummary:
    """One strategy over `paths` paths, with the standard errors of its figures: of a mean,
    std/sqrt(n); of a standard deviation, std/sqrt(2(n-1)) (exact for normal samples, close for
    these: the profits and final inventories are near normal)."""

    spread_mean: float
    profit_mean: float
    profit_std: float
    final_q_mean: float
    final_q_std: float
    paths: int

    def standard_errors(self) -> dict[str, float]:
        n = self.paths
        of_std = 1 / math.sqrt(2 * (n - 1)) if n > 1 else math.inf
        return {"profit_mean": self.profit_std / math.sqrt(n),
                "profit_std": self.profit_std * of_std,
                "final_q_mean": self.final_q_std / math.sqrt(n),
                "final_q_std": self.final_q_std * of_std}

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "standard_errors": self.standard_errors()}


def closed_form_spread(p: ASParams) -> float:
    """The A-S spread averaged over the steps: gamma*sigma^2*(T - t) + (2/gamma) ln(1 + gamma/k),
    t = 0, dt, ..., T - dt (the times the strategy quotes at)."""
    terms = [p.gamma * p.sigma ** 2 * (p.T - i * p.dt) for i in range(p.steps)]
    return statistics.fmean(terms) + paper_spread(p)


def paper_spread(p: ASParams) -> float:
    """(2/gamma) ln(1 + gamma/k): the spread column of the paper's tables (1.29, 1.33, 1.15)."""
    return (2 / p.gamma) * math.log1p(p.gamma / p.k)


def _spec(p: ASParams) -> InstrumentSpec:
    return InstrumentSpec(symbol=SYMBOL, venue="binance", tick_size=p.tick, lot_step=Decimal(1),
                          min_qty=Decimal(0), min_notional=Decimal(0), maker_fee=Decimal(0),
                          taker_fee=Decimal(0))


def _permissive_risk() -> RiskConfig:
    """The paper has no risk limits; the gate still runs (it is the real path), wide open."""
    lots = RateWindow(1_000_000, 1_000)
    return RiskConfig(rate_per_strategy=lots, rate_per_instrument=lots, duplicate_window_ms=1,
                      max_total_exposure=_PLENTY, max_order_notional=_PLENTY,
                      daily_loss_limit=_PLENTY, max_drawdown=_PLENTY, price_band_bps=100_000,
                      spread_shock_k=Decimal(1_000_000))


def _mm_config(p: ASParams, strategy: str, session_end_ns: int,
               spread_ticks: float | None) -> MarketMakerConfig:
    tick = float(p.tick)
    symmetric = strategy == "symmetric"
    bound = QuoteBound.MODEL if p.variant is ExperimentVariant.PAPER else QuoteBound.POST_ONLY
    return MarketMakerConfig(
        strategy="as_" + strategy[:3], spec=_spec(p), quote_lots=1, max_inventory=1_000_000,
        gamma=p.gamma * tick, k=p.k * tick, sigma=p.sigma / tick,
        model=PricingModel.SYMMETRIC if symmetric else PricingModel.AVELLANEDA_STOIKOV,
        fixed_spread_ticks=spread_ticks if symmetric else None, quote_bound=bound,
        horizon=Horizon(HorizonMode.FIXED, session_end_epoch_ns=session_end_ns),
        requote_min_interval_s=0.0, requote_threshold_ticks=1, pressure_threshold=1.0,
        flow_min_count=1_000_000_000, risk_cooldown_s=0.0)


def run_path(p: ASParams, strategy: str, index: int, *, spread_ticks: float | None = None,
             trace: bool = False) -> PathResult:
    """One path of one strategy. The market's random numbers depend only on (seed, index)."""
    host = DeterministicHost(seed=p.seed * 1_000_003 + index)
    display = p.display_offset if p.variant is ExperimentVariant.PAPER else Decimal(0)
    flow = AvellanedaStoikovFlow(
        Decimal(repr(p.s0)), p.sigma, p.dt, p.A, p.k, p.tick, Decimal(1),
        random.Random(p.seed * 1_000_003 + index), p.arrivals,  # type: ignore[arg-type]
        SYMBOL, epoch_ms=host.time_ns() // 1_000_000, display_offset=display)
    spec, peers = _spec(p), VenuePeers()
    venue_config = SimVenueConfig(
        instruments={SYMBOL: SimInstrument(spec, _SHARES, _CASH)},
        queue_model=RiskAverseQueue(), latency=LatencyModel(),
        balances={_CASH: _PLENTY, _SHARES: _PLENTY}, reconcile_interval_s=None, name="sim")

    def connection(refs: PathRefs) -> Callable[[], SimVenue]:
        peers.budget, peers.books[SYMBOL] = refs.budget, refs.book(SYMBOL)
        return lambda: SimVenue(venue_config, peers)

    mm_config = _mm_config(p, strategy, host.time_ns() + round(p.T * SECOND), spread_ticks)
    path = TradingPath(
        specs={SYMBOL: spec}, connection=connection, risk=_permissive_risk(), portfolio=False,
        strategies=[StrategyPlan("mm", SYMBOL, lambda gate, _: MarketMaker(mm_config, gate))],
        limits=VenueLimits(limits=(RateLimit("requests", 1_000_000, SECOND),)))
    venue = path.spawn(host).connection

    def tell_all(messages: Sequence[Any]) -> None:
        # One instant's events as one message: the venue handles them one by one all the same.
        now = host.monotonic_ns()
        events = tuple(FeedEvent(SYMBOL, message, now) for message in messages)
        if events:
            venue.tell(events[0] if len(events) == 1 else FeedBatch(events))
        host.settle()

    tell_all(flow.start())
    exchange = host.cell("venue/connection").behaviour.transport.exchange  # type: ignore[union-attr]
    spreads, samples, rows = 0.0, 0, []
    tick, after_move = float(p.tick), p.market_orders == "after_move"
    mid = flow.mid
    for _ in range(p.steps):
        t = flow.time_s
        events = flow.step()
        if not after_move:  # the strategy sees the new mid before the orders arrive
            mid = events.mid
            tell_all(events.book)
        quotes = {o.side: o.price for o in exchange.open_orders(SYMBOL)}
        bid, ask = quotes.get(Side.BUY), quotes.get(Side.SELL)
        if bid is not None and ask is not None:
            spreads += (ask - bid) * tick
            samples += 1
        if trace:
            rows.append((t, float(mid), None if bid is None else bid * tick,
                         None if ask is None else ask * tick, _position(exchange)))
        host.advance(p.dt / 2)
        tell_all(events.trades)
        host.advance(p.dt / 2)
        if after_move:
            mid = events.mid
            tell_all(events.book)
    q = _position(exchange)
    cash_delta = dict(exchange.positions().balances)[_CASH] - _PLENTY
    return PathResult(float(cash_delta + q * flow.mid), q, spreads, samples, tuple(rows))


def _position(exchange: Any) -> int:
    return dict(exchange.positions().positions).get(SYMBOL, 0)


def summarize(results: Sequence[PathResult]) -> StrategySummary:
    profits = [r.profit for r in results]
    qs = [r.final_q for r in results]
    samples = sum(r.spread_samples for r in results)
    return StrategySummary(
        spread_mean=sum(r.spread_sum for r in results) / samples if samples else float("nan"),
        profit_mean=statistics.fmean(profits),
        profit_std=statistics.stdev(profits) if len(profits) > 1 else 0.0,
        final_q_mean=statistics.fmean(qs),
        final_q_std=statistics.stdev(qs) if len(qs) > 1 else 0.0,
        paths=len(results))
