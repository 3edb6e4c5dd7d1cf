"""Tick-to-trade over real sockets: a live node on the fake Binance, from frame receipt to the
action handed to the venue transport.

    python -m benchmarks.tick_to_trade --json out/tick_to_trade.json

The fake venue (`supervision.fakevenue`) streams the shipped recording over loopback websockets
at `--rate` frames per second (10k) across `--instruments` symbols (20; the one recording
cloned), and accepts orders over REST. The node runs one market maker per instrument in live
mode against it (`--mode observe`: the strategies run and each order stops where live mode
would hand it to the transport), exactly as `python -m supervision.main` assembles it
(`open_node`). The figure
is the node's own `troupe_tick_to_trade_seconds`: from the moment the websocket reader got the
frame that moved a book (its monotonic receive time, carried through the book to the decision)
to the moment the venue connection hands the order to the transport, exact percentiles from an
HDR histogram, over the orders market data caused and the action budget sent at once. Orders
a strategy's timer (a requote), a report (a fill) or a command caused have no tick: they are
`decision_to_trade_us`, from the strategy's handling of their message; orders the budget held
for the rate limit are `budget_held_us`, the hold (and the venue's 429s are counted). The
venue allows `--order-limit` orders per 10 s (10,000: the run measures latency, not Binance
spot's quota of 100, which `--order-limit 100` applies) and the budget declares the venue's
limits as they are, in fixed windows as the venue counts them: no 429 is ours. The first
`--warmup` seconds (books syncing, volatility warm-up) are not measured. After the hand-off,
`order_ack_us` is the venue's ack of each order (`troupe_order_ack_seconds`), and the venue's
refusals are counted by reason: with `--venue-delay-ms` the fake venue answers each order
request that much later (a remote venue's round trip, which loopback lacks), and
`--rest-workers` sets the order lane's REST worker processes, the two figures that decide it.

With it, each run reports where the time went (`benchmarks.stages`): every order's chain from
its frame, stage by stage (decode, book, strategy, gate, budget, send), each hop's wait and
work, and the chain's own work summed (its CPU floor: what the order would take with no wait
at all), the orders a collection paused apart from the others; the CPU each thread of the node
and the venue's process used, per frame received and per
frame some actor reads; how deep the venue connection's mailbox got; how long the
loop thread waited for a CPU (the machine's load) and how often the kernel preempted it; GC
pauses; the load average. Figures and what they mean: docs/benchmarks.md.

By default the node runs as an operator would run it for latency: its event-loop thread pinned
to CPU 0 (`runtime.loop_cpus = [0]`: the node's other threads and its REST worker process on
the other CPUs) and the fake venue's process on the other CPUs too, since it stands for a
remote machine and should not take the loop's core. `--no-pin` leaves every thread and process
to the scheduler, as before; `--loop-cpus 2,3` names other CPUs for the loop.

Target: p99 under 500 us.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import trio

from benchmarks.stages import STAGES, GcPauses, MachineUse, StageTrace
from supervision.config.load import load_config
from supervision.config.node import NodeConfig
from supervision.fakevenue.__main__ import symbols_arg
from supervision.node.live_guard import Mode, ModeDecision
from supervision.node.node_metrics import NodeMetrics
from supervision.node.run import close_node, freeze_when_ready, open_node
from supervision.runtime.affinity import CpuPlan, PinningError, cpu_list, plan_for
from supervision.runtime.live import SWITCH_INTERVAL_S

HEAD = """
[node]
name = "bench"
profile = "live"
[control]
enabled = false
[journal]
path = "{journal}"
fsync = "never"
[venue]
name = "binance"
kind = "binance"
account = "bench"
rest_url = "{rest}"
ws_url = "{ws}"
api_key = {{ env = "BINANCE_API_KEY" }}
api_secret = {{ env = "BINANCE_API_SECRET" }}
backoff_blocks = ["reduce_only", "cancel", "new"]
rest_workers = {rest_workers}
exit_workers = {exit_workers}
# The fake venue's limits as Binance publishes and counts them, in fixed windows on its clock:
# 6000 weight a minute, --order-limit orders per 10 s, 200000 a day. The budget counts them the
# same way, so they are declared as they are (a token bucket, which lets twice its capacity
# through in one window, had to be declared at half); each keeps a tenth for exits.
[[venue.limits]]
name = "request_weight"
model = "fixed_window"
capacity = 6000
period_s = 60
reserve = 300
[[venue.limits]]
name = "orders_10s"
model = "fixed_window"
capacity = {order_limit}
period_s = 10
unit = "orders"
reserve = {order_reserve}
[[venue.limits]]
name = "orders_1d"
model = "fixed_window"
capacity = 200000
period_s = 86400
unit = "orders"
reserve = 1000
[market]
source = "venue"
[runtime]
loop_cpus = {loop_cpus}
[risk]
max_order_notional = "1000"
max_total_exposure = "100000"
daily_loss_limit = "1000"
max_drawdown = "1000"
"""

INSTRUMENT = """
[[instruments]]
symbol = "{symbol}"
tick_size = "0.01"
lot_step = "0.00000001"
min_qty = "0.00001"
min_notional = "5"
maker_fee = "0.001"
taker_fee = "0.001"
[[strategies]]
id = "mm_{symbol}"
kind = "market_maker"
instrument = "{symbol}"
[strategies.params]
quote_lots = 10000
max_inventory = 1000000
gamma = 2e-10
k = 0.02
requote_min_interval_s = {requote}
"""


def _start_venue(setup: Setup, plan: CpuPlan | None) -> tuple[subprocess.Popen[str],
                                                              dict[str, str]]:
    """The fake venue in a process of its own: in ours, its replay would share our GIL. With a
    plan, on the CPUs the loop leaves (a remote machine takes none of the loop's CPU time).
    At `VENUE_NICE`: it stands for a remote machine, so on a CPU it shares with the node's
    other threads (the journal writer holding the GIL the loop waits for) the node's run
    first."""
    # Funded for twenty market makers: each quotes both sides of its symbol, so the account
    # holds every base asset (a sell of one it lacks is refused, insufficient funds) and the
    # quote asset for the buys.
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervision.fakevenue", "--symbols", str(setup.instruments),
         "--rate", str(setup.rate), "--fault", f"order_limit={setup.order_limit}",
         "--fault", f"ack_delay_s={setup.venue_delay_ms / 1000}",
         "--balance", f"USDT={QUOTE_BALANCE}", "--balance", f"each={BASE_BALANCE}"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    urls = json.loads(proc.stdout.readline())
    # Every thread it has; those it starts later take their creator's CPUs and niceness.
    for task in os.listdir(f"/proc/{proc.pid}/task"):
        if plan is not None:
            os.sched_setaffinity(int(task), plan.others)
        with contextlib.suppress(OSError):  # (a thread that ended meanwhile)
            os.setpriority(os.PRIO_PROCESS, int(task), VENUE_NICE)
    return proc, urls


REQUOTE_S, ORDER_LIMIT = 0.05, 10_000
VENUE_NICE = 15
QUOTE_BALANCE, BASE_BALANCE = 1_000_000, 10  # USDT; each symbol's base asset (~60,000 USDT)


@attrs.frozen
class Setup:
    rate: float = 10_000.0
    instruments: int = 20
    seconds: float = 20.0
    warmup: float = 8.0
    trace_stages: bool = True  # trace each stage (two Python calls per message on the path)
    requote_s: float = REQUOTE_S  # the market makers' requote_min_interval_s
    # Orders per 10 s the venue allows (Binance spot publishes 100): far above what the
    # market makers send, so the run measures latency, not the quota (--order-limit 100 does).
    order_limit: int = ORDER_LIMIT
    # The CPUs the node's event loop runs on alone (empty: no pinning, `--no-pin`).
    loop_cpus: tuple[int, ...] = (0,)
    # live: orders go to the fake venue through ccxt; observe: the strategies run and their
    # orders stop where live mode hands them to the transport (nothing is sent)
    mode: str = "live"
    # The order lane's REST worker processes (venue.rest_workers; the exits lane keeps its
    # default), and how long the fake venue holds each order request's answer: a remote
    # venue's round trip, which loopback does not have.
    rest_workers: int = 4
    venue_delay_ms: float = 0.0


def measure(setup: Setup) -> dict[str, Any]:
    plan = plan_for(setup.loop_cpus, setting="--loop-cpus")
    venue, urls = _start_venue(setup, plan)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _run_node(Path(tmp), urls, setup, venue.pid)
    finally:
        venue.terminate()
        venue.wait(10)


def config_text(tmp: Path, urls: dict[str, str], setup: Setup) -> str:
    """The node's config: `HEAD`, then one market maker's instrument per symbol."""
    return HEAD.format(journal=tmp / "journal.jsonl", rest=urls["rest"], ws=urls["ws"],
                       order_limit=setup.order_limit, loop_cpus=list(setup.loop_cpus),
                       rest_workers=setup.rest_workers, exit_workers='"auto"',
                       order_reserve=max(1, setup.order_limit // 10)) + "".join(
        INSTRUMENT.format(symbol=s, requote=setup.requote_s)
        for s in symbols_arg(str(setup.instruments)))


def _run_node(tmp: Path, urls: dict[str, str], setup: Setup, venue_pid: int) -> dict[str, Any]:
    path = tmp / "bench.toml"
    path.write_text(config_text(tmp, urls, setup))
    config = load_config(path, environ={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"})
    assert isinstance(config, NodeConfig)
    metrics = NodeMetrics()
    trace = StageTrace(time.monotonic_ns)
    counters = ("troupe_book_updates_total", "troupe_venue_feed_refused_total",
                "troupe_book_ignored_total", "troupe_budget_rate_limited_total",
                "troupe_orders_sent_total", "troupe_budget_dropped_total",
                "troupe_orders_rejected_total", "troupe_book_deep_deferred_total")

    async def run() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            decision = ModeDecision(Mode(setup.mode), "benchmark")
            running = await open_node(config, decision, None, nursery, metrics=metrics)
            host = running.node.host
            if setup.trace_stages:
                trace.attach(host, [c.name for c in host.statistics()
                                    if c.name.startswith(_TRACED)])
            await trio.sleep(setup.warmup)
            freeze_when_ready(running.node)  # as the node's run loop does (not called here)
            metrics.reset_quantiles()
            totals = [metrics.total(c) for c in counters]
            refusals = _by_reason(metrics)
            machine = MachineUse(venue_pid)
            trace.recording = True
            with GcPauses() as gc_pauses:
                await trio.sleep(setup.seconds)
            trace.recording = False
            used = machine.since()
            totals = [metrics.total(c) - t for c, t in zip(counters, totals, strict=True)]
            refusals = {reason: n - refusals.get(reason, 0)
                        for reason, n in _by_reason(metrics).items()
                        if n > refusals.get(reason, 0)}
            latencies = {key: _latency(metrics, metric) for key, metric in _LATENCIES.items()}
            # How deep the connection's queue got: below a few messages, no order can have
            # waited behind much market data, whatever the mailbox's policy.
            connection = next(s.mailbox for s in host.statistics()
                              if s.name == "node/venue/connection")
            pinning = _pinning(host, venue_pid)
            await close_node(config, running, "benchmark")
            nursery.cancel_scope.cancel()
        result: dict[str, Any] = {
            **latencies, "samples": latencies["tick_to_trade_us"]["samples"],
            "book_updates_per_s": round(totals[0] / setup.seconds),
            "feed_refused_per_s": round(totals[1] / setup.seconds),
            "ignored_per_s": round(totals[2] / setup.seconds),
            "rate_limited": round(totals[3]),
            # Order requests sent (new, replace, cancel), intents the budget dropped (stale,
            # superseded ...: never sent), and the venue's refusals of orders, in the window.
            "orders_sent": round(totals[4]), "budget_dropped": round(totals[5]),
            "orders_rejected": round(totals[6]),
            # by reason: post_only_would_take is the replay moving the venue's book while the
            # order is on its way (the recording runs many times faster than it was recorded);
            # not_sent is the node's own (a replace taken back behind a sweep)
            "orders_rejected_by_reason": refusals,
            # diffs whose deep levels the books applied after publishing the top
            "deep_deferred_per_s": round(totals[7] / setup.seconds),
            "connection_mailbox": {"policy": connection.policy,
                                   "high_water": connection.high_water},
            **used, "gc_pauses": gc_pauses.report(), "pinning": pinning}
        if setup.trace_stages:
            result["stages"] = trace.report(gc_pauses.spans)
            frames, wall = max(result["stages"]["frames"], 1), used["wall_s"]
            loop = used["cpu_s"]["node_threads"].get("MainThread", 0.0)
            result["frames_per_s"] = round(frames / wall)
            result["node_cpu_us_per_frame"] = round(1e6 * used["cpu_s"]["node"] / frames, 1)
            result["venue_cpu_us_per_frame"] = round(1e6 * used["cpu_s"]["venue"] / frames, 1)
            result["loop_cpu_us_per_frame"] = round(1e6 * loop / frames, 1)
            # The frames some actor reads (depth, trades): the same work whatever else the
            # node was sent, so runs that subscribed different streams compare on it.
            read = max(frames - totals[2], 1)
            result["node_cpu_us_per_read_frame"] = round(1e6 * used["cpu_s"]["node"] / read, 1)
            result["loop_busy"] = round(loop / wall, 3)
        return result

    return trio.run(run)


def _by_reason(metrics: NodeMetrics) -> dict[str, int]:
    """The orders refused in the run so far, by their reason label."""
    counts: dict[str, int] = {}
    for (_actor, metric, labels), value in metrics.counters.items():
        if metric == "troupe_orders_rejected_total":
            reason = dict(labels).get("reason", "")
            counts[reason] = counts.get(reason, 0) + round(value)
    return counts


def _pinning(host: Any, venue_pid: int) -> dict[str, Any] | None:
    """Where the loop, the node's other threads and the venue ran (None: not pinned)."""
    if host.pinning is None:
        return None
    venue = [frozenset(os.sched_getaffinity(int(t))) for t in os.listdir(f"/proc/{venue_pid}/task")]
    return {"loop_cpus": sorted(host.cpu_plan.loop), "other_cpus": sorted(host.cpu_plan.others),
            "venue_cpus": sorted(frozenset().union(*venue)),
            "threads_moved": host.pinning.threads_moved,
            "child_processes_moved": host.pinning.children_moved}


# What each order's latency measures (`actors.execution.venue_session.order_latency`): only
# orders market data caused and the budget sent at once are tick-to-trade samples.
_LATENCIES = {"tick_to_trade_us": "troupe_tick_to_trade_seconds",
              "decision_to_trade_us": "troupe_decision_to_trade_seconds",
              "budget_held_us": "troupe_budget_held_seconds",
              # from handing an order to the transport to the venue's ack (the REST worker,
              # ccxt, the fake venue's HTTP server): how long the order was on its way
              "order_ack_us": "troupe_order_ack_seconds"}


def _latency(metrics: NodeMetrics, metric: str) -> dict[str, float | int | None]:
    figures: dict[str, float | int | None] = {}
    for q in (50, 99, 99.9):
        value = metrics.quantile(metric, q / 100)
        figures[f"p{q:g}"] = None if value is None else round(value * 1e6, 1)
    figures["samples"] = metrics.count_of(metric)
    return figures


_TRACED = ("node/venue/connection", "node/venue/book:", "node/strategies/", "node/risk/gate",
           "node/venue/budget")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--no-stages", action="store_true",
                        help="do not trace the stages (no tracing cost on the path)")
    parser.add_argument("--requote", type=float, default=REQUOTE_S,
                        help="the market makers' requote_min_interval_s")
    parser.add_argument("--order-limit", type=int, default=ORDER_LIMIT,
                        help="orders per 10 s the venue allows (Binance spot: 100)")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave the node's threads and the venue to the scheduler")
    parser.add_argument("--loop-cpus", default="0", metavar="CPUS",
                        help="CPUs the node's event loop runs on alone, e.g. 0 or 2,3 "
                             "(default 0; the venue and the node's other threads get the rest)")
    parser.add_argument("--mode", choices=("live", "observe"), default="live",
                        help="live (default): orders go to the fake venue; observe: they stop "
                             "where live mode hands them to the transport")
    parser.add_argument("--rest-workers", type=int, default=4, choices=range(1, 33),
                        metavar="N", help="the order lane's REST worker processes (4)")
    parser.add_argument("--venue-delay-ms", type=float, default=0.0, metavar="MS",
                        help="the fake venue answers each order request this much later: a "
                             "remote venue's round trip (0)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not 0 <= args.venue_delay_ms <= 10_000:
        parser.exit(2, "error: --venue-delay-ms must be between 0 and 10000\n")
    try:
        loop_cpus = () if args.no_pin else tuple(int(c) for c in args.loop_cpus.split(","))
        plan_for(loop_cpus, setting="--loop-cpus")
    except (ValueError, PinningError) as exc:
        parser.exit(2, f"error: {exc} (or --no-pin)\n")
    setup = Setup(args.rate, args.instruments, args.seconds, args.warmup, not args.no_stages,
                  args.requote, args.order_limit, loop_cpus, args.mode, args.rest_workers,
                  args.venue_delay_ms)
    result = {"benchmark": "tick_to_trade", **attrs.asdict(setup),
              "python": sys.version.split()[0], "machine": platform.machine(),
              "switch_interval_s": SWITCH_INTERVAL_S, **measure(setup)}
    print("\n".join(_lines(result)))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _lines(result: dict[str, Any]) -> list[str]:
    ttt, load, cpu = result["tick_to_trade_us"], result["load_average"], result["cpu_s"]
    other, held = result["decision_to_trade_us"], result["budget_held_us"]
    lines = [
        f"tick-to-trade over loopback, {result['mode']} mode, {result['instruments']} "
        f"instruments at {result['rate']:g} frames/s: p50 {ttt['p50']} us, p99 {ttt['p99']} us, "
        f"p99.9 {ttt['p99.9']} us ({ttt['samples']} orders market data caused, sent at once); "
        "target p99 < 500 us",
        f"orders a timer, a report or a command caused (from its handling, no tick): p50 "
        f"{other['p50']} us, p99 {other['p99']} us ({other['samples']} orders); orders the "
        f"rate limit held in the budget: {held['samples']}, held p50 {held['p50']} us, "
        f"p99 {held['p99']} us; 429s from the venue: {result['rate_limited']}; order "
        f"requests sent {result['orders_sent']}, dropped by the budget "
        f"{result['budget_dropped']}, refused {result['orders_rejected']} ("
        + (", ".join(f"{reason} {n}" for reason, n in sorted(
            result["orders_rejected_by_reason"].items(), key=lambda item: -item[1])) or "none")
        + f"); the venue's ack p50 {result['order_ack_us']['p50']} us, p99 "
        f"{result['order_ack_us']['p99']} us",
        f"load average {load['before_1m']:.2f} -> {load['after_1m']:.2f}; "
        f"{result['book_updates_per_s']} book updates/s applied ("
        f"{result['deep_deferred_per_s']}/s published before their deep levels), "
        f"{result['feed_refused_per_s']} feed events/s refused; the connection's mailbox "
        f"({result['connection_mailbox']['policy']}) held at most "
        f"{result['connection_mailbox']['high_water']}; CPU over "
        f"{result['wall_s']:g} s: node {cpu['node']:g} s "
        f"({', '.join(f'{k} {v:g}' for k, v in cpu['node_threads'].items())}), "
        f"venue {cpu['venue']:g} s; the loop thread waited {result['loop_waited_for_cpu_s']:g} s "
        "for a CPU (runnable, not running: the machine's load) and was switched out "
        f"{result['loop_switches'].get('voluntary', 0)} times blocking (the GIL, or idle) and "
        f"{result['loop_switches'].get('nonvoluntary', 0)} times preempted",
        _pinning_line(result["pinning"]),
        "GC pauses: " + ", ".join(f"{g} {p['count']} (max {p['max_ms']} ms, total "
                                  f"{p['total_ms']} ms)" for g, p in result["gc_pauses"].items())]
    stages = result.get("stages")
    if not stages:
        return lines
    lines.append(f"{result['frames_per_s']} frames/s received; CPU per frame: node "
                 f"{result['node_cpu_us_per_frame']} us, of which the loop thread "
                 f"{result['loop_cpu_us_per_frame']} us (busy {result['loop_busy']:.0%}); "
                 f"venue {result['venue_cpu_us_per_frame']} us; {result['ignored_per_s']} "
                 f"frames/s read by no actor; node CPU per frame an actor reads "
                 f"{result['node_cpu_us_per_read_frame']} us")
    for name, chains in stages["order_chains"].items():
        lines.append(f"per stage, us (p50 / p99 / p99.9), orders {name.replace('_', ' ')}: "
                     f"{chains['orders']}, end to end {_q(chains['end_to_end_us'])}; the "
                     f"chain's own work (its stages' handling, no wait) "
                     f"{_q(chains['chain_work_us'])}")
        for stage in STAGES:
            hop = chains["hops_us"][stage]
            if hop["work"]["p50"] is not None:
                lines.append(f"  {stage:<9} wait {_q(hop['wait']):<24} work {_q(hop['work'])}")
        if chains.get("other_messages_in_chain"):
            lines.append("  messages of other chains the loop handled between the frame's "
                         f"receipt and the send: {_q(chains['other_messages_in_chain'])}")
        split = chains.get("by_collection")
        if split:
            lines.append("  end to end, the orders a collection paused: "
                         f"{split['paused']['orders']}, {_q(split['paused']['end_to_end_us'])}"
                         f"; the others: {split['not_paused']['orders']}, "
                         f"{_q(split['not_paused']['end_to_end_us'])}")
        lines += [f"  {stage:<9} waits {w['total_ms']} ms in all: the loop handled other "
                  f"messages {w['other_messages_pct']}% ("
                  + ", ".join(f"{k} {v}" for k, v in w["by_actor_pct"].items())
                  + f"), no actor ran {w['no_actor_ran_pct']}%"
                  for stage, w in chains.get("waits", {}).items()]
    ahead = stages.get("frames_ahead")
    if ahead and ahead["by_frames_ahead"]:
        lines.append(
            f"orders from frames by the frames of their burst handled first (p50 "
            f"{ahead['frames_ahead_p50']}, p99 {ahead['frames_ahead_p99']}): "
            + "; ".join(f"{k} ahead: {v['orders']} orders, p50 {v['p50']:,} / p99 "
                        f"{v['p99']:,} us" for k, v in ahead["by_frames_ahead"].items()))
    for stage, hop in stages["every_frame_us"].items():
        lines.append(f"  every frame, {stage:<6} wait {_q(hop['wait']):<24} "
                     f"work {_q(hop['work'])}")
    return lines


def _pinning_line(pinning: dict[str, Any] | None) -> str:
    if pinning is None:
        return ("not pinned (--no-pin): the scheduler placed every thread and the venue "
                f"(the venue at nice {VENUE_NICE})")
    return (f"pinned: the event loop on CPU {cpu_list(pinning['loop_cpus'])}, the node's other "
            f"threads and its REST worker on CPU {cpu_list(pinning['other_cpus'])} "
            f"({pinning['threads_moved']} threads and {pinning['child_processes_moved']} child "
            f"processes set there), the venue on CPU "
            f"{cpu_list(pinning['venue_cpus'])} at nice {VENUE_NICE}")


def _q(figures: dict[str, Any]) -> str:
    return " / ".join("-" if v is None else f"{v:,}" for v in figures.values())


if __name__ == "__main__":
    sys.exit(main())
