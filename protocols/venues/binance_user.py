"""Binance's account side on the wire: the user-data stream's events and REST order bodies.

Pure parse functions to frozen records, like `protocols.venues.binance` for market data. Values
stay as the venue's decimal strings; the adapter turns them into ticks, lots and Decimals with
the instrument's spec, once.

One record, `OrderUpdate`, stands for everything the venue says about an order, whichever way it
came:
- spot `executionReport` (user-data stream): `c` is the client order id, but on a cancel the
  venue puts the *cancel request's* id in `c` and the order's own id in `C`
  (origClientOrderId), so `client_order_id` is `C` when it is set (and `cancel_id` the `c`);
- USD-M `ORDER_TRADE_UPDATE`: the same fields nested under `o` (`c` is always the order's id);
- a REST order body (`POST/GET/DELETE /api/v3/order`, `/fapi/v1/order`, `openOrders`): status
  and cumulative quantity (`executedQty`), no trade.

`execution` is the event's kind (`x`: NEW, TRADE, CANCELED, EXPIRED, REJECTED, AMENDMENT,
TRADE_PREVENTION); a REST body has none (""). A trade carries `trade_id` (`t`), `last_qty` (`l`),
`last_price` (`L`), its commission (`n`, `N`) and `maker` (`m`).

Balances come as `outboundAccountPosition` (spot: `B` = [{a, f, l}]) or `ACCOUNT_UPDATE`
(USD-M: `a.B` = [{a, wb}], `a.P` = [{s, pa}]); both parse to `AccountUpdate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from protocols.codec import DecodeError, field, load_json, require_mapping

__all__ = ["AccountUpdate", "ListenKeyExpired", "OrderUpdate", "parse_order_body",
           "parse_user_event"]


@attrs.frozen(slots=True)
class OrderUpdate:
    symbol: str  # s
    client_order_id: str  # c, or C on a spot cancel
    order_id: int  # i / orderId
    side: str  # S / side: BUY, SELL
    order_type: str  # o / type
    tif: str  # f / timeInForce
    status: str  # X / status: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED
    price: str  # p
    qty: str  # q / origQty
    cum_qty: str  # z / executedQty
    execution: str = ""  # x; "" for a REST body
    reject_reason: str = ""  # r
    trade_id: int | None = None  # t (-1 on the wire when not a trade)
    last_qty: str = "0"  # l
    last_price: str = "0"  # L
    commission: str = "0"  # n
    commission_asset: str = ""  # N
    maker: bool = False  # m
    event_time_ms: int = 0  # E (REST: updateTime / transactTime when present)
    trade_time_ms: int = 0  # T: when the venue executed it (0: not given)
    cancel_id: str = ""  # c on a spot cancel: the cancel request's own id (ours on a replace)


@attrs.frozen(slots=True)
class AccountUpdate:
    """Balances (asset -> free + locked, or wallet balance) and, on USD-M, positions."""

    balances: tuple[tuple[str, str], ...]
    positions: tuple[tuple[str, str], ...] = ()
    event_time_ms: int = 0


@attrs.frozen(slots=True)
class ListenKeyExpired:
    event_time_ms: int


UserEvent = OrderUpdate | AccountUpdate | ListenKeyExpired


def parse_user_event(raw: str | bytes | Mapping[str, Any]) -> UserEvent | None:
    """One user-data frame; None for an event kind we do not use (balanceUpdate, ...)."""
    obj = load_json(raw, "binance user event") if isinstance(raw, str | bytes) else raw
    obj = require_mapping(obj, "binance user event")
    if "data" in obj and "stream" in obj:  # a combined-stream wrapper
        obj = require_mapping(obj["data"], "binance user event")
    kind = obj.get("e")
    if kind == "executionReport":
        return _execution_report(obj)
    if kind == "ORDER_TRADE_UPDATE":
        order = require_mapping(field(obj, "o", dict, "binance ORDER_TRADE_UPDATE"),
                                "binance ORDER_TRADE_UPDATE.o")
        return _execution_report({**order, "E": obj.get("E", 0), "C": ""})
    if kind == "outboundAccountPosition":
        what = "binance outboundAccountPosition"
        rows = field(obj, "B", list, what)
        return AccountUpdate(tuple((_s(r, "a", what), _sum(r, what)) for r in rows),
                             event_time_ms=field(obj, "E", int, what))
    if kind == "ACCOUNT_UPDATE":
        what = "binance ACCOUNT_UPDATE"
        body = require_mapping(field(obj, "a", dict, what), what)
        balances = tuple((_s(r, "a", what), _s(r, "wb", what)) for r in body.get("B", ()))
        positions = tuple((_s(r, "s", what), _s(r, "pa", what)) for r in body.get("P", ()))
        return AccountUpdate(balances, positions, field(obj, "E", int, what))
    if kind == "listenKeyExpired":
        return ListenKeyExpired(field(obj, "E", int, "binance listenKeyExpired"))
    if not isinstance(kind, str):
        raise DecodeError(f"binance user event: no event type in {str(obj)[:80]!r}")
    return None


def _execution_report(obj: Mapping[str, Any]) -> OrderUpdate:
    what = f"binance {obj.get('e', 'order event')}"
    execution = _s(obj, "x", what)
    original = obj.get("C") or ""
    cancel = bool(original) and execution == "CANCELED"
    cid = original if cancel else _s(obj, "c", what)
    trade_id = obj.get("t", -1)
    return OrderUpdate(
        symbol=_s(obj, "s", what), client_order_id=cid, order_id=field(obj, "i", int, what),
        side=_s(obj, "S", what), order_type=_s(obj, "o", what), tif=_s(obj, "f", what),
        status=_s(obj, "X", what), price=_s(obj, "p", what), qty=_s(obj, "q", what),
        cum_qty=_s(obj, "z", what), execution=execution,
        reject_reason=str(obj.get("r", "NONE")),
        trade_id=trade_id if isinstance(trade_id, int) and trade_id >= 0 else None,
        last_qty=_s(obj, "l", what), last_price=_s(obj, "L", what),
        commission=str(obj.get("n") or "0"), commission_asset=str(obj.get("N") or ""),
        maker=bool(obj.get("m", False)), event_time_ms=int(obj.get("E", 0)),
        trade_time_ms=int(obj.get("T", 0) or 0),
        cancel_id=str(obj.get("c") or "") if cancel else "")


def parse_order_body(raw: str | bytes | Mapping[str, Any]) -> OrderUpdate:
    """A REST order body (create, cancel, query, one entry of openOrders)."""
    obj = load_json(raw, "binance order") if isinstance(raw, str | bytes) else raw
    what = "binance order"
    obj = require_mapping(obj, what)
    when = obj.get("updateTime") or obj.get("transactTime") or obj.get("time") or 0
    return OrderUpdate(
        symbol=_s(obj, "symbol", what), client_order_id=_s(obj, "clientOrderId", what),
        order_id=field(obj, "orderId", int, what), side=_s(obj, "side", what),
        order_type=_s(obj, "type", what), tif=str(obj.get("timeInForce", "GTC")),
        status=_s(obj, "status", what), price=_s(obj, "price", what),
        qty=_s(obj, "origQty", what), cum_qty=_s(obj, "executedQty", what),
        event_time_ms=int(when))


def _s(obj: Mapping[str, Any], key: str, what: str) -> str:
    return str(field(obj, key, str, what))


def _sum(row: Any, what: str) -> str:
    row = require_mapping(row, what)
    try:
        return str(Decimal(_s(row, "f", what)) + Decimal(_s(row, "l", what)))
    except InvalidOperation:
        raise DecodeError(f"{what}: balance is not a decimal: {row!r:.80}") from None
