"""The order chain after the book, per message, in CPU time: strategy -> risk gate -> action
budget -> venue connection, with the portfolio beside them.

    python -m benchmarks.order_chain [--instruments 20] [--steps 3000] [--limits binance]
                                     [--json PATH]

The node's own path (`supervision.node.pipeline.TradingPath`) runs on the deterministic host
with the live node's metrics sink (`NodeMetrics`: Prometheus and the HDR latency histograms),
one market maker per instrument (the tick-to-trade benchmark's parameters), and a venue
connection over `MockTransport`, which acks at once. The books are left out: each step, every
instrument's `BookTop` (a seeded random walk of the mid) is told to what a book tells it to,
in the book's order (the strategy, the gate, the portfolio), and the host runs until idle; a
maker fill every `--fill-every` steps keeps positions, and so the portfolio's marks, moving.
The journal is an actor that drops what it gets (the real one writes on a thread of its own).
The budget's limits are one token bucket that never holds an order back (`--limits bucket`,
the default), or the tick-to-trade benchmark's: Binance's three fixed windows (weight a
minute, orders per 10 s and a day, each with a reserve), which also never hold one back here,
with the venue's count of each told back after every request as a Binance answer's headers
tell it (`VenueUsage`): the budget's path as a live Binance node runs it (`--limits binance`).

Each handled message is timed in CPU time (`time.thread_time_ns`, read by the cells' tracing
hooks just before and after `receive`) and reported per actor kind and message type: calls,
mean, p50, p99 and max us. The four order-path stages are the figures to compare with the
tick-to-trade benchmark's "work": strategy (BookTop), gate (Proposal), budget (Proposal), send
(connection: SendActions). A strategy's messages are also split by how the turn ended:
`strategy/BookTop:order` (it proposed), `:no_trade` (it journaled a NoTrade), `:none`.
`total_cpu_s` is the whole run's, host included; `digest` hashes every action the venue was
sent, so two versions can be checked to behave the same.

One thread, no sockets, no other process: the figures move with the code far more than with
the machine's load, which makes this the A/B benchmark for the chain's per-message cost.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from actors.behaviour import Behaviour
from actors.execution.mock_transport import MockFill, MockTransport
from actors.execution.token_bucket import LimitModel, LimitUnit, RateLimit, VenueLimits
from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.risk.limits import RiskConfig
from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from benchmarks.stages import GcPauses
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop
from protocols.orders import Priority
from protocols.venue_state import SendActions, VenueUsage
from supervision.node.node_metrics import NodeMetrics
from supervision.node.pipeline import StrategyPlan, TradingPath
from supervision.runtime.deterministic import DeterministicHost

MS = 1_000_000
SECOND = 1_000 * MS
STAGES = {("strategy", "BookTop"): "strategy", ("gate", "Proposal"): "gate",
          ("budget", "Proposal"): "budget", ("connection", "SendActions"): "send"}


def _spec(symbol: str) -> InstrumentSpec:
    return InstrumentSpec(symbol=symbol, venue="binance", tick_size=Decimal("0.01"),
                          lot_step=Decimal("0.00000001"), min_qty=Decimal("0.00001"),
                          min_notional=Decimal(5), maker_fee=Decimal("0.001"),
                          taker_fee=Decimal("0.001"))


def _windows(*limits: tuple[str, int, int, LimitUnit, int]) -> VenueLimits:
    return VenueLimits(
        limits=tuple(RateLimit(name, capacity, seconds * SECOND, model=LimitModel.FIXED_WINDOW,
                               unit=unit, reserve=reserve)
                     for name, capacity, seconds, unit, reserve in limits),
        backoff_blocks=frozenset(Priority), window_margin_ns=250 * MS)


# The budget's limits (`--limits`): one bucket, or the tick-to-trade benchmark's Binance windows.
LIMITS = {
    "bucket": VenueLimits(limits=(RateLimit("request_weight", 100_000, 10 * SECOND),)),
    "binance": _windows(("request_weight", 6000, 60, LimitUnit.WEIGHT, 300),
                        ("orders_10s", 10_000, 10, LimitUnit.ORDERS, 1000),
                        ("orders_1d", 200_000, 86_400, LimitUnit.ORDERS, 1000)),
}


class VenueCounts:
    """The venue's own count of each fixed window's spending, as Binance's answers report it
    (`VenueUsage`: one per request, its `Date` in whole seconds)."""

    def __init__(self, limits: VenueLimits, epoch_ns: int) -> None:
        self.limits = limits.limits
        self.epoch_ns = epoch_ns
        self._used: dict[tuple[str, int], int] = {}

    def usage(self, request: SendActions, now_ns: int) -> VenueUsage:
        at = now_ns + self.epoch_ns
        batch = request.batch
        orders = 0 if batch.priority is Priority.CANCEL else len(batch.intents)
        used = []
        for limit in self.limits:
            key = (limit.name, at // limit.period_ns)
            cost = orders if limit.unit is LimitUnit.ORDERS else batch.weight
            self._used[key] = count = self._used.get(key, 0) + cost
            used.append((limit.name, count))
        return VenueUsage(tuple(sorted(used)), now_ns, at // SECOND * SECOND)


class Release:
    """To the connection: the venue's answers to what it was sent so far may come now."""


class DeferredMockTransport(MockTransport):
    """`MockTransport` whose answers wait for the next `Release`, as a real venue's come back
    in messages of their own: the send stage is the send alone, as in a live node."""

    def __init__(self, instruments: Any, counts: VenueCounts | None = None) -> None:
        super().__init__(instruments)
        self._held: list[Any] = []
        self._counts = counts

    def send(self, request: Any, now_ns: int) -> None:
        super().send(request, now_ns)
        if self._counts is not None:
            self._held.append(self._counts.usage(request, now_ns))
        self._held += super().poll(now_ns)

    def on_message(self, message: Any, now_ns: int) -> bool:
        if isinstance(message, Release):
            self._queue += self._held
            self._held = []
            return True
        return super().on_message(message, now_ns)


class NullJournal(Behaviour):
    def __init__(self) -> None:
        self.records = 0

    def receive(self, message: Any, ctx: Any) -> Any:
        self.records += 1
        return None


class CpuTrace:
    """CPU ns of each handled message, by (actor kind, message type). A strategy's turns are
    also told apart by how they ended (`OUTCOMES`): with a proposal to the gate, with a
    NoTrade to the journal, or with neither, read from those two mailboxes' depths around the
    turn (outside the timed span)."""

    OUTCOMES = ("order", "no_trade", "none")

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._started: tuple[str, str, tuple[int, int] | None, int] | None = None
        self.recording = False
        self._depths: Any = None

    def attach(self, host: DeterministicHost, names: dict[str, str]) -> None:
        host.on_handled = self._handled
        if "strategy" in names.values():  # a strategy's outcome: from the gate's and journal's
            gate, journal = host.cell("risk/gate").mailbox, host.cell("journal").mailbox
            self._depths = lambda: (gate.user_depth(), journal.user_depth())
        for name, kind in names.items():
            host.cell(name).trace(self._tracer(kind))

    def _tracer(self, kind: str) -> Any:
        depths = self._depths if kind == "strategy" else None

        def seen(message: Any) -> None:
            before = depths() if depths is not None else None
            self._started = (kind, type(message).__name__, before, time.thread_time_ns())
        return seen

    def _handled(self, _actor: str, _elapsed_ns: int) -> None:
        end = time.thread_time_ns()
        started, self._started = self._started, None
        if started is None or not self.recording:
            return
        kind, message, before, start = started
        self.samples[(kind, message)].append(end - start)
        if before is not None:
            proposed, journaled = (a > b for a, b in zip(self._depths(), before, strict=True))
            outcome = self.OUTCOMES[0 if proposed else 1 if journaled else 2]
            self.samples[(kind, f"{message}:{outcome}")].append(end - start)

    def report(self) -> dict[str, dict[str, float]]:
        out = {}
        for (kind, message), values in sorted(self.samples.items()):
            values.sort()
            n = len(values)
            out[f"{kind}/{message}"] = {
                "calls": n, "mean_us": round(sum(values) / n / 1e3, 2),
                "p50_us": round(values[n // 2] / 1e3, 2),
                "p99_us": round(values[min(n - 1, int(n * 0.99))] / 1e3, 2),
                "max_us": round(values[-1] / 1e3, 2)}
        return out


@attrs.frozen
class ChainSetup:
    instruments: int = 20
    steps: int = 3_000
    warmup: int = 300  # steps before measuring: the strategies' volatility warm-up
    step_ms: float = 2.0  # virtual time between steps
    fill_every: int = 25  # steps between maker fills (0: none)
    seed: int = 7
    limits: str = "bucket"  # a key of LIMITS


def run(setup: ChainSetup) -> dict[str, Any]:
    instruments, steps, warmup, step_ms = (setup.instruments, setup.steps, setup.warmup,
                                           setup.step_ms)
    fill_every, seed = setup.fill_every, setup.seed
    symbols = ["BTCUSDT", *(f"S{i:02d}USDT" for i in range(1, instruments))]
    specs = {s: _spec(s) for s in symbols}
    metrics = NodeMetrics()
    host = DeterministicHost(seed=seed, metrics=metrics)
    journal = host.spawn("journal", NullJournal)
    limits = LIMITS[setup.limits]
    windowed = any(lim.model is LimitModel.FIXED_WINDOW for lim in limits.limits)
    counts = VenueCounts(limits, host.time_ns() - host.monotonic_ns()) if windowed else None
    mock = DeferredMockTransport(specs, counts)

    def strategy(symbol: str) -> StrategyPlan:
        config = MarketMakerConfig(strategy=f"mm_{symbol}", spec=specs[symbol], quote_lots=10_000,
                                   max_inventory=1_000_000, gamma=2e-10, k=0.02,
                                   requote_min_interval_s=0.05)
        return StrategyPlan(f"mm_{symbol}", symbol,
                            lambda gate, journal: MarketMaker(config, gate, journal))

    def connection(refs: Any) -> Any:
        peers = VenuePeers(budget=refs.budget, portfolio=refs.portfolio, journal=journal)
        config = ConnectionConfig("binance", specs, reconcile_interval_s=None)
        return lambda: VenueConnection(config, mock, peers)

    path = TradingPath(
        specs=specs, strategies=[strategy(s) for s in symbols], journal=journal,
        limits=limits,
        risk=RiskConfig(max_order_notional=Decimal(1000), max_total_exposure=Decimal(100_000),
                        daily_loss_limit=Decimal(1000), max_drawdown=Decimal(1000)),
        connection=connection)
    refs = path.spawn(host)
    host.settle()
    targets = {s: [refs.strategy(f"mm_{s}"), refs.gate, refs.portfolio] for s in symbols}
    trace = CpuTrace()
    names = {"venue/connection": "connection", "venue/budget": "budget", "risk/gate": "gate",
             "risk/portfolio": "portfolio",
             **{f"strategies/mm_{s}": "strategy" for s in symbols}}
    trace.attach(host, names)
    rng = random.Random(seed)
    mids = {s: 6_170_000 + 2 * i for i, s in enumerate(symbols)}

    def step(number: int) -> None:
        for symbol in symbols:
            mids[symbol] += rng.choice((-2, -1, 0, 0, 1, 2))
            spread = rng.choice((1, 1, 2, 3))
            bid = mids[symbol] - spread // 2 - spread % 2
            now = host.monotonic_ns()
            top = BookTop(symbol, bid, rng.randint(1, 10**6), bid + spread,
                          rng.randint(1, 10**6), now, now, number)
            for ref in targets[symbol]:
                ref.tell(top)
        if fill_every and number % fill_every == fill_every - 1 and mock.resting:
            cid, order = sorted(mock.resting.items())[rng.randrange(len(mock.resting))]
            refs.connection.tell(MockFill(cid, order.qty, order.price or 0))
        host.settle()
        refs.connection.tell(Release())
        host.advance(step_ms / 1e3)

    for number in range(warmup):
        step(number)
    gc.collect()
    trace.recording = True
    cpu_start = time.process_time_ns()
    with GcPauses() as pauses:
        for number in range(warmup, warmup + steps):
            step(number)
    cpu = (time.process_time_ns() - cpu_start) / 1e9
    trace.recording = False
    digest = hashlib.sha256(repr([r.batch.intents for r in mock.requests
                                  if hasattr(r, "batch")]).encode()).hexdigest()[:16]
    per = trace.report()
    return {
        "stages_cpu_us": {stage: per.get(f"{kind}/{msg}") for (kind, msg), stage in STAGES.items()},
        "per_message_cpu_us": per,
        "total_cpu_s": round(cpu, 3),
        "book_tops": steps * instruments,
        "cpu_us_per_book_top": round(cpu * 1e6 / (steps * instruments), 1),
        "requests": len(mock.requests),
        "fills": int(metrics.total("troupe_portfolio_fills_total")),
        "digest": digest,
        "gc_pauses": pauses.report(),
    }


def print_rows(per_message: dict[str, dict[str, float]], unit: str) -> None:
    """`CpuTrace.report`'s rows as a table."""
    print(f"{'actor/message':32} {'calls':>7} {'mean':>8} {'p50':>8} {'p99':>8} {'max':>8}"
          f"  {unit}")
    for name, row in per_message.items():
        print(f"{name:32} {row['calls']:7} {row['mean_us']:8} {row['p50_us']:8} "
              f"{row['p99_us']:8} {row['max_us']:8}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = ChainSetup()
    p.add_argument("--instruments", type=int, default=defaults.instruments)
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--warmup", type=int, default=defaults.warmup,
                   help="steps before measuring (volatility warm-up)")
    p.add_argument("--step-ms", type=float, default=defaults.step_ms,
                   help="virtual time between steps")
    p.add_argument("--fill-every", type=int, default=defaults.fill_every)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--limits", choices=sorted(LIMITS), default=defaults.limits,
                   help="the budget's limits: one token bucket, or Binance's fixed windows")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    result = run(ChainSetup(args.instruments, args.steps, args.warmup, args.step_ms,
                            args.fill_every, args.seed, args.limits))
    result["load_average"] = {"before_1m": load, "after_1m": os.getloadavg()[0]}
    result["python"] = platform.python_version()
    print(f"order chain, {args.instruments} instruments, {args.limits} limits, "
          f"{result['book_tops']:,} book tops: "
          f"{result['total_cpu_s']} CPU s, {result['cpu_us_per_book_top']} us per top; "
          f"{result['requests']} requests, {result['fills']} fills, digest {result['digest']}")
    print("GC while measuring: " + ", ".join(
        f"{g} {v['count']} ({v['total_ms']} ms, max {v['max_ms']} ms)"
        for g, v in result["gc_pauses"].items()))
    print_rows(result["per_message_cpu_us"], "(CPU us)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
