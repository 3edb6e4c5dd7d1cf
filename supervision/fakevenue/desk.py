"""The fake venue's order desk: Binance's order endpoints over the simulated matching engine.

The matching is `actors.sim.exchange.SimExchange` (queue position, taker walks, fees, Binance's
refusal codes and words), fed the recording's flow by `supervision.fakevenue.market`. The desk
translates at both ends: a REST order request (`symbol`, `side`, `type`, `timeInForce`,
`quantity`, `price`, `newClientOrderId`) becomes an `OrderIntent` in ticks and lots, and every
report the engine makes becomes what Binance would say: the REST order body and a user-data
event (`executionReport` on spot, `ORDER_TRADE_UPDATE` on USD-M), plus a balance event after a
fill. Quantities go back out as Binance writes them (eight decimals).

The desk remembers every order it accepted (open or done) by client id and by order id, and
every trade, so `GET /order`, `openOrders` and `myTrades` answer like the venue, and a resend of
an accepted id is refused as a duplicate (-2010), as Binance does.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.market.quantization import lots_to_qty, ticks_to_price
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange
from actors.sim.matching import SimInstrument
from actors.sim.queue_models import RiskAverseQueue
from protocols.codec import Side
from protocols.errors import TroupeError
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
    TimeInForce,
    VenueReport,
)

__all__ = ["Desk", "VenueError"]

_TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK,
        "GTX": TimeInForce.POST_ONLY}


class VenueError(TroupeError):
    """A refusal as Binance words it: HTTP status, its code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


@attrs.define(slots=True)
class _Order:
    symbol: str
    cid: str
    order_id: int
    side: str
    order_type: str
    tif: str
    price: str
    qty: str
    time_ms: int
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    status: str = "NEW"


class Desk:
    def __init__(self, specs: Mapping[str, InstrumentSpec], balances: Mapping[str, Decimal], *,
                 dialect: str = "spot", order_step: Decimal | None = None) -> None:
        self.specs = dict(specs)
        self.order_step = order_step or min(s.lot_step for s in specs.values())
        self.dialect = dialect
        kind = "spot" if dialect == "spot" else "perp"
        instruments = {s: SimInstrument(spec, *_assets(s), kind=kind) for s, spec in specs.items()}
        self.exchange = SimExchange(instruments, SimAccount(dict(balances), 10),
                                    RiskAverseQueue(), random.Random(0), fill_id_prefix="fv")
        self.orders: dict[str, _Order] = {}
        self.by_id: dict[int, _Order] = {}
        self.trades: list[dict[str, Any]] = []
        self.creates: dict[str, int] = {}  # client id -> accepted creates (a test's "no dupes")
        self.reduce_only: list[str] = []  # client ids accepted as reduce-only (USD-M)
        self._trade_ids = itertools.count(1)
        self.now_ms = 0
        self.balance_ms = 0
        self.position_ms: dict[str, int] = {}  # USD-M: each position's updateTime, its last fill

    # -- requests ------------------------------------------------------------------------------
    def create(self, p: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """POST order: the response body and the user-data events it caused."""
        symbol, spec = self._symbol(p)
        cid = p.get("newClientOrderId") or f"fv-{len(self.orders) + 1}"
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(p.get("side", ""))
        order_type = p.get("type", "")
        if side is None or order_type not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise VenueError(400, -1102, "Mandatory parameter 'side' or 'type' was not sent, "
                             "was empty/null, or malformed.")
        tif = _TIF.get(p.get("timeInForce", "GTC"), TimeInForce.GTC)
        if order_type == "LIMIT_MAKER":
            tif = TimeInForce.POST_ONLY
        try:
            _units(p["quantity"], self.order_step)
            lots = _units(p["quantity"], spec.lot_step)
            ticks = None if order_type == "MARKET" else _units(p["price"], spec.tick_size)
        except (KeyError, ArithmeticError, ValueError):
            raise VenueError(400, -1013, "Filter failure: LOT_SIZE") from None
        intent = OrderIntent(cid, symbol, side, OrderType.MARKET if ticks is None
                             else OrderType.LIMIT, max(lots, 1), ticks, tif,
                             p.get("reduceOnly") == "true")
        reports = self.exchange.submit(intent, 0)
        first = reports[0]
        if isinstance(first, Reject):
            code, _, words = first.message.partition(" ")
            raise VenueError(400, int(code) if code.lstrip("-").isdigit() else -1013, words)
        assert isinstance(first, Ack)
        order = _Order(symbol, cid, int(first.venue_order_id), p["side"], order_type,
                       p.get("timeInForce", "GTC"), p.get("price", "0"), p["quantity"],
                       self.now_ms)
        self.orders[cid] = self.by_id[order.order_id] = order
        self.creates[cid] = self.creates.get(cid, 0) + 1
        if intent.reduce_only:
            self.reduce_only.append(cid)
        events = self._events(reports)
        return self.body(order), events

    def cancel(self, p: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        order = self._find(p)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise VenueError(400, -2011, "Unknown order sent.")
        reports = self.exchange.cancel(CancelIntent(order.cid, order.symbol), 0)
        if isinstance(reports[0], CancelReject):
            raise VenueError(400, -2011, "Unknown order sent.")
        events = self._events(reports)
        return self.body(order), events

    def cancel_all(self, symbol: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        reports = self.exchange.cancel_all(symbol, 0)
        events = self._events(reports)
        done = [self.orders[r.client_order_id] for r in reports]
        return [self.body(o) for o in done], events

    def query(self, p: Mapping[str, str]) -> dict[str, Any]:
        order = self._find(p)
        if order is None:
            raise VenueError(400, -2013, "Order does not exist.")
        return self.body(order)

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        return [self.body(o) for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED") and symbol in (None, o.symbol)]

    def my_trades(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        """`myTrades` (spot) / `userTrades` (USD-M) of a symbol, as Binance answers: oldest
        first from `fromId`, else the most recent; `orderId` narrows to one order; `limit`
        (default 500, at most 1000) trades. Rows carry the venue's order id, not ours."""
        symbol, _spec = self._symbol(p)
        rows = [t for t in self.trades if t["symbol"] == symbol]
        if p.get("orderId"):
            rows = [t for t in rows if str(t["orderId"]) == p["orderId"]]
        limit = min(int(p.get("limit") or 500), 1000)
        if p.get("fromId"):
            return [t for t in rows if t["id"] >= int(p["fromId"])][:limit]
        return rows[-limit:]

    def account(self) -> dict[str, Any]:
        acct = self.exchange.account
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                "accountType": "SPOT", "updateTime": self.balance_ms, "balances": [
                    {"asset": a, "free": f"{acct.available(a):.8f}",
                     "locked": f"{acct.reserved(a):.8f}"} for a in sorted(acct.balances())]}

    def positions(self) -> list[dict[str, Any]]:
        """USD-M positionRisk: signed position amount per symbol, and when it last changed
        (`updateTime`, 0 for a position never traded, as Binance answers)."""
        acct = self.exchange.account
        return [{"symbol": s, "positionAmt": f"{lots_to_qty(spec, acct.position(s)):.8f}",
                 "entryPrice": "0", "positionSide": "BOTH", "marginType": "cross",
                 "leverage": "10", "unRealizedProfit": "0", "notional": "0",
                 "updateTime": self.position_ms.get(s, 0)}
                for s, spec in self.specs.items()]

    # -- market flow ---------------------------------------------------------------------------
    def on_market(self, reports: list[VenueReport]) -> list[dict[str, Any]]:
        """Reports the matching made from public flow (fills of resting orders)."""
        return self._events(reports)

    # -- the venue's words ---------------------------------------------------------------------
    def body(self, order: _Order) -> dict[str, Any]:
        return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                "clientOrderId": order.cid, "transactTime": order.time_ms,
                "price": order.price, "origQty": order.qty,
                "executedQty": f"{order.executed:.8f}",
                "cummulativeQuoteQty": f"{order.quote:.8f}", "status": order.status,
                "timeInForce": order.tif, "type": order.order_type, "side": order.side,
                "updateTime": self.now_ms, "time": order.time_ms, "avgPrice": "0",
                "reduceOnly": False, "positionSide": "BOTH"}

    def _events(self, reports: list[VenueReport]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for report in reports:
            order = self.orders.get(report.client_order_id)
            if order is None:
                continue  # the Ack of an order being created: its own row comes next
            event = self._event(order, report)
            if event is not None:
                events.append(event)
        return events

    def _event(self, order: _Order, report: VenueReport) -> dict[str, Any] | None:
        spec = self.specs[order.symbol]
        trade: dict[str, Any] = {}
        if isinstance(report, Ack):
            execution = "NEW"
        elif isinstance(report, Fill):
            self.balance_ms = self.now_ms  # the account's updateTime: its last balance change
            self.position_ms[order.symbol] = self.now_ms
            qty, price = lots_to_qty(spec, report.qty), ticks_to_price(spec, report.price)
            order.executed += qty
            order.quote += qty * price
            order.status = ("FILLED" if order.executed >= Decimal(order.qty)
                            else "PARTIALLY_FILLED")
            execution, tid = "TRADE", next(self._trade_ids)
            maker = report.liquidity is Liquidity.MAKER
            trade = {"t": tid, "l": f"{qty:.8f}", "L": f"{price:.8f}",
                     "n": f"{Decimal(report.fee):.8f}", "N": _assets(order.symbol)[1],
                     "m": maker}
            self.trades.append({
                "symbol": order.symbol, "id": tid, "orderId": order.order_id,
                "price": f"{price:.8f}", "qty": f"{qty:.8f}",
                "quoteQty": f"{qty * price:.8f}", "commission": f"{Decimal(report.fee):.8f}",
                "commissionAsset": _assets(order.symbol)[1], "time": self.now_ms,
                "isBuyer": order.side == "BUY", "isMaker": maker, "buyer": order.side == "BUY",
                "maker": maker, "side": order.side, "realizedPnl": "0", "positionSide": "BOTH"})
        elif isinstance(report, CancelAck):
            execution = order.status = "CANCELED"
        elif isinstance(report, Expired):
            execution = order.status = "EXPIRED"
        else:
            return None
        fields = {"s": order.symbol, "c": order.cid, "S": order.side, "o": order.order_type,
                  "f": order.tif, "q": order.qty, "p": order.price, "x": execution,
                  "X": order.status, "r": "NONE", "i": order.order_id,
                  "l": "0.00000000", "z": f"{order.executed:.8f}", "L": "0.00000000",
                  "n": "0", "N": None, "T": self.now_ms, "t": -1, "m": False, **trade}
        if self.dialect == "usdm":
            return {"e": "ORDER_TRADE_UPDATE", "E": self.now_ms, "T": self.now_ms, "o": fields}
        if execution == "CANCELED":  # spot: c is the cancel request's id, C the order's
            fields = {**fields, "c": f"cancel-{order.order_id}", "C": order.cid}
        return {"e": "executionReport", "E": self.now_ms, "C": "", **fields}

    def balance_event(self) -> dict[str, Any]:
        acct = self.exchange.account
        if self.dialect == "usdm":
            return {"e": "ACCOUNT_UPDATE", "E": self.now_ms, "a": {
                "m": "ORDER", "B": [{"a": a, "wb": f"{acct.balance(a):.8f}", "cw": "0"}
                                    for a in sorted(acct.balances())],
                "P": [{"s": s, "pa": f"{lots_to_qty(spec, acct.position(s)):.8f}", "ep": "0",
                       "ps": "BOTH"} for s, spec in self.specs.items()]}}
        return {"e": "outboundAccountPosition", "E": self.now_ms, "u": self.now_ms, "B": [
            {"a": a, "f": f"{acct.available(a):.8f}", "l": f"{acct.reserved(a):.8f}"}
            for a in sorted(acct.balances())]}

    # -- internals -----------------------------------------------------------------------------
    def _symbol(self, p: Mapping[str, str]) -> tuple[str, InstrumentSpec]:
        symbol = p.get("symbol", "")
        spec = self.specs.get(symbol)
        if spec is None:
            raise VenueError(400, -1121, "Invalid symbol.")
        return symbol, spec

    def _find(self, p: Mapping[str, str]) -> _Order | None:
        cid = p.get("origClientOrderId")
        if cid:
            return self.orders.get(cid)
        order_id = p.get("orderId", "")
        return self.by_id.get(int(order_id)) if order_id.isdigit() else None


def _units(text: str, unit: Decimal) -> int:
    value = Decimal(text) / unit
    if value != value.to_integral_value():
        raise ValueError(text)
    return int(value)


def _assets(symbol: str) -> tuple[str, str]:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"
