"""Replaces and batches on Binance, the transport's third half (after `orders`): what goes out
and what the answers mean. Through ccxt's implicit API, so every string is ours, exactly:

| what               | spot                                | USD-M                            |
|--------------------|-------------------------------------|----------------------------------|
| replace            | `POST /api/v3/order/cancelReplace`  | `PUT /fapi/v1/order` (modify)    |
|                    | (`private_post_order_cancelreplace`;| (`fapiprivate_put_order`;        |
|                    | unified `edit_order`)               | unified `edit_order`)            |
| several new orders | one request each                    | `POST /fapi/v1/batchOrders`, 5 a |
|                    |                                     | request (unified `create_orders`)|
| several cancels    | one request each                    | `DELETE /fapi/v1/batchOrders`, 10|
|                    |                                     | of a symbol (`cancel_orders`)    |

A replace keeps our client order id (the session's rule): spot's cancel-replace cancels the
order and places the new one under the same id (`STOP_ON_FAILURE`: if the cancel fails, nothing
is placed; Binance's -2022), with a new venue order id. The user stream's CANCELED of the old
order is the replace's own and is swallowed: it is told apart by its cancel id (`c`), which we
give (`cancelNewClientOrderId`, `replace_cancel_id`), never by the venue order id it names. A
market maker replaces again before the last replace is answered, and the second replace cancels
the first one's new order, whose id nobody here knew when the second was sent: read as news, its
CANCELED closed our live order here (the strategy then quoted that side again) and the next
reconciliation cancelled it as a stranger. USD-M's modify keeps both ids, and its quantity
is the order's total (what is filled plus the new open quantity). The answer is the replace's
Ack, or a Reject that leaves the order as it was; a spot cancel-replace whose cancel went
through but whose new order was refused (-2021) leaves the order cancelled (CancelAck, then the
Reject). Idempotent on resend: a USD-M modify to what the order already is answers -5027 ("No
need to modify the order"), which is the Ack; a spot resend cancels and re-places the same
order under the same id, so one order with that id rests, at the price asked.

A replace whose answer is lost (a timeout: no code in the words) is UNKNOWN and never resent:
it stays pending while the order is looked up by its client id (the shared cycle of
`supervision.venues.lookups`), and the order as the venue shows it settles it: resting at the
price and quantity the replace asked for, the replace's Ack; otherwise a Reject that leaves the
order as it was (or gone, UNKNOWN_ORDER).

A batch is one request and one budget answer; each item's result is its own report, and a
refused item (a duplicate id, a filter) is that intent's Reject while the others stand. A batch
lost in flight is UNKNOWN for every intent, and each new order is then queried by its id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.venue_transport import Reported
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Intent,
    OrderIntent,
    Reject,
    RejectCode,
    ReplaceIntent,
)
from protocols.venue_state import RequestAccepted
from protocols.venues.binance_user import OrderUpdate, parse_order_body
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.mapping import order_params, reject_code, to_units, units_text
from supervision.venues.binance.orders import OrderAnswers

__all__ = ["BATCH_CANCELS", "BATCH_ORDERS", "AmendAnswers", "replace_cancel_id",
           "replace_params"]

BATCH_ORDERS, BATCH_CANCELS = 5, 10  # Binance USD-M's most per batchOrders request


@attrs.frozen(slots=True)
class Resting:
    """What a replace must repeat of the order it replaces (spot sends a whole new order)."""

    symbol: str
    side: str
    order_type: str
    tif: str
    order_id: int = 0
    filled: str = "0"


def _same(venue: str, asked: str) -> bool:
    """The venue's number ("60100.00") is the one we asked for ("60100")."""
    try:
        return Decimal(venue) == Decimal(asked)
    except ArithmeticError:
        return False


def replace_cancel_id(client_order_id: str) -> str:
    """The cancel id of our spot cancel-replaces of an order (`cancelNewClientOrderId`): the
    venue names it as `c` in the old order's CANCELED, which is how that event is known as the
    replace's own, however many replaces of the order are in flight. Within Binance's 36
    characters: `rpl-<id>`, or `rpl-` and a hash of a long id."""
    mark = f"rpl-{client_order_id}"
    if len(mark) <= 36:
        return mark
    return "rpl-" + hashlib.blake2b(client_order_id.encode(), digest_size=16).hexdigest()


def replace_params(dialect: str, intent: ReplaceIntent, resting: Resting,
                   spec: InstrumentSpec) -> dict[str, str]:
    price = units_text(intent.price, spec.tick_size)
    if dialect == "usdm":
        total = to_units(resting.filled, spec.lot_step) + intent.qty
        return {"symbol": resting.symbol, "side": resting.side,
                "origClientOrderId": intent.client_order_id,
                "quantity": units_text(total, spec.lot_step), "price": price}
    params = {"symbol": resting.symbol, "side": resting.side, "type": resting.order_type,
              "cancelReplaceMode": "STOP_ON_FAILURE",
              "cancelOrigClientOrderId": intent.client_order_id,
              "cancelNewClientOrderId": replace_cancel_id(intent.client_order_id),
              "newClientOrderId": intent.client_order_id,
              "quantity": units_text(intent.qty, spec.lot_step), "price": price,
              "newOrderRespType": "RESULT"}
    if resting.order_type == "LIMIT":
        params["timeInForce"] = resting.tif or "GTC"
    return params


class AmendAnswers(OrderAnswers):
    """Replaces and batches: `_init_amend` sets up the state, the transport calls the rest."""

    def _init_amend(self) -> None:
        self.resting: dict[str, Resting] = {}  # client id -> what a replace must repeat
        # client id -> the last replace sent: (price, quantity, the replaced order id), which a
        # look-up after its answer was lost compares with what the venue shows.
        self._asked: dict[str, tuple[str, str]] = {}

    # -- out -----------------------------------------------------------------------------------
    def _remember(self, intent: OrderIntent, symbol: str, params: dict[str, str]) -> None:
        self.resting[intent.client_order_id] = Resting(
            symbol, params["side"], params["type"], params.get("timeInForce", ""))

    def _send_replace(self, intent: ReplaceIntent, lane: Any, now_ns: int) -> None:
        """On `lane`: the order lane, or the exits lane behind an unanswered sweep of its
        instrument (`ExitLanes._entry_lane`): a replace places an order, as a new order does."""
        resting = self.resting.get(intent.client_order_id)
        if resting is None:  # neither sent nor adopted here: nothing to repeat
            self._queue.append(Reported(Reject(
                intent.client_order_id, RejectCode.UNKNOWN_ORDER,
                "replace of an order this connection does not know", venue_ns=now_ns)))
            return
        spec = self.specs[intent.instrument]
        method = "fapiprivate_put_order" if self.settings.dialect == "usdm" \
            else "private_post_order_cancelreplace"
        params = replace_params(self.settings.dialect, intent, resting, spec)
        self._asked[intent.client_order_id] = (params["price"], params["quantity"])
        lane.submit(("replace", intent, resting.order_id), method, params)

    def _send_batch(self, intents: Sequence[Intent], lane: Any) -> None:
        """USD-M: new orders 5 a request, cancels 10 of one symbol a request, on `lane`."""
        orders = [i for i in intents if isinstance(i, OrderIntent)]
        for start in range(0, len(orders), BATCH_ORDERS):
            chunk = orders[start:start + BATCH_ORDERS]
            items = []
            for order in chunk:
                symbol = self.settings.instruments.get(order.instrument, order.instrument)
                params = order_params(order, symbol, self.specs[order.instrument])
                self._remember(order, symbol, params)
                self.known_open.add(order.client_order_id)
                items.append(params)
            lane.submit(("batch", tuple(chunk)), "fapiprivate_post_batchorders",
                        {"batchOrders": items})
        by_symbol: dict[str, list[CancelIntent]] = {}
        for intent in intents:
            if isinstance(intent, CancelIntent):
                symbol = self.settings.instruments.get(intent.instrument, intent.instrument)
                by_symbol.setdefault(symbol, []).append(intent)
        for symbol, cancels in by_symbol.items():
            for start in range(0, len(cancels), BATCH_CANCELS):
                some = cancels[start:start + BATCH_CANCELS]
                lane.submit(("batch_cancel", tuple(some)), "fapiprivate_delete_batchorders",
                            {"symbol": symbol, "origClientOrderIdList":
                             [i.client_order_id for i in some]})

    # -- in ------------------------------------------------------------------------------------
    def _seen_order(self, update: OrderUpdate) -> bool:
        """Keeps what a replace must repeat; False for the cancel half of our own spot
        cancel-replace (the old order's CANCELED, named by our cancel id), which is no news."""
        if update.execution == "CANCELED" and update.cancel_id \
                and update.cancel_id == replace_cancel_id(update.client_order_id):
            return False
        known = self.resting.get(update.client_order_id)
        if known is None or update.order_id >= known.order_id:
            self.resting[update.client_order_id] = Resting(
                update.symbol, update.side, update.order_type, update.tif, update.order_id,
                update.cum_qty or "0")
        return True

    def _on_replace(self, done: RestDone, now_ns: int) -> None:
        intent: ReplaceIntent = done.tag[1]
        cid = intent.client_order_id
        if self._throttled(done, [intent], now_ns):
            return
        words = done.message
        if done.failure == "lost" and not any(c in words for c in ("-2021", "-2022", "-5027")):
            self._lost([intent], now_ns)  # the amend stays pending, looked up; nothing is resent
            return
        self._asked.pop(cid, None)
        self._queue.append(RequestAccepted(now_ns))
        if done.failure is None or "-5027" in words:  # -5027: it already is as asked
            body = done.value or {}
            body = body.get("newOrderResponse", body) if isinstance(body, dict) else {}
            known = self.resting.get(cid)
            order_id = body.get("orderId") or (known.order_id if known else "")
            self._ack(cid, str(order_id), now_ns)
            if body:
                self._seen_order(parse_order_body(body))
            return
        if "-2021" in words and '"cancelResult":"SUCCESS"' in words.replace(" ", ""):
            # The cancel went through, the new order was refused: the order is gone.
            self._queue.append(Reported(CancelAck(cid, venue_ns=now_ns)))
            self._closed(cid, now_ns)
        code = RejectCode.UNKNOWN_ORDER if done.failure == "unknown" or "-2022" in words \
            else reject_code(words)
        self._queue.append(Reported(Reject(cid, code, words, venue_ns=now_ns)))

    def _replace_looked_up(self, intent: ReplaceIntent, update: OrderUpdate,
                           now_ns: int) -> None:
        """A replace whose answer was lost, settled by its order as the venue shows it: it took
        if the order rests at the price and quantity the replace asked for (the Ack); if not,
        the order is as it was, or gone (a Reject that leaves it so)."""
        cid = intent.client_order_id
        price, qty = self._asked.pop(cid, ("", ""))
        rests = update.status in ("NEW", "PARTIALLY_FILLED")
        if rests and price and _same(update.price, price) and _same(update.qty, qty):
            self._ack(cid, str(update.order_id), now_ns)
            self._seen_order(update)
            return
        if rests:
            self._seen_order(update)
        state = "as it was" if rests else update.status
        self._queue.append(Reported(Reject(
            cid, RejectCode.OTHER if rests else RejectCode.UNKNOWN_ORDER,
            f"the replace's answer was lost; the venue shows the order {state}",
            venue_ns=now_ns)))

    def _ack(self, cid: str, order_id: str, now_ns: int) -> None:
        """The replace's Ack. Spot: the new order id's, once (the stream's NEW may have come
        first). USD-M: always, as the modify keeps the order id its first Ack had, and the
        stream's AMENDMENT is no Ack."""
        key = (cid, "Ack", order_id)
        if key in self._answered and self.settings.dialect == "spot":
            return
        self._answered[key] = None
        self._queue.append(Reported(Ack(cid, order_id, venue_ns=now_ns)))

    def _on_batch(self, done: RestDone, now_ns: int) -> None:
        intents: tuple[OrderIntent, ...] = done.tag[1]
        if self._throttled(done, list(intents), now_ns):
            return
        if done.failure is not None and done.failure != "rejected":
            self._lost(intents, now_ns)  # UNKNOWN, each; then each is looked up by its id
            return
        self._queue.append(RequestAccepted(now_ns))
        results = done.value if isinstance(done.value, list) else [None] * len(intents)
        for intent, item in zip(intents, results, strict=False):
            if isinstance(item, dict) and "orderId" in item:
                self._order_update(parse_order_body(item), now_ns)
                continue
            words = json.dumps(item) if item is not None else done.message
            self._closed(intent.client_order_id, now_ns)
            self._queue.append(Reported(Reject(intent.client_order_id, reject_code(words),
                                               words, venue_ns=now_ns)))

    def _on_batch_cancel(self, done: RestDone, now_ns: int) -> None:
        intents: tuple[CancelIntent, ...] = done.tag[1]
        if self._throttled(done, list(intents), now_ns):
            return
        if done.failure is not None and done.failure != "rejected":
            self._lost(intents, now_ns)
            return
        self._queue.append(RequestAccepted(now_ns))
        results = done.value if isinstance(done.value, list) else [None] * len(intents)
        for intent, item in zip(intents, results, strict=False):
            if isinstance(item, dict) and "orderId" in item:
                update = parse_order_body(item)
                self._order_update(attrs.evolve(update, execution="CANCELED"), now_ns)
                continue
            words = json.dumps(item) if item is not None else done.message
            code = CancelRejectCode.UNKNOWN_ORDER if "-2011" in words or "-2013" in words \
                else CancelRejectCode.OTHER
            self._queue.append(Reported(CancelReject(intent.client_order_id, code, words,
                                                     venue_ns=now_ns)))

