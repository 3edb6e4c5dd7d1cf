"""BinanceTransport: the venue connection's Binance end (spot or USD-M), on the adapter contract.

The transport decides; its I/O (`supervision.venues.binance.io`) only carries: REST requests go
to a ccxt worker process, exits to a worker process of their own (and a cancel-all takes back
the new orders still queued: `supervision.venues.binance.exits`), frames come in from the
websocket readers, and every answer comes back to the connection actor as a message, which
hands it to `on_message`. What it means comes out of `poll` as the contract's events
(`actors.execution.venue_transport`).

Start: markets are loaded (`exchangeInfo`) into a `SpecUpdate` per instrument; the market
streams connect on one combined socket: of every instrument, the streams some actor reads
(`BinanceSettings.streams`: depth diffs and trades; no bookTicker, which nothing reads), and on
USD-M the mark price stream, whose mark, index and funding rate go to the instrument's Market
actor as `OracleUpdate` and `FundingUpdate`);
with an API key, a listen key is taken and the user-data stream connects and is kept alive.
Without keys (observe mode only: `--execute` refuses to start without them) the node watches the
public market data: no listen key, no user stream, no private request, and no reconciliation,
so it never reports ready for trading; one log line says so.
Each book asks for its snapshot (`resync`), which is fetched over REST and handed back as
`MarketData`, so the book syncs by Binance's rules (spot `U`/`u`, USD-M `pu`).
A market frame is decoded once (`market_message`): a depth diff or trade of ours goes straight
into the books' ticks and lots (orjson, then the codec's exact memos: `supervision.sources.
unit_decode.UnitDecoder`, the backtest's decode), so the book applies integers and nothing is
converted twice or parsed as a Decimal; anything else, and any frame that path is not sure of
(a field of the wrong type, a level that is not a pair of strings, an off-tick price, JSON
orjson refuses), is decoded the checked way as before, and the book converts or refuses it as
it always did. The books' units are the configured specs the node built them with. A venue that
cannot be reached is retried with backoff, said in one log line per attempt, and leaves the
node not ready (no spec, no book): never a traceback.

Orders: a new order is `POST /order` with our client order id as `newClientOrderId`; a cancel
names it as `origClientOrderId`. Answers, by the failure kind `client.classify` gives:
- accepted: `RequestAccepted`, then the Ack (its fills and cancels come on the user stream,
  with the venue's trade ids: `Fill.fill_id` = "<symbol>-<trade id>", counted once);
- throttled (429, ccxt's RateLimitExceeded/DDoSProtection): `RateLimited` with the venue's
  Retry-After, and every intent refused RATE_LIMITED; banned (418): `Banned` until then; a
  throttled cancel-all goes again once the Retry-After has passed, before any request sent
  after it (it can never trade);
- rejected (InvalidOrder, InsufficientFunds, ...): `RequestAccepted` and a `Reject` whose code
  is read from Binance's words (a duplicate client id is DUPLICATE_CLIENT_ORDER_ID: it exists);
- lost (RequestTimeout, NetworkError, anything unreadable): `TimedOut` (UNKNOWN), then the
  order is queried by its client id: found, it is acked (a sign of life); not found, a
  `ReconcileResult(NOT_FOUND)` lets the state machine close it. Nothing is ever resent here.

Reconciliation (`reconcile`): open orders, balances and (USD-M) positions in one request on the
worker; the answer becomes `VenuePositions`. Snapshots, reconciliations and every other
request of the adapter's own are paid by the budget before they go, at Binance's weights
(`supervision.venues.rest_gate`, `supervision.venues.binance.weights`; `charge_requests`, set
for every node), so a 429's Retry-After or a 418's ban holds them in the budget; a refusal of
one of them tells the budget too. The first one, at start, also reconciles the
venue's open orders against what the journal left open (`expected_open`): ours that the
journal knows are adopted, ours it does not know are cancelled (fail closed; in observe mode
only reported), and the journal's that the venue does not have are unknown. The summary is
logged and kept in `start_summary`. A later reconciliation that finds one of ours open at the
venue but not in the session, or the reverse, is a drift: counted
(`troupe_reconciliation_drifts_total`), which alerts and moves the account to REDUCING.
A reconciliation also reads the trades the user stream may have missed (`myTrades`) and books
them before its positions are compared, and settles from the venue's own state each order of
ours it no longer lists (`supervision.venues.binance.fills`, which `reconcile` is part of): a
trade counts once whichever path brings it.

Metrics (`Counted`): troupe_ws_reconnects_total{venue,stream,reason},
troupe_venue_resyncs_total{venue,instrument}, troupe_venue_429_total{venue},
troupe_reconciliation_order_drifts_total{venue}, troupe_venue_unreachable_total{venue},
troupe_venue_malformed_frames_total{venue,stream}, troupe_fills_recovered_total{venue}.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import attrs

from actors.execution.venue_transport import MarketData, TransportEvent
from protocols.codec import DecodeError
from protocols.feed import Stream
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    CancelIntent,
    Intent,
    OrderIntent,
    ReplaceIntent,
)
from protocols.venue_state import (
    BudgetOpened,
    FundingUpdate,
    OracleUpdate,
    RequestCleared,
    SendActions,
    SpecUpdate,
    VenueUsage,
)
from protocols.venues import binance
from protocols.venues.binance_user import AccountUpdate, OrderUpdate, parse_user_event
from supervision.sources.unit_decode import UnitDecoder
from supervision.venues.binance.exits import ExitLanes, is_exit
from supervision.venues.binance.fills import FillRecovery
from supervision.venues.binance.io import RestDone, WsDown, WsFrame, WsUp
from supervision.venues.binance.mapping import order_params, spec_from_market
from supervision.venues.binance.settings import METHODS, BinanceSettings
from supervision.venues.binance.weights import depth_weight

__all__ = ["BinanceSettings", "BinanceTransport"]

log = logging.getLogger("troupe.venues.binance")
SECOND = 1_000_000_000
SNAPSHOT_LEVELS = 1000  # a book's REST snapshot: Binance's weight 50 (spot), 20 (USD-M)
DEEP_AFTER = 12  # depth levels a side of a diff converts before the book publishes its top


class BinanceTransport(FillRecovery, ExitLanes):
    """`io(transport, deliver)` builds the I/O: an object with `rest` and `exits` (two
    `RestProcess`es), `market` and `user` (`StreamReader`s, given a url callable) and `close()`; see
    `supervision.venues.binance.adapter`."""

    def __init__(self, settings: BinanceSettings, io: Callable[..., Any]) -> None:
        self.settings = settings
        self._init_orders()
        self._init_amend()
        self._make_io = io
        self.io: Any = None
        self.methods = METHODS[settings.dialect]
        self.symbols = {symbol: name for name, symbol in settings.instruments.items()}
        self.specs: dict[str, InstrumentSpec] = dict(settings.specs)
        self.markets_loaded = False
        self.listen_key: str | None = None
        self._deliver: Callable[[Any], Any] | None = None
        self._retries = 0
        self._rng = random.Random(0)
        self._connected: set[str] = set()  # streams that have been up at least once
        self._instrument_of: dict[str, str] = {}  # client id -> our instrument, for cancels
        # Market frames straight into the units of the books, which the node built from the
        # configured specs (the specs loaded later are for orders: the live books are not
        # rebuilt when the venue's tick differs; a book refuses a diff in other units).
        # A depth diff's levels past the first DEEP_AFTER of a side are left to the book to
        # apply after it publishes its top (`protocols.venues.binance.DeepLevels`).
        self._units = UnitDecoder({symbol: (spec.tick_size, spec.lot_step)
                                   for name, symbol in settings.instruments.items()
                                   if (spec := settings.specs.get(name)) is not None},
                                  head=DEEP_AFTER)

    # -- the adapter contract ------------------------------------------------------------------
    def attach(self, self_ref: Any) -> None:
        self._deliver = self_ref.tell

    def open(self, now_ns: int, rng: random.Random) -> None:
        if self._deliver is None:
            raise RuntimeError("BinanceTransport needs attach() before open()")
        self._rng = rng
        self.io = self._make_io(self, self._deliver)
        self.io.market.start()
        self._load_markets(now_ns)
        if self.settings.api_key:
            self._new_listen_key(now_ns)
        else:
            log.warning("binance %s: no API keys: observing the public market data only (no "
                        "account, no user stream, no private request, nothing sent)",
                        self.settings.dialect)

    def close(self) -> None:
        if self.io is not None:
            self.io.close()

    def market_url(self) -> str:
        streams = []
        trade = "aggTrade" if self.settings.dialect == "usdm" else "trade"
        wanted = [name for stream, name in ((Stream.DEPTH, "depth@100ms"), (Stream.TRADES, trade),
                                            (Stream.TICKER, "bookTicker"))
                  if stream in self.settings.streams]
        for symbol in self.settings.instruments.values():
            low = symbol.lower()
            streams += [f"{low}@{name}" for name in wanted]
            if self.settings.dialect == "usdm":
                streams.append(f"{low}@markPrice@1s")
        return f"{self.settings.ws_url}/stream?streams={'/'.join(streams)}"

    def user_url(self) -> str | None:
        key = self.listen_key
        return None if key is None else f"{self.settings.ws_url}/ws/{key}"

    def send(self, request: SendActions, now_ns: int) -> None:
        # A cancel-all the venue throttled goes before anything sent after it: the budget sends
        # again only once the same Retry-After has passed.
        if self._sweeps_due:
            self._sweeps_due = False
            for what in [w for w in self._due if w.startswith("cancel_all:")]:
                del self._due[what]
                self._sweep(what.split(":", 1)[1])
        intents = request.batch.intents
        if len(intents) == 1:
            # One new order or replace, as a quote's every move sends: where `_split` and the
            # lanes below would put it, without their lists (a cancel may take back a queued
            # new order: it goes the long way).
            intent = intents[0]
            if isinstance(intent, ReplaceIntent):
                self._send_replace(intent, self._entry_lane(intents), now_ns)
                return
            if isinstance(intent, OrderIntent):
                self._instrument_of[intent.client_order_id] = intent.instrument
                self._send_one(intent, self.exit_lane if is_exit(intent)
                               else self._entry_lane(intents), now_ns)
                return
        for intent in intents:
            if isinstance(intent, OrderIntent):
                self._instrument_of[intent.client_order_id] = intent.instrument
        exits, entries = self._split(intents, now_ns)  # see `exits`
        for lane, some in ((self.exit_lane, exits), (self._entry_lane(entries), entries)):
            if self.settings.dialect == "usdm" and len(some) > 1 \
                    and not isinstance(some[0], ReplaceIntent):
                self._send_batch(some, lane)
                continue
            for intent in some:
                self._send_one(intent, lane, now_ns)

    def _send_one(self, intent: Intent, lane: Any, now_ns: int) -> None:
        if isinstance(intent, OrderIntent):
            symbol = self.settings.instruments.get(intent.instrument, intent.instrument)
            params = order_params(intent, symbol, self.specs[intent.instrument])
            self._remember(intent, symbol, params)
            self.known_open.add(intent.client_order_id)
            lane.submit(("create", intent), self.methods["create"], params)
        elif isinstance(intent, CancelIntent):
            symbol = self.settings.instruments.get(intent.instrument, intent.instrument)
            lane.submit(("cancel", intent), self.methods["cancel"],
                        {"symbol": symbol, "origClientOrderId": intent.client_order_id})
        else:
            self._send_replace(intent, lane, now_ns)

    def resync(self, instrument: str, reason: str, now_ns: int) -> None:
        symbol = self.settings.instruments.get(instrument)
        if symbol is None or not self.markets_loaded:
            return  # the book asks again; a snapshot before the specs would not convert
        self._count("troupe_venue_resyncs_total", instrument=instrument, reason=reason)
        self.gate.submit(self.io.rest, ("depth", instrument), self.methods["depth"],
                         {"symbol": symbol, "limit": SNAPSHOT_LEVELS}, now_ns,
                         weight=depth_weight(self.settings.dialect, SNAPSHOT_LEVELS))

    def poll(self, now_ns: int) -> list[TransportEvent]:
        earliest = self._due.earliest_ns
        for what, due in list(self._due.items()) if earliest is not None \
                and earliest <= now_ns else ():
            if due <= now_ns:
                del self._due[what]
                if what == "markets":
                    self._load_markets(now_ns)
                elif what == "reconcile":
                    self.reconcile(now_ns)
                elif what == "listen_key_retry":
                    self._new_listen_key(now_ns)
                elif what.startswith("cancel_all:"):
                    self._sweep(what.split(":", 1)[1])
                elif self._due_lookup(what, now_ns):
                    pass
                elif what == "keepalive" and self.listen_key:
                    self._request(("keepalive",), self.methods["keepalive"],
                                  {"listenKey": self.listen_key}, now_ns,
                                  self.weights["keepalive"])
        gate = self.gate
        if gate.due_ns() is not None:
            gate.release(self.io.rest, now_ns)
        out, self._queue = self._queue, []
        if gate.asks:  # what waits for the budget to pay
            out += gate.take_asks()
        return out

    def next_due_ns(self) -> int | None:
        parked = self.gate.due_ns()  # asked after every message: no list built for it
        due = self._due.earliest_ns
        if due is None:
            return parked
        return due if parked is None or due < parked else parked

    def on_message(self, message: Any, now_ns: int) -> bool:
        if isinstance(message, WsFrame):  # nearly everything: first
            if message.stream == "market":
                self._market_frame(message)
            else:
                self._user_frame(message, now_ns)
        elif isinstance(message, RequestCleared):
            self.gate.cleared(self.io.rest, message.key)
        elif isinstance(message, BudgetOpened):
            self.gate.reask()
        elif isinstance(message, RestDone):
            self._rest_done(message, now_ns)
        elif isinstance(message, WsUp):
            log.info("binance %s stream connected: %s", message.stream, message.url)
            again = message.stream in self._connected
            self._connected.add(message.stream)
            if again and message.stream == "market":
                for name in self.settings.instruments:  # diffs were lost while away
                    self.resync(name, "reconnect", now_ns)
            if message.stream == "user":
                self._user_stream(True)
            if again and message.stream == "user" and self.start_summary is not None:
                self.reconcile(now_ns)  # what happened while the user stream was away
        elif isinstance(message, WsDown):
            if message.stream == "user":
                self._user_stream(False)
            self._count("troupe_ws_reconnects_total", stream=message.stream,
                        reason=message.kind)
            log.warning("binance %s stream down (%s); reconnecting in %.1fs", message.stream,
                        message.reason, message.retry_in_s)
        else:
            return False
        return True

    def state(self) -> dict[str, Any]:
        return {"markets_loaded": self.markets_loaded, "user_stream": self.listen_key is not None,
                "start_summary": None if self.start_summary is None
                else attrs.asdict(self.start_summary)}

    def snapshot(self) -> dict[str, Any]:
        return {"markets_loaded": self.markets_loaded, "dialect": self.settings.dialect}

    # -- what comes back -----------------------------------------------------------------------
    def _load_markets(self, now_ns: int) -> None:
        self._request(("markets",), "load_markets", None, now_ns, self.weights["markets"])

    def _new_listen_key(self, now_ns: int) -> None:
        self._request(("listen_key",), self.methods["listen_key"], None, now_ns,
                      self.weights["listen_key"])

    def market_message(self, text: str) -> Any:
        """A market frame's message: a depth diff or trade of ours straight in the books' ticks
        and lots (`DepthDiffInUnits`, `TradeInUnits`: one parse, one conversion, the book
        applies them as they are), anything else, or anything that path is not sure of, as
        the checked decode makes it (whose DecodeError says what is wrong)."""
        message = self._units.fast(text)
        return binance.parse_message(text) if message is None else message

    def _market_frame(self, frame: WsFrame) -> None:
        message = self._units.fast(frame.text)
        if message is not None:  # a diff or trade of a symbol of ours, in its book's units
            self._queue.append(MarketData(self.symbols[message.symbol], message, frame.recv_ns))
            return
        try:
            message = binance.parse_message(frame.text)
        except DecodeError:
            self._count("troupe_venue_malformed_frames_total", stream="market")
            return
        symbol = getattr(message, "symbol", None)
        name = self.symbols.get(symbol) if symbol else None
        if name is None:
            return
        if isinstance(message, binance.MarkPrice):  # USD-M: for Market[name], not the book
            tick = self.specs[name].tick_size
            self._queue.append(OracleUpdate(
                name, int(2 * message.index_price / tick), int(2 * message.mark_price / tick),
                message.event_time_ms * 1_000_000, frame.recv_ns))
            self._queue.append(FundingUpdate(name, message.funding_rate,
                                             message.next_funding_ms * 1_000_000, frame.recv_ns))
            return
        self._queue.append(MarketData(name, message, frame.recv_ns))

    def _user_frame(self, frame: WsFrame, now_ns: int) -> None:
        try:
            event = parse_user_event(frame.text)
        except DecodeError:
            self._count("troupe_venue_malformed_frames_total", stream="user")
            return
        if isinstance(event, OrderUpdate):
            self._order_update(event, now_ns)
        elif isinstance(event, AccountUpdate):
            self._account_update(event, now_ns)
        elif event is not None and type(event).__name__ == "ListenKeyExpired":
            self.listen_key = None
            self._new_listen_key(now_ns)

    def _rest_done(self, done: RestDone, now_ns: int) -> None:
        kind = done.tag[0]
        self._wait_for_venue(done, now_ns)
        if done.failure == "throttled":
            self._count("troupe_venue_429_total")
        elif done.usage and done.failure not in ("banned", "lost"):
            # Every answer counts, not only orders': snapshots and reconciliations spend the
            # same weight. A 429's drain stands until the next ordinary answer.
            self._queue.append(VenueUsage(done.usage, now_ns, done.venue_ns))
        handler = getattr(self, f"_on_{kind}")
        handler(done, now_ns)

    def _on_markets(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None:
            self._retries += 1
            delay = min(self.settings.retry_max_s, self.settings.retry_min_s * 2 ** self._retries)
            delay = self._rng.uniform(delay / 2, delay)
            self._count("troupe_venue_unreachable_total")
            log.warning("binance venue cannot be reached at %s (%s); retrying in %.1fs, "
                        "not ready until it answers", self.settings.rest_url, done.message,
                        delay)
            self._due["markets"] = now_ns + int(delay * SECOND)
            return
        self._retries = 0
        by_id = {m.get("id"): m for m in (done.value or {}).values()}
        for name, symbol in self.settings.instruments.items():
            market = by_id.get(symbol)
            if market is None:
                log.error("binance has no market %s (for instrument %s)", symbol, name)
                continue
            spec = spec_from_market(market["info"], name, self.settings.specs.get(name))
            self.specs[name] = spec
            self._queue.append(SpecUpdate(spec, now_ns))
        self.markets_loaded = True
        log.warning("binance %s: markets loaded from %s (%s)", self.settings.dialect,
                    self.settings.rest_url, ", ".join(self.settings.instruments.values()))
        for name in self.settings.instruments:  # the books wait for their first snapshot
            self.resync(name, "start", now_ns)

    def _on_depth(self, done: RestDone, now_ns: int) -> None:
        if done.failure is None:
            try:
                self._queue.append(MarketData(done.tag[1], binance.parse_snapshot(done.value)))
            except DecodeError:
                self._count("troupe_venue_malformed_frames_total", stream="rest")

    def _on_listen_key(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None or not isinstance(done.value, dict):
            self._due["listen_key_retry"] = now_ns + 5 * SECOND
            log.warning("binance listen key refused (%s); user data unavailable", done.message)
            return
        first = self.listen_key is None and self.io is not None
        self.listen_key = str(done.value.get("listenKey"))
        self._due["keepalive"] = now_ns + int(self.settings.keepalive_s * SECOND)
        if first and not getattr(self.io.user, "started", False):
            self.io.user.started = True
            self.io.user.start()

    def _on_keepalive(self, done: RestDone, now_ns: int) -> None:
        self._due["keepalive"] = now_ns + int(self.settings.keepalive_s * SECOND)
