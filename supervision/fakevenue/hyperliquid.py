"""A fake Hyperliquid on loopback: `/info` and `/exchange` REST and the websocket, for the adapter.

    venue = HyperliquidFakeVenue.build(coins=("BTC",), dex_coins={"xyz": ("XYZ100",)})
    with FakeVenueThread(venue) as urls:      # {"rest": "http://127.0.0.1:..", "ws": "ws://.."}
        ...

It speaks Hyperliquid's wire formats, so ccxt's real `hyperliquid` client and the adapter's
stream code run against it unchanged:

- `POST /info`: `meta`, `metaAndAssetCtxs`, `perpDexs`, `spotMeta`, `exchangeStatus` (server
  time), `userFees` (the fee tier), `openOrders` / `frontendOpenOrders`, `clearinghouseState`,
  `userFills`, `orderStatus`; a `dex` field picks a builder-deployed DEX (HIP-3).
- `POST /exchange`: signed actions (`order`, `cancelByCloid`) on the desk
  (`supervision.fakevenue.hyperliquid_desk`: nonce rule, cloid duplicates, matching).
- websocket `/ws`: `{"method": "subscribe", "subscription": {"type": ..., "coin": ...}}` for
  `l2Book`, `trades`, `bbo`, `activeAssetCtx`, `orderUpdates`, `userFills`, and `ping`. A new
  subscription gets what the venue sends first: the current book, bbo and context, the last
  trades again (so a client must dedupe them by `tid`), and a `userFills` snapshot.

The market is the shipped recording (`hyperliquid_btc_20250126`: `l2Book` and `trades` of BTC,
25 s), looped for as long as the venue runs, with venue times restamped to the venue's clock and
trade ids shifted on each loop so they stay unique. Every coin (a builder DEX's too) replays the
same book. The recording has no `activeAssetCtx`, so the venue SYNTHESISES it, and says so
(`"synthetic": true` in the context): oracle = the mid `oracle_lag` books ago, mark = the
current mid, a fixed funding rate and open interest. `bbo` is derived from each book.

Faults (`supervision.fakevenue.faults`, `POST /fake/faults`): `disconnect`, `stall_s`,
`malformed`, `rate_limit` (429 with Retry-After), `ack_delay_s`, `lose_response` (an action
applied and never answered), `duplicate_reports`, and `null_bbo` (the next n `bbo` frames have
a null bid).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from actors.market.l2_book import HyperliquidBookSync
from protocols.codec import Side
from protocols.instruments import ContractType, InstrumentSpec
from protocols.venues import hyperliquid
from protocols.venues.hyperliquid_format import price_step, wire
from supervision.fakevenue.faults import Faults
from supervision.fakevenue.hyperliquid_desk import HlDesk, HlMarket
from supervision.fakevenue.rest import Reply, RestApp
from supervision.fakevenue.streams import StreamHub
from supervision.fakevenue.venue import serve_loopback, stream_faults
from supervision.sources.data import HYPERLIQUID_BTC
from supervision.sources.recording_reader import iter_recording

__all__ = ["HyperliquidFakeVenue"]

USER_CHANNELS = ("orderUpdates", "userFills")
MARKET_CHANNELS = ("l2Book", "trades", "bbo", "activeAssetCtx")
MAX_SUBSCRIPTIONS = 1000  # the venue's per-connection limit
FUNDING = "0.0000125"
OPEN_INTEREST = "1000.0"


class HyperliquidFakeVenue:
    def __init__(self, desk: HlDesk, lines: list[tuple[int, str]], *, speed: float = 1.0,
                 oracle_lag: int = 2, fees: tuple[str, str] = ("0.00015", "0.00045")) -> None:
        self.desk = desk
        self.lines = lines
        self.speed = speed
        self.oracle_lag = oracle_lag
        self.fees = fees  # (maker, taker): the account's tier, as userFees says it
        self.faults = Faults()
        self.hub = _HlHub(self)
        self.rest = _HlRest(self)
        self.listen_key = ""  # no Binance user-data stream here
        self.counts: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.books = {coin: HyperliquidBookSync(m.spec.tick_size, m.spec.lot_step)
                      for coin, m in desk.markets.items()}
        for coin, sync in self.books.items():
            desk.exchange.attach_depth(coin, sync.book)
        self.last: dict[str, str] = {}  # (channel:coin) -> the last frame sent
        self._mids: deque[Decimal] = deque(maxlen=oracle_lag + 1)
        self._shutdown = trio.Event()
        self.loops = 0

    @classmethod
    def build(cls, coins: Sequence[str] = ("BTC",), *,
              dex_coins: Mapping[str, Sequence[str]] | None = None,
              recording: str | Path | None = None, speed: float = 1.0,
              oracle_lag: int = 2) -> HyperliquidFakeVenue:
        lines = [(ts, raw) for _n, ts, raw in iter_recording(recording or HYPERLIQUID_BTC)
                 if ts is not None]
        first = hyperliquid.parse_message(next(raw for _ts, raw in lines if "l2Book" in raw))
        assert isinstance(first, hyperliquid.L2Book)
        reference = Decimal(first.bids[0][0])
        markets: dict[str, HlMarket] = {}
        for i, coin in enumerate(coins):
            markets[coin] = _market(coin, i, reference)
        for n, (dex, names) in enumerate(sorted((dex_coins or {}).items()), start=1):
            for i, name in enumerate(names):
                coin = f"{dex}:{name}"
                markets[coin] = _market(coin, 100_000 + 10_000 * n + i, reference, dex)
        return cls(HlDesk(markets), lines, speed=speed, oracle_lag=oracle_lag)

    # -- serving -------------------------------------------------------------------------------
    async def serve(self, *, rest_port: int = 0, ws_port: int = 0,
                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await serve_loopback(self, rest_port=rest_port, ws_port=ws_port, ws_path="/ws",
                             task_status=task_status)

    def shutdown(self) -> None:
        self._shutdown.set()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def _replay(self) -> None:
        while True:
            start, first = trio.current_time(), self.lines[0][0]
            for ts, raw in self.lines:
                due = start + (ts - first) / 1e9 / (self.speed or 1e9)
                if due > trio.current_time():
                    await trio.sleep_until(due)
                await self._faults_before_frame()
                self._frame(json.loads(raw))
            self.loops += 1
            await trio.sleep(0.5 / (self.speed or 1e9))

    async def _faults_before_frame(self) -> None:
        await stream_faults(self, '{"channel": "l2Book", "data": {')

    def _frame(self, obj: dict[str, Any]) -> None:
        now = self.desk.now_ms = self.now_ms()
        data: Any = obj.get("data")
        if obj.get("channel") == "l2Book":
            null_bbo = self.faults.take("null_bbo")
            if null_bbo:
                self.count("null_bbo")
            for coin in self.desk.markets:
                self._book(coin, {**data, "coin": coin, "time": now}, null_bbo)
        elif obj.get("channel") == "trades":
            shift = self.loops * 10**15
            for coin in self.desk.markets:
                trades = [{**t, "coin": coin, "time": now, "tid": t["tid"] + shift}
                          for t in data]
                self._publish("trades", coin, trades)
                spec = self.desk.markets[coin].spec
                reports = []
                for t in trades:
                    reports += self.desk.exchange.on_trade(
                        coin, int(Decimal(t["px"]) / spec.tick_size),
                        int(Decimal(t["sz"]) / spec.lot_step),
                        Side.BUY if t["side"] == "B" else Side.SELL, 0)
                self.user_events(self.desk.events(reports))

    def _book(self, coin: str, data: dict[str, Any], null_bbo: bool) -> None:
        message = hyperliquid.parse_l2book(data)
        sync = self.books[coin]
        sync.on_l2book(message, 0)
        self._publish("l2Book", coin, data)
        self.user_events(self.desk.events(self.desk.exchange.on_depth_change(coin, 0)))
        bids, asks = data["levels"]
        bbo = [bids[0] if bids else None, asks[0] if asks else None]
        if null_bbo:
            bbo[0] = None
        self._publish("bbo", coin, {"coin": coin, "time": data["time"], "bbo": bbo})
        if bids and asks:
            mid = (Decimal(bids[0]["px"]) + Decimal(asks[0]["px"])) / 2
            if coin == next(iter(self.books)):
                self._mids.append(mid)
            oracle = self._mids[0] if self._mids else mid
            self._publish("activeAssetCtx", coin, {"coin": coin, "ctx": {
                "markPx": wire(mid), "oraclePx": wire(oracle), "midPx": wire(mid),
                "funding": FUNDING, "openInterest": OPEN_INTEREST, "premium": "0",
                "dayNtlVlm": "0", "prevDayPx": wire(mid), "impactPxs": [wire(mid), wire(mid)],
                "synthetic": True}})

    def _publish(self, channel: str, coin: str, data: Any) -> None:
        text = json.dumps({"channel": channel, "data": data}, separators=(",", ":"))
        key = f"{channel}:{coin}"
        self.last[key] = text
        self.hub.publish(key, text)

    def user_events(self, events: list[tuple[str, Any]]) -> None:
        for channel, data in events:
            text = json.dumps({"channel": channel, "data": data}, separators=(",", ":"))
            self.hub.publish(channel, text)
            if self.faults.take("duplicate_reports"):
                self.count("duplicate_reports")
                self.hub.publish(channel, text)

    # -- what REST answers ---------------------------------------------------------------------
    async def exchange(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.desk.now_ms = self.now_ms()
        answer, events = self.desk.exchange_action(body)
        self.user_events(events)
        if self.faults.take("lose_response"):
            self.count("lost_responses")
            await trio.sleep_forever()
        if self.faults.ack_delay_s:
            await trio.sleep(self.faults.ack_delay_s)
        return answer

    def info(self, request: Mapping[str, Any]) -> Any:
        kind, dex = request.get("type"), request.get("dex") or ""
        desk = self.desk
        if kind in ("meta", "metaAndAssetCtxs"):
            coins = [m for m in desk.markets.values() if m.dex == dex]
            meta = {"universe": [{"name": m.coin, "szDecimals": m.sz_decimals,
                                  "maxLeverage": 40, "onlyIsolated": False} for m in coins],
                    "collateralToken": 0}
            if kind == "meta":
                return meta
            return [meta, [self._ctx(m.coin) for m in coins]]
        if kind == "perpDexs":
            names = sorted({m.dex for m in desk.markets.values() if m.dex})
            return [None, *({"name": n, "fullName": n.upper(), "deployer": "0x" + "1" * 40,
                             "oracleUpdater": None, "feeRecipient": None,
                             "assetToStreamingOiCap": []} for n in names)]
        if kind == "spotMeta":
            return {"universe": [], "tokens": []}
        if kind == "exchangeStatus":
            return {"specialStatuses": None, "time": self.now_ms()}
        if kind == "userFees":
            return {"userAddRate": self.fees[0], "userCrossRate": self.fees[1],
                    "activeReferralDiscount": "0.0", "dailyUserVlm": []}
        if kind in ("openOrders", "frontendOpenOrders"):
            return desk.open_orders(dex)
        if kind == "clearinghouseState":
            return desk.clearinghouse(dex)
        if kind == "userFills":
            return list(reversed(desk.fills))
        if kind == "orderStatus":
            return desk.order_status(request.get("oid"))
        return None

    def _ctx(self, coin: str) -> dict[str, Any]:
        text = self.last.get(f"activeAssetCtx:{coin}")
        if text is not None:
            ctx: dict[str, Any] = json.loads(text)["data"]["ctx"]
            return ctx
        return {"markPx": None, "oraclePx": None, "funding": FUNDING,
                "openInterest": OPEN_INTEREST, "midPx": None}

    def state(self) -> dict[str, Any]:
        desk = self.desk
        return {"faults": self.faults.as_dict(), "counts": {**self.counts, **desk.counts},
                "creates": dict(desk.creates), "loops": self.loops,
                "open_orders": sum(1 for o in desk.orders.values() if o.status == "open"),
                "fills": len(desk.fills), "connections": self.hub.connections(),
                "requests": self.rest.requests, "oracle": "synthetic (lagged mid)"}

    def greeting(self, key: str) -> list[str]:
        """What a new subscription gets at once."""
        if key.startswith("userFills"):
            return [json.dumps({"channel": "userFills", "data": {
                "isSnapshot": True, "user": self.desk.user,
                "fills": list(self.desk.fills[-50:])}})]
        text = self.last.get(key)
        return [text] if text is not None else []


def _market(coin: str, asset: int, reference: Decimal, dex: str = "") -> HlMarket:
    sz_decimals = 5
    spec = InstrumentSpec(coin, "hyperliquid", price_step(reference, sz_decimals),
                          Decimal(1).scaleb(-sz_decimals), Decimal(1).scaleb(-sz_decimals),
                          Decimal(10), Decimal("0.00015"), Decimal("0.00045"),
                          ContractType.PERP)
    return HlMarket(coin, asset, sz_decimals, spec, dex)


class _HlRest(RestApp):
    """`/info`, `/exchange` and the fake's own `/fake/*`, all JSON POSTs as on the venue."""

    async def handle(self, scope: Any, body: bytes) -> Reply:
        method, path = scope["method"], scope["path"]
        self.requests += 1
        venue = self.venue
        if path.startswith("/fake/"):
            return self._fake(method, path, body)
        if venue.faults.take("rate_limit"):
            venue.count("rate_limited")
            return 429, None, [(b"retry-after", str(venue.faults.retry_after_s).encode())]
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 422, {"error": "Failed to deserialize the JSON body"}, []
        if method == "POST" and path == "/info" and isinstance(request, dict):
            return 200, venue.info(request), []
        if method == "POST" and path == "/exchange" and isinstance(request, dict):
            return 200, await venue.exchange(request), []
        return 404, {"error": f"fake hyperliquid: no {method} {path}"}, []


class _HlHub(StreamHub):
    """One socket, subscriptions by message; `client.streams` holds "channel:coin" keys."""

    async def _read_requests(self, client: Any) -> None:
        venue = self.venue
        while True:
            text = await client.ws.get_message()
            try:
                request = json.loads(text)
                method = request["method"]
            except (ValueError, KeyError, TypeError):
                continue
            if method == "ping":
                await client.ws.send_message('{"channel":"pong"}')
                continue
            sub = request.get("subscription") or {}
            kind, coin = sub.get("type"), sub.get("coin")
            key = kind if kind in USER_CHANNELS else f"{kind}:{coin}"
            problem = None
            if kind not in USER_CHANNELS + MARKET_CHANNELS:
                problem = f"Invalid subscription type {kind!r}"
            elif kind in MARKET_CHANNELS and coin not in venue.desk.markets:
                problem = f"Invalid subscription: unknown coin {coin!r}"
            elif method == "subscribe" and len(client.streams) >= MAX_SUBSCRIPTIONS:
                problem = "Cannot track more than 1000 total subscriptions"
            if problem is not None:
                await client.ws.send_message(json.dumps({"channel": "error", "data": problem}))
                continue
            if method == "unsubscribe":
                client.streams.discard(key)
            else:
                client.streams.add(key)
            await client.ws.send_message(json.dumps(
                {"channel": "subscriptionResponse", "data": request}))
            if method == "subscribe":
                for frame in venue.greeting(key):
                    with contextlib.suppress(Exception):
                        client.send.send_nowait(frame)


def main(argv: list[str] | None = None) -> int:
    """`python -m supervision.fakevenue.hyperliquid [--coins BTC,ETH] [--dex xyz:XYZ100]`: a
    fake Hyperliquid on 127.0.0.1 until Ctrl-C; one JSON line with its URLs."""
    import argparse
    import sys

    from supervision.fakevenue.cli import non_negative, port, serve_until_interrupted
    from supervision.fakevenue.faults import FaultError, parse_fault_args

    parser = argparse.ArgumentParser(prog="python -m supervision.fakevenue.hyperliquid")
    parser.add_argument("--coins", default="BTC", help="default DEX coins, comma-separated")
    parser.add_argument("--dex", action="append", default=[], metavar="DEX:COIN",
                        help="a builder DEX's coin (repeatable)")
    parser.add_argument("--speed", type=non_negative, default=1.0,
                        help="x recorded pace (0: max)")
    parser.add_argument("--rest-port", type=port, default=0)
    parser.add_argument("--ws-port", type=port, default=0)
    parser.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    dex_coins: dict[str, list[str]] = {}
    for item in args.dex:
        dex, sep, coin = item.partition(":")
        if not sep or not dex or not coin:
            sys.stderr.write(f"error: --dex {item!r}: expected DEX:COIN\n")
            return 2
        dex_coins.setdefault(dex, []).append(coin)
    coins = [c.strip() for c in args.coins.split(",") if c.strip()]
    if not coins:
        sys.stderr.write(f"error: --coins {args.coins!r}: expected coins like BTC,ETH\n")
        return 2
    venue = HyperliquidFakeVenue.build(coins, dex_coins=dex_coins, speed=args.speed)
    try:
        venue.faults.update(parse_fault_args(args.fault))
    except FaultError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(lambda task_status: venue.serve(
                rest_port=args.rest_port, ws_port=args.ws_port, task_status=task_status))
            sys.stdout.write(json.dumps({"fakevenue": "hyperliquid", **urls}) + "\n")
            sys.stdout.flush()

    return serve_until_interrupted(
        run, f"127.0.0.1 (REST port {args.rest_port}, websocket port {args.ws_port})")


if __name__ == "__main__":
    raise SystemExit(main())
