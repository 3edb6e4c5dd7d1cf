"""The risk gate alone, per message, on the very messages the order chain gives it.

    python -m benchmarks.risk_gate [--rounds 5] [--json PATH]
    python -m benchmarks.risk_gate --instructions

Records every message `benchmarks.order_chain` (its default setup: 20 market makers, 3,000
steps) tells the gate, with the clocks the gate read for it, then replays them into fresh
`RiskGate`s through a context whose tells, counts and gauges only note what they were given.
Reported: CPU ns per message type, proposals split by intent and verdict (p50 and mean, the
minimum over `--rounds`), and a `digest` of every verdict, tell, count and gauge of a replay:
two trees that decide alike print the same digest. No host, no metrics sink, no mailbox: the
gate's own code, which is what a change to `actors/risk/` moves (the order chain's
`gate/Proposal` adds the cell's hooks and the budget's mailbox to it).

With `--instructions` it counts instructions per message under valgrind's cachegrind instead,
the same whatever the machine's load: replays of the saved log with some message types left
out, and the differences over the messages they add. A BookTop's is a replay of the tops
(and the 20 MarketStates) less a run that only loads the log, a PortfolioSnapshot's one of
the snapshots alone less the same, a Proposal's a whole replay less one without proposals
(they change nothing the other messages are judged on). Runs that handle different messages
also differ by a few million instructions that are no message's (the interpreter's
specializations, memory reuse): figures over thousands of messages (tops, proposals) are good
to a few per cent, the 96 snapshots' only to ~20 %.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import attrs

from actors.risk.gate import RiskGate
from actors.risk.limits import RiskConfig
from benchmarks import order_chain
from benchmarks.replays import best_round, print_figures
from protocols.decisions import Proposal

Log = list[tuple[Any, int, int]]  # (message, monotonic ns, epoch ns)
Recording = tuple[RiskConfig, Log]  # the gate's config and what it was told
# What the cachegrind runs leave out, in turn: their differences are a message type's cost.
# Names of one length: a run's memory layout (and so the hashing of what is hashed by address)
# moves with its command line, and the log's load must cost the same in every run.
_STAGES = {"load": (), "tops": ("Proposal", "PortfolioSnapshot"),
           "snap": ("Proposal", "BookTop"), "rest": ("Proposal",), "full": ()}


@attrs.frozen
class StubRef:
    """A ref by name only: what a replayed proposal replies to."""

    name: str


class NoteContext:
    """The gate's context in a replay: clocks set per message; effects only noted."""

    def __init__(self, notes: list[Any] | None) -> None:
        self.notes = notes
        self.now = self.epoch = 0

    def monotonic_ns(self) -> int:
        return self.now

    def time_ns(self) -> int:
        return self.epoch

    def tell(self, target: Any, message: Any) -> None:
        if self.notes is not None:
            self.notes.append(("tell", target.name, message))

    def count(self, name: str, amount: float = 1, **labels: Any) -> None:
        if self.notes is not None:
            self.notes.append(("count", name, amount, sorted(labels.items())))

    def gauge(self, name: str, value: float, **labels: Any) -> None:
        if self.notes is not None:
            self.notes.append(("gauge", name, value, sorted(labels.items())))


def record(setup: order_chain.ChainSetup) -> Recording:
    """Every message the order chain's gate handles, in order, with its clocks."""
    log: Log = []
    configs: list[RiskConfig] = []
    receive = RiskGate.receive

    def noting(gate: RiskGate, message: Any, ctx: Any) -> Any:
        if not configs:
            configs.append(gate.rules.config)
        kept = message
        if isinstance(message, Proposal) and message.reply_to is not None:
            kept = attrs.evolve(message, reply_to=StubRef(message.reply_to.name))
        log.append((kept, ctx.monotonic_ns(), ctx.time_ns()))
        return receive(gate, message, ctx)

    RiskGate.receive = noting  # type: ignore[method-assign, assignment]
    try:
        order_chain.run(setup)
    finally:
        RiskGate.receive = receive  # type: ignore[method-assign]
    return configs[0], log


def _gate(config: RiskConfig, notes: list[Any] | None) -> tuple[RiskGate, Any]:
    """A fresh gate and its context (typed `Any`: a stand-in for the runtime's context and
    refs, with only what the gate uses of them)."""
    ctx: Any = NoteContext(notes)
    refs: Any = [StubRef(name) for name in ("venue/budget", "subscriber", "journal")]
    gate = RiskGate(refs[0], config=config, subscribers=refs[1:2], journal=refs[2])
    gate.on_start(ctx)
    return gate, ctx


def _kind(message: Any, verdict: Any) -> str:
    name = type(message).__name__
    if name != "Proposal":
        return name
    kind = f"{name}:{type(message.intent).__name__}:{type(verdict).__name__}"
    gate = getattr(verdict, "gate", None)
    return kind if gate is None else f"{kind}:{gate.value}"


def replay_digest(recording: Recording) -> str:
    config, log = recording
    notes: list[Any] = []
    gate, ctx = _gate(config, notes)
    for message, now, epoch in log:
        ctx.now, ctx.epoch = now, epoch
        notes.append(("verdict", gate.receive(message, ctx)))
    return hashlib.sha256(repr(notes).encode()).hexdigest()[:16]


def replay_timed(recording: Recording) -> dict[str, list[int]]:
    config, log = recording
    gate, ctx = _gate(config, None)
    times: dict[str, list[int]] = defaultdict(list)
    clock = time.perf_counter_ns
    for message, now, epoch in log:
        ctx.now, ctx.epoch = now, epoch
        start = clock()
        verdict = gate.receive(message, ctx)
        times[_kind(message, verdict)].append(clock() - start)
    return times


def timed(recording: Recording, rounds: int) -> dict[str, dict[str, int]]:
    return best_round(lambda: replay_timed(recording), rounds)


def _replay_stage(log_path: Path, stage: str) -> None:
    """The cachegrind child: load the log, then replay it without what `stage` leaves out
    (the "load" stage sorts it as the others do, and replays nothing)."""
    config, log = pickle.loads(log_path.read_bytes())
    skip = _STAGES[stage]
    kept = [entry for entry in log if type(entry[0]).__name__ not in skip]
    gc.collect()
    gc.disable()  # a collection lands where the allocations put it: not a message's cost
    if stage == "load":
        return
    gate, ctx = _gate(config, None)
    for message, now, epoch in kept:
        ctx.now, ctx.epoch = now, epoch
        gate.receive(message, ctx)


def instructions(recording: Recording, log_path: Path) -> dict[str, float]:
    counts = {}
    for stage in _STAGES:
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, "-m", "benchmarks.risk_gate", "--replay", str(log_path), stage],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        assert found is not None, out.stderr[-2000:]
        counts[stage] = int(found.group(1).replace(",", ""))
    n: dict[str, int] = defaultdict(int)
    for message, _now, _epoch in recording[1]:
        n[type(message).__name__] += 1
    return {
        "BookTop": (counts["tops"] - counts["load"]) / n["BookTop"],
        "PortfolioSnapshot": (counts["snap"] - counts["load"]) / n["PortfolioSnapshot"],
        "Proposal": (counts["full"] - counts["rest"]) / n["Proposal"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=order_chain.ChainSetup().steps)
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per message, under cachegrind (see above)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--replay", nargs=2, metavar=("LOG", "STAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        _replay_stage(Path(args.replay[0]), args.replay[1])
        return 0
    recording = record(order_chain.ChainSetup(steps=args.steps))
    log = recording[1]
    result: dict[str, Any] = {"messages": len(log), "digest": replay_digest(recording),
                              "steps": args.steps}
    if args.instructions:
        with tempfile.TemporaryDirectory() as scratch:
            log_path = Path(scratch) / "gate.log"
            log_path.write_bytes(pickle.dumps(recording))
            result["instructions_per_message"] = instructions(recording, log_path)
    else:
        result["cpu_ns"] = timed(recording, args.rounds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    print(f"risk gate, {result['messages']:,} messages of the order chain's "
          f"({result['steps']} steps): digest {result['digest']}")
    print_figures(result, 48)


if __name__ == "__main__":
    sys.exit(main())
