"""`python -m supervision.fakevenue`: a fake Binance on 127.0.0.1 until Ctrl-C.

    python -m supervision.fakevenue                        # spot BTCUSDT, recorded pace
    python -m supervision.fakevenue --dialect usdm --rest-port 18080 --ws-port 18081
    python -m supervision.fakevenue --symbols 20 --rate 10000   # 20 instruments, 10k frames/s
    python -m supervision.fakevenue --fault rate_limit=3 --fault retry_after_s=2

It prints one line with its URLs (JSON, for scripts) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

import trio

from supervision.fakevenue.cli import non_negative, port, positive, serve_until_interrupted
from supervision.fakevenue.faults import FaultError, parse_fault_args
from supervision.fakevenue.venue import FakeVenue


def symbols_arg(text: str) -> list[str]:
    """A count ("20": BTCUSDT, S01USDT, ... S19USDT) or a comma-separated list."""
    if text.isdigit() and int(text) > 0:
        n = int(text)
        return ["BTCUSDT"] + [f"S{i:02d}USDT" for i in range(1, n)]
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols or text.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected a count of 1 or more or symbols like BTCUSDT,ETHUSDT, got {text!r}")
    return symbols


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervision.fakevenue",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("spot", "usdm"), default="spot")
    parser.add_argument("--symbols", default="BTCUSDT", type=symbols_arg,
                        help="a count or a comma-separated list (default BTCUSDT)")
    parser.add_argument("--recording", default=None, help="a Binance recording (default: the "
                        "shipped BTCUSDT one)")
    parser.add_argument("--speed", type=non_negative, default=1.0,
                        help="x recorded pace (0: max)")
    parser.add_argument("--rate", type=positive, default=None, help="frames per second instead")
    parser.add_argument("--rest-port", type=port, default=0)
    parser.add_argument("--ws-port", type=port, default=0)
    parser.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    try:
        venue = FakeVenue.binance(args.symbols, dialect=args.dialect, recording=args.recording,
                                  speed=args.speed or None, rate=args.rate)
        venue.faults.update(parse_fault_args(args.fault))
    except (FaultError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(lambda task_status: venue.serve(
                rest_port=args.rest_port, ws_port=args.ws_port, task_status=task_status))
            print(json.dumps({"fakevenue": args.dialect, **urls}), flush=True)

    return serve_until_interrupted(
        run, f"127.0.0.1 (REST port {args.rest_port}, websocket port {args.ws_port})")


if __name__ == "__main__":
    sys.exit(main())
