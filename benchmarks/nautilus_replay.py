"""NautilusTrader's replay of the shipped Binance recording with a toy market maker: the
same-machine comparison for `benchmarks/backtest.py` (docs/benchmarks.md).

NautilusTrader is not a Troupe dependency: run this in a scratch virtualenv.

    python -m venv /tmp/ntvenv && /tmp/ntvenv/bin/pip install nautilus_trader
    /tmp/ntvenv/bin/python benchmarks/nautilus_replay.py \
        supervision/sources/data/binance_spot_btcusdt_20240808.gz

It parses every line with the standard library's json, builds OrderBookDeltas (the REST
snapshot as a clear and adds, each diff as updates and deletes) and TradeTicks, skips
bookTicker lines as Troupe does, and runs a BacktestEngine on an L2 book with a market maker that
requotes post-only at the touch at most every 0.25 s (as Troupe's paper market maker is limited
to). It prints one JSON line: lines per second and per CPU second, with and without parsing.
"""

import gzip
import json
import sys
import time
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas, TradeTick
from nautilus_trader.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    OmsType,
    OrderSide,
    RecordFlag,
)
from nautilus_trader.model.identifiers import TradeId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

PATH = sys.argv[1]
instrument = TestInstrumentProvider.btcusdt_binance()
IID = instrument.id
PP, SP = instrument.price_precision, instrument.size_precision


def px(s: str) -> Any:
    return Price(float(s), PP)


def qty(s: str) -> Any:
    return Quantity(round(float(s), SP), SP)  # the test instrument has 6 size decimals


class MMConfig(StrategyConfig, frozen=True):  # type: ignore[call-arg]
    requote_ns: int = 250_000_000


class ToyMM(Strategy):
    def __init__(self, config: MMConfig) -> None:
        super().__init__(config)
        self.last = 0
        self.size = Quantity(0.0001, SP)

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(IID, BookType.L2_MBP)
        self.subscribe_trade_ticks(IID)

    def on_order_book_deltas(self, deltas: Any) -> None:
        book = self.cache.order_book(IID)
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None or bid >= ask:
            return
        now = deltas.ts_init
        if now - self.last < self.config.requote_ns:
            return
        self.last = now
        self.cancel_all_orders(IID)
        for side, price in ((OrderSide.BUY, bid), (OrderSide.SELL, ask)):
            order = self.order_factory.limit(IID, side, self.size, price, post_only=True)
            self.submit_order(order)

    def on_trade_tick(self, tick: Any) -> None:
        pass


def load(path: str) -> tuple[list[Any], int]:
    data: list[Any] = []
    lines = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            lines += 1
            stamp, _, raw = line.partition(" ")
            ts = int(stamp)
            obj = json.loads(raw)
            if "lastUpdateId" in obj:
                deltas = [OrderBookDelta.clear(IID, 0, ts, ts)]
                for side, levels in ((OrderSide.BUY, obj["bids"]), (OrderSide.SELL, obj["asks"])):
                    for p, q in levels:
                        order = BookOrder(side, px(p), qty(q), 0)
                        deltas.append(OrderBookDelta(IID, BookAction.ADD, order, 0, 0, ts, ts))
                data.append(OrderBookDeltas(IID, _last(deltas)))
                continue
            stream, d = obj["stream"], obj["data"]
            if stream.endswith("@bookTicker"):
                continue
            if d.get("e") == "depthUpdate":
                ev = d["E"] * 1_000_000
                ts_e = min(ev, ts)
                deltas = []
                for side, levels in ((OrderSide.BUY, d["b"]), (OrderSide.SELL, d["a"])):
                    for p, q in levels:
                        action = BookAction.DELETE if float(q) == 0 else BookAction.UPDATE
                        order = BookOrder(side, px(p), qty(q), 0)
                        deltas.append(OrderBookDelta(IID, action, order, 0, d["u"], ts_e, ts))
                if deltas:
                    data.append(OrderBookDeltas(IID, _last(deltas)))
            elif d.get("e") == "trade":
                data.append(TradeTick(IID, px(d["p"]), qty(d["q"]),
                                      AggressorSide.SELLER if d["m"] else AggressorSide.BUYER,
                                      TradeId(str(d["t"])), min(d["T"] * 1_000_000, ts), ts))
    return data, lines


def _last(deltas: list[Any]) -> list[Any]:
    last = deltas[-1]
    deltas[-1] = OrderBookDelta(last.instrument_id, last.action, last.order, RecordFlag.F_LAST,
                                last.sequence, last.ts_event, last.ts_init)
    return deltas


def main() -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    data, lines = load(PATH)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(Venue("BINANCE"), OmsType.NETTING, AccountType.CASH, base_currency=None,
                     starting_balances=[Money(100_000, USDT), Money(1, BTC)],
                     book_type=BookType.L2_MBP)
    engine.add_instrument(instrument)
    engine.add_data(data)
    engine.add_strategy(ToyMM(MMConfig()))
    t2, c2 = time.perf_counter(), time.process_time()
    engine.run()
    t3, c3 = time.perf_counter(), time.process_time()
    orders = len(engine.cache.orders())
    fills = sum(1 for o in engine.cache.orders() if o.filled_qty > 0)
    print(json.dumps({"lines": lines, "events": len(data), "orders": orders,
                      "filled_orders": fills,
                      "parse_build_wall_s": round(t2 - t0, 3), "engine_wall_s": round(t3 - t2, 3),
                      "total_cpu_s": round(c3 - c0, 3), "engine_cpu_s": round(c3 - c2, 3),
                      "lines_per_s_total": round(lines / (t3 - t0)),
                      "lines_per_cpu_s_total": round(lines / (c3 - c0)),
                      "lines_per_cpu_s_engine": round(lines / (c3 - c2))}))
    engine.dispose()


if __name__ == "__main__":
    main()
