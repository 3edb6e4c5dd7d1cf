"""`HyperliquidTransport`: the Hyperliquid venue as the generic venue connection sees it.

Start (`open`): the REST worker discovers the markets (`discovery.discover`, checked by
`discovery.resolve`: the same preflight the node ran before starting, so a venue that was
unreachable then is still checked); each instrument gets its `SpecUpdate`, a `StatusUpdate`
and, on a builder DEX with a cap, an `OpenInterestCap`; the server time gives the clock's drift
(`troupe_venue_clock_drift_ms`); then the one websocket starts, subscribing `l2Book`, `trades`,
`bbo` and `activeAssetCtx` per coin, and the user's `orderUpdates` and `userFills` with a wallet.
A discovery that fails is logged in one line and retried with backoff; a preflight refusal is
logged once and the connection stays not ready.

Streams: `l2Book` (full snapshots: a reconnect's first one resyncs the book), `trades` (a fresh
subscription replays recent trades: deduplicated by `tid` here, before the book), `bbo` (to the
book, whose null side takes the market out of READY), `activeAssetCtx` -> `OracleUpdate`,
`FundingUpdate` (and a `SpecUpdate` when the price crosses a decade and its step changes).
After a reconnect every book is resynced by the snapshot the venue sends on subscribe, and the
account is reconciled (its events may have been missed).

Orders (`send`): each intent is mapped (`mapping.order_wire`; what the venue cannot take is
refused at once) and joins the action batcher (`batching`, 100 ms, ALO apart); each due batch
is one signed action on the REST worker, its nonce taken there at signing (`nonces`). Answers:
a throttle -> `RateLimited` and every intent refused RATE_LIMITED; a network failure or timeout
-> `TimedOut` per intent (UNKNOWN), then each order is looked up by its cloid (`orderStatus`),
never resent under a new id; a whole-action refusal (bad nonce) -> every intent refused;
otherwise one status per intent (`mapping.reports_of_status`). Acks come twice (the answer and
`orderUpdates`): each is passed on once. Fills come from `userFills`, once per `tid`.
Reconciliations wait out any throttle's Retry-After (`supervision.venues.rest_gate`), whose
budget answer the budget hears too.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.venue_transport import (
    Gauged,
    MarketData,
    Reported,
    TransportEvent,
)
from protocols.codec import DecodeError, TradeDeduper
from protocols.instruments import InstrumentSpec
from protocols.market import TradingStatus
from protocols.orders import (
    CancelIntent,
    Intent,
    OrderIntent,
)
from protocols.portfolio import VenuePositions
from protocols.venue_state import (
    CancelAllOrders,
    OpenInterestCap,
    SendActions,
    SpecUpdate,
    StatusUpdate,
)
from protocols.venues import hyperliquid
from protocols.venues.hyperliquid_format import price_step
from protocols.venues.hyperliquid_user import (
    OrderUpdates,
    UserFills,
    parse_user_message,
)
from supervision.venues.binance.io import RestDone, WsDown, WsFrame, WsUp
from supervision.venues.hyperliquid.discovery import (
    HlMarketInfo,
    PreflightError,
    discover,
    resolve,
)
from supervision.venues.hyperliquid.mapping import (
    fill_of,
    order_wire,
)
from supervision.venues.hyperliquid.orders import HlOrderAnswers

__all__ = ["HyperliquidSettings", "HyperliquidTransport"]

log = logging.getLogger("troupe.venues.hyperliquid")
SECOND = 1_000_000_000


@attrs.frozen(slots=True)
class HyperliquidSettings:
    name: str
    rest_url: str
    ws_url: str
    instruments: Mapping[str, str]  # our name -> the venue's coin
    specs: Mapping[str, InstrumentSpec]
    dex: str = "default"
    wallet: str = ""
    private_key: str = attrs.field(default="", repr=False)
    observe: bool = False
    testnet: bool = True
    timeout_s: float = 10.0
    heartbeat_s: float = 45.0
    batch_period_ms: float = 100.0
    max_subscriptions: int = 1000
    hip3_fee_multiple: Decimal = Decimal(2)
    nonce_path: str | None = None
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0
    expected_open: frozenset[str] = frozenset()


class HyperliquidTransport(HlOrderAnswers):
    """`io(transport, deliver)` builds the I/O: `rest` (a worker running callables with the ccxt
    client), `stream` (a websocket reader given the subscriptions) and `close()`."""

    def __init__(self, settings: HyperliquidSettings, io: Callable[..., Any]) -> None:
        self.settings = settings
        self._make_io = io
        self.io: Any = None
        self.markets: dict[str, HlMarketInfo] = {}
        self.by_coin: dict[str, str] = {}
        self.specs: dict[str, InstrumentSpec] = dict(settings.specs)
        self.refused: str | None = None  # the preflight's refusal, if any
        self._init_orders()
        self.trades: dict[str, TradeDeduper] = {}
        self.fills = TradeDeduper(50_000)
        self._deliver: Callable[[Any], Any] | None = None
        self._rng = random.Random(0)
        self._retries = 0
        self._connected = False
        self.subscriptions: tuple[str, ...] = ()

    # -- the adapter contract ------------------------------------------------------------------
    def attach(self, self_ref: Any) -> None:
        self._deliver = self_ref.tell

    def open(self, now_ns: int, rng: random.Random) -> None:
        if self._deliver is None:
            raise RuntimeError("HyperliquidTransport needs attach() before open()")
        self._rng = rng
        self.io = self._make_io(self, self._deliver)
        self._discover()

    def close(self) -> None:
        if self.io is not None:
            self.io.close()

    def send(self, request: SendActions, now_ns: int) -> None:
        ready: list[Intent] = []
        for intent in request.batch.intents:
            market = self.markets.get(intent.instrument)
            if market is None:
                self._refuse(intent, "hyperliquid markets are not loaded yet", now_ns)
            elif isinstance(intent, OrderIntent):
                wire = order_wire(intent, market)
                if isinstance(wire, str):
                    self._refuse(intent, wire, now_ns)
                    continue
                self.cids[wire.cloid] = intent.client_order_id
                self.instrument_of[intent.client_order_id] = intent.instrument
                self.known_open.add(intent.client_order_id)
                ready.append(intent)
            elif isinstance(intent, CancelIntent):
                self.cancelling.add(intent.client_order_id)
                ready.append(intent)
            else:
                self._refuse(intent, "replace is not supported on Hyperliquid here; cancel and "
                             "place a new order", now_ns)
        self.batcher.add(ready, now_ns)
        self._flush(now_ns)

    def cancel_all(self, request: CancelAllOrders, open_ids: Sequence[str],
                   now_ns: int) -> None:
        """The venue cancels by cloid: one cancel per order the connection believes open."""
        cancels = [CancelIntent(cid, self._instrument_of(cid) or request.instrument or "")
                   for cid in open_ids]
        cancels = [c for c in cancels if c.instrument in self.markets
                   and request.instrument in (None, c.instrument)]
        self.cancelling.update(c.client_order_id for c in cancels)
        if cancels:
            self._submit_action("cancel", tuple(cancels), now_ns)

    def reconcile(self, now_ns: int) -> None:
        if not self.settings.wallet:  # observe without keys: public data, nothing to hold
            self._queue.append(VenuePositions((), (), now_ns))
            return
        wallet, dex = self.settings.wallet, self._wire_dex

        def fetch(client: Any, _params: dict[str, Any]) -> dict[str, Any]:
            info = client.publicPostInfo
            return {"state": info({"type": "clearinghouseState", "user": wallet, "dex": dex}),
                    "open": info({"type": "frontendOpenOrders", "user": wallet, "dex": dex}),
                    "asked_ns": now_ns}  # when we asked: the drift check's point in time

        self.gate.submit(self.io.rest, ("reconcile",), fetch, None, now_ns)

    def poll(self, now_ns: int) -> list[TransportEvent]:
        for what, due in list(self._due.items()):
            if due <= now_ns:
                del self._due[what]
                if what == "discover":
                    self._discover()
                elif what == "reconcile":
                    self.reconcile(now_ns)
                else:
                    self._due_lookup(what, now_ns)
        self._flush(now_ns)
        if self.gate.due_ns() is not None:
            self.gate.release(self.io.rest, now_ns)
        out, self._queue = self._queue, []
        return out

    def next_due_ns(self) -> int | None:
        dues = [*self._due.values()]
        for due in (self.batcher.next_due_ns(), self.gate.due_ns()):
            if due is not None:
                dues.append(due)
        return min(dues, default=None)

    def on_message(self, message: Any, now_ns: int) -> bool:
        if isinstance(message, WsFrame):
            self._frame(message, now_ns)
        elif isinstance(message, RestDone):
            if (answer := self.gate.heard(message, now_ns)) is not None:
                self._count("troupe_venue_429_total")
                if message.tag[0] != "action":  # the budget did not send it: tell it
                    self._queue.append(answer)
            getattr(self, f"_on_{message.tag[0]}")(message, now_ns)
        elif isinstance(message, WsUp):
            log.info("hyperliquid stream connected: %s (%d subscriptions)", message.url,
                     len(self.subscriptions))
            if self._connected:  # the venue's first snapshots resync the books
                for name in self.markets:
                    self._count("troupe_venue_resyncs_total", instrument=name,
                                reason="reconnect")
                if self.start_summary is not None:
                    self.reconcile(now_ns)
            self._connected = True
        elif isinstance(message, WsDown):
            self._count("troupe_ws_reconnects_total", stream=message.stream,
                        reason=message.kind)
            log.warning("hyperliquid stream down (%s); reconnecting in %.1fs", message.reason,
                        message.retry_in_s)
        else:
            return False
        return True

    def state(self) -> dict[str, Any]:
        return {"markets": {n: m.coin for n, m in self.markets.items()},
                "refused": self.refused, "subscriptions": len(self.subscriptions),
                "start_summary": None if self.start_summary is None
                else attrs.asdict(self.start_summary)}

    def snapshot(self) -> dict[str, Any]:
        return {"markets_loaded": bool(self.markets), "dex": self.settings.dex}

    # -- discovery -----------------------------------------------------------------------------
    @property
    def _wire_dex(self) -> str:
        return "" if self.settings.dex == "default" else self.settings.dex

    def _discover(self) -> None:
        dex, wallet = self.settings.dex, self.settings.wallet
        self.io.rest.submit(("discovered",), lambda client, _p: discover(client, dex, wallet))

    def _on_discovered(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None:
            self._retries += 1
            delay = min(self.settings.retry_max_s, self.settings.retry_min_s * 2 ** self._retries)
            delay = self._rng.uniform(delay / 2, delay)
            self._count("troupe_venue_unreachable_total")
            log.warning("hyperliquid venue cannot be reached at %s (%s); retrying in %.1fs, "
                        "not ready until it answers", self.settings.rest_url, done.message,
                        delay)
            self._due["discover"] = now_ns + int(delay * SECOND)
            return
        settings = self.settings
        try:
            markets = resolve(done.value, settings.instruments, settings.specs,
                              max_subscriptions=settings.max_subscriptions,
                              user=bool(settings.wallet),
                              hip3_fee_multiple=settings.hip3_fee_multiple)
        except PreflightError as exc:
            self.refused = str(exc)
            log.error("%s; the venue connection stays not ready", exc)
            return
        status = done.value.get("status") or {}
        if status.get("time") is not None and done.value.get("local_ms"):
            drift = int(done.value["local_ms"]) - int(status["time"])
            self._queue.append(Gauged("troupe_venue_clock_drift_ms", float(drift),
                                      (("venue", settings.name),)))
        self.markets = markets
        self.by_coin = {m.coin: n for n, m in markets.items()}
        for name, market in markets.items():
            self.specs[name] = market.spec
            self._queue.append(SpecUpdate(market.spec, now_ns))
            self._queue.append(StatusUpdate(name, TradingStatus.TRADING, now_ns))
            if market.oi_cap is not None:
                self._queue.append(OpenInterestCap(name, False, now_ns))
            self.trades[market.coin] = TradeDeduper()
        self.subscriptions = self._subscriptions()
        log.warning("hyperliquid: %d markets on the %s DEX from %s (%s)", len(markets),
                    settings.dex, settings.rest_url, ", ".join(self.by_coin))
        self.io.stream.start()

    def _subscriptions(self) -> tuple[str, ...]:
        out = [hyperliquid.subscribe(kind, coin=coin) for coin in self.by_coin
               for kind in ("l2Book", "trades", "bbo", "activeAssetCtx")]
        if self.settings.wallet:
            out += [hyperliquid.subscribe(kind, user=self.settings.wallet)
                    for kind in ("orderUpdates", "userFills")]
        return tuple(out)

    # -- frames --------------------------------------------------------------------------------
    def _frame(self, frame: WsFrame, now_ns: int) -> None:
        try:
            message = parse_user_message(frame.text)
        except DecodeError:
            self._count("troupe_venue_malformed_frames_total", stream="ws")
            return
        if isinstance(message, OrderUpdates):
            for update in message.updates:
                self._order_update(update, now_ns)
        elif isinstance(message, UserFills):
            for fill in message.fills:
                cid = self.cids.get(fill.cloid or "") or self.by_oid.get(fill.oid)
                name = self.by_coin.get(fill.coin)
                if cid is not None and name is not None and self.fills.is_new(fill.tid):
                    self._queue.append(Reported(fill_of(cid, fill, self.markets[name])))
        else:
            self._market(message, frame.recv_ns)

    def _market(self, message: Any, recv_ns: int) -> None:
        name = self.by_coin.get(getattr(message, "coin", ""))
        if isinstance(message, hyperliquid.Trades) and message.trades:
            name = self.by_coin.get(message.trades[0].coin)
            if name is None:
                return
            fresh = hyperliquid.new_trades(message, self.trades[message.trades[0].coin])
            if fresh:
                self._queue.append(MarketData(name, hyperliquid.Trades(fresh), recv_ns))
        elif name is None:
            return
        elif isinstance(message, hyperliquid.AssetCtx):
            self._asset_ctx(name, message, recv_ns)
        elif isinstance(message, hyperliquid.L2Book | hyperliquid.Bbo):
            self._queue.append(MarketData(name, message, recv_ns))

    def _asset_ctx(self, name: str, ctx: hyperliquid.AssetCtx, recv_ns: int) -> None:
        market = self.markets[name]
        step = price_step(Decimal(ctx.mid_px or ctx.mark_px), market.sz_decimals, market.spot)
        if step != market.spec.tick_size:  # the price crossed a decade: a new tick
            spec = attrs.evolve(market.spec, tick_size=step)
            self.markets[name] = market = attrs.evolve(market, spec=spec)
            self.specs[name] = spec
            self._queue.append(SpecUpdate(spec, recv_ns))
        self._queue += hyperliquid.asset_ctx_updates(name, ctx, market.spec.tick_size, recv_ns)
        if market.oi_cap is not None and ctx.open_interest is not None:
            notional = Decimal(ctx.open_interest) * Decimal(ctx.mark_px)
            self._queue.append(OpenInterestCap(name, notional >= market.oi_cap, recv_ns))
