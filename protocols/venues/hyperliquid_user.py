"""Hyperliquid wire format, account side: `/exchange` actions and answers, and user events.

Actions (the JSON body `{"action": ..., "nonce": ms, "signature": ...}` that `/exchange` takes;
signing is the adapter's business, this module only writes and reads the data):

- `order_action(orders)`: `{"type": "order", "orders": [wire...], "grouping": "na"}`, each order
  `{"a": asset, "b": is_buy, "p": price, "s": size, "r": reduce_only,
  "t": {"limit": {"tif": "Alo" | "Ioc" | "Gtc"}}, "c": cloid}` (`OrderWire`);
- `cancel_action(cancels)`: `{"type": "cancelByCloid", "cancels": [{"asset": a, "cloid": c}]}`.

Answers: `{"status": "ok", "response": {"type": "order" | "cancel", "data": {"statuses":
[...]}}}` with one status per order, in order: `{"resting": {"oid": n}}`, `{"filled": {"oid": n,
"totalSz": s, "avgPx": p}}`, `{"error": words}`, and "success" for a cancel; or `{"status":
"err", "response": words}` when the whole action is refused (a bad nonce, a bad signature).
`parse_statuses` reads them as `ActionStatus`es.

User events (websocket channels `orderUpdates` and `userFills`): `parse_user_message` reads them
as `OrderUpdates` and `UserFills`, and any market channel through
`protocols.venues.hyperliquid.parse_message`. A fill carries the venue's trade id `tid` (a fresh
`userFills` subscription first replays recent fills, `is_snapshot`) and our `cloid` when the
order had one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from protocols.codec import DecodeError, field, load_json, require_mapping
from protocols.venues import hyperliquid

__all__ = [
    "ActionStatus",
    "OrderStatusEvent",
    "OrderUpdates",
    "OrderWire",
    "UserFill",
    "UserFills",
    "cancel_action",
    "order_action",
    "parse_statuses",
    "parse_user_message",
]

TIFS = ("Alo", "Ioc", "Gtc")


@attrs.frozen(slots=True)
class OrderWire:
    """One order of an `order` action; prices and sizes already formatted by the venue's rules
    (`protocols.venues.hyperliquid_format`)."""

    asset: int
    is_buy: bool
    price: str
    size: str
    reduce_only: bool
    tif: str = attrs.field(validator=attrs.validators.in_(TIFS))
    cloid: str = ""

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"a": self.asset, "b": self.is_buy, "p": self.price,
                                "s": self.size, "r": self.reduce_only,
                                "t": {"limit": {"tif": self.tif}}}
        if self.cloid:
            body["c"] = self.cloid
        return body


def order_action(orders: Sequence[OrderWire]) -> dict[str, Any]:
    return {"type": "order", "orders": [o.wire() for o in orders], "grouping": "na"}


def cancel_action(cancels: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """`cancels`: (asset, cloid) pairs."""
    return {"type": "cancelByCloid",
            "cancels": [{"asset": asset, "cloid": cloid} for asset, cloid in cancels]}


@attrs.frozen(slots=True)
class ActionStatus:
    """One order's (or cancel's) answer: `kind` is resting, filled, error or success."""

    kind: str
    oid: int | None = None
    message: str = ""
    total_sz: str | None = None
    avg_px: str | None = None


def parse_statuses(body: Any) -> list[ActionStatus]:
    """The per-order statuses of an `ok` answer; a whole-action refusal (`"status": "err"`) is
    a `DecodeError` whose text is the venue's words."""
    what = "hyperliquid /exchange answer"
    body = require_mapping(body, what)
    if body.get("status") == "err":
        raise DecodeError(str(body.get("response", "refused"))[:300])
    response = require_mapping(body.get("response"), what)
    data = require_mapping(response.get("data"), f"{what} data")
    out: list[ActionStatus] = []
    for raw in field(data, "statuses", list, f"{what} data"):
        if raw == "success":
            out.append(ActionStatus("success"))
        elif isinstance(raw, Mapping) and "error" in raw:
            out.append(ActionStatus("error", message=str(raw["error"])))
        elif isinstance(raw, Mapping) and "resting" in raw:
            out.append(ActionStatus("resting", _oid(raw["resting"], what)))
        elif isinstance(raw, Mapping) and "filled" in raw:
            filled = require_mapping(raw["filled"], what)
            out.append(ActionStatus("filled", _oid(filled, what),
                                    total_sz=str(filled.get("totalSz", "0")),
                                    avg_px=str(filled.get("avgPx", "0"))))
        else:
            raise DecodeError(f"{what}: unreadable status {raw!r:.60}")
    return out


def _oid(raw: Any, what: str) -> int:
    oid: int = field(require_mapping(raw, what), "oid", int, what)
    return oid


# -- user events -------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class OrderStatusEvent:
    """One `orderUpdates` entry: the order as it stands (`sz` is what remains) and its status
    (open, filled, canceled, and the venue's *Canceled / *Rejected words)."""

    coin: str
    oid: int
    cloid: str | None
    is_buy: bool
    limit_px: str
    sz: str
    orig_sz: str
    status: str
    time_ms: int


@attrs.frozen(slots=True)
class OrderUpdates:
    updates: tuple[OrderStatusEvent, ...]


@attrs.frozen(slots=True)
class UserFill:
    coin: str
    tid: int
    oid: int
    cloid: str | None
    is_buy: bool
    px: str
    sz: str
    fee: str
    fee_token: str
    crossed: bool  # True: we took liquidity
    time_ms: int


@attrs.frozen(slots=True)
class UserFills:
    fills: tuple[UserFill, ...]
    is_snapshot: bool = False


def _order_event(raw: Any) -> OrderStatusEvent:
    what = "hyperliquid orderUpdates"
    raw = require_mapping(raw, what)
    order = require_mapping(raw.get("order"), f"{what} order")
    cloid = order.get("cloid")
    return OrderStatusEvent(
        field(order, "coin", str, what), field(order, "oid", int, what),
        cloid if isinstance(cloid, str) else None, field(order, "side", str, what) == "B",
        field(order, "limitPx", str, what), field(order, "sz", str, what),
        str(order.get("origSz", order.get("sz"))), field(raw, "status", str, what),
        int(raw.get("statusTimestamp") or order.get("timestamp") or 0))


def _fill(raw: Any) -> UserFill:
    what = "hyperliquid userFills"
    raw = require_mapping(raw, what)
    cloid = raw.get("cloid")
    return UserFill(
        field(raw, "coin", str, what), field(raw, "tid", int, what), field(raw, "oid", int, what),
        cloid if isinstance(cloid, str) else None, field(raw, "side", str, what) == "B",
        field(raw, "px", str, what), field(raw, "sz", str, what), str(raw.get("fee", "0")),
        str(raw.get("feeToken", "USDC")), bool(raw.get("crossed", True)),
        field(raw, "time", int, what))


UserMessage = OrderUpdates | UserFills | hyperliquid.HyperliquidMessage


def parse_user_message(raw: str | bytes | Mapping[str, Any]) -> UserMessage:
    """Any frame of the venue's websocket: the user channels here, the rest as market data."""
    obj = load_json(raw, "hyperliquid message") if isinstance(raw, str | bytes) else raw
    obj = require_mapping(obj, "hyperliquid message")
    channel = obj.get("channel")
    if channel == "orderUpdates":
        data = obj.get("data")
        if not isinstance(data, list):
            raise DecodeError("hyperliquid orderUpdates: expected a list")
        return OrderUpdates(tuple(_order_event(u) for u in data))
    if channel == "userFills":
        data = require_mapping(obj.get("data"), "hyperliquid userFills")
        return UserFills(tuple(_fill(f) for f in field(data, "fills", list, "userFills")),
                         bool(data.get("isSnapshot", False)))
    return hyperliquid.parse_message(obj)
