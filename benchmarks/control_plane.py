"""Tick-to-trade of the paper node, quiet and while 8 clients scrape /metrics without pause.

    python -m benchmarks.control_plane --json out/control_plane.json [--seconds 20]

One run, one node: the paper node of config/paper.toml (journal in a temporary directory, the
control plane on an ephemeral loopback port) is started in this process on the live host, warms
up, and then tick-to-trade (`troupe_tick_to_trade_seconds`: from the market update a decision
reacted to, to the order on the venue's wire) is recorded in an HdrHistogram per phase:

- quiet: nobody talks to the control plane;
- scraped: 8 clients in another process (so their own CPU does not compete for this process's
  GIL) each GET /metrics in a loop on a keep-alive connection, as fast as the node answers.

Target: scraped p99 <= 1.5 x quiet p99. The JSON: `tick_to_trade_us` maps `quiet` and `scraped`
to `{p50, p99}` in microseconds; `samples`, `scrapes` and `scrapes_per_s` say how much each
phase measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio
from hdrh.histogram import HdrHistogram

from supervision.config.load import NodeConfig, load_config
from supervision.node import run
from supervision.node.live_guard import resolve_mode

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "paper.toml"
SECOND = 1_000_000_000
CLIENTS = 8
TARGET_RATIO = 1.5
# More decisions per second than the shipped pace, so a phase holds hundreds of samples: the
# recording at 5x, requotes at most every 20 ms; no status line.
OVERRIDES = ("control.listen_port=0", "node.status_interval_s=3600", "market.speed=5",
             "strategies.0.params.requote_min_interval_s=0.02")


class PhasedMetrics(run.NodeMetrics):
    """The node's sink, also recording tick-to-trade into the histogram of the current phase."""

    def __init__(self) -> None:
        super().__init__()
        self.phase: HdrHistogram | None = None

    def observe(self, actor: str, metric: str, value: Any, labels: dict[str, str]) -> None:
        super().observe(actor, metric, value, labels)
        phase = self.phase
        if phase is not None and metric == "troupe_tick_to_trade_seconds":
            phase.record_value(min(max(1, int(float(value) * SECOND)), 60 * SECOND))


def scrape_forever(port: int, clients: int) -> None:
    """The scraper process: `clients` threads GET /metrics back to back while scraping is on.
    Reads commands from stdin: "on", "off"; answers each with a line once it holds (for "on":
    once every client has had an answer); at end of input prints the scrape count."""
    counts = [0] * clients
    scraping = threading.Event()
    answered = threading.Semaphore(0)
    done = threading.Event()

    def client(index: int) -> None:
        while True:
            scraping.wait()
            if done.is_set():
                return
            # A fresh keep-alive connection per stretch: the plane closes idle ones.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            first = True
            while scraping.is_set():
                connection.request("GET", "/metrics", headers={"Host": f"127.0.0.1:{port}"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"scrape failed: {response.status}")
                counts[index] += 1
                if first:
                    first = False
                    answered.release()
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for line in sys.stdin:
        if line.strip() == "on":
            scraping.set()
            for _ in range(clients):
                answered.acquire()
        else:
            scraping.clear()
        print(line.strip(), flush=True)
    done.set()
    scraping.set()
    print(sum(counts), flush=True)


class Scrapers:
    """The scraper process, driven from the benchmark's trio loop."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.control_plane", "--scrape", str(port)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    async def command(self, word: str) -> str:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        if word:
            stdin.write(word + "\n")
            stdin.flush()
        else:
            stdin.close()
        return (await trio.to_thread.run_sync(stdout.readline)).strip()


def quantiles(histogram: HdrHistogram) -> dict[str, float]:
    return {"p50": histogram.get_value_at_percentile(50) / 1e3,
            "p99": histogram.get_value_at_percentile(99) / 1e3}


async def measure(config: NodeConfig, seconds: float, warmup: float,
                  rounds: int) -> dict[str, Any]:
    """`rounds` alternations of a quiet and a scraped stretch, `seconds / rounds` each, so a
    change of pace in the market data or on the machine falls on both phases alike."""
    metrics = PhasedMetrics()
    decision = resolve_mode(config.profile.value, execute=False, confirm_live=None)
    phases = {name: HdrHistogram(1, 60 * SECOND, 3) for name in ("quiet", "scraped")}
    stretch = seconds / rounds
    scraped_for = 0.0
    async with trio.open_nursery() as nursery:
        running = await run.open_node(config, decision, None, nursery, metrics=metrics)
        assert running.port is not None
        scrapers = Scrapers(running.port)
        await trio.sleep(warmup)
        for _ in range(rounds):
            metrics.phase = phases["quiet"]
            await trio.sleep(stretch)
            metrics.phase = None
            await scrapers.command("on")
            metrics.phase = phases["scraped"]
            started = time.monotonic()
            await trio.sleep(stretch)
            metrics.phase = None
            scraped_for += time.monotonic() - started
            await scrapers.command("off")
        total = int(await scrapers.command("") or 0)
        scrapers.process.wait(timeout=30)
        series = metrics_series(metrics)
        await run.close_node(config, running, "benchmark")
        nursery.cancel_scope.cancel()
    return {"phases": phases, "scrapes": total, "scrapes_per_s": total / scraped_for,
            "series": series}


def metrics_series(metrics: run.NodeMetrics) -> int:
    body, _ = metrics.text()
    return sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4, help="quiet/scraped alternations")
    parser.add_argument("--scrape", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scrape is not None:
        scrape_forever(args.scrape, CLIENTS)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(CONFIG, [f"journal.path={Path(tmp) / 'journal.jsonl'}",
                                      *OVERRIDES], environ={})
        assert isinstance(config, NodeConfig)
        result = trio.run(measure, config, args.seconds, args.warmup, args.rounds)
    phases: dict[str, HdrHistogram] = result["phases"]
    figures = {name: quantiles(h) for name, h in phases.items()}
    ratio = figures["scraped"]["p99"] / figures["quiet"]["p99"]
    print(f"tick-to-trade of the paper node, {args.seconds:.0f} s per phase "
          f"({result['series']} series on /metrics)")
    print(f"{'phase':<9} {'samples':>8} {'p50 us':>9} {'p99 us':>9}")
    for name, h in phases.items():
        print(f"{name:<9} {h.get_total_count():>8} {figures[name]['p50']:>9,.0f} "
              f"{figures[name]['p99']:>9,.0f}")
    print(f"{CLIENTS} clients scraped {result['scrapes']} times ({result['scrapes_per_s']:.0f}/s); "
          f"scraped p99 / quiet p99 = {ratio:.2f} (target <= {TARGET_RATIO})")
    results = {
        "tick_to_trade_us": figures,
        "samples": {name: h.get_total_count() for name, h in phases.items()},
        "p99_ratio": ratio,
        "target_p99_ratio": TARGET_RATIO,
        "clients": CLIENTS,
        "scrapes": result["scrapes"],
        "scrapes_per_s": result["scrapes_per_s"],
        "metrics_series": result["series"],
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
        "python": platform.python_version(),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
