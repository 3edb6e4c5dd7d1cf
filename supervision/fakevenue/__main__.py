"""`python -m supervision.fakevenue`: a fake Binance on 127.0.0.1 until Ctrl-C.

    python -m supervision.fakevenue                        # spot BTCUSDT, recorded pace
    python -m supervision.fakevenue --dialect usdm --rest-port 18080 --ws-port 18081
    python -m supervision.fakevenue --symbols 20 --rate 10000   # 20 instruments, 10k frames/s
    python -m supervision.fakevenue --fault rate_limit=3 --fault retry_after_s=2
    python -m supervision.fakevenue --symbols 20 --balance USDT=1000000 --balance each=1

It prints one line with its URLs (JSON, for scripts) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation

import trio

from supervision.fakevenue.cli import non_negative, port, positive, serve_until_interrupted
from supervision.fakevenue.desk import _assets
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


def balances_arg(texts: list[str], symbols: list[str]) -> dict[str, Decimal] | None:
    """`["USDT=1000000", "each=1"]` -> the account's balances: `each` funds every symbol's base
    asset; None for none given (the venue's default: 100,000 USDT and 1 BTC)."""
    if not texts:
        return None
    out: dict[str, Decimal] = {}
    for text in texts:
        asset, _, amount = text.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise ValueError(f"--balance {text!r}: expected ASSET=AMOUNT") from None
        if not asset or not value.is_finite() or value < 0:
            raise ValueError(f"--balance {text!r}: expected ASSET=AMOUNT, AMOUNT >= 0")
        if asset.lower() == "each":
            out.update((_assets(s)[0], value) for s in symbols)
        else:
            out[asset.upper()] = value
    return out


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
    parser.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                        help="the account's balance of ASSET (each=AMOUNT: every symbol's base "
                        "asset); default 100000 USDT and 1 BTC")
    args = parser.parse_args(argv)
    try:
        venue = FakeVenue.binance(args.symbols, dialect=args.dialect, recording=args.recording,
                                  speed=args.speed or None, rate=args.rate,
                                  balances=balances_arg(args.balance, args.symbols))
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
