"""Tick-to-trade over real sockets: a live node on the fake Binance, from frame receipt to the
action handed to the venue transport.

    python -m benchmarks.tick_to_trade --json out/tick_to_trade.json

The fake venue (`supervision.fakevenue`) streams the shipped recording over loopback websockets
at `--rate` frames per second (10k) across `--instruments` symbols (20; the one recording
cloned), and accepts orders over REST. The node runs one market maker per instrument in live
mode against it, exactly as `python -m supervision.main` assembles it (`open_node`). The figure
is the node's own `troupe_tick_to_trade_seconds`: from the moment the websocket reader got the
frame that moved a book (its monotonic receive time, carried through the book to the decision)
to the moment the venue connection hands the order to the transport, exact percentiles from an
HDR histogram. The first `--warmup` seconds (books syncing, volatility warm-up) are not
measured.

Target: p99 under 500 us.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from supervision.config.load import load_config
from supervision.config.schema import NodeConfig
from supervision.fakevenue.__main__ import symbols_arg
from supervision.node.live_guard import Mode, ModeDecision
from supervision.node.run import NodeMetrics, close_node, open_node

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
[[venue.limits]]
name = "request_weight"
capacity = 100000
refill_per_s = 10000.0
[market]
source = "venue"
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
requote_min_interval_s = 0.05
"""


def _start_venue(rate: float, instruments: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The fake venue in a process of its own: in ours, its replay would share our GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervision.fakevenue", "--symbols", str(instruments),
         "--rate", str(rate)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    urls = json.loads(proc.stdout.readline())
    return proc, urls


def measure(rate: float, instruments: int, seconds: float, warmup: float) -> dict[str, Any]:
    symbols = symbols_arg(str(instruments))
    venue, urls = _start_venue(rate, instruments)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _run_node(Path(tmp), urls, symbols, seconds, warmup)
    finally:
        venue.terminate()
        venue.wait(10)


def _run_node(tmp: Path, urls: dict[str, str], symbols: list[str], seconds: float,
              warmup: float) -> dict[str, Any]:
    text = HEAD.format(journal=tmp / "journal.jsonl", rest=urls["rest"], ws=urls["ws"]) + "".join(
        INSTRUMENT.format(symbol=s) for s in symbols)
    path = tmp / "bench.toml"
    path.write_text(text)
    config = load_config(path, environ={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"})
    assert isinstance(config, NodeConfig)
    metrics = NodeMetrics()

    async def run() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            decision = ModeDecision(Mode.LIVE, "benchmark")
            running = await open_node(config, decision, None, nursery, metrics=metrics)
            await trio.sleep(warmup)
            metrics.reset_quantiles()
            frames = metrics.total("troupe_book_updates_total")
            await trio.sleep(seconds)
            frames = metrics.total("troupe_book_updates_total") - frames
            figures = {f"p{q:g}": metrics.quantile("troupe_tick_to_trade_seconds", q / 100)
                       for q in (50, 99, 99.9)}
            samples = metrics.count_of("troupe_tick_to_trade_seconds")
            await close_node(config, running, "benchmark")
            nursery.cancel_scope.cancel()
        return {"tick_to_trade_us": {k: None if v is None else round(v * 1e6, 1)
                                     for k, v in figures.items()},
                "samples": samples, "book_updates_per_s": round(frames / seconds)}

    return trio.run(run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = {"benchmark": "tick_to_trade", "rate": args.rate,
              "instruments": args.instruments, "seconds": args.seconds,
              "python": sys.version.split()[0], "machine": platform.machine(),
              **measure(args.rate, args.instruments, args.seconds, args.warmup)}
    ttt = result["tick_to_trade_us"]
    print(f"tick-to-trade over loopback, {args.instruments} instruments at {args.rate:g} "
          f"frames/s ({result['book_updates_per_s']} book updates/s applied): "
          f"p50 {ttt['p50']} us, p99 {ttt['p99']} us, p99.9 {ttt['p99.9']} us "
          f"({result['samples']} orders); target p99 < 500 us")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
