"""Pure translations between Hyperliquid's words and ours: orders out, answers and events in.

- `order_wire`: an `OrderIntent` in ticks and lots -> an `OrderWire` with the venue's price and
  size strings (`protocols.venues.hyperliquid_format`: a buy rounds down, a sell up, so a
  rounded price never pays more than the intent), our client id as the cloid
  (`actors.execution.ids.encode_cloid`), TIF `Alo` for post-only, `Ioc`, `Gtc`. The venue has
  neither market nor FOK orders: those are refused here with a reason, before the wire.
- `reports_of_status`: one `/exchange` status -> reports (`resting`/`filled` -> Ack, `error` ->
  Reject with a code read from the venue's words, a cancel's "success" -> CancelAck).
- `reports_of_update`: an `orderUpdates` entry -> reports (open -> Ack; canceled -> CancelAck
  when we asked, else Expired: an IOC's remainder; *Rejected -> Reject; other *Canceled, the
  venue's own cancels (margin, reduce-only, open-interest cap) -> Expired).
- `fill_of`: a `userFills` entry -> `Fill`, its id `<coin>-<tid>`, liquidity from `crossed`.

An `activeAssetCtx` becomes `OracleUpdate`/`FundingUpdate` in
`protocols.venues.hyperliquid.asset_ctx_updates`, shared with the simulated venue's replay.
"""

from __future__ import annotations

from decimal import Decimal

from actors.execution.ids import encode_cloid
from protocols.codec import Side
from protocols.orders import (
    Ack,
    CancelAck,
    CancelReject,
    CancelRejectCode,
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
from protocols.venues.hyperliquid_format import format_price, format_size
from protocols.venues.hyperliquid_user import (
    ActionStatus,
    OrderStatusEvent,
    OrderWire,
    UserFill,
)
from supervision.venues.hyperliquid.discovery import HlMarketInfo

__all__ = ["fill_of", "order_wire", "reject_code", "reports_of_status",
           "reports_of_update"]

_TIF = {TimeInForce.POST_ONLY: "Alo", TimeInForce.IOC: "Ioc", TimeInForce.GTC: "Gtc"}
_REJECTS = (  # (words in the venue's message, our code), most specific first
    ("duplicate", RejectCode.DUPLICATE_CLIENT_ORDER_ID),
    ("post only", RejectCode.POST_ONLY_WOULD_TAKE),
    ("insufficient", RejectCode.INSUFFICIENT_FUNDS),
    ("reduce only", RejectCode.REDUCE_ONLY_WOULD_INCREASE),
    ("tick size", RejectCode.INVALID_PRICE),
    ("80% away", RejectCode.INVALID_PRICE),
    ("invalid size", RejectCode.INVALID_QUANTITY),
    ("zero size", RejectCode.INVALID_QUANTITY),
    ("minimum value", RejectCode.MIN_NOTIONAL),
    ("never placed", RejectCode.UNKNOWN_ORDER),
)


def order_wire(intent: OrderIntent, market: HlMarketInfo) -> OrderWire | str:
    """The order as the venue takes it, or why it cannot be sent."""
    tif = _TIF.get(intent.tif)
    if intent.order_type is OrderType.MARKET or intent.price is None:
        return "hyperliquid has no market orders: send an IOC limit order at the worst price"
    if tif is None:
        return f"hyperliquid has no {intent.tif.name} orders (ALO, IOC and GTC only)"
    spec = market.spec
    is_buy = intent.side is Side.BUY
    price = format_price(intent.price * spec.tick_size, market.sz_decimals, market.spot,
                         is_buy=is_buy)
    size = format_size(intent.qty * spec.lot_step, market.sz_decimals)
    return OrderWire(market.asset, is_buy, price, size, intent.reduce_only, tif,
                     encode_cloid(intent.client_order_id))


def reject_code(words: str) -> RejectCode:
    low = words.lower()
    for key, code in _REJECTS:
        if key in low:
            return code
    return RejectCode.OTHER


def reports_of_status(cid: str, status: ActionStatus, venue_ns: int, *,
                      cancel: bool = False) -> list[VenueReport]:
    if cancel:
        if status.kind == "success":
            return [CancelAck(cid, venue_ns=venue_ns)]
        code = (CancelRejectCode.UNKNOWN_ORDER if "never placed" in status.message
                else CancelRejectCode.OTHER)
        return [CancelReject(cid, code, status.message, venue_ns=venue_ns)]
    if status.kind in ("resting", "filled"):
        return [Ack(cid, str(status.oid), venue_ns=venue_ns)]
    return [Reject(cid, reject_code(status.message), status.message, venue_ns=venue_ns)]


def reports_of_update(cid: str, update: OrderStatusEvent, *,
                      cancel_requested: bool) -> list[VenueReport]:
    venue_ns = update.time_ms * 1_000_000 if update.time_ms else None
    status = update.status
    if status == "open":
        return [Ack(cid, str(update.oid), venue_ns=venue_ns)]
    if status == "canceled":
        return [CancelAck(cid, venue_ns=venue_ns) if cancel_requested
                else Expired(cid, venue_ns=venue_ns)]
    if status.endswith("Rejected") or status == "rejected":
        return [Reject(cid, reject_code(status), status, venue_ns=venue_ns)]
    if status.endswith("Canceled"):  # the venue cancelled it (margin, reduce-only, OI cap...)
        return [Expired(cid, venue_ns=venue_ns)]
    return []  # filled, triggered: the fills say it


def fill_of(cid: str, fill: UserFill, market: HlMarketInfo) -> Fill:
    spec = market.spec
    return Fill(cid, f"{fill.coin}-{fill.tid}", int(Decimal(fill.sz) / spec.lot_step),
                int(Decimal(fill.px) / spec.tick_size), Decimal(fill.fee),
                Liquidity.TAKER if fill.crossed else Liquidity.MAKER, fill.fee_token,
                venue_ns=fill.time_ms * 1_000_000)

