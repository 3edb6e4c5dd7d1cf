"""FakeVenue: one fake Binance (spot or USD-M) on loopback, its REST and stream servers together.

    venue = FakeVenue.binance(symbols=["BTCUSDT"], dialect="spot", rate=None, speed=1.0)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(venue.serve)      # {"rest": "http://127.0.0.1:..", ...}

`serve` starts hypercorn (REST, `supervision.fakevenue.rest`) and a trio-websocket server
(streams, `supervision.fakevenue.streams`) on 127.0.0.1 (loopback only: refusing anything else
is the point of a fake), then replays the recording: each frame updates the venue's book and
matching (our resting orders fill against the recorded flow) and goes out on its stream, paced
at the recorded time x `speed`, or at `rate` frames per second (a benchmark), until the
recording ends; the venue then stays up, silent, with its book as it was. Every order event
(ack, fill, cancel) goes out on the user-data stream, then a balance event after a fill.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import hypercorn.config
import hypercorn.trio
import trio

from protocols.instruments import ContractType, InstrumentSpec
from protocols.venues import binance
from supervision.fakevenue.amend import AmendingDesk
from supervision.fakevenue.desk import VenueError, _assets
from supervision.fakevenue.faults import Faults
from supervision.fakevenue.market import RecordedMarket
from supervision.fakevenue.rest import RestApp
from supervision.fakevenue.streams import StreamHub
from supervision.sources.data import BINANCE_SPOT_BTCUSDT

__all__ = ["FakeVenue", "FakeVenueThread", "btcusdt_spec", "serve_loopback", "stream_faults"]

LOOPBACK = "127.0.0.1"


ORDER_STEP = Decimal("0.00001")  # LOT_SIZE stepSize: orders move in these


def btcusdt_spec(symbol: str = "BTCUSDT", dialect: str = "spot") -> InstrumentSpec:
    """Binance's BTCUSDT spot filters (the recording's instrument), under another name. The lot
    is the book's unit, 1e-8 BTC (depth is published in it); orders move in `ORDER_STEP`."""
    return InstrumentSpec(symbol, "binance", Decimal("0.01"), Decimal("0.00000001"),
                          Decimal("0.00001"), Decimal("5"), Decimal("0.001"), Decimal("0.001"),
                          ContractType.SPOT if dialect == "spot" else ContractType.PERP)


class FakeVenue:
    def __init__(self, market: RecordedMarket, desk: AmendingDesk, *, speed: float | None = 1.0,
                 rate: float | None = None, faults: Faults | None = None) -> None:
        self.market, self.desk = market, desk
        self.dialect = market.dialect
        self.speed, self.rate = speed, rate
        self.faults = faults or Faults()
        self.hub = StreamHub(self)
        self.rest = RestApp(self)
        self.listen_key = "fakevenue-listen-key-0001"
        self.counts: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self._shutdown = trio.Event()
        self._held: list[str] = []
        self.nursery: trio.Nursery | None = None  # the serving one, for tasks of the venue's own

    @classmethod
    def binance(cls, symbols: Sequence[str] = ("BTCUSDT",), *, dialect: str = "spot",
                recording: str | Path | None = None, speed: float | None = 1.0,
                rate: float | None = None,
                balances: dict[str, Decimal] | None = None) -> FakeVenue:
        path = Path(recording) if recording else BINANCE_SPOT_BTCUSDT
        spec = btcusdt_spec(dialect=dialect)
        market = RecordedMarket(path, symbols, tick=spec.tick_size, lot=spec.lot_step,
                                dialect=dialect)
        market.prime()
        specs = {s: attrs.evolve(spec, symbol=s) for s in symbols}
        money = balances or {"USDT": Decimal(100_000), "BTC": Decimal(1)}
        desk = AmendingDesk(specs, money, dialect=dialect, order_step=ORDER_STEP)
        for symbol in symbols:  # every symbol trades against the one recorded book
            desk.exchange.attach_depth(symbol, market.sync.book)
        return cls(market, desk, speed=speed, rate=rate)

    # -- serving -------------------------------------------------------------------------------
    async def serve(self, *, rest_port: int = 0, ws_port: int = 0,
                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await serve_loopback(self, rest_port=rest_port, ws_port=ws_port,
                             task_status=task_status)

    def shutdown(self) -> None:
        self._shutdown.set()

    async def _replay(self) -> None:
        start_wall = trio.current_time()
        first: int | None = None
        sent = 0
        for ts, message, frames in self.market.frames():
            first = ts if first is None else first
            if self.rate:
                due = start_wall + sent / self.rate
            elif self.speed:
                due = start_wall + (ts - first) / 1e9 / self.speed
            else:
                due = 0.0
            if due > trio.current_time():
                await trio.sleep_until(due)
            elif sent % 256 == 0:
                await trio.lowlevel.checkpoint()
            await self._faults_before_frame()
            self._match(message)
            if isinstance(message, binance.DepthDiff) and self.faults.take("gap"):
                self.count("gaps")
                continue
            off_tick = None  # the price written off the tick, if a fault says so
            if isinstance(message, binance.DepthDiff) and len(message.bids) > 20 \
                    and self.faults.take("off_tick_deep"):
                self.count("off_tick_deep")
                off_tick = message.bids[-1][0]
            for _ts, stream, text in frames:
                self.hub.publish(stream, text if off_tick is None else _off_tick(text, off_tick))
            sent += len(frames)
        self.count("recording_ended")

    async def _faults_before_frame(self) -> None:
        if self.faults.user_down_s > 0:
            down, self.faults.user_down_s = self.faults.user_down_s, 0.0
            self.count("user_outages")
            await self.hub.user_down(down)
        await stream_faults(self, '{"stream": "broken", "data": {')

    def _match(self, message: Any) -> None:
        desk, now = self.desk, self.now_ms()
        desk.now_ms = now
        reports = []
        for symbol in desk.specs:
            if isinstance(message, binance.DepthDiff):
                reports += desk.exchange.on_depth_change(symbol, 0)
            elif isinstance(message, binance.Trade):
                spec = desk.specs[symbol]
                price = int(message.price / spec.tick_size)
                qty = int(message.qty / spec.lot_step)
                reports += desk.exchange.on_trade(symbol, price, qty, message.aggressor, 0)
        if reports:
            self._user([*desk.on_market(reports), desk.balance_event()])

    # -- orders --------------------------------------------------------------------------------
    async def create_order(self, params: dict[str, str]) -> dict[str, Any]:
        delay = self.faults.insert_delay_s
        body = await self._place_later(params, delay) if delay else self._place(params)
        if self.faults.take("lose_response"):
            self.count("lost_responses")
            await trio.sleep_forever()  # the client gives up: its request timed out
        if self.faults.ack_delay_s:
            await trio.sleep(self.faults.ack_delay_s)
        return body

    def _place(self, params: dict[str, str]) -> dict[str, Any]:
        self.desk.now_ms = self.now_ms()
        body, events = self.desk.create(params)
        self.count("orders")
        self._user(events + ([self.desk.balance_event()] if len(events) > 1 else []))
        return body

    async def _place_later(self, params: dict[str, str], delay: float) -> dict[str, Any]:
        """The `insert_delay_s` fault: the order is placed `delay` seconds after it arrived, by
        a task of the venue's own, so a client that gives up meanwhile does not stop it."""
        self.count("delayed_inserts")
        placed = trio.Event()
        answer: list[Any] = []

        async def place() -> None:
            await trio.sleep(delay)
            try:
                answer.append(self._place(params))
            except VenueError as exc:
                answer.append(exc)
            self.count("delayed_placed")
            placed.set()

        assert self.nursery is not None, "serve() sets the nursery"
        self.nursery.start_soon(place)
        await placed.wait()
        if isinstance(answer[0], VenueError):
            raise answer[0]
        return dict(answer[0])

    async def apply(self, answer: tuple[Any, list[dict[str, Any]]]) -> Any:
        body, events = answer
        self._user(events)
        if self.faults.ack_delay_s:
            await trio.sleep(self.faults.ack_delay_s)
        return body

    async def amend(self, answer: tuple[Any, list[dict[str, Any]]]) -> Any:
        """A replace (USD-M modify, spot cancel-replace), applied; `lose_amend` loses its
        answer."""
        body = await self.apply(answer)
        if self.faults.take("lose_amend"):
            self.count("lost_amends")
            await trio.sleep_forever()  # the client gives up: its request timed out
        return body

    def _user(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            text = json.dumps(event, separators=(",", ":"))
            if self.faults.take("reorder_reports"):
                self.count("reordered_reports")
                self._held.append(text)  # goes out after the next event
                continue
            self.hub.publish_user(text)
            while self._held:
                self.hub.publish_user(self._held.pop(0))

    # -- views ---------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def account(self) -> dict[str, Any]:
        body = self.desk.account()
        if self.dialect == "usdm":
            acct = self.desk.exchange.account
            body["assets"] = [{"asset": a, "walletBalance": f"{acct.balance(a):.8f}",
                               "availableBalance": f"{acct.available(a):.8f}"}
                              for a in sorted(acct.balances())]
            body["positions"] = self.desk.positions()
        return body

    def state(self) -> dict[str, Any]:
        desk = self.desk
        return {"faults": self.faults.as_dict(), "counts": dict(self.counts),
                "creates": dict(desk.creates), "replaces": dict(desk.replaces),
                "open_orders": len(desk.open_orders(None)),
                "trades": len(desk.trades), "streamed": self.market.streamed,
                "last_update_id": self.market.last_update_id,
                "connections": self.hub.connections(), "requests": self.rest.requests,
                "weight_used": self.rest.limits.used(self.now_ms())}

    def exchange_info(self) -> dict[str, Any]:
        return {"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}],
            "exchangeFilters": [], "symbols": [self._symbol_info(s)
                                               for s in self.desk.specs]}

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        spec = self.desk.specs[symbol]
        base, quote = _assets(symbol)
        filters: list[dict[str, Any]] = [
            {"filterType": "PRICE_FILTER", "minPrice": f"{spec.tick_size:f}",
             "maxPrice": "1000000.00000000", "tickSize": f"{spec.tick_size:f}"},
            {"filterType": "LOT_SIZE", "minQty": f"{spec.min_qty:f}", "maxQty": "9000.00000000",
             "stepSize": f"{ORDER_STEP:f}"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "100.00000000",
             "stepSize": "0"},
        ]
        info: dict[str, Any] = {
            "symbol": symbol, "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
            "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": True,
            "ocoAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "permissions": [], "permissionSets": [["SPOT"]]}
        if self.dialect == "usdm":
            filters.append({"filterType": "MIN_NOTIONAL", "notional": f"{spec.min_notional:f}"})
            info.update({"pair": symbol, "contractType": "PERPETUAL", "marginAsset": quote,
                         "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                         "pricePrecision": 2, "quantityPrecision": 5, "underlyingType": "COIN",
                         "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                         "orderTypes": ["LIMIT", "MARKET"]})
        else:
            filters.append({"filterType": "NOTIONAL", "minNotional": f"{spec.min_notional:f}",
                            "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False, "avgPriceMins": 5})
        info["filters"] = filters
        return info


async def serve_loopback(venue: Any, *, rest_port: int = 0, ws_port: int = 0,
                         ws_path: str = "", task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `venue.rest` (hypercorn) and `venue.hub` (websockets) on 127.0.0.1 and run
    `venue._replay` until `venue.shutdown()`; `venue.urls` and the task status get both URLs."""
    config = hypercorn.config.Config()
    config.bind = [f"{LOOPBACK}:{rest_port}"]
    config.accesslog = config.errorlog = None
    config.keep_alive_timeout = 30
    async with trio.open_nursery() as nursery:
        venue.nursery = nursery
        binds = await nursery.start(functools.partial(
            hypercorn.trio.serve, venue.rest, config,
            shutdown_trigger=venue._shutdown.wait, mode="asgi"))
        port = await nursery.start(venue.hub.serve, LOOPBACK, ws_port)
        venue.urls = {"rest": binds[0], "ws": f"ws://{LOOPBACK}:{port}{ws_path}"}
        nursery.start_soon(venue._replay)
        task_status.started(dict(venue.urls))
        await venue._shutdown.wait()
        nursery.cancel_scope.cancel()


async def stream_faults(venue: Any, malformed: str) -> None:
    """The stream faults armed for the next frame: disconnect, stall, `malformed` frames."""
    faults = venue.faults
    if faults.take("disconnect"):
        venue.count("disconnects")
        await venue.hub.disconnect_all()
    if faults.stall_s > 0:
        stall, faults.stall_s = faults.stall_s, 0.0
        venue.count("stalls")
        await trio.sleep(stall)
    while faults.take("malformed"):
        venue.count("malformed")
        venue.hub.publish_all(malformed)


class FakeVenueThread:
    """A fake venue on a thread of its own (its own trio loop), for code that is not a trio
    program: tests with the synchronous ccxt client, benchmarks, a node in the same process.

        with FakeVenueThread(FakeVenue.binance()) as urls:
            ...  # urls["rest"], urls["ws"]
    """

    def __init__(self, venue: FakeVenue, *, rest_port: int = 0, ws_port: int = 0) -> None:
        self.venue = venue
        self.ports = (rest_port, ws_port)
        self.urls: dict[str, str] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def __enter__(self) -> dict[str, str]:
        self._thread = threading.Thread(target=trio.run, args=(self._main,),
                                        name="fakevenue", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake venue did not start within 10 s")
        return self.urls

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self.venue.shutdown)
        if self._thread is not None:
            self._thread.join(10)

    def call(self, fn: Any, *args: Any) -> None:
        """Run `fn(*args)` on the venue's loop (arming a fault between two frames)."""
        assert self._token is not None
        self._token.run_sync_soon(fn, *args)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            rest, ws = self.ports
            self.urls = await nursery.start(functools.partial(self.venue.serve, rest_port=rest,
                                                              ws_port=ws))
            self._ready.set()


def _off_tick(text: str, price: str) -> str:
    """The frame with the bid at `price` moved off the tick by its last written digit (Binance
    writes eight decimals; no tick of a recording is that fine)."""
    off = price[:-1] + ("1" if price[-1] != "1" else "2")
    return text.replace(f'"{price}"', f'"{off}"', 1)
