"""Kill switch to the last cancel at the venue, under load, over real sockets.

    python -m benchmarks.kill_switch --json out/kill_switch.json

A live node (`python -m supervision.main ... --execute`, a process of its own) runs one market
maker per instrument (`--instruments`, 10) against the fake Binance (`supervision.fakevenue`,
on a thread here: its request log is read directly), whose order answers take `--ack-delay-ms`
(50: a venue round trip), so new orders and replaces queue for the node's REST worker. Each
round the operator halts the node (`POST /control {"action": "halt"}`: HALTED, every order
cancelled) and resumes it once nothing rests. Figures per round, from the venue's own request
log (arrival times on its clock):

- `kill_to_first_cancel_ms`, `kill_to_last_cancel_ms`: from the kill switch to the first and
  the last per-instrument sweep (`DELETE openOrders`) reaching the venue. The kill switch's
  moment is marked in the same log by a `GET time` sent just before the `POST /control`.
- `entries_after_kill`: new orders and replaces that reached the venue after the kill switch
  and before its last sweep (each one a request the sweeps waited for, and, if it arrived after
  its instrument's sweep, an order resting under a kill switch until cancelled again).

The sweeps share the exits lane's workers (`--exit-workers`, 2: `venue.exit_workers`), one
symbol's sweep per worker at a time, each answered after the venue's delay: the last one
comes about `instruments` / workers x ack delay after the first at best.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.tick_to_trade import HEAD as TICK_TO_TRADE_HEAD
from benchmarks.tick_to_trade import INSTRUMENT
from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.fakevenue.__main__ import symbols_arg

# The tick-to-trade benchmark's node, with its control plane on (the operator's kill switch)
# and an account of its own (the two may run at once: one node per account).
HEAD = TICK_TO_TRADE_HEAD.replace("[control]\nenabled = false\n", """[control]
listen_host = "127.0.0.1"
listen_port = 0
token = { env = "TROUPE_CONTROL_TOKEN" }
""".replace("{", "{{").replace("}", "}}")).replace('account = "bench"', 'account = "kill-bench"')
assert "listen_port" in HEAD and "kill-bench" in HEAD, "the tick-to-trade config changed"
TOKEN = "t" * 32
ORDER_LIMIT = 10_000  # orders per 10 s, the venue's and the node's: latency, not the quota
ENTRIES = {("POST", "order"), ("POST", "cancelReplace")}


class NodeUnderTest:
    def __init__(self, config: Path, seconds: float) -> None:
        env = {**os.environ, "TROUPE_CONTROL_TOKEN": TOKEN, "BINANCE_API_KEY": "k",
               "BINANCE_API_SECRET": "s", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", str(config), "--execute",
             "--confirm-live", "YES", "--duration", str(seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.port: int | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"control plane: http://127.0.0.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))

    def control(self, action: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/control",
            json.dumps({"action": action, "reason": "benchmark"}).encode(),
            headers={"Content-Type": "application/json", "X-Auth-Token": TOKEN})
        with urllib.request.urlopen(request, timeout=10):
            pass


def _until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def config_text(journal: Path, urls: dict[str, str], symbols: list[str],
                exit_workers: int) -> str:
    """The node's config: the tick-to-trade node's (not pinned: it is a process of its own
    here), with `exit_workers` on the exits lane."""
    return HEAD.format(journal=journal, rest=urls["rest"], ws=urls["ws"],
                       order_limit=ORDER_LIMIT, order_reserve=ORDER_LIMIT // 10, loop_cpus=[],
                       rest_workers=4, exit_workers=exit_workers) + "".join(
        INSTRUMENT.format(symbol=s, requote=0.1) for s in symbols)


def measure(instruments: int, ack_delay_ms: float, rounds: int,
            exit_workers: int = 2) -> dict[str, Any]:
    symbols = symbols_arg(str(instruments))
    balances = {"USDT": Decimal(10_000_000),
                **{s.removesuffix("USDT"): Decimal(100) for s in symbols}}
    fake = FakeVenue.binance(symbols, speed=4, balances=balances)
    # The venue allows what the node's config declares (10,000 orders per 10 s): at Binance's
    # published 100 the market makers are throttled, and the 429s' backoff, which holds exits
    # too on Binance (it bans an IP that keeps sending), is what the run would measure.
    fake.faults.update({"order_limit": ORDER_LIMIT})
    samples: list[dict[str, float]] = []
    with FakeVenueThread(fake) as urls, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "kill.toml"
        config.write_text(config_text(Path(tmp) / "journal.jsonl", urls, symbols,
                                      exit_workers))
        node = NodeUnderTest(config, 60 + rounds * 15)
        try:
            if not _until(lambda: len(fake.desk.open_orders(None)) >= instruments, 40):
                raise SystemExit("the node did not quote:\n" + "".join(node.lines[-20:]))
            fake.faults.update({"ack_delay_s": ack_delay_ms / 1000})
            for _ in range(rounds):
                time.sleep(3.0)  # quoting through the slow venue: a queue builds
                samples.append(_kill(fake, node, urls["rest"], len(symbols)))
                node.control("resume")
                _until(lambda: len(fake.desk.open_orders(None)) >= instruments, 20)
        finally:
            node.proc.terminate()
            node.proc.wait(30)
    return {"instruments": instruments, "ack_delay_ms": ack_delay_ms,
            "exit_workers": exit_workers, "rounds": samples,
            **{key: statistics.median(s[key] for s in samples) for key in samples[0]}}


def _kill(fake: FakeVenue, node: NodeUnderTest, rest: str, sweeps: int) -> dict[str, float]:
    start = len(fake.rest.log)
    with urllib.request.urlopen(f"{rest}/api/v3/time", timeout=5):
        pass
    node.control("halt")

    def swept() -> list[float]:
        return [t for t, m, e, _c, _s in list(fake.rest.log)[start:]
                if (m, e) == ("DELETE", "openOrders")]

    if not _until(lambda: len(swept()) >= sweeps and not fake.desk.open_orders(None), 60):
        raise SystemExit("the kill switch did not sweep every instrument")
    log = sorted(list(fake.rest.log)[start:])
    marked = next(t for t, _m, e, _c, _s in log if e == "time")
    times = swept()
    last = max(times)
    entries = sum(1 for t, m, e, _c, _s in log if marked < t <= last and (m, e) in ENTRIES)
    return {"kill_to_first_cancel_ms": round((min(times) - marked) * 1000, 1),
            "kill_to_last_cancel_ms": round((last - marked) * 1000, 1),
            "entries_after_kill": entries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=10)
    parser.add_argument("--ack-delay-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exit-workers", type=int, default=2, choices=range(1, 33),
                        metavar="N", help="the exits lane's REST worker processes (2)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    result = measure(args.instruments, args.ack_delay_ms, args.rounds, args.exit_workers)
    print(f"kill switch, {result['instruments']} instruments, venue answers after "
          f"{result['ack_delay_ms']:g} ms, {result['exit_workers']} exits workers, median of "
          f"{len(result['rounds'])} rounds: "
          f"first cancel {result['kill_to_first_cancel_ms']} ms, last cancel "
          f"{result['kill_to_last_cancel_ms']} ms, new orders/replaces after the kill "
          f"{result['entries_after_kill']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
