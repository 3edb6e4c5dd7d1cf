"""Runtime benchmark: the live host against plain pykka ThreadingActors, in one run.

    python -m benchmarks.runtime --json out/runtime.json

Figures:
- one-hop throughput: N messages from a producer to one actor, first send to last handled;
- 4-hop tell-chain latency: a source stamps a message every `--interval` ms and four actors pass
  it on; the fourth records now - stamp. Three loads: idle; one CPU-bound Python thread in the
  process; and 8 busy actors fed a flood (~8 x --flood-batch messages per ms, each costing
  ~--work-us of CPU);
- deterministic host messages/s: a ping-pong between two actors (every message is sent by a
  behaviour and handled by one).

Sources are timer-driven on both sides: a ThreadingActor baseline gets a plain thread that
sleeps and tells; the live host gets an actor with a timer, as its market data arrives on the
loop. `live_hop4_trio_source_us` also measures a source that is a separate trio task on the
loop (the websocket path), which pays one trio scheduling round before the first hop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pykka
import trio
from hdrh.histogram import HdrHistogram

from actors.behaviour import Behaviour
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.live import LiveHost
from supervision.runtime.mailbox import DropOldest

perf_ns = time.perf_counter_ns


def busy_work(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def calibrate(work_us: float) -> int:
    iterations = 1000
    start = perf_ns()
    for _ in range(200):
        busy_work(iterations)
    per_call_us = (perf_ns() - start) / 200 / 1000
    return max(1, int(iterations * work_us / per_call_us))


class Latencies:
    def __init__(self) -> None:
        self.histogram = HdrHistogram(1, 60_000_000_000, 3)
        self.recording = False

    def record(self, stamp: int) -> None:
        if self.recording:
            self.histogram.record_value(max(1, perf_ns() - stamp))

    def summary(self) -> dict[str, float]:
        h = self.histogram
        return {
            "p50": h.get_value_at_percentile(50) / 1000,
            "p99": h.get_value_at_percentile(99) / 1000,
            "p999": h.get_value_at_percentile(99.9) / 1000,
            "samples": h.get_total_count(),
        }


class CpuHog:
    """One CPU-bound Python thread: it holds the GIL whenever it can."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set():
            busy_work(2000)

    def __enter__(self) -> CpuHog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------- live host actors
class Hop(Behaviour):
    def __init__(self, next_ref: Any, latencies: Latencies | None = None) -> None:
        self.next_ref = next_ref
        self.latencies = latencies

    def receive(self, message: Any, ctx: Any) -> None:
        if self.latencies is not None:
            self.latencies.record(message)
        else:
            self.next_ref.tell(message)


class Source(Behaviour):
    def __init__(self, first: Any, interval_s: float) -> None:
        self.first = first
        self.interval_s = interval_s

    def on_start(self, ctx: Any) -> None:
        ctx.schedule(self.interval_s, "tick", key="tick")

    def receive(self, message: Any, ctx: Any) -> None:
        self.first.tell(perf_ns())
        ctx.schedule(self.interval_s, "tick", key="tick")


class Busy(Behaviour):
    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def receive(self, message: Any, ctx: Any) -> None:
        busy_work(self.iterations)


class Feed(Behaviour):
    def __init__(self, targets: list[Any], batch: int) -> None:
        self.targets = targets
        self.batch = batch

    def on_start(self, ctx: Any) -> None:
        ctx.schedule(0.001, "tick", key="tick")

    def receive(self, message: Any, ctx: Any) -> None:
        for _ in range(self.batch):
            for target in self.targets:
                target.tell(1)
        ctx.schedule(0.001, "tick", key="tick")


def live_chain(host: LiveHost, latencies: Latencies, tag: str) -> Any:
    ref: Any = host.spawn(f"{tag}-hop4", lambda: Hop(None, latencies))
    for i in (3, 2, 1):
        ref = host.spawn(f"{tag}-hop{i}", _hop_factory(ref))
    return ref


def _hop_factory(next_ref: Any) -> Callable[[], Behaviour]:
    return lambda: Hop(next_ref)


def live_flood(host: LiveHost, iterations: int, batch: int) -> None:
    # A flood is market data: a slow consumer drops the oldest, it does not queue forever.
    busy = [host.spawn(f"busy{i}", lambda: Busy(iterations), mailbox=DropOldest(10_000))
            for i in range(8)]
    host.spawn("feed", lambda: Feed(busy, batch))


def measure_live_hop4(load: str, args: argparse.Namespace, iterations: int) -> dict[str, float]:
    latencies = Latencies()
    with LiveHost() as host:
        first = live_chain(host, latencies, "chain")
        if load == "flood":
            live_flood(host, iterations, args.flood_batch)
        host.spawn("source", lambda: Source(first, args.interval / 1000))
        with CpuHog() if load == "cpu_thread" else contextlib.nullcontext():
            time.sleep(args.warmup)
            latencies.recording = True
            time.sleep(args.seconds)
            latencies.recording = False
    return latencies.summary()


def measure_live_hop4_trio_source(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The websocket path: a trio task (not an actor) tells the first hop."""
    results = {}
    for load in ("idle", "cpu_thread"):
        latencies = Latencies()
        host = LiveHost()
        first_box: list[Any] = []

        async def main(latencies: Latencies = latencies, host: LiveHost = host,
                       first_box: list[Any] = first_box) -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(host.serve)
                first_box.append(live_chain(host, latencies, "chain"))
                end = trio.current_time() + args.warmup + args.seconds
                start_recording = trio.current_time() + args.warmup
                while trio.current_time() < end:
                    latencies.recording = trio.current_time() >= start_recording
                    first_box[0].tell(perf_ns())
                    await trio.sleep(args.interval / 1000)
                nursery.cancel_scope.cancel()

        with CpuHog() if load == "cpu_thread" else contextlib.nullcontext():
            trio.run(main)
        results[load] = latencies.summary()
    return results


def measure_live_throughput(n: int) -> dict[str, float]:
    done = threading.Event()

    class Sink(Behaviour):
        def __init__(self) -> None:
            self.count = 0

        def receive(self, message: Any, ctx: Any) -> None:
            self.count += 1
            if self.count == n:
                done.set()

    class Producer(Behaviour):
        """Sends in chunks, re-telling itself, so the sink drains while the producer works."""

        def __init__(self, sink: Any) -> None:
            self.sink = sink
            self.sent = 0

        def receive(self, message: Any, ctx: Any) -> None:
            tell = self.sink.tell
            for i in range(min(1000, n - self.sent)):
                tell(i)
            self.sent += 1000
            if self.sent < n:
                ctx.tell(ctx.self_ref, "more")

    results = {}
    with LiveHost() as host:
        sink = host.spawn("sink", Sink)
        producer = host.spawn("producer", lambda: Producer(sink))
        start = perf_ns()
        producer.tell("go")
        done.wait(120)
        results["in_loop"] = n / ((perf_ns() - start) / 1e9)
    done.clear()
    with LiveHost() as host:
        sink = host.spawn("sink2", Sink)
        host.settle()
        start = perf_ns()
        tell = sink.tell
        for i in range(n):
            tell(i)
        done.wait(120)
        results["foreign_thread"] = n / ((perf_ns() - start) / 1e9)
    return results


# ------------------------------------------------------------------------- pykka baseline
class PykkaHop(pykka.ThreadingActor):
    def __init__(self, next_ref: Any, latencies: Latencies | None = None) -> None:
        super().__init__()
        self.next_ref = next_ref
        self.latencies = latencies

    def on_receive(self, message: Any) -> None:
        if self.latencies is not None:
            self.latencies.record(message)
        else:
            self.next_ref.tell(message)


class PykkaBusy(pykka.ThreadingActor):
    def __init__(self, iterations: int) -> None:
        super().__init__()
        self.iterations = iterations

    def on_receive(self, message: Any) -> None:
        busy_work(self.iterations)


def ticking_thread(interval_s: float, action: Callable[[], None],
                   stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            action()
            time.sleep(interval_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def measure_baseline_hop4(load: str, args: argparse.Namespace, iterations: int) -> dict[str, float]:
    latencies = Latencies()
    refs: list[Any] = [PykkaHop.start(None, latencies)]
    for _ in range(3):
        refs.append(PykkaHop.start(refs[-1]))
    first = refs[-1]
    stop = threading.Event()
    threads = []
    if load == "flood":
        busy = [PykkaBusy.start(iterations) for _ in range(8)]
        refs.extend(busy)

        def flood() -> None:
            for _ in range(args.flood_batch):
                for target in busy:
                    target.tell(1)

        threads.append(ticking_thread(0.001, flood, stop))
    threads.append(ticking_thread(args.interval / 1000, lambda: first.tell(perf_ns()), stop))
    try:
        with CpuHog() if load == "cpu_thread" else contextlib.nullcontext():
            time.sleep(args.warmup)
            latencies.recording = True
            time.sleep(args.seconds)
            latencies.recording = False
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for ref in refs:
            ref.stop()
    return latencies.summary()


def measure_baseline_throughput(n: int) -> float:
    done = threading.Event()

    class Sink(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> None:
            self.count += 1
            if self.count == n:
                done.set()

    sink = Sink.start()
    start = perf_ns()
    tell = sink.tell
    for i in range(n):
        tell(i)
    done.wait(300)
    rate = n / ((perf_ns() - start) / 1e9)
    sink.stop()
    return rate


# ---------------------------------------------------------------------- deterministic host
def measure_deterministic(n: int) -> float:
    class Pinger(Behaviour):
        def __init__(self) -> None:
            self.peer: Any = None

        def receive(self, message: Any, ctx: Any) -> None:
            if type(message) is not int:
                self.peer = message
                self.peer.tell(0)
            elif message < n:
                self.peer.tell(message + 1)

    class Ponger(Behaviour):
        def __init__(self) -> None:
            self.peer: Any = None

        def receive(self, message: Any, ctx: Any) -> None:
            if type(message) is not int:
                self.peer = message
            else:
                self.peer.tell(message)

    host = DeterministicHost()
    ping = host.spawn("ping", Pinger)
    pong = host.spawn("pong", Ponger)
    pong.tell(ping)
    host.run_until_idle()
    start = perf_ns()
    ping.tell(pong)
    host.run_until_idle()
    elapsed = (perf_ns() - start) / 1e9
    handled = host.actor("ping").mailbox.handled + host.actor("pong").mailbox.handled - 4
    return handled / elapsed


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--seconds", type=float, default=3.0, help="recording time per scenario")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--interval", type=float, default=0.5, help="ms between probes")
    parser.add_argument("--messages", type=int, default=500_000, help="throughput run size")
    parser.add_argument("--flood-batch", type=int, default=10,
                        help="messages per busy actor per ms in the flood")
    parser.add_argument("--work-us", type=float, default=5.0, help="CPU per flood message")
    args = parser.parse_args(argv)

    iterations = calibrate(args.work_us)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "pykka": version("pykka"), "trio": version("trio"),
                    "switch_interval_s": sys.getswitchinterval()},
        "parameters": vars(args) | {"json": str(args.json) if args.json else None},
    }
    throughput = measure_live_throughput(args.messages)
    results["live_throughput_msgs_per_s"] = throughput["in_loop"]
    results["live_throughput_foreign_thread_msgs_per_s"] = throughput["foreign_thread"]
    results["baseline_throughput_msgs_per_s"] = measure_baseline_throughput(args.messages // 2)
    results["deterministic_msgs_per_s"] = measure_deterministic(args.messages * 2)
    results["live_hop4_us"] = {}
    results["baseline_hop4_us"] = {}
    for load in ("idle", "cpu_thread", "flood"):
        results["live_hop4_us"][load] = measure_live_hop4(load, args, iterations)
        results["baseline_hop4_us"][load] = measure_baseline_hop4(load, args, iterations)
    results["live_hop4_trio_source_us"] = measure_live_hop4_trio_source(args)

    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    print(f"{'throughput (msgs/s)':<44}{'troupe':>14}{'pykka baseline':>16}")
    print(f"{'  one hop, producer on the loop':<44}{r['live_throughput_msgs_per_s']:>14,.0f}"
          f"{r['baseline_throughput_msgs_per_s']:>16,.0f}")
    print(f"{'  one hop, producer on another thread':<44}"
          f"{r['live_throughput_foreign_thread_msgs_per_s']:>14,.0f}")
    print(f"{'  deterministic host (ping-pong)':<44}{r['deterministic_msgs_per_s']:>14,.0f}")
    print()
    print(f"{'4-hop latency (us)':<22}{'troupe p50/p99/p99.9':>30}{'pykka p50/p99/p99.9':>32}")
    for load in ("idle", "cpu_thread", "flood"):
        live, base = r["live_hop4_us"][load], r["baseline_hop4_us"][load]
        print(f"  {load:<20}{fmt(live):>30}{fmt(base):>32}")
    for load, figures in r["live_hop4_trio_source_us"].items():
        print(f"  {load + ' (trio source)':<20}{fmt(figures):>30}")


def fmt(figures: dict[str, float]) -> str:
    return f"{figures['p50']:,.0f} / {figures['p99']:,.0f} / {figures['p999']:,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
