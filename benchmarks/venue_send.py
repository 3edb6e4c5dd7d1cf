"""The venue connection's own work on the live Binance transport, per message, in CPU time:
the orders it sends, the REST answers it reads, the user stream's order events.

    python -m benchmarks.venue_send [--instruments 20] [--steps 3000] [--rounds 3] [--json PATH]
    python -m benchmarks.venue_send --instructions

A `VenueConnection` over the real `BinanceTransport` (spot, the node's settings: requests paid
by the budget) runs on the deterministic host with the live node's metrics sink (`NodeMetrics`).
Its two REST lanes are real `RestProcess`es whose child is a stub that keeps what it is sent
(each request pickled onto the pipe, as the node does) and answers nothing by itself: the
benchmark plays the venue. Each step, one instrument's two quotes move, as a market maker's
do: an empty side gets a new post-only order, a live one a replace (spot's cancel-replace) or,
one time in ten, a cancel; each goes to the connection as the budget would send it
(`SendActions`, one intent, owned by a strategy, market data its trigger). The venue then
answers what each lane has had for `--lag` requests (the rest stay in flight, so a cancel finds
queued orders to look through, as in a live node): an order body as Binance writes it, a
cancel-replace's two bodies, a refusal now and then (a post-only order that would take), with
the venue's counters and clock; the answer goes through the lane's reader
(`RestProcess._answered`: the unpickle, the tag put back) to the connection as `RestDone`, and
the user stream's events of it (`executionReport`: NEW, the replace's CANCELED and NEW,
CANCELED, a fill now and then) follow as `WsFrame`s. The budget, strategies, portfolio and
journal are actors that drop what they get.

Reported per message kind (CPU us: calls, mean, p50, p99, max, from the cells' trace hooks, as
`benchmarks.order_chain` times them): `connection/SendActions:new|replace|cancel`,
`connection/RestDone:create|replace|cancel`, `connection/WsFrame:user`, and
`reader/answer` (the lane's reader handing an answer over: on the loop too, outside the
connection's turn). Best round of `--rounds` per kind's mean (a shared machine's load only
adds). `digest` hashes every request the lanes were given (tag kind, method, parameters) and
every message the connection told the other actors, so two versions can be checked to send
and tell the same.

`--instructions` counts instructions instead, the figure the machine's load cannot move: per
message kind (`SendActions`, `RestDone`, `WsFrame`, the reader's `answer`), each in a run of its
own under callgrind, collecting only while a message of that kind is handled (the measured
steps' `receive` calls of that kind run inside `itertools.starmap`, whose C function,
`starmap_next`, callgrind is told to collect in: `--toggle-collect`), divided by their number.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import itertools
import json
import logging
import os
import pickle
import platform
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from actors.behaviour import Behaviour
from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from benchmarks.order_chain import CpuTrace, print_rows
from benchmarks.replays import instructions_per_call
from protocols.codec import Side
from protocols.decisions import Trigger
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Batch,
    CancelIntent,
    OrderIntent,
    OrderType,
    Priority,
    ReplaceIntent,
    TimeInForce,
)
from protocols.venue_state import ActionOwner, SendActions
from supervision.node.node_metrics import NodeMetrics
from supervision.runtime.deterministic import DeterministicHost
from supervision.venues.binance.io import RestDone, WsFrame
from supervision.venues.binance.rest_process import _HEADER, RestProcess
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport

MS = 1_000_000
INSTRUCTION_KINDS = ("SendActions:new", "SendActions:replace", "RestDone", "WsFrame", "answer")
EPOCH_NS = 1_765_000_000_000_000_000  # the venue's clock (its Date header), a round second
_WOULD_TAKE = 'InvalidOrder: binance {"code":-2010,"msg":"Order would immediately match and take."}'


def _spec(symbol: str) -> InstrumentSpec:
    return InstrumentSpec(symbol=symbol, venue="binance", tick_size=Decimal("0.01"),
                          lot_step=Decimal("0.00000001"), min_qty=Decimal("0.00001"),
                          min_notional=Decimal(5), maker_fee=Decimal("0.001"),
                          taker_fee=Decimal("0.001"))


class StubChild:
    """A `RestProcess` child that keeps the frames it is sent and answers nothing itself."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.answered = 0

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def end(self) -> None:
        pass


def stub_lane(deliver: Any, name: str) -> RestProcess:
    """A real `RestProcess` (its submit, queue, withdraw and reader's `_answered`) on a stub
    child: started, so no process is made."""
    lane = RestProcess(lambda: None, deliver, name=name)
    lane._started = True
    lane._child = StubChild()  # type: ignore[assignment]
    return lane


class Quiet:
    """A websocket reader that is never started."""

    started = True

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class BenchIO:
    def __init__(self, deliver: Any) -> None:
        self.rest = stub_lane(deliver, "binance-rest")
        self.exits = stub_lane(deliver, "binance-exits")
        self.market, self.user = Quiet(), Quiet()

    def close(self) -> None:
        pass


class Sink(Behaviour):
    """Drops what it gets, after hashing it into the run's digest."""

    def __init__(self, name: str, seen: Any) -> None:
        self.name, self.seen = name, seen

    def receive(self, message: Any, ctx: Any) -> Any:
        self.seen.update(f"{self.name}:{message!r}".encode())
        return None


@attrs.define
class _Order:
    cid: str
    symbol: str
    side: str
    price: str
    qty: str
    order_id: int = 0
    state: str = "pending"  # pending (a request in flight), live


class Venue:
    """The benchmark's Binance: answers each request a lane was given, and writes the user
    stream's events of it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.order_ids = 1000
        self.trade_ids = 1
        self.weight = 0
        self.orders = 0
        self.now_ms = EPOCH_NS // MS
        self.by_cid: dict[str, _Order] = {}

    def body(self, order: _Order, status: str) -> dict[str, Any]:
        return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                "clientOrderId": order.cid, "transactTime": self.now_ms, "price": order.price,
                "origQty": order.qty, "executedQty": "0.00000000",
                "cummulativeQuoteQty": "0.00000000", "status": status, "timeInForce": "GTC",
                "type": "LIMIT_MAKER", "side": order.side, "workingTime": self.now_ms,
                "selfTradePreventionMode": "EXPIRE_MAKER"}

    def event(self, order: _Order, execution: str, status: str, **more: Any) -> str:
        fields = {"e": "executionReport", "E": self.now_ms, "s": order.symbol, "c": order.cid,
                  "S": order.side, "o": "LIMIT_MAKER", "f": "GTC", "q": order.qty,
                  "p": order.price, "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "",
                  "x": execution, "X": status, "r": "NONE", "i": order.order_id,
                  "l": "0.00000000", "z": "0.00000000", "L": "0.00000000", "n": "0", "N": None,
                  "T": self.now_ms, "t": -1, "I": 1, "w": True, "m": False, "M": False,
                  "O": self.now_ms, "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000",
                  "W": self.now_ms, "V": "EXPIRE_MAKER", **more}
        return json.dumps(fields, separators=(",", ":"))

    def _done(self, value: Any = None, failure: str | None = None, message: str = "",
              order: bool = True) -> RestDone:
        self.weight += 1
        self.orders += order
        usage = (("orders_10s", self.orders % 100), ("orders_1d", self.orders),
                 ("request_weight", self.weight % 6000)) if order else (
            ("request_weight", self.weight % 6000),)
        return RestDone(None, value, failure, message, None, usage, self.now_ms * MS // 1000
                        * 1000)

    def answer(self, method: str, params: dict[str, Any]) -> tuple[RestDone, list[str], str]:
        """(the answer, the user stream's events, what became of the order: live, gone)."""
        if method == "private_post_order":
            order = _Order(params["newClientOrderId"], params["symbol"], params["side"],
                           params["price"], params["quantity"])
            if self.rng.random() < 0.3:
                return self._done(None, "rejected", _WOULD_TAKE), [], "gone"
            self.order_ids += 1
            order.order_id, order.state = self.order_ids, "live"
            self.by_cid[order.cid] = order
            return (self._done(self.body(order, "NEW")), [self.event(order, "NEW", "NEW")],
                    "live")
        if method == "private_post_order_cancelreplace":
            old = self.by_cid[params["cancelOrigClientOrderId"]]
            cancelled = self.event(old, "CANCELED", "CANCELED",
                                   c=params["cancelNewClientOrderId"], C=old.cid)
            old_body = self.body(old, "CANCELED")
            self.order_ids += 1
            new = _Order(old.cid, old.symbol, old.side, params["price"], params["quantity"],
                         self.order_ids, "live")
            self.by_cid[new.cid] = new
            return (self._done({"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                                "cancelResponse": old_body,
                                "newOrderResponse": self.body(new, "NEW")}),
                    [cancelled, self.event(new, "NEW", "NEW")], "live")
        if method == "private_delete_order":
            order = self.by_cid.pop(params["origClientOrderId"])
            return (self._done(self.body(order, "CANCELED"), order=False),
                    [self.event(order, "CANCELED", "CANCELED", c=f"cancel-{order.order_id}",
                                C=order.cid)], "gone")
        raise ValueError(f"the benchmark's venue does not answer {method}")

    def fill(self, cid: str) -> str:
        order = self.by_cid.pop(cid)
        self.trade_ids += 1
        return self.event(order, "TRADE", "FILLED", l=order.qty, z=order.qty, L=order.price,
                          n="0.00000100", N="BNB", t=self.trade_ids, m=True)


def _count_inside(kind: str, host: DeterministicHost, io: BenchIO) -> dict[str, Any]:
    """With `kind` (a message kind, or "answer"), each measured call of it runs inside
    `itertools.starmap`, for callgrind to collect in (`--toggle-collect=starmap_next`)."""
    counted: dict[str, Any] = {"on": False, "calls": 0}
    if not kind:
        return counted

    def wrap(call: Any, matches: Any) -> Any:
        def inside(*args: Any) -> Any:
            if not counted["on"] or not matches(args):
                return call(*args)
            counted["calls"] += 1
            return next(itertools.starmap(call, (args,)))
        return inside

    if kind == "answer":
        for lane in (io.rest, io.exits):
            lane._answered = wrap(lane._answered, lambda args: True)  # type: ignore[method-assign]
    else:
        behaviour: Any = host.cell("venue/connection").behaviour
        behaviour.receive = wrap(behaviour.receive, lambda args: _label(args[0]).startswith(kind))
    return counted


def instructions(steps: int, kinds: tuple[str, ...]) -> dict[str, float]:
    """Instructions per message of each kind, under callgrind (see the module docstring)."""
    return {kind: instructions_per_call(
        ["benchmarks.venue_send", "--steps", str(steps), "--rounds", "1", "--quiet", "--count",
         kind, "--json"]) for kind in kinds}


@attrs.frozen
class SendSetup:
    instruments: int = 20
    steps: int = 3_000
    warmup: int = 200
    lag: int = 4  # requests a lane leaves in flight after each step
    fill_every: int = 2  # steps between fills of a live order (0: none)
    step_ms: float = 1.0
    seed: int = 7
    count: str = ""  # a message kind whose `receive` calls run inside starmap (`instructions`)


def _label(message: Any) -> str:
    kind = type(message).__name__
    if kind == "SendActions":
        intent = message.batch.intents[0]
        what = "new" if isinstance(intent, OrderIntent) else (
            "cancel" if isinstance(intent, CancelIntent) else "replace")
        return f"SendActions:{what}"
    if kind == "RestDone":
        return f"RestDone:{message.tag[0]}"
    if kind == "WsFrame":
        return f"WsFrame:{message.stream}"
    return kind


class LabelTrace(CpuTrace):
    """`CpuTrace` with the connection's messages told apart by what they carry."""

    def _tracer(self, kind: str) -> Any:
        def seen(message: Any) -> None:
            self._started = (kind, _label(message), None, time.thread_time_ns())
        return seen


def run(setup: SendSetup) -> dict[str, Any]:
    symbols = ["BTCUSDT", *(f"S{i:02d}USDT" for i in range(1, setup.instruments))]
    specs = {s: _spec(s) for s in symbols}
    seen = hashlib.sha256()
    host = DeterministicHost(seed=setup.seed, metrics=NodeMetrics())
    sinks = {name: host.spawn(name, functools.partial(Sink, name, seen))
             for name in ("budget", "portfolio", "journal", "strategy")}
    settings = BinanceSettings("binance", "spot", "http://127.0.0.1:1", "ws://127.0.0.1:2",
                               {s: s for s in symbols}, specs, api_key="key", api_secret="s",
                               charge_requests=True)
    ios: list[BenchIO] = []

    def make_io(transport: Any, deliver: Any) -> BenchIO:
        ios.append(BenchIO(deliver))
        return ios[-1]

    transport = BinanceTransport(settings, make_io)
    peers = VenuePeers(budget=sinks["budget"], portfolio=sinks["portfolio"],
                       journal=sinks["journal"])
    connection = host.spawn("venue/connection", lambda: VenueConnection(
        ConnectionConfig("binance", specs, reconcile_interval_s=None), transport, peers))
    host.settle()
    markets = {s: {"id": s, "info": {"symbol": s, "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "stepSize": "0.00001000", "minQty": "0.00001000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000"}]}} for s in symbols}
    connection.tell(RestDone(("markets",), markets))
    host.settle()
    io = ios[0]
    counted = _count_inside(setup.count, host, io)
    trace = LabelTrace()
    trace.attach(host, {"venue/connection": "connection"})
    rng = random.Random(setup.seed)
    venue = Venue(random.Random(setup.seed + 1))
    requests = hashlib.sha256()
    mids = {s: 6_170_000 + 200 * i for i, s in enumerate(symbols)}
    slots: dict[tuple[str, Side], _Order | None] = {(s, side): None for s in symbols
                                                     for side in Side}
    placed: dict[str, tuple[str, Side]] = {}  # our orders not done, by client id
    counter = [0]
    answer_ns: list[int] = []

    def send(intent: Any, symbol: str, priority: Priority) -> None:
        now = host.monotonic_ns()
        owner = ActionOwner(f"mm_{symbol}", sinks["strategy"], now - 300_000, Trigger.MARKET)
        connection.tell(SendActions(Batch(priority, (intent,), 1), (owner,), now))
        host.settle()

    def quote(symbol: str) -> None:
        mids[symbol] += rng.choice((-3, -1, 0, 1, 3))
        for side in Side:
            slot = slots[(symbol, side)]
            price = mids[symbol] + (-5 if side is Side.BUY else 5) + rng.randint(-2, 2)
            lots = 10_000 * rng.randint(1, 4)
            if slot is None:
                counter[0] += 1
                cid = f"n1-mm_{symbol}-{counter[0]}"
                slots[(symbol, side)] = _Order(cid, symbol, side.value, "", "")
                placed[cid] = (symbol, side)
                send(OrderIntent(cid, symbol, side, OrderType.LIMIT, lots, price,
                                 TimeInForce.POST_ONLY), symbol, Priority.NEW)
            elif slot.state == "live":
                slot.state = "pending"
                if rng.random() < 0.1:
                    send(CancelIntent(slot.cid, symbol), symbol, Priority.CANCEL)
                else:
                    send(ReplaceIntent(slot.cid, symbol, lots, price), symbol, Priority.NEW)

    def answer(lane: RestProcess, keep: int) -> None:
        child: StubChild = lane._child  # type: ignore[assignment]
        while lane._sent is not None and len(lane._queue) + 1 > keep:
            request = lane._sent
            seq, method, params = pickle.loads(child.frames[-1][_HEADER.size:])
            assert seq == request.seq
            requests.update(repr((request.tag[0], method, params)).encode())
            done, events, became = venue.answer(method, params)
            raw = pickle.dumps((seq, done, []), protocol=pickle.HIGHEST_PROTOCOL)
            start = time.thread_time_ns()
            lane._answered(child, raw)  # type: ignore[arg-type]
            answer_ns.append(time.thread_time_ns() - start)
            host.settle()
            for text in events:
                connection.tell(WsFrame("user", text, host.monotonic_ns()))
                host.settle()
            order = slots[placed[request.tag[1].client_order_id]]
            assert order is not None
            if became == "gone":
                slots[placed.pop(order.cid)] = None
            else:
                order.state = "live"

    def step(number: int) -> None:
        quote(symbols[number % len(symbols)])
        answer(io.exits, 0)
        answer(io.rest, setup.lag)
        if setup.fill_every and number % setup.fill_every == setup.fill_every - 1:
            live = sorted(o.cid for o in slots.values() if o is not None and o.state == "live")
            if live:
                cid = live[rng.randrange(len(live))]
                connection.tell(WsFrame("user", venue.fill(cid), host.monotonic_ns()))
                host.settle()
                slots[placed.pop(cid)] = None
        venue.now_ms += int(setup.step_ms)
        host.advance(setup.step_ms / 1e3)

    for number in range(setup.warmup):
        step(number)
    gc.collect()
    trace.recording = counted["on"] = True
    answer_ns.clear()
    cpu_start = time.process_time_ns()
    for number in range(setup.warmup, setup.warmup + setup.steps):
        step(number)
    cpu = (time.process_time_ns() - cpu_start) / 1e9
    trace.recording = False
    per = trace.report()
    answer_ns.sort()
    n = len(answer_ns)
    if n:
        per["reader/answer"] = {"calls": n, "mean_us": round(sum(answer_ns) / n / 1e3, 2),
                                "p50_us": round(answer_ns[n // 2] / 1e3, 2),
                                "p99_us": round(answer_ns[int(n * 0.99)] / 1e3, 2),
                                "max_us": round(answer_ns[-1] / 1e3, 2)}
    return {"per_message_cpu_us": per, "total_cpu_s": round(cpu, 3), "steps": setup.steps,
            "counted": counted["calls"],
            "digest": hashlib.sha256(requests.digest() + seen.digest()).hexdigest()[:16]}


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each kind's row from the round with the lowest mean; the runs checked to agree."""
    assert all(r["digest"] == runs[0]["digest"] for r in runs), "rounds behaved differently"
    per = {}
    for name in runs[0]["per_message_cpu_us"]:
        per[name] = min((r["per_message_cpu_us"][name] for r in runs),
                        key=lambda row: row["mean_us"])
    return {**runs[0], "per_message_cpu_us": per,
            "total_cpu_s": min(r["total_cpu_s"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = SendSetup()
    p.add_argument("--instruments", type=int, default=defaults.instruments)
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--lag", type=int, default=defaults.lag,
                   help="requests the order lane leaves in flight after each step")
    p.add_argument("--fill-every", type=int, default=defaults.fill_every)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--instructions", action="store_true",
                   help="instructions per step under cachegrind (see the docstring)")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", default="", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    logging.getLogger("troupe").setLevel(logging.ERROR)  # the start's log lines
    if args.instructions:
        per = instructions(args.steps, INSTRUCTION_KINDS)
        print(f"venue send, {args.instruments} instruments, {args.steps:,} steps: instructions "
              "per message (callgrind)")
        for kind, count in per.items():
            print(f"  {kind:24} {count:12,.0f}")
        result: dict[str, Any] = {"instructions_per_message": per}
    else:
        setup = SendSetup(args.instruments, args.steps, lag=args.lag,
                          fill_every=args.fill_every, seed=args.seed, count=args.count)
        result = best_of([run(setup) for _ in range(args.rounds)])
        result["python"] = platform.python_version()
        result["load_average_1m"] = os.getloadavg()[0]
        if not args.quiet:
            print(f"venue send, {args.instruments} instruments, {args.steps:,} steps: "
                  f"{result['total_cpu_s']} CPU s (best of {args.rounds}), "
                  f"digest {result['digest']}")
            print_rows(result["per_message_cpu_us"], "(CPU us, best round's mean)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
