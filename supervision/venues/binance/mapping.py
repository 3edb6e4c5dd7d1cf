"""Pure translations between Binance's words and ours: specs, order requests, reports.

- `spec_from_market`: an `exchangeInfo` symbol entry (as ccxt's `market['info']` keeps it) to an
  `InstrumentSpec`, read from the venue's own strings (never ccxt's float precisions). The lot
  is the book's unit: the configured lot if the venue's order step is a whole number of them
  (Binance publishes depth finer than it accepts orders, so a config may count lots in
  satoshis), else the order step; `min_qty` is at least one order step. Fees come from our
  config (the venue's account tier is not in exchangeInfo).
- `order_params`: an `OrderIntent` to the REST parameters of `POST /order`, prices and
  quantities as exact strings, our client id as `newClientOrderId`.
- `reports_of`: an `OrderUpdate` (user-data event or REST body) to our `VenueReport`s.
- `trade_fill`: a `myTrades` / `userTrades` row to the `Fill` the stream's TRADE event of the
  same trade would have made (same id, so either counts it once); `intent_of`: an order body to
  the `OrderIntent` it carries out (an order the session is told of after the fact).
- `reject_code`: Binance's error text to a `RejectCode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from protocols.codec import Side
from protocols.instruments import ContractType, InstrumentSpec
from protocols.orders import (
    Ack,
    CancelAck,
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
from protocols.venues.binance_user import OrderUpdate

__all__ = ["intent_of", "order_params", "reject_code", "reports_of", "spec_from_market",
           "to_units", "trade_fill", "units_text"]

_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_REJECTS = (  # (words in Binance's message, our code), most specific first
    ("Duplicate", RejectCode.DUPLICATE_CLIENT_ORDER_ID),
    ("insufficient", RejectCode.INSUFFICIENT_FUNDS),
    ("Margin is insufficient", RejectCode.INSUFFICIENT_FUNDS),
    ("PRICE_FILTER", RejectCode.INVALID_PRICE),
    ("PERCENT_PRICE", RejectCode.INVALID_PRICE),
    ("LOT_SIZE", RejectCode.INVALID_QUANTITY),
    ("NOTIONAL", RejectCode.MIN_NOTIONAL),
    ("immediately match", RejectCode.POST_ONLY_WOULD_TAKE),
    ("ReduceOnly", RejectCode.REDUCE_ONLY_WOULD_INCREASE),
    ("Unknown order", RejectCode.UNKNOWN_ORDER),
    ("market is closed", RejectCode.MARKET_CLOSED),
)


def _filters(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f.get("filterType", ""): f for f in info.get("filters", ())}


def spec_from_market(info: Mapping[str, Any], name: str, configured: InstrumentSpec | None,
                     *, venue: str = "binance") -> InstrumentSpec:
    filters = _filters(info)
    tick = Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize()
    step = Decimal(filters["LOT_SIZE"]["stepSize"]).normalize()
    min_qty = Decimal(filters["LOT_SIZE"].get("minQty", "0")).normalize()
    lot = step
    if configured is not None and (step / configured.lot_step) == int(step /
                                                                       configured.lot_step):
        lot = configured.lot_step
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    min_notional = Decimal(notional.get("minNotional") or notional.get("notional") or "0")
    perp = info.get("contractType") == "PERPETUAL"
    return InstrumentSpec(
        name, venue, tick, lot, max(min_qty, step), min_notional.normalize(),
        configured.maker_fee if configured else Decimal("0.001"),
        configured.taker_fee if configured else Decimal("0.001"),
        ContractType.PERP if perp else ContractType.SPOT)


def to_units(text: str, unit: Decimal) -> int:
    """A venue decimal string as a whole number of `unit`s (rounded down: never more than the
    venue said)."""
    return int(Decimal(text) / unit)


_TEXTS: dict[tuple[int, Decimal], str] = {}
_TEXTS_KEPT = 8192  # a market maker quotes the same few prices and sizes again and again


def units_text(units: int, unit: Decimal) -> str:
    """`units` of `unit` as the venue's exact decimal string ("60100", "0.001"), remembered:
    an order's price and quantity are written on every send."""
    key = (units, unit)
    text = _TEXTS.get(key)
    if text is None:
        if len(_TEXTS) >= _TEXTS_KEPT:
            _TEXTS.clear()
        text = _TEXTS[key] = f"{(units * unit).normalize():f}"
    return text


def order_params(intent: OrderIntent, symbol: str, spec: InstrumentSpec) -> dict[str, str]:
    params = {"symbol": symbol, "side": "BUY" if intent.side is Side.BUY else "SELL",
              "quantity": units_text(intent.qty, spec.lot_step),
              "newClientOrderId": intent.client_order_id, "newOrderRespType": "RESULT"}
    if intent.order_type is OrderType.MARKET or intent.price is None:
        params["type"] = "MARKET"
    elif intent.tif is TimeInForce.POST_ONLY:
        params["type"] = "LIMIT_MAKER"
        params["price"] = units_text(intent.price, spec.tick_size)
        if spec.contract_type is not ContractType.SPOT:  # USD-M: post-only is GTX
            params.update(type="LIMIT", timeInForce="GTX")
    else:
        params.update(type="LIMIT", timeInForce=_TIF.get(intent.tif, "GTC"),
                      price=units_text(intent.price, spec.tick_size))
    if intent.reduce_only and spec.contract_type is not ContractType.SPOT:
        params["reduceOnly"] = "true"
    return params


def reject_code(message: str) -> RejectCode:
    for words, code in _REJECTS:
        if words.lower() in message.lower():
            return code
    return RejectCode.OTHER


def reports_of(update: OrderUpdate, spec: InstrumentSpec, venue_ns: int) -> list[VenueReport]:
    """What one order event means to us. A REST body (no `execution`) says only that the order
    exists: an Ack; its fills come from the user-data stream or `myTrades` with their ids."""
    cid = update.client_order_id
    kind = update.execution
    if kind in ("", "NEW"):
        return [Ack(cid, str(update.order_id), venue_ns=venue_ns)]
    if kind == "TRADE" and update.trade_id is not None:
        return [Fill(cid, f"{update.symbol}-{update.trade_id}",
                     to_units(update.last_qty, spec.lot_step),
                     to_units(update.last_price, spec.tick_size), Decimal(update.commission),
                     Liquidity.MAKER if update.maker else Liquidity.TAKER,
                     update.commission_asset, venue_ns=venue_ns)]
    if kind == "CANCELED":
        return [CancelAck(cid, venue_ns=venue_ns)]
    if kind == "EXPIRED":
        return [Expired(cid, venue_ns=venue_ns)]
    if kind == "REJECTED":
        return [Reject(cid, reject_code(update.reject_reason), update.reject_reason,
                       venue_ns=venue_ns)]
    return []


def trade_fill(row: Mapping[str, Any], cid: str, spec: InstrumentSpec) -> tuple[Fill, bool, int]:
    """A trade row (spot `myTrades`: `isBuyer`, `isMaker`; USD-M `userTrades`: `buyer`,
    `maker`) as (the Fill, bought?, the venue's trade time in ms). Raises KeyError, ValueError
    or ArithmeticError on a row it cannot read."""
    maker = row["isMaker"] if "isMaker" in row else row["maker"]
    buyer = row["isBuyer"] if "isBuyer" in row else row["buyer"]
    time_ms = int(row["time"])
    fill = Fill(cid, f"{row['symbol']}-{int(row['id'])}", to_units(str(row["qty"]), spec.lot_step),
                to_units(str(row["price"]), spec.tick_size), Decimal(str(row["commission"])),
                Liquidity.MAKER if maker else Liquidity.TAKER, str(row["commissionAsset"]),
                venue_ns=time_ms * 1_000_000)
    return fill, bool(buyer), time_ms


def intent_of(update: OrderUpdate, name: str, spec: InstrumentSpec,
              qty: int | None = None) -> OrderIntent:
    """The intent an order body carries out, in our units (`qty`: lots, if not the order's)."""
    limit = update.order_type != "MARKET" and Decimal(update.price) > 0
    tif = TimeInForce.POST_ONLY if update.order_type == "LIMIT_MAKER" or update.tif == "GTX" \
        else next((ours for ours, word in _TIF.items() if word == update.tif), TimeInForce.GTC)
    return OrderIntent(update.client_order_id, name, Side.BUY if update.side == "BUY"
                       else Side.SELL, OrderType.LIMIT if limit else OrderType.MARKET,
                       qty if qty is not None else max(1, to_units(update.qty, spec.lot_step)),
                       to_units(update.price, spec.tick_size) if limit else None,
                       tif if limit else TimeInForce.GTC)


def with_symbol(spec: InstrumentSpec, name: str) -> InstrumentSpec:
    return attrs.evolve(spec, symbol=name)
