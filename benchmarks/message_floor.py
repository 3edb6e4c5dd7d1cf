"""What one actor message costs the runtime, on each host, and where that cost goes.

    python -m benchmarks.message_floor [--messages 200000] [--rounds 5] [--json PATH]
    python -m benchmarks.message_floor --instructions [--only live live_chain ...]

Every figure is CPU nanoseconds per message handled (the minimum over `--rounds`, each round
running every scenario once, in turn, so a shared machine's load spreads over all of them).
With `--instructions` it is instructions per message instead, counted by valgrind's cachegrind
(each scenario run twice, with `--messages` and twice as many, and the difference divided by
the difference in messages, so start-up is not in it): slower, but the same figure whatever
the machine's load, so the one to compare two trees by on a shared machine. The live host
yields to trio after `turn_budget_s` of wall time, which valgrind stretches fifty-fold: in
that mode it yields once a second of wall time instead, as often per message as it does at
full speed. A
scenario is a ping-pong between two actors: each message is sent by one behaviour and handled by
the other, so a figure is one tell -> receive, the behaviours' own few bytecodes included.

- `bare`: the same two behaviours driven by a plain deque loop, no runtime at all: the floor
  under which no host can go, and what every other figure is read against.
- deterministic host, one scenario per mailbox policy (`unbounded` ... `flow_control`), then the
  unbounded ping-pong with one thing added: a timed tell instead of a tell (`tell_at`), a timer
  re-armed by each message instead of a tell (`timer`), handling timed as the node times it
  (`timed`: into a Prometheus sink's per-actor handling times), a tracer (`traced`), a
  labelled `ctx.count` per message (`count`) or a bound one (`bound_count`).
- live host: the ping-pong on the loop dispatcher (`live`), timed as the node times it
  (`live_timed`), and round a ring of four actors (`live_chain`: each is idle again after
  its hop, as on an order's way through a node), and a node's path frame after frame
  (`live_frame`: reader -> book -> strategy, gate and a portfolio on the background lane;
  strategy -> gate -> budget -> connection, with the node's mailbox policies, handling timed,
  ten messages a frame), and the same path fed by a trio task as a websocket reader feeds it,
  the strategy re-arming a timer on each message (`live_task`: each frame's chain runs in the
  reader's task, then the dispatcher wakes for the background lane and sleeps until the next
  timer); CPU time of the whole process over the run, so the dispatcher's turns, the locks and
  the wake-ups are in it.

Read a cost as a difference: `unbounded - bare` is what the host adds to a tell, `timed -
unbounded` what timing each `receive` adds, and so on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from actors.behaviour import Behaviour
from supervision.metrics.prometheus import PrometheusMetrics
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.live import LiveHost
from supervision.runtime.mailbox import (
    BoundedReject,
    ConflateByKey,
    DropOldest,
    FlowControl,
    StablePriority,
    Unbounded,
)

cpu_ns = time.process_time_ns


class Peer(Behaviour):
    """Answers each int with the next one until `last`; learns its peer from a non-int."""

    def __init__(self, last: int, send: str = "tell", done: threading.Event | None = None
                 ) -> None:
        self.peer: Any = None
        self.last = last
        self.send = send
        self.done = done
        self.count: Any = None

    def on_start(self, ctx: Any) -> None:
        if self.send == "bound_count":
            self.count = ctx.bind_count("troupe_bench_total")

    def receive(self, message: Any, ctx: Any) -> None:
        if type(message) is not int:
            self.peer = message
            return
        if message >= self.last:
            if self.done is not None:
                self.done.set()
            return
        send = self.send
        if send == "tell":
            ctx.tell(self.peer, message + 1)
        elif send == "tell_at":
            ctx.tell_at(ctx.monotonic_ns() + 1_000, self.peer, message + 1)
        elif send == "timer":
            ctx.schedule(1e-6, message + 1, key="next")
        elif send == "count":
            ctx.count("troupe_bench_total", 1, kind="a")
            ctx.tell(self.peer, message + 1)
        else:
            self.count(1)
            ctx.tell(self.peer, message + 1)


class _BareContext:
    """What `bare` lends the behaviours: a tell that appends to the loop's queue."""

    def __init__(self, queue: deque[tuple[Any, Any]]) -> None:
        self.append = queue.append

    def tell(self, target: Any, message: Any) -> None:
        self.append((target, message))


Figure = tuple[int, int]  # CPU ns, messages handled


def bare(n: int) -> Figure:
    queue: deque[tuple[Any, Any]] = deque()
    ctx = _BareContext(queue)
    ping, pong = Peer(n), Peer(n)
    ping.peer, pong.peer = pong, ping
    queue.append((ping, 0))
    pop = queue.popleft
    start = cpu_ns()
    while queue:
        target, message = pop()
        target.receive(message, ctx)
    return cpu_ns() - start, n


def deterministic(n: int, mailbox: Callable[[], Any] = Unbounded, send: str = "tell",
                  setup: Callable[[DeterministicHost], None] | None = None) -> Figure:
    host = DeterministicHost()
    ping = host.spawn("ping", lambda: Peer(n, send), mailbox=mailbox())
    pong = host.spawn("pong", lambda: Peer(n, send), mailbox=mailbox())
    ping.tell(pong)
    pong.tell(ping)
    host.run_until_idle()
    if setup is not None:
        setup(host)
    start = cpu_ns()
    ping.tell(0)  # with "timer", ping re-arms its own timer on each firing; pong idles
    host.run_until_idle(max_seconds=1e9)
    elapsed = cpu_ns() - start
    handled = sum(host.actor(name).mailbox.handled for name in ("ping", "pong")) - 4
    return elapsed, handled


def live(n: int, timed: bool = False, actors: int = 2, turn_budget_s: float = 0.002
         ) -> Figure:
    """`actors` pass each message on round a ring: 2 is the ping-pong; more is a chain of
    hops, as an order's way through the node, where each actor is idle again after its hop."""
    done = threading.Event()
    host = LiveHost(freeze_gc=False, switch_interval_s=None, turn_budget_s=turn_budget_s)
    if timed:
        _time_as_the_node_does(host)
    with host:
        refs = [host.spawn(f"hop{i}", lambda: Peer(n, "tell", done), mailbox=Unbounded())
                for i in range(actors)]
        for i, ref in enumerate(refs):
            ref.tell(refs[(i + 1) % actors])
        host.settle()
        start = cpu_ns()
        refs[0].tell(0)
        if not done.wait(120):
            raise RuntimeError("the live ping-pong did not finish")
        elapsed = cpu_ns() - start
    return elapsed, n


class Stage(Behaviour):
    """One actor of `live_frame`'s node-shaped path: tells each of `then` what it got."""

    def __init__(self, then: list[Any]) -> None:
        self.then = then

    def receive(self, message: Any, ctx: Any) -> None:
        for ref in self.then:
            ctx.tell(ref, message)


class Reader(Behaviour):
    """`live_frame`'s source: each frame told to the book, then the next frame to itself, so
    frames queue behind each other's chains as a burst's do; done after `last`."""

    def __init__(self, book: Any, last: int, done: threading.Event) -> None:
        self.book, self.last, self.done = book, last, done

    def receive(self, message: int, ctx: Any) -> None:
        ctx.tell(self.book, message)
        if message < self.last:
            ctx.tell(ctx.self_ref, message + 1)
        else:
            self.done.set()


FRAME_MESSAGES = 10  # a frame's messages in `live_frame`: two each to the gate, budget, connection


def live_frame(frames: int, turn_budget_s: float = 0.002) -> Figure:
    """A node's path, each frame: reader -> book -> strategy, gate, portfolio (the background
    lane); strategy -> gate -> budget -> connection. The node's mailbox policies, handling
    timed; CPU of the whole process per message."""
    done = threading.Event()
    host = LiveHost(freeze_gc=False, switch_interval_s=None, turn_budget_s=turn_budget_s,
                    background=("portfolio",))
    _time_as_the_node_does(host)
    with host:
        def stage(name: str, mailbox: Any, *then: Any) -> Any:
            return host.spawn(name, lambda: Stage(list(then)), mailbox=mailbox)

        connection = stage("connection", _priority())
        budget = stage("budget", _priority(), connection)
        gate = stage("gate", _conflate(), budget)
        strategy = stage("strategy", _conflate(), gate)
        portfolio = stage("portfolio", _conflate())
        book = stage("book", BoundedReject(1_000), strategy, gate, portfolio)
        reader = host.spawn("reader", lambda: Reader(book, frames, done))
        host.settle()
        start = cpu_ns()
        reader.tell(1)
        if not done.wait(120):
            raise RuntimeError("the live frames did not finish")
        host.settle()
        elapsed = cpu_ns() - start
    return elapsed, frames * FRAME_MESSAGES


class Quoting(Stage):
    """`live_task`'s strategy: re-arms its requote timer on every message, as a market maker
    does on a book top, so the dispatcher always sleeps until a timer."""

    def receive(self, message: Any, ctx: Any) -> None:
        ctx.schedule(0.05, "requote", key="requote")
        if message != "requote":
            super().receive(message, ctx)


def live_task(frames: int, turn_budget_s: float = 0.002) -> Figure:
    """`live_frame`'s path without the reader actor: a trio task on the loop tells the book
    each frame and yields, as a node's websocket reader does. The chain runs in the reader's
    task (`told_while_sleeping`); the portfolio's turn, on the background lane, wakes the
    dispatcher, which then sleeps again until the strategy's timer: one wake and one sleep a
    frame, as in a node."""
    host = LiveHost(freeze_gc=False, switch_interval_s=None, turn_budget_s=turn_budget_s,
                    background=("portfolio",))
    _time_as_the_node_does(host)
    elapsed: list[int] = []

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)

            def stage(name: str, mailbox: Any, *then: Any, kind: type[Stage] = Stage) -> Any:
                return host.spawn(name, lambda: kind(list(then)), mailbox=mailbox)

            connection = stage("connection", _priority())
            budget = stage("budget", _priority(), connection)
            gate = stage("gate", _conflate(), budget)
            strategy = stage("strategy", _conflate(), gate, kind=Quoting)
            portfolio = stage("portfolio", _conflate())
            book = stage("book", BoundedReject(1_000), strategy, gate, portfolio)
            await trio.sleep(0.05)
            start = cpu_ns()
            for frame in range(frames):
                book.tell(frame)
                await trio.lowlevel.checkpoint()
            while host.dispatcher.busy():
                await trio.lowlevel.checkpoint()
            elapsed.append(cpu_ns() - start)
            nursery.cancel_scope.cancel()

    trio.run(run)
    return elapsed[0], frames * (FRAME_MESSAGES - 1)


def _conflate() -> ConflateByKey:
    return ConflateByKey(key=lambda message: None)


def _priority() -> StablePriority:
    return StablePriority(levels=2, priority=lambda message: 1)


def _trace(host: DeterministicHost) -> None:
    for name in ("ping", "pong"):
        host.cell(name).trace(lambda message: None)


def _time(host: DeterministicHost) -> None:
    _time_as_the_node_does(host)


def _time_as_the_node_does(host: Any) -> None:
    """Time each `receive` into a Prometheus sink's per-actor handling times, as a node's
    metrics do (`PrometheusMetrics.attach_host`)."""
    PrometheusMetrics().attach_host(host)


def scenarios(n: int, turn_budget_s: float = 0.002) -> dict[str, Callable[[], Figure]]:
    b = turn_budget_s
    return {
        "bare": lambda: bare(n),
        "unbounded": lambda: deterministic(n),
        "bounded_reject": lambda: deterministic(n, lambda: BoundedReject(1_000)),
        "drop_oldest": lambda: deterministic(n, lambda: DropOldest(1_000)),
        "conflate_by_key": lambda: deterministic(n, _conflate),
        "stable_priority": lambda: deterministic(n, _priority),
        "flow_control": lambda: deterministic(n, lambda: FlowControl(1_000)),
        "tell_at": lambda: deterministic(n, send="tell_at"),
        "timer": lambda: deterministic(n, send="timer"),
        "timed": lambda: deterministic(n, setup=_time),
        "traced": lambda: deterministic(n, setup=_trace),
        "count": lambda: deterministic(n, send="count"),
        "bound_count": lambda: deterministic(n, send="bound_count"),
        "live": lambda: live(n // 2, turn_budget_s=b),
        "live_timed": lambda: live(n // 2, timed=True, turn_budget_s=b),
        "live_chain": lambda: live(n // 2, actors=4, turn_budget_s=b),
        "live_frame": lambda: live_frame(n // 2 // FRAME_MESSAGES, turn_budget_s=b),
        "live_task": lambda: live_task(n // 2 // FRAME_MESSAGES, turn_budget_s=b),
    }


def instructions(name: str, messages: int, json_path: Path) -> float:
    """Instructions per message of scenario `name`: two runs under cachegrind, `messages` and
    twice as many, the difference over the difference in messages handled."""
    counts = []
    for n in (messages, 2 * messages):
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, "-m", "benchmarks.message_floor", "--only", name, "--rounds", "1",
             "--messages", str(n), "--turn-budget-s", "1", "--json", str(json_path)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        assert found is not None, out.stderr[-2000:]
        handled = json.loads(json_path.read_text())["messages_handled"][name]
        counts.append((int(found.group(1).replace(",", "")), handled))
    (one, handled_one), (two, handled_two) = counts
    return (two - one) / (handled_two - handled_one)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="run these scenarios only")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per message, under cachegrind (see above)")
    parser.add_argument("--turn-budget-s", type=float, default=0.002, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = scenarios(args.messages, args.turn_budget_s)
    names = args.only or list(runs)
    best: dict[str, float] = {}
    handled: dict[str, int] = {}
    if args.instructions:
        scratch = Path(f"/tmp/message_floor.{os.getpid()}.json")
        messages = min(args.messages, 20_000)
        try:
            for name in names:
                best[name] = instructions(name, messages, scratch)
        finally:
            scratch.unlink(missing_ok=True)
    else:
        for _ in range(args.rounds):
            for name in names:
                elapsed, count = runs[name]()
                figure = elapsed / count
                best[name] = min(best.get(name, figure), figure)
                handled[name] = count
    unit = "instr/msg" if args.instructions else "ns/message"
    base = best.get("unbounded")
    print(f"{'scenario':<18}{unit:>12}{'vs unbounded':>14}")
    for name in names:
        delta = "" if base is None or name in ("bare", "unbounded") else f"{best[name] - base:+.0f}"
        print(f"{name:<18}{best[name]:>12.0f}{delta:>14}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        key = "instructions_per_message" if args.instructions else "ns_per_message"
        args.json.write_text(json.dumps({
            "python": sys.version.split()[0], "messages": args.messages, "rounds": args.rounds,
            key: best, "messages_handled": handled}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
