"""The market maker's own work per message, book tops and public trades, alone.

    python -m benchmarks.strategy [--rounds 5] [--trades-per-top 2] [--json PATH]
    python -m benchmarks.strategy --instructions

Records every message `benchmarks.order_chain` (its default setup: 20 market makers with the
tick-to-trade parameters, 3,000 steps) tells its strategies (book tops, the strategies' own
timers, the reports of their orders, the portfolio's answer at start), with the clocks each
was handled at. The order chain has no public trades, and a live node's book tells every one
to its strategies: after each book top the log gets `--trades-per-top` prints on average (0 to
twice that, seeded) of that instrument, at the touch, either side, timed as the top. The log is
then replayed into fresh `MarketMaker`s (`StrategyShell` around `QuoteEngine`) through a
context whose tells, counts, gauges and timers only note what they were given: the strategy's
own code and nothing of the runtime's.

Reported: CPU ns per message kind (best of `--rounds` per kind's mean; a book top split by how
its turn ended, `BookTop:order` proposing, `:no_trade` journaling a NoTrade, `:none`), and
`digest`, a hash of everything every strategy told, counted, gauged and armed in the replay:
two versions that make the same decisions on book tops, trades and reports give the same one.

With `--instructions` it counts instructions per message under valgrind's callgrind instead,
the figure the machine's load cannot move: for each kind (`BookTop`, those of them that
proposed, `BookTop:order`, `TradePrint`, `Wake`), a replay of the saved log of its own in
which only the `receive` calls of that kind (as a replay beforehand labelled them) run inside
`itertools.starmap`, whose C function (`starmap_next`) callgrind is told to collect in
(`--toggle-collect`), divided by their number.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import os
import pickle
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import attrs

from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from actors.strategies.shell import StrategyShell
from benchmarks import order_chain
from benchmarks.replays import best_round, instructions_per_call, print_figures
from benchmarks.risk_gate import StubRef
from protocols.codec import Side as BookSide
from protocols.market import BookTop, TradePrint

Entry = tuple[str, Any, int, int]  # (strategy, message, monotonic ns, epoch ns)
Recording = tuple[dict[str, MarketMakerConfig], dict[str, tuple[int, int]], list[Entry]]
# What `--instructions` reports: a kind, or a kind's turns that ended so (`_label`)
COUNTED_KINDS = ("BookTop", "BookTop:order", "TradePrint", "Wake")


class ShellContext:
    """A strategy's context in a replay: clocks set per message; effects only noted (or, with
    `notes` None, not even that), and proposals and NoTrades counted for the turn's outcome."""

    def __init__(self, name: str, notes: list[Any] | None) -> None:
        self.name = name
        self.self_ref = StubRef(name)
        self.notes = notes
        self.now = self.epoch = 0
        self.told = {"risk/gate": 0, "journal": 0}

    def monotonic_ns(self) -> int:
        return self.now

    def time_ns(self) -> int:
        return self.epoch

    def tell(self, target: Any, message: Any) -> None:
        if target.name in self.told:
            self.told[target.name] += 1
        if self.notes is not None:
            self.notes.append(("tell", target.name, message))

    def ask(self, target: Any, message: Any, *, timeout: float, tag: Any = None) -> int:
        if self.notes is not None:
            self.notes.append(("ask", target.name, message, timeout, tag))
        return 0

    def schedule(self, delay: float, message: Any, *, key: Any = None) -> Any:
        if self.notes is not None:
            self.notes.append(("schedule", delay, message, key))
        return key

    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        if self.notes is not None:
            self.notes.append(("count", metric, amount, sorted(labels.items())))

    def bind_count(self, metric: str, **labels: str) -> Any:
        notes, point = self.notes, (metric, tuple(sorted(labels.items())))

        def add(amount: float = 1) -> None:
            if notes is not None:
                notes.append(("count", point, amount))
        return add

    def gauge(self, metric: str, value: float, **labels: str) -> None:
        if self.notes is not None:
            self.notes.append(("gauge", metric, value, sorted(labels.items())))


def _with_trades(log: list[Entry], per_top: float, seed: int) -> list[Entry]:
    """`log` with public prints after each book top: 0 to 2 x `per_top` of them (seeded), at
    the touch, the aggressor's side at random, timed as the top."""
    rng, out, trade_id = random.Random(seed), [], 0
    most = max(0, round(2 * per_top))
    for entry in log:
        out.append(entry)
        strategy, message, now, epoch = entry
        if type(message) is not BookTop or message.bid is None or message.ask is None:
            continue
        for _ in range(rng.randint(0, most)):
            trade_id += 1
            buy = rng.random() < 0.5
            trade = TradePrint(message.instrument, message.ask if buy else message.bid,
                               rng.randint(1, 50_000), BookSide.BUY if buy else BookSide.SELL,
                               str(trade_id), message.recv_ns, message.venue_ns)
            out.append((strategy, trade, now, epoch))
    return out


def record(setup: order_chain.ChainSetup, trades_per_top: float) -> Recording:
    """Every message the order chain's strategies handle, in order, with its clocks, the
    strategies' configurations and their start clocks; prints added (`_with_trades`)."""
    configs: dict[str, MarketMakerConfig] = {}
    starts: dict[str, tuple[int, int]] = {}
    log: list[Entry] = []
    receive, on_start = StrategyShell.receive, StrategyShell.on_start

    def starting(shell: StrategyShell, ctx: Any) -> None:
        assert isinstance(shell, MarketMaker)
        configs[ctx.name] = shell.config
        starts[ctx.name] = (ctx.monotonic_ns(), ctx.time_ns())
        on_start(shell, ctx)

    def noting(shell: StrategyShell, message: Any, ctx: Any) -> Any:
        log.append((ctx.name, message, ctx.monotonic_ns(), ctx.time_ns()))
        return receive(shell, message, ctx)

    StrategyShell.receive = noting  # type: ignore[method-assign, assignment]
    StrategyShell.on_start = starting  # type: ignore[method-assign, assignment]
    try:
        order_chain.run(setup)
    finally:
        StrategyShell.receive = receive  # type: ignore[method-assign]
        StrategyShell.on_start = on_start  # type: ignore[method-assign]
    return configs, starts, _with_trades(log, trades_per_top, setup.seed)


def _strategies(recording: Recording, notes: list[Any] | None,
                ) -> dict[str, tuple[MarketMaker, ShellContext]]:
    """Fresh market makers, started as the recording's were, with their contexts."""
    configs, starts, _ = recording
    out = {}
    for name, config in configs.items():
        ctx = ShellContext(name, notes)
        refs: Any = [StubRef(ref) for ref in ("risk/gate", "journal", "risk/portfolio")]
        shell = MarketMaker(config, refs[0], refs[1])
        shell.portfolio = refs[2]
        ctx.now, ctx.epoch = starts[name]
        shell.on_start(ctx)  # type: ignore[arg-type]
        out[name] = (shell, ctx)
    return out


def replay_digest(recording: Recording) -> str:
    notes: list[Any] = []
    strategies = _strategies(recording, notes)
    for name, message, now, epoch in recording[2]:
        shell, ctx = strategies[name]
        ctx.now, ctx.epoch = now, epoch
        notes.append(("handled", name, shell.receive(message, ctx)))  # type: ignore[arg-type]
    return hashlib.sha256(repr(notes).encode()).hexdigest()[:16]


def _label(message: Any, ctx: ShellContext, before: tuple[int, int]) -> str:
    kind = type(message).__name__
    if kind != "BookTop":
        return kind
    if ctx.told["risk/gate"] > before[0]:
        return "BookTop:order"
    return "BookTop:no_trade" if ctx.told["journal"] > before[1] else "BookTop:none"


def replay_timed(recording: Recording,
                 labels: list[str] | None = None) -> dict[str, list[int]]:
    """ns per message, by `_label`; each message's label also appended to `labels`."""
    strategies = _strategies(recording, None)
    times: dict[str, list[int]] = defaultdict(list)
    clock = time.perf_counter_ns
    for name, message, now, epoch in recording[2]:
        shell, ctx = strategies[name]
        ctx.now, ctx.epoch = now, epoch
        told = ctx.told
        before = (told["risk/gate"], told["journal"])
        start = clock()
        shell.receive(message, ctx)  # type: ignore[arg-type]
        elapsed = clock() - start
        label = _label(message, ctx, before)
        times[label].append(elapsed)
        if labels is not None:
            labels.append(label)
    return times


def _replay_counted(log_path: Path, kind: str, out: Path) -> None:
    """The callgrind child: replay the saved log, the `receive` calls of `kind` (by the
    labels a replay gave them: the same, since a replay is deterministic) inside
    `itertools.starmap` (the only place callgrind collects), and write how many there were."""
    recording, labels = pickle.loads(log_path.read_bytes())
    strategies = _strategies(recording, None)
    gc.collect()
    gc.disable()
    calls = 0
    starmap = itertools.starmap
    within = f"{kind}:"
    for (name, message, now, epoch), label in zip(recording[2], labels, strict=True):
        shell, ctx = strategies[name]
        ctx.now, ctx.epoch = now, epoch
        if label == kind or label.startswith(within):
            calls += 1
            next(starmap(shell.receive, ((message, ctx),)))
        else:
            shell.receive(message, ctx)  # type: ignore[arg-type]
    out.write_text(json.dumps({"counted": calls}))


def instructions(log_path: Path, kinds: tuple[str, ...] = COUNTED_KINDS) -> dict[str, float]:
    """Instructions per message of each kind, under callgrind (see the module docstring)."""
    return {kind: instructions_per_call(["benchmarks.strategy", "--replay", str(log_path), kind])
            for kind in kinds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = order_chain.ChainSetup()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trades-per-top", type=float, default=2.0,
                        help="public prints per book top, on average")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per message, under callgrind (see above)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--replay", nargs=3, metavar=("LOG", "KIND", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        _replay_counted(Path(args.replay[0]), args.replay[1], Path(args.replay[2]))
        return 0
    recording = record(attrs.evolve(defaults, steps=args.steps), args.trades_per_top)
    kinds: dict[str, int] = defaultdict(int)
    for _, message, _, _ in recording[2]:
        kinds[type(message).__name__] += 1
    result: dict[str, Any] = {"strategies": len(recording[0]), "messages": dict(sorted(
        kinds.items())), "digest": replay_digest(recording)}
    if args.instructions:
        with tempfile.TemporaryDirectory() as scratch:
            log_path = Path(scratch) / "strategy.log"
            labels: list[str] = []
            replay_timed(recording, labels)
            log_path.write_bytes(pickle.dumps((recording, labels)))
            result["instructions_per_message"] = instructions(log_path)
    else:
        result["cpu_ns"] = best_round(lambda: replay_timed(recording), args.rounds)
    result["python"] = platform.python_version()
    result["load_average_1m"] = os.getloadavg()[0]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"strategy, {result['strategies']} market makers, "
          + ", ".join(f"{n:,} {k}" for k, n in result["messages"].items())
          + f": digest {result['digest']}")
    print_figures(result, 24)
    return 0


if __name__ == "__main__":
    sys.exit(main())
