"""Where a backtest's CPU time goes: a sampling profile of the full path, by part of the system.

    python -m benchmarks.profile_backtest [--catalog] [--runs 3] [--top 25]

A SIGPROF timer interrupts the process every `--interval-ms` of CPU time and the handler notes
the stack. cProfile names the work but its per-call cost inflates small functions; sampling
does not. Each sample goes to the innermost frame of Troupe's own code that is not `protocols`
(message classes and codecs belong to whoever calls them) and so to a part: the host's
dispatch, mailboxes and timers; the replay; the simulated venue; the venue connection; the
books (ours, and the venue's own copy, which is the same `actors.market` code); the market
maker; the risk gate; the portfolio; the action budget; the node's driver and monitor.
Library frames (json, gzip, attrs-generated `__init__`s) count for their caller. Also printed:
the functions with the most samples of their own (self time, library frames by name), to say
what inside a part costs.

`--messages` counts instead what each actor handled in one backtest, by (actor, message type),
and the messages per delivered event: which hops an event causes (a tracer on every cell; a
`FeedBatch` counts as one message).
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from supervision.config.load import NodeConfig, load_config
from supervision.node import backtest
from supervision.node.backtest import run_backtest
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT

ROOT = str(Path(__file__).resolve().parents[1]) + "/"
CONFIG = Path(ROOT) / "config" / "backtest.toml"
PARTS = (  # (path prefix under the repository, part), the first that matches wins
    ("supervision/runtime/", "host: dispatch, mailboxes, timers, metrics"),
    ("supervision/sources/", "replay: read, decode, route, pace"),
    ("supervision/catalog/", "replay: read, decode, route, pace"),
    ("supervision/node/", "node: driver, monitor, journal tape, tally metrics"),
    ("actors/sim/", "simulated venue: its book, matching, delay line"),
    ("actors/execution/venue", "venue connection: order states, routing"),
    ("actors/execution/", "action budget"),
    ("actors/market/", "books (ours, and the venue's copy): convert, apply, publish"),
    ("actors/strategies/", "market maker: shell and model"),
    ("actors/risk/", "risk gate"),
    ("actors/portfolio/", "portfolio"),
)


class Sampler:
    def __init__(self) -> None:
        self.parts: collections.Counter[str] = collections.Counter()
        self.own: collections.Counter[str] = collections.Counter()
        self.samples = 0

    def __call__(self, _signum: int, frame: FrameType | None) -> None:
        self.samples += 1
        if frame is not None:
            code = frame.f_code
            self.own[f"{code.co_filename.removeprefix(ROOT)}:{code.co_name}"] += 1
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(ROOT) and not name.startswith(ROOT + "protocols/"):
                self.parts[self._part(name.removeprefix(ROOT))] += 1
                return
            frame = frame.f_back
        self.parts["other"] += 1

    @staticmethod
    def _part(path: str) -> str:
        for prefix, part in PARTS:
            if path.startswith(prefix):
                return part
        return "other"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(BINANCE_SPOT_BTCUSDT))
    p.add_argument("--catalog", action="store_true", help="replay the recording's catalog")
    p.add_argument("--catalog-dir", default="var/catalog")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--interval-ms", type=float, default=0.5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--messages", action="store_true",
                   help="count the messages each actor handles instead of sampling")
    args = p.parse_args(argv)
    overrides = [f"data.path={args.data}", "data.progress=off",
                 f"data.catalog_dir={args.catalog_dir}",
                 f"data.catalog={str(args.catalog).lower()}"]
    config = load_config(CONFIG, overrides)
    assert isinstance(config, NodeConfig)
    if args.messages:
        return count_messages(config, args.top)
    run_backtest(config)  # warm: imports, the catalog built, caches
    sampler = Sampler()
    signal.signal(signal.SIGPROF, sampler)
    signal.setitimer(signal.ITIMER_PROF, args.interval_ms / 1000, args.interval_ms / 1000)
    try:
        for _ in range(args.runs):
            result = run_backtest(config)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    total = max(sampler.samples, 1)
    print(f"{result.data}: {sampler.samples} samples over {args.runs} runs, "
          f"{result.lines:,} lines, {result.messages:,} events, digest {result.digest[:16]}")
    print("\nby part (each sample to the innermost frame of Troupe's code, protocols excluded)")
    for part, n in sampler.parts.most_common():
        print(f"  {100 * n / total:5.1f}%  {part}")
    print(f"\nself time, top {args.top}")
    for name, n in sampler.own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    return 0


def count_messages(config: NodeConfig, top: int) -> int:
    counts: collections.Counter[tuple[str, str]] = collections.Counter()

    class CountingHost(DeterministicHost):
        def create_cell(self, name: str, factory: Any, **kw: Any) -> Any:
            cell = super().create_cell(name, factory, **kw)
            cell.trace(lambda message: counts.update(((name, type(message).__name__),)))
            return cell

    backtest.DeterministicHost = CountingHost  # type: ignore[misc]
    try:
        result = run_backtest(config)
    finally:
        backtest.DeterministicHost = DeterministicHost  # type: ignore[misc]
    total = sum(counts.values())
    print(f"{result.data}: {result.lines:,} lines, {result.messages:,} events, digest "
          f"{result.digest[:16]}\n{total:,} messages handled, "
          f"{total / max(result.messages, 1):.2f} per delivered event\n")
    actors: collections.Counter[str] = collections.Counter()
    for (actor, _), n in counts.items():
        actors[actor] += n
    for actor, n in actors.most_common():
        print(f"  {n:8,}  {actor}")
    print(f"\nby actor and message type, top {top}")
    for (actor, kind), n in counts.most_common(top):
        print(f"  {n:8,}  {actor:36s} {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
