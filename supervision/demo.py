"""A small supervised troupe on the live host: the Quickstart's main job until the paper node
exists (issue 4).

    python -m supervision.demo [--duration SECONDS] [--seed N]

A synthetic price feed ticks into a conflating quote cache; a "strategy" reads it and, with a
seeded chance, fails on purpose, so you can watch its supervisor restart it behind a stable
address while the feed keeps running. A status line every second; Ctrl-C or --duration ends it
with a summary.
"""

from __future__ import annotations

import argparse
import logging
import sys
from decimal import Decimal
from typing import Any

import attrs
import trio

from actors.behaviour import Behaviour, Context, Ref
from supervision.live import LiveHost
from supervision.mailbox import BoundedReject, ConflateByKey
from supervision.specs import Backoff, ChildSpec, Restart, Strategy, SupervisorSpec
from supervision.supervisor import Supervisor


@attrs.frozen(slots=True)
class Quote:
    symbol: str
    bid: Decimal
    ask: Decimal


class InjectedFault(RuntimeError):
    """The demo's deliberate failure, to show a restart."""


class Feed(Behaviour):
    """Random-walk quotes for two symbols, every 10 ms."""

    def __init__(self, cache: Ref) -> None:
        self.cache = cache
        self.mids = {"BTC-USD": Decimal("60000.0"), "ETH-USD": Decimal("3000.00")}

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(0.01, "tick", key="tick")

    def receive(self, message: Any, ctx: Context) -> None:
        for symbol, previous in self.mids.items():
            step = previous / 10_000
            mid = (previous + (step if ctx.random.random() < 0.5 else -step)).quantize(
                Decimal("0.01"))
            self.mids[symbol] = mid
            ctx.tell(self.cache, Quote(symbol, mid - step, mid + step))
        ctx.schedule(0.01, "tick", key="tick")


class QuoteCache(Behaviour):
    """Newest quote per symbol: a slow reader sees the latest, never a backlog."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.updates = 0

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, Quote):
            self.quotes[message.symbol] = message
            self.updates += 1
            return None
        return dict(self.quotes)

    def snapshot(self) -> Any:
        return {"updates": self.updates, "symbols": sorted(self.quotes)}


class Trader(Behaviour):
    """Polls the cache every 100 ms and counts; fails now and then, on purpose."""

    def __init__(self, cache: Ref, fault_rate: float) -> None:
        self.cache = cache
        self.fault_rate = fault_rate
        self.decisions = 0

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(0.1, "decide", key="decide")

    def receive(self, message: Any, ctx: Context) -> None:
        if message == "decide":
            ctx.ask(self.cache, "quotes", timeout=0.5, tag="quotes")
            ctx.schedule(0.1, "decide", key="decide")
            return
        self.decisions += 1
        if ctx.random.random() < self.fault_rate:
            raise InjectedFault("injected fault: watch the supervisor restart me")


def build(cache: Ref, fault_rate: float) -> SupervisorSpec:
    """node (one_for_one): market (feed), strategies (mm, with back-off between restarts)."""
    market = SupervisorSpec(
        children=(ChildSpec("feed", lambda: Feed(cache), mailbox=BoundedReject(1000)),),
    )
    strategies = SupervisorSpec(
        intensity=10, period_s=10.0, backoff=Backoff(min_s=0.2, max_s=2.0, jitter=0.2),
        children=(ChildSpec("mm", lambda: Trader(cache, fault_rate),
                            restart=Restart.TRANSIENT, mailbox=BoundedReject(100)),),
    )
    return SupervisorSpec(strategy=Strategy.ONE_FOR_ONE,
                          children=(market.as_child("market"),
                                    strategies.as_child("strategies")))


def _quote_key(message: Any) -> Any:
    return message.symbol if isinstance(message, Quote) else None


def status_line(host: LiveHost, elapsed: float) -> str:
    actors = {a.name: a for a in host.actors()}
    mm = actors.get("node/strategies/mm")
    quotes = actors.get("quotes")
    return (
        f"t={elapsed:5.1f}s actors={len(actors)} "
        f"strategy={mm.state if mm else '-'} restarts={mm.restarts if mm else 0} "
        f"quote_updates={quotes.mailbox.handled if quotes else 0} "
        f"conflated={quotes.mailbox.conflated if quotes else 0}"
    )


async def run(duration: float | None, seed: int, fault_rate: float) -> LiveHost:
    host = LiveHost(seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(host.serve)
        cache = host.spawn("quotes", QuoteCache, mailbox=ConflateByKey(key=_quote_key))
        root = host.spawn("node", lambda: Supervisor(build(cache, fault_rate)))
        start = trio.current_time()
        try:
            while duration is None or trio.current_time() - start < duration:
                await trio.sleep(1.0 if duration is None else min(1.0, duration))
                print(status_line(host, trio.current_time() - start), flush=True)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(host.stop, root)
                await trio.to_thread.run_sync(host.stop, cache)
            nursery.cancel_scope.cancel()
    return host


class _BriefInjectedFaults(logging.Filter):
    """The demo's own faults are expected: log them in one line, not with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InjectedFault):
            record.exc_info = None
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a small supervised troupe.")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds to run (0 = until Ctrl-C); default 10")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-rate", type=float, default=0.02,
                        help="chance per decision that the strategy fails on purpose")
    args = parser.parse_args(argv)
    if args.duration < 0:
        parser.error("--duration must be >= 0")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be within [0, 1]")
    handler = logging.StreamHandler()
    handler.addFilter(_BriefInjectedFaults())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    print("Troupe runtime demo: a supervised feed, quote cache and strategy on the live host.")
    try:
        host = trio.run(run, args.duration or None, args.seed, args.fault_rate)
    except KeyboardInterrupt:
        print("\ninterrupted: stopped cleanly", file=sys.stderr)
        return 130
    failures = host.log.records(kind="failure")
    print(f"summary: {len(failures)} injected failures, "
          f"{len(host.log.records(kind='restart'))} restarts, all actors stopped in order")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
