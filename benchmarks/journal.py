"""The journal's cost per record: the encoding, and the writer thread's CPU on a live host.

    python -m benchmarks.journal --json out/journal.json
    python -m benchmarks.journal --seconds 5 --rate 1400 --burst 5

In the tick-to-trade benchmark (20 market makers) the node journals ~1,400 records a second,
84 % of them `NoTrade` (every decision not to trade), and the writer is a thread holding the
event loop's GIL whenever it runs Python. Two figures, each printed *before* beside *after* in
the same run:

- **encode**: per record of each kind the node journals there, CPU ns to turn it into its
  line: *before* is the generic way (cattrs, `json.dumps`; the encoder as it was, with its
  f-string line), *after* `JournalCodec.encode` (the per-class plans and orjson, falling back
  to the generic way) and `format_line`. The lines of both are compared byte for byte on
  every sample; a difference fails the run. The mean is weighted by the tick-to-trade mix.
- **writer**: a live host whose loop actor tells the writer `--burst` records at a time,
  `--rate` records a second in all (the tick-to-trade mix, one burst per loop turn, as a
  market maker's decisions arrive), for `--seconds`; the writer thread's CPU per record, with
  *before* (the generic codec, each record counted as taken), *after* (the plans, the
  counts added once a batch) and *linger* (the same, lingering `--linger` seconds after each
  write, as the live node's writer does), with the node's Prometheus metrics. This is the
  whole of what the writer costs the GIL per record: its wake-ups, the mailbox, the counters
  and the writes as well.

Figures and what they mean: docs/benchmarks.md (tick-to-trade, "Where the time goes").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import timeit
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.behaviour import Behaviour, Context, Ref
from benchmarks.stages import process_cpu_s
from protocols.codec import Side
from protocols.decisions import Gate, GateAction, NoTrade, RiskRefused
from protocols.journal import CancelSent, Flush, OrderSent, ReplaceSent
from protocols.journal_codec import Encoded, JournalCodec, format_line
from protocols.orders import (
    Ack,
    CancelAck,
    Fill,
    Liquidity,
    OrderType,
    Reject,
    RejectCode,
    TimeInForce,
)
from protocols.portfolio import MidSampled, OwnFill, TradeAtFill
from supervision.node.journal_writer import JournalWriter
from supervision.node.node_metrics import NodeMetrics
from supervision.runtime.live import LiveHost

_NS = 42_185_422_973_397
# The records of a tick-to-trade run (20 market makers, 10k frames/s, 15 s), with how many of
# each one run journaled (35,015 records in all).
MIX: tuple[tuple[Any, int], ...] = (
    (NoTrade("mm_BTCUSDT", "BTCUSDT", "adverse_flow", _NS, "prints=3"), 29_440),
    (MidSampled("S07USDT", 12_364_801, _NS), 1_156),
    (OrderSent("tr-mm_S07USDT-1", "S07USDT", Side.BUY, OrderType.LIMIT, 10_000, 6_182_611,
               TimeInForce.POST_ONLY, False, "mm_S07USDT", _NS), 964),
    (Ack("tr-mm_S07USDT-1", "1", venue_ns=1_796_500_075_590_000_000, recv_ns=_NS), 828),
    (ReplaceSent("tr-mm_S16USDT-2", "S16USDT", 10_000, 6_182_977, False, "mm_S16USDT", _NS), 552),
    (Reject("tr-mm_S16USDT-6", RejectCode.POST_ONLY_WOULD_TAKE,
            "Order would immediately match and take.", venue_ns=_NS, recv_ns=_NS), 532),
    (CancelSent("tr-mm_S07USDT-1", "S07USDT", "mm_S07USDT", _NS), 404),
    (CancelAck("tr-mm_S07USDT-1", venue_ns=1_796_500_075_789_000_000, recv_ns=_NS), 381),
    (RiskRefused("tr-mm_S07USDT-3", "S07USDT", Gate.DUPLICATE_INTENT, GateAction.BLOCK_NEW,
                 "same intent under another id within 1000 ms"), 216),
    (Fill("tr-mm_S07USDT-2", "S07USDT-1", 10_000, 6_182_712, Decimal("0.00618271"),
          Liquidity.MAKER, "USDT", venue_ns=1_796_500_075_602_000_000, recv_ns=_NS), 158),
    (OwnFill("S07USDT", "mm_S07USDT", "tr-mm_S07USDT-2", "S07USDT-1", Side.SELL, 10_000,
             6_182_712, Decimal("0.00618271"), Liquidity.MAKER, _NS,
             1_796_500_075_602_000_000), 158),
    (TradeAtFill("S07USDT", "S07USDT-1", 6_182_661, 9_000, Side.BUY, _NS, _NS), 158),
)


def _line_before(seq: int, ts_ns: int, mono_ns: int, record: Encoded) -> bytes:
    """The line as the encoder before the plans wrote it (an f-string, then encoded)."""
    return (f'{{"seq":{seq},"ts_ns":{ts_ns},"mono_ns":{mono_ns},"kind":{json.dumps(record.kind)},'
            f'"source":{json.dumps(record.source)},"data":{record.data_json.decode()}}}\n'
            ).encode()


def encode_per_record(number: int = 20_000, repeat: int = 5) -> dict[str, Any]:
    """ns per record of each kind, before and after (the minimum of `repeat` rounds)."""
    codec = JournalCodec()
    seq, ts_ns = 1_234_567, 1_796_500_074_677_913_514
    kinds: dict[str, dict[str, int]] = {}
    for record, _count in MIX:
        after = format_line(seq, ts_ns, _NS, codec.encode(record))
        before = _line_before(seq, ts_ns, _NS, codec.encode_generic(record))
        if after != before:
            raise AssertionError(f"{type(record).__name__}: {after!r} != {before!r}")
        timings = {}
        for side, call in (
                ("before", lambda r=record: _line_before(seq, ts_ns, _NS, codec.encode_generic(r))),
                ("after", lambda r=record: format_line(seq, ts_ns, _NS, codec.encode(r)))):
            best = min(timeit.repeat(call, number=number, repeat=repeat))
            timings[side] = round(best / number * 1e9)
        kinds[type(record).__name__] = timings
    total = sum(count for _record, count in MIX)
    weighted = {side: round(sum(kinds[type(r).__name__][side] * n for r, n in MIX) / total)
                for side in ("before", "after")}
    return {"kinds_ns": kinds, "tick_to_trade_mix_ns": weighted}


class _GenericCodec(JournalCodec):
    """The encoder before the plans: every record the generic way."""

    def encode(self, message: Any) -> Encoded:
        return self.encode_generic(message)


class _WriterBefore(JournalWriter):
    """The writer before: the generic codec, and each record counted as it is taken."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, fsync="never")
        self._codec = _GenericCodec()

    def _append(self, record: Encoded, ctx: Context) -> None:
        super()._append(record, ctx)
        self._count_records(ctx)


class _Feeder(Behaviour):
    """Tells the writer `burst` records of the mix every `period_s`, on the loop."""

    def __init__(self, writer: Ref, burst: int, period_s: float) -> None:
        self.writer, self.burst, self.period_s = writer, burst, period_s
        total = sum(count for _record, count in MIX)
        self.cycle = [r for r, n in MIX for _ in range(max(1, round(n * 200 / total)))]
        self.at = 0

    def on_start(self, ctx: Context) -> None:
        ctx.schedule(self.period_s, "burst", key="burst")

    def receive(self, message: Any, ctx: Context) -> None:
        cycle = self.cycle
        for _ in range(self.burst):
            ctx.tell(self.writer, cycle[self.at % len(cycle)])
            self.at += 1
        ctx.schedule(self.period_s, "burst", key="burst")


def writer_per_record(side: str, seconds: float, rate: float, burst: int,
                      linger_s: float) -> dict[str, Any]:
    """The writer thread's CPU per record on a live host fed at `rate` records a second."""
    with tempfile.TemporaryDirectory() as tmp, LiveHost(metrics=NodeMetrics()) as host:
        path = Path(tmp) / "journal.jsonl"
        writer = _WriterBefore(path) if side == "before" else JournalWriter(
            path, fsync="never", linger_s=linger_s if side == "linger" else 0.0)
        ref = host.spawn("journal", lambda: writer, blocking=True)
        host.ask(ref, Flush())
        thread = next(t for t in threading.enumerate() if t.name == "troupe:journal")
        cpu_before, written_before = process_cpu_s(f"self/task/{thread.native_id}"), writer.written
        feeder = host.spawn("feeder", lambda: _Feeder(ref, burst, burst / rate))
        started = time.monotonic()
        time.sleep(seconds)
        host.stop(feeder)
        host.ask(ref, Flush())
        wall = time.monotonic() - started
        cpu = process_cpu_s(f"self/task/{thread.native_id}") - cpu_before
        records = writer.written - written_before
    return {"records": records, "records_per_s": round(records / wall), "cpu_s": round(cpu, 3),
            "cpu_us_per_record": round(1e6 * cpu / max(records, 1), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1_400.0, help="records a second")
    parser.add_argument("--burst", type=int, default=5, help="records told per loop turn")
    parser.add_argument("--rounds", type=int, default=2, help="writer runs per side, alternated")
    parser.add_argument("--linger", type=float, default=0.005,
                        help="the writer's linger_s on the third side")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    encode = encode_per_record()
    writer: dict[str, list[dict[str, Any]]] = {"before": [], "after": [], "linger": []}
    for _ in range(args.rounds):
        for side, runs in writer.items():
            runs.append(writer_per_record(side, args.seconds, args.rate, args.burst,
                                          args.linger))
    result = {"benchmark": "journal", "python": sys.version.split()[0], "encode": encode,
              "writer": writer, "seconds": args.seconds, "rate": args.rate, "burst": args.burst,
              "linger_s": args.linger}
    print("\n".join(_lines(result)))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _lines(result: dict[str, Any]) -> list[str]:
    encode = result["encode"]
    mix = encode["tick_to_trade_mix_ns"]
    lines = ["encode, ns per record (before -> after; lines byte-identical):"]
    lines += [f"  {kind:<13} {t['before']:>6,} -> {t['after']:>6,}"
              for kind, t in encode["kinds_ns"].items()]
    lines.append(f"  tick-to-trade mix: {mix['before']:,} -> {mix['after']:,} ns per record")
    lines.append(f"writer thread, {result['rate']:g} records/s in bursts of {result['burst']}, "
                 f"{result['seconds']:g} s a run (CPU us per record; records/s):")
    for side, runs in result["writer"].items():
        lines.append(f"  {side:<6} " + ", ".join(
            f"{r['cpu_us_per_record']} us ({r['records_per_s']}/s)" for r in runs))
    return lines


if __name__ == "__main__":
    sys.exit(main())
