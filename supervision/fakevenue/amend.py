"""The fake venue's replaces and batches: Binance's spot cancel-replace, USD-M's modify and
USD-M's batch orders and batch cancels, over the same matching engine as the desk's orders.

- `POST /api/v3/order/cancelReplace` (`STOP_ON_FAILURE`): the order named by
  `cancelOrigClientOrderId` is cancelled and a new one placed under `newClientOrderId` (our
  adapter gives the same id), with a new order id. On the user stream: the old order id's
  CANCELED (its `c` the request's `cancelNewClientOrderId` when given), then the new one's
  NEW (and its fills). An order that is not open: -2022 and
  nothing changes; a new order the engine refuses leaves the old one as it was (-2022 too: the
  simulated engine checks before it cancels).
- `PUT /fapi/v1/order` (modify): price and total quantity of an open order, same ids; an
  `AMENDMENT` event. The same price and quantity again: -5027, "No need to modify the order."
- `POST /fapi/v1/batchOrders` (`batchOrders`, a JSON list of up to 5 orders) and
  `DELETE /fapi/v1/batchOrders` (`origClientOrderIdList`, up to 10): one answer per item, in
  order, each the order's body or its refusal `{"code", "msg"}`.

Replaces are counted per client id in `replaces`; `creates` counts only new orders, so a test's
"no order was created twice" still reads one number per id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from protocols.orders import CancelAck, Reject, ReplaceIntent
from supervision.fakevenue.desk import Desk, VenueError, _units

__all__ = ["AmendingDesk"]

Answer = tuple[Any, list[dict[str, Any]]]


class AmendingDesk(Desk):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replaces: dict[str, int] = {}
        self._order_ids = 10_000_000  # new order ids of replaced orders

    def cancel_replace(self, p: Mapping[str, str]) -> Answer:
        cid = p.get("cancelOrigClientOrderId", "")
        order = self.orders.get(cid)
        new_cid = p.get("newClientOrderId") or cid
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED") or (
                new_cid != cid):
            raise VenueError(400, -2022, "Order cancel-replace failed.")
        old = attrs.evolve(order)
        reports = self._amend(order, p, p.get("quantity", ""))
        cancelled = self._event(old, CancelAck(cid))
        if cancelled is not None and p.get("cancelNewClientOrderId") and self.dialect == "spot":
            cancelled["c"] = p["cancelNewClientOrderId"]  # the cancel's own id, as asked
        self._order_ids += 1
        order.order_id = self._order_ids
        self.by_id[order.order_id] = order
        order.executed = order.quote = Decimal(0)
        order.qty, order.price, order.status = p["quantity"], p["price"], "NEW"
        order.time_ms = self.now_ms
        events = [e for e in (cancelled,) if e is not None] + self._events(reports)
        return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                "cancelResponse": self.body(old), "newOrderResponse": self.body(order)}, events

    def modify(self, p: Mapping[str, str]) -> Answer:
        order = self._find(p)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise VenueError(400, -2013, "Order does not exist.")
        try:
            same = (Decimal(p["price"]) == Decimal(order.price)
                    and Decimal(p["quantity"]) == Decimal(order.qty))
        except (KeyError, ArithmeticError):
            raise VenueError(400, -1102, "Mandatory parameter was not sent.") from None
        if same:
            raise VenueError(400, -5027, "No need to modify the order.")
        open_qty = Decimal(p["quantity"]) - order.executed
        if open_qty <= 0:
            raise VenueError(400, -4003, "Quantity less than or equal to zero.")
        reports = self._amend(order, p, f"{open_qty:f}")
        order.qty, order.price = p["quantity"], p["price"]
        events = self._events(reports[1:])  # after the Ack: fills, if the new price crossed
        amended = self._event(attrs.evolve(order), reports[0])
        if amended is not None:
            amended["o"].update(x="AMENDMENT", X=order.status)
            events.insert(0, amended)
        return self.body(order), events

    def batch_create(self, p: Mapping[str, str]) -> Answer:
        return _each(self._list(p, "batchOrders", 5),
                     lambda item: self.create({k: str(v) for k, v in item.items()}))

    def batch_cancel(self, p: Mapping[str, str]) -> Answer:
        symbol = p.get("symbol", "")
        return _each(self._list(p, "origClientOrderIdList", 10), lambda cid: self.cancel(
            {"symbol": symbol, "origClientOrderId": str(cid)}))

    # -- internals -----------------------------------------------------------------------------
    def _amend(self, order: Any, p: Mapping[str, str], open_qty: str) -> list[Any]:
        symbol, spec = self._symbol(p)
        try:
            _units(p["quantity"], self.order_step)
            lots, ticks = _units(open_qty, spec.lot_step), _units(p["price"], spec.tick_size)
        except (KeyError, ArithmeticError, ValueError):
            raise VenueError(400, -1013, "Filter failure: LOT_SIZE") from None
        reports = self.exchange.replace(ReplaceIntent(order.cid, symbol, lots, ticks), 0)
        if isinstance(reports[0], Reject):
            code, _, words = reports[0].message.partition(" ")
            if self.dialect == "spot":
                raise VenueError(400, -2022, "Order cancel-replace failed.")
            raise VenueError(400, int(code) if code.lstrip("-").isdigit() else -1013, words)
        self.replaces[order.cid] = self.replaces.get(order.cid, 0) + 1
        return reports

    @staticmethod
    def _list(p: Mapping[str, str], key: str, most: int) -> list[Any]:
        try:  # ccxt spells origclientorderidlist in lower case, and Binance takes it
            items = json.loads(p.get(key) or p.get(key.lower()) or "[]")
        except ValueError:
            items = None
        if not isinstance(items, list) or not 0 < len(items) <= most:
            raise VenueError(400, -1130, f"Data sent for parameter '{key}' is not valid.")
        return items


def _each(items: list[Any], answer: Callable[[Any], Answer]) -> Answer:
    """One answer per item, in order: its body, or its refusal; and every event they caused."""
    out, events = [], []
    for item in items:
        try:
            body, caused = answer(item)
        except VenueError as exc:
            out.append(exc.body())
            continue
        out.append(body)
        events += caused
    return out, events
