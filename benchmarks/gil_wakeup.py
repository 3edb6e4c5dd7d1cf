"""How long a trio loop woken by the network waits for the GIL while another thread of its
process runs Python in bursts (as the ccxt REST thread or the journal writer do), by switch
interval.

    python -m benchmarks.gil_wakeup --json out/gil_wakeup.json

A feeder process writes its `time.monotonic_ns()` into a pipe every millisecond (the clock is
the same in both processes); a trio loop here waits for the pipe to be readable and records
the delay from the write to the moment it runs again. Meanwhile a thread spins in pure Python
for `--burst-ms` every `--period-ms`. A woken thread runs only once the holder lets the GIL go:
when it blocks, or when the switch interval forces it. The live host serves with
`supervision.runtime.live.SWITCH_INTERVAL_S` for this reason.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio

from supervision.runtime.live import SWITCH_INTERVAL_S

FEEDER = """
import os, struct, sys, time
fd, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    os.write(fd, struct.pack("q", time.monotonic_ns()))
    time.sleep(0.001)
"""


def measure(switch_interval_s: float, seconds: float, burst_s: float,
            period_s: float) -> dict[str, Any]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval_s)
    read_fd, write_fd = os.pipe()
    feeder = subprocess.Popen([sys.executable, "-c", FEEDER, str(write_fd), str(seconds)],
                              pass_fds=(write_fd,))
    os.close(write_fd)
    stop = threading.Event()

    def bursts() -> None:
        while not stop.is_set():
            until = time.perf_counter() + burst_s
            while time.perf_counter() < until:
                sum(range(50))
            time.sleep(period_s)

    busy = threading.Thread(target=bursts, daemon=True)
    busy.start()
    delays: list[int] = []

    async def wake_ups() -> None:
        while True:
            await trio.lowlevel.wait_readable(read_fd)
            data = os.read(read_fd, 8 * 64)
            if not data:
                return
            now = time.monotonic_ns()
            delays.extend(now - sent for (sent,) in struct.iter_unpack("q", data))

    try:
        trio.run(wake_ups)
    finally:
        stop.set()
        feeder.wait(10)
        os.close(read_fd)
        sys.setswitchinterval(before)
    delays.sort()
    return {"switch_interval_ms": switch_interval_s * 1e3, "wake_ups": len(delays),
            **{f"p{q:g}_us": round(delays[min(len(delays) - 1, int(q / 100 * len(delays)))]
                                   / 1e3) for q in (50, 99, 99.9)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--burst-ms", type=float, default=4.0)
    parser.add_argument("--period-ms", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = [measure(interval, args.seconds, args.burst_ms / 1e3, args.period_ms / 1e3)
            for interval in (0.005, SWITCH_INTERVAL_S)]
    load = os.getloadavg()[0]
    for row in rows:
        print(f"switch interval {row['switch_interval_ms']:g} ms: {row['wake_ups']} wake-ups, "
              f"p50 {row['p50_us']} us, p99 {row['p99_us']} us, p99.9 {row['p99.9_us']} us "
              f"(a thread runs {args.burst_ms:g} ms of Python every {args.period_ms:g} ms; "
              f"load average {load:.1f})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "gil_wakeup", "load_average": load,
                                         "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
