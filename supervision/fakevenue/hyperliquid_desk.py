"""The fake Hyperliquid's account side: `/exchange` actions over the simulated matching engine.

`HlDesk.exchange(body, now_ms)` takes the JSON body ccxt's hyperliquid client posts
(`{"action", "nonce", "signature", "vaultAddress"?}`) and answers as the venue does. Signatures
are not verified cryptographically (a fake has nothing to protect) but must be present with
`r`, `s` and `v`; the nonce is checked by the venue's rule (`NonceWindow`: the 100 highest are
kept, a new one must beat the smallest of them, never repeat one, and lie within two days
before and one day after the venue's clock), and a refused nonce refuses the whole action.

Actions: `order` (each order `{a, b, p, s, r, t: {limit: {tif}}, c}`; the price must obey the
venue's rules, `protocols.venues.hyperliquid_format`) and `cancelByCloid`. Orders match with
`actors.sim.exchange.SimExchange` against the recorded book. A cloid the desk has seen is
refused as a duplicate, so a resend is never a second order. Every change is also a user
event: `orderUpdates` and `userFills` frames, which the venue publishes on its websocket.
The desk counts an `order` action that mixes ALO with IOC/GTC orders (`mixed_alo_actions`),
which a well-behaved client never sends.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange
from actors.sim.matching import SimInstrument
from actors.sim.queue_models import RiskAverseQueue
from protocols.codec import Side
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    Expired,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    Reject,
    RejectCode,
    TimeInForce,
    VenueReport,
)
from protocols.venues.hyperliquid_format import is_valid_price, wire

__all__ = ["HlDesk", "HlMarket", "NonceWindow"]

DAY_MS = 24 * 3600 * 1000
_TIF = {"Alo": TimeInForce.POST_ONLY, "Ioc": TimeInForce.IOC, "Gtc": TimeInForce.GTC}
_WORDS = {
    RejectCode.POST_ONLY_WOULD_TAKE: "Post only order would have immediately matched, bbo was "
                                     "{bbo}. asset={asset}",
    RejectCode.INSUFFICIENT_FUNDS: "Insufficient margin to place order. asset={asset}",
    RejectCode.REDUCE_ONLY_WOULD_INCREASE: "Reduce only order would increase position. "
                                           "asset={asset}",
    RejectCode.DUPLICATE_CLIENT_ORDER_ID: "Duplicate cloid. asset={asset}",
    RejectCode.MIN_NOTIONAL: "Order must have minimum value of $10. asset={asset}",
}


class NonceWindow:
    """The venue's nonce rule for one signer."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._highest: list[int] = []  # a min-heap of the `keep` highest
        self._set: set[int] = set()

    def check(self, nonce: int, now_ms: int) -> str | None:
        """None if accepted (and remembered); else the venue's words."""
        if not now_ms - 2 * DAY_MS < nonce < now_ms + DAY_MS:
            return f"Invalid nonce: {nonce} is outside the accepted window around {now_ms}"
        if nonce in self._set:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(self._highest) >= self.keep and nonce <= self._highest[0]:
            return f"Invalid nonce: {nonce} is lower than the lowest of the 100 highest"
        heapq.heappush(self._highest, nonce)
        self._set.add(nonce)
        if len(self._highest) > self.keep:
            self._set.discard(heapq.heappop(self._highest))
        return None


@attrs.frozen(slots=True)
class HlMarket:
    """One coin: `asset` is its id in actions (a builder DEX's start at 100000 + 10000 x n)."""

    coin: str
    asset: int
    sz_decimals: int
    spec: InstrumentSpec
    dex: str = ""


@attrs.define(slots=True)
class _Order:
    market: HlMarket
    oid: int
    cloid: str
    is_buy: bool
    limit_px: str
    orig_sz: Decimal
    time_ms: int
    filled: Decimal = Decimal(0)
    status: str = "open"

    def row(self) -> dict[str, Any]:
        return {"coin": self.market.coin, "side": "B" if self.is_buy else "A",
                "limitPx": self.limit_px, "sz": wire(self.orig_sz - self.filled),
                "oid": self.oid, "timestamp": self.time_ms, "origSz": wire(self.orig_sz),
                "cloid": self.cloid}


class HlDesk:
    def __init__(self, markets: Mapping[str, HlMarket], balance: Decimal = Decimal(100_000),
                 user: str = "0x" + "0" * 40) -> None:
        self.markets = dict(markets)  # by coin
        self.by_asset = {m.asset: m for m in markets.values()}
        self.user = user
        instruments = {c: SimInstrument(m.spec, c, "USDC", kind="perp")
                       for c, m in markets.items()}
        self.exchange = SimExchange(instruments, SimAccount({"USDC": balance}, 10),
                                    RiskAverseQueue(), random.Random(0), fill_id_prefix="hl")
        self.nonces = NonceWindow()
        self.orders: dict[str, _Order] = {}  # by cloid
        self.by_oid: dict[int, _Order] = {}
        self.fills: list[dict[str, Any]] = []
        self.creates: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self._oids = itertools.count(1_000_001)
        self._tids = itertools.count(9_000_000_000_001)
        self.now_ms = 0

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # -- /exchange -----------------------------------------------------------------------------
    def exchange_action(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        """(the answer, the user events as (channel, data) pairs)."""
        signature = body.get("signature")
        if not (isinstance(signature, Mapping) and {"r", "s", "v"} <= set(signature)):
            return {"status": "err", "response": "Invalid signature: missing r, s or v"}, []
        nonce = body.get("nonce")
        if type(nonce) is not int:
            return {"status": "err", "response": "Invalid nonce: not an integer"}, []
        refused = self.nonces.check(nonce, self.now_ms)
        if refused is not None:
            self.count("nonce_refused")
            return {"status": "err", "response": refused}, []
        action = body.get("action")
        if not isinstance(action, Mapping):
            return {"status": "err", "response": "Missing action"}, []
        kind = action.get("type")
        if kind == "order":
            return self._orders(action.get("orders") or [])
        if kind == "cancelByCloid":
            return self._cancels(action.get("cancels") or [])
        return {"status": "err", "response": f"Unsupported action type {kind!r}"}, []

    def _orders(self, orders: list[Any]) -> tuple[dict[str, Any], list[Any]]:
        self.count("order_actions")
        tifs = {str(o.get("t", {}).get("limit", {}).get("tif")) for o in orders}
        if "Alo" in tifs and len(tifs) > 1:
            self.count("mixed_alo_actions")
        statuses, events = [], []
        for raw in orders:
            status, more = self._order(raw)
            statuses.append(status)
            events += more
        return _ok("order", statuses), events

    def _order(self, raw: Mapping[str, Any]) -> tuple[Any, list[Any]]:
        market = self.by_asset.get(raw.get("a", -1))
        if market is None:
            return {"error": f"Unknown asset {raw.get('a')!r}"}, []
        tif = _TIF.get(str(raw.get("t", {}).get("limit", {}).get("tif")))
        price, size = Decimal(str(raw.get("p", "0"))), Decimal(str(raw.get("s", "0")))
        cloid = str(raw.get("c") or f"0x{next(self._oids):032x}")
        spec = market.spec
        if tif is None:
            return {"error": f"Invalid order type. asset={market.asset}"}, []
        if not is_valid_price(price, market.sz_decimals) or price % spec.tick_size:
            return {"error": f"Price must be divisible by tick size. asset={market.asset}"}, []
        if size <= 0 or size != round(size, market.sz_decimals):
            return {"error": f"Order has invalid size. asset={market.asset}"}, []
        intent = OrderIntent(cloid, market.coin, Side.BUY if raw.get("b") else Side.SELL,
                             OrderType.LIMIT, int(size / spec.lot_step),
                             int(price / spec.tick_size), tif, bool(raw.get("r")))
        self.creates[cloid] = self.creates.get(cloid, 0) + 1
        reports = self.exchange.submit(intent, 0)
        first = reports[0]
        if isinstance(first, Reject):
            words = _WORDS.get(first.code, "Order rejected: {bbo}").format(
                asset=market.asset, bbo=first.message)
            if tif is TimeInForce.IOC and first.code is RejectCode.OTHER:
                words = f"Order could not immediately match. asset={market.asset}"
            return {"error": words}, []
        assert isinstance(first, Ack)
        order = _Order(market, next(self._oids), cloid, bool(raw.get("b")), wire(price), size,
                       self.now_ms)
        self.orders[cloid] = self.by_oid[order.oid] = order
        events = self.events(reports)
        if order.status == "open":
            return {"resting": {"oid": order.oid, "cloid": cloid}}, events
        if order.filled > 0:
            return {"filled": {"oid": order.oid, "totalSz": wire(order.filled),
                               "avgPx": order.limit_px, "cloid": cloid}}, events
        return {"error": "Order could not immediately match against any resting orders. "
                         f"asset={market.asset}"}, []  # the venue says no more than that

    def _cancels(self, cancels: list[Any]) -> tuple[dict[str, Any], list[Any]]:
        self.count("cancel_actions")
        statuses: list[Any] = []
        events: list[Any] = []
        for raw in cancels:
            order = self.orders.get(str(raw.get("cloid")))
            if order is None or order.status != "open":
                statuses.append({"error": "Order was never placed, already canceled, or "
                                          "filled."})
                continue
            reports = self.exchange.cancel(CancelIntent(order.cloid, order.market.coin), 0)
            if isinstance(reports[0], CancelReject):
                statuses.append({"error": "Order was never placed, already canceled, or "
                                          "filled."})
                continue
            statuses.append("success")
            events += self.events(reports)
        return _ok("cancel", statuses), events

    # -- user events ---------------------------------------------------------------------------
    def events(self, reports: list[VenueReport]) -> list[Any]:
        updates: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        for report in reports:
            order = self.orders.get(report.client_order_id)
            if order is None:
                continue
            status = None
            if isinstance(report, Ack):
                status = "open"
            elif isinstance(report, Fill):
                fills.append(self._fill(order, report))
                if order.filled >= order.orig_sz:
                    status = order.status = "filled"
            elif isinstance(report, CancelAck | Expired):
                status = order.status = "canceled"
            if status is not None:
                updates.append({"order": order.row(), "status": status,
                                "statusTimestamp": self.now_ms})
        out: list[Any] = []
        if updates:
            out.append(("orderUpdates", updates))
        if fills:
            out.append(("userFills", {"user": self.user, "fills": fills}))
        return out

    def _fill(self, order: _Order, report: Fill) -> dict[str, Any]:
        spec = order.market.spec
        sz, px = report.qty * spec.lot_step, report.price * spec.tick_size
        order.filled += sz
        fill = {"coin": order.market.coin, "px": wire(px), "sz": wire(sz),
                "side": "B" if order.is_buy else "A", "time": self.now_ms,
                "startPosition": "0", "dir": "Open Long" if order.is_buy else "Open Short",
                "closedPnl": "0", "hash": f"0x{next(self._tids):064x}", "oid": order.oid,
                "crossed": report.liquidity is Liquidity.TAKER,
                "fee": f"{Decimal(report.fee):f}", "tid": next(self._tids),
                "feeToken": "USDC", "cloid": order.cloid}
        self.fills.append(fill)
        return fill

    # -- /info ---------------------------------------------------------------------------------
    def open_orders(self, dex: str = "") -> list[dict[str, Any]]:
        return [o.row() for o in self.orders.values()
                if o.status == "open" and o.market.dex == dex]

    def order_status(self, ref: Any) -> dict[str, Any]:
        order = (self.orders.get(ref) if isinstance(ref, str)
                 else self.by_oid.get(ref) if isinstance(ref, int) else None)
        if order is None:
            return {"status": "unknownOid"}
        return {"status": "order", "order": {"order": order.row(), "status": order.status,
                                             "statusTimestamp": self.now_ms}}

    def clearinghouse(self, dex: str = "") -> dict[str, Any]:
        acct = self.exchange.account
        positions = []
        for coin, market in self.markets.items():
            lots = acct.position(coin)
            if lots and market.dex == dex:
                positions.append({"type": "oneWay", "position": {
                    "coin": coin, "szi": wire(lots * market.spec.lot_step), "entryPx": "0",
                    "leverage": {"type": "cross", "value": 10}, "unrealizedPnl": "0"}})
        value = f"{acct.balance('USDC'):f}"
        return {"assetPositions": positions, "withdrawable": value, "time": self.now_ms,
                "marginSummary": {"accountValue": value, "totalNtlPos": "0",
                                  "totalRawUsd": value, "totalMarginUsed": "0"},
                "crossMarginSummary": {"accountValue": value, "totalNtlPos": "0",
                                       "totalRawUsd": value, "totalMarginUsed": "0"}}


def _ok(kind: str, statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}
