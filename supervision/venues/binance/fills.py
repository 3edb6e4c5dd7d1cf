"""Fills the user-data stream never told of, fetched from the venue: the Binance transport's
recovery part (a base of `supervision.venues.binance.transport.BinanceTransport`).

Binance tells of a fill on the user-data stream only while that stream is connected: a fill in
a gap (a socket replaced after silence, a disconnect, a node restarting) has no execution report,
ever, and the order would stay open here while the position drifts. The venue keeps every trade
in `myTrades` (USD-M: `userTrades`), numbered by the symbol's trade id, and every order, by our
client id. So:

- Sweep: a reconciliation (the periodic one, and the one a user stream's reconnect asks for)
  reads, in the same request as the open orders and the account, the trades of each symbol due
  from the first id not yet fetched (`fromId`; the first, with no id yet, the most recent
  `PAGE`; a full page is followed at once by the next). Due: every symbol while the user
  stream is down or has been since the last reconciliation asked after it came back, else
  each symbol once a minute (`SWEEP_EVERY_NS`: a reconciliation every 5 s would otherwise
  spend 20 weight a symbol each time, most of a minute's budget with twenty symbols, to
  confirm what the stream said). They are booked before the positions are compared, so a
  fill the stream missed is not a drift; and while the user stream has been
  down, USD-M's account updates are not compared either, until a reconciliation asked for
  after it came back has brought the fills of the gap. A row names the venue's order id, not
  ours: the map from one to the other is learned from every answer and event about our orders,
  and a trade of an order not ours is skipped.
- Settle: an order we hold open that the venue's open orders no longer list; an order a query
  by client id (after a lost answer) finds traded or done; an order a cancel-all should have
  taken but did not list; and, at start-up, each order the journal left open that the venue
  does not list (`unknown`: looked up on each symbol). Each is queried by client id, its trades
  are fetched by its venue order id and fed, then its final state (FILLED, CANCELED, EXPIRED,
  REJECTED) closes it as a `ReconcileResult`. The session never saw a start-up one: it is
  tracked first (`VenueOrder`, owned by nobody), so its fills reach the portfolio. One of ours
  that the venue does not have ("Order does not exist") when looked up, and still not
  `LOOKUP_AGAIN_S` later (its request may have been on its way), never reached it:
  `ReconcileResult(NOT_FOUND)` closes it, and it is not looked for again (an order the venue
  refused is closed by its refusal, and never looked for at all).
- Once: every fill, streamed or fetched, goes through `OrderAnswers._pass_fill`, which passes a
  trade id on the first time only, and starts knowing the fill ids the journal recorded
  (`BinanceSettings.known_fills`): a trade counts once whichever path brings it first, and
  across a restart. A fill the fetch brought first is recovered: counted in
  `troupe_fills_recovered_total{venue}` and said in one log line.
- Rate limit: these requests are weighted (spot: myTrades 20, 5 for one order, an order query 4;
  USD-M: 5 and 1). They go through the adapter's `RestGate` (`supervision.venues.rest_gate`),
  like its snapshots and reconciliations: once any answer says 429 or 418, each waits, parked
  (one per kind and order), until the Retry-After has passed (a ban's end), and such a refusal
  of one of them tells the budget (`RateLimited`, `Banned`). One page fetch per symbol and one
  look-up per order are in flight at a time. Observe mode recovers nothing (it sends nothing,
  so nothing of ours can fill).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.venue_transport import Reported, VenueOrder
from protocols.codec import DecodeError
from protocols.orders import OrderIntent, ReconcileResult, VenueOrderStatus
from protocols.venues.binance_user import AccountUpdate, OrderUpdate, parse_order_body
from supervision.venues.binance.client import Reconciliation
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.mapping import intent_of, to_units, trade_fill
from supervision.venues.binance.orders import OrderAnswers
from supervision.venues.binance.weights import reconcile_weight
from supervision.venues.lookups import LOOKUP_AGAIN_S

__all__ = ["PAGE", "SWEEP_EVERY_NS", "FillRecovery"]

log = logging.getLogger("troupe.venues.binance")
SECOND = 1_000_000_000
PAGE = 1000  # trades a request, Binance's most
SWEEP_EVERY_NS = 60 * SECOND  # a symbol's trades, read while the user stream has had no gap
_FINAL = {"FILLED": VenueOrderStatus.FILLED, "CANCELED": VenueOrderStatus.CANCELLED,
          "EXPIRED": VenueOrderStatus.EXPIRED, "EXPIRED_IN_MATCH": VenueOrderStatus.EXPIRED,
          "REJECTED": VenueOrderStatus.REJECTED}


class FillRecovery(OrderAnswers):
    """The sweep and the settling; state set up with the orders' (`_init_orders`)."""

    _instrument_of: dict[str, str]

    def _init_orders(self) -> None:
        super()._init_orders()
        self._order_cids: OrderedDict[int, str] = OrderedDict()  # venue order id -> ours
        self._next_trade: dict[str, int] = {}  # symbol -> the first trade id not fetched yet
        self._sweeping: set[str] = set()  # symbols with a fetch in flight
        self._settling: set[str] = set()  # client ids being looked up
        self._settle_later: dict[str, str] = {}  # look-ups with no readable answer: cid -> symbol
        # Ours, not listed, and not found by a look-up: when that was first said.
        self._not_found: dict[str, int] = {}
        self._user_up = False  # the user-data stream is connected now
        self._gap = False  # it has been down since the last reconciliation asked after it
        self._swept_ns: dict[str, int] = {}  # symbol -> when its trades were last read

    # -- triggers ------------------------------------------------------------------------------
    def reconcile(self, now_ns: int) -> None:
        """Open orders, the account and (USD-M) positions, and the trades since the last one
        fetched of each symbol due a sweep, in one request on the worker (through the gate:
        it waits out a 429): the trades are booked before the positions are compared, so a
        fill the stream missed is no drift."""
        if not self.settings.api_key:
            return  # no account to read: never reconciled, so never ready for trading
        gap = self._gap or not self._user_up  # the stream may have missed something
        trades = {} if self.settings.observe else {
            s: self._trades_params(s) for s in self.settings.instruments.values()
            if gap or now_ns - self._swept_ns.get(s, now_ns - SWEEP_EVERY_NS) >= SWEEP_EVERY_NS}
        self._swept_ns.update((s, now_ns) for s in trades)

        fetch = Reconciliation(self.settings.dialect == "usdm", self.methods["trades"],
                               tuple(trades.items()), now_ns)
        # The tag says whether the user stream was up when asked: such an answer has every
        # fill the stream missed before, so its account updates count again from there.
        self.gate.submit(self.io.rest, ("reconcile", self._user_up), fetch, None, now_ns,
                         weight=reconcile_weight(self.settings.dialect, len(trades)))

    def _user_stream(self, up: bool) -> None:
        self._user_up = up
        self._gap = self._gap or not up

    def _account_update(self, event: AccountUpdate, now_ns: int) -> None:
        if not self._gap:  # else positions wait for the fills the gap may hold
            super()._account_update(event, now_ns)

    def _on_reconcile(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None:
            super()._on_reconcile(done, now_ns)  # says so; tried again at the next one
            return
        first = self.start_summary is None
        for body in done.value["open"]:
            if body.get("clientOrderId") in self.known_open:
                self._learn(parse_order_body(body))
        for symbol, rows in (done.value.get("trades") or {}).items():
            self._on_trades(RestDone(("trades", symbol, None), rows), now_ns)
        super()._on_reconcile(done, now_ns)  # positions, after the fills they hold
        if done.tag[1:] == (True,):
            self._gap = False
        if self.settings.observe:
            return
        listed = {str(o.get("clientOrderId")) for o in done.value["open"]}
        summary = self.start_summary
        if first and summary is not None:
            for cid in summary.unknown:  # the journal's: on whichever symbol has it
                for symbol in self.settings.instruments.values():
                    self._settle(cid, symbol, now_ns)
        elif not first:
            for cid in sorted(self.known_open - listed):
                self._settle(cid, self._symbol_of(cid), now_ns)
        later, self._settle_later = self._settle_later, {}
        for cid, symbol in later.items():
            self._settle(cid, symbol, now_ns)

    def _looked_up(self, done: RestDone, now_ns: int) -> bool | None:
        value = done.value
        if done.failure is None and isinstance(value, dict) and isinstance(
                done.tag[1], OrderIntent) and (value.get("status") != "NEW" or Decimal(
                    str(value.get("executedQty", 0)))):
            self._settled(value, now_ns)  # a new order traded or done while its answer was lost
            return True
        return super()._looked_up(done, now_ns)  # a replace's look-up: the amend half's

    def _on_cancel_all(self, done: RestDone, now_ns: int) -> None:
        super()._on_cancel_all(done, now_ns)
        name = done.tag[1]
        if done.failure is not None or not name:
            return
        # What the sweep cancelled is cancelled whether or not the stream says so (spot lists
        # it); an order of ours there that it did not take had ended already: looked up.
        listed = set()
        for body in done.value if isinstance(done.value, list) else ():
            try:
                update = parse_order_body(body)
            except DecodeError:  # an entry of another shape (an order list): not one of ours
                continue
            listed.add(update.client_order_id)
            self._order_update(attrs.evolve(update, execution="CANCELED"), now_ns)
        symbol = self.settings.instruments.get(name, name)
        for cid in sorted(self.known_open - listed):
            if self._symbol_of(cid) == symbol:
                self._settle(cid, symbol, now_ns)

    def _seen_order(self, update: OrderUpdate) -> bool:
        if update.client_order_id in self.known_open:
            self._learn(update)
        return super()._seen_order(update)

    # -- requests ------------------------------------------------------------------------------
    def _trades_params(self, symbol: str) -> dict[str, Any]:
        params: dict[str, Any] = {"symbol": symbol, "limit": PAGE}
        if symbol in self._next_trade:
            params["fromId"] = self._next_trade[symbol]
        return params

    def _next_page(self, symbol: str, now_ns: int) -> None:
        if symbol not in self._sweeping:  # else it reads on from where that one stops
            self._sweeping.add(symbol)
            self.gate.submit(self.io.rest, ("trades", symbol, None), self.methods["trades"],
                             self._trades_params(symbol), now_ns, weight=self.weights["trades"])

    def _order_trades(self, order: OrderUpdate, now_ns: int) -> None:
        self.gate.submit(self.io.rest, ("trades", order.symbol, order), self.methods["trades"],
                         {"symbol": order.symbol, "orderId": order.order_id, "limit": PAGE},
                         now_ns, weight=self.weights["order_trades"])

    def _settle(self, cid: str, symbol: str, now_ns: int) -> None:
        if cid in self._settling or not symbol:
            return
        self._settling.add(cid)
        self.gate.submit(self.io.rest, ("settle", cid, symbol), self.methods["query"],
                         {"symbol": symbol, "origClientOrderId": cid}, now_ns,
                         weight=self.weights["query"])

    # -- answers -------------------------------------------------------------------------------
    def _on_settle(self, done: RestDone, now_ns: int) -> None:
        _kind, cid, symbol = done.tag
        self._settling.discard(cid)
        if done.failure in ("throttled", "banned"):
            self._settle(cid, symbol, now_ns)  # the gate holds it until the wait is over
        elif done.failure is None and isinstance(done.value, dict):
            self._not_found.pop(cid, None)
            self._settled(done.value, now_ns)
        elif done.failure not in ("unknown", "rejected"):  # not "no such order": ask again
            self._settle_later[cid] = symbol
        elif cid in self.known_open and \
                now_ns - self._not_found.get(cid, now_ns) >= LOOKUP_AGAIN_S * SECOND:
            # Not listed and not found, twice, seconds apart: the venue never had it. Closed,
            # so no reconciliation looks for it again.
            self._closed(cid, now_ns)
            self._queue.append(Reported(ReconcileResult(  # type: ignore[arg-type]
                cid, VenueOrderStatus.NOT_FOUND)))
        elif cid in self.known_open:  # perhaps still on its way: asked again, later
            self._not_found.setdefault(cid, now_ns)

    def _settled(self, body: dict[str, Any], now_ns: int) -> None:
        """An order as the venue has it now: told as its answer would have, then its trades
        are fetched (if it traded) and its final state follows them."""
        try:
            update = parse_order_body(body)
        except DecodeError:
            self._count("troupe_venue_malformed_frames_total", stream="rest")
            return
        name = self.symbols.get(update.symbol)
        if name is None:
            return
        self._learn(update)
        if self.start_summary is not None and update.client_order_id in \
                self.start_summary.unknown and update.status in _FINAL:
            # Sent by an earlier run: the session tracks it from here, owned by nobody.
            self._queue.append(VenueOrder(intent_of(update, name, self.specs[name])))
        self._order_update(update, now_ns)
        if Decimal(update.cum_qty or "0"):
            self._order_trades(update, now_ns)
        else:  # nothing traded: nothing to fetch
            self._close(update, 0, now_ns)

    def _on_trades(self, done: RestDone, now_ns: int) -> None:
        _kind, symbol, order = done.tag
        if order is None:
            self._sweeping.discard(symbol)
        if done.failure in ("throttled", "banned"):  # the gate holds them until it is over
            if order is None:
                self._next_page(symbol, now_ns)
            else:
                self._order_trades(order, now_ns)
            return
        if done.failure is not None or not isinstance(done.value, list):
            log.warning("binance trades of %s not read (%s); trying again at the next "
                        "reconciliation", symbol, done.message or "not a list")
            return
        rows = sorted((r for r in done.value if isinstance(r, dict) and str(r.get("id")).isdigit()),
                      key=lambda r: int(r["id"]))
        found = sum(self._feed(row, now_ns) for row in rows)
        if order is not None:
            self._close(order, found, now_ns)
            return
        if rows:
            self._next_trade[symbol] = max(self._next_trade.get(symbol, 0),
                                           int(rows[-1]["id"]) + 1)
        if len(rows) >= PAGE:  # more than a page: the next one at once
            self._next_page(symbol, now_ns)

    def _feed(self, row: Any, now_ns: int) -> bool:
        """One trade row: passed on as a fill if it is ours and new; True if recovered."""
        try:
            cid = self._order_cids.get(int(row["orderId"]))
            name = self.symbols.get(str(row["symbol"]))
            if cid is None or name is None:
                return False  # not ours: another client of the account, or an older run
            fill, buy, time_ms = trade_fill(row, cid, self.specs[name])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            self._count("troupe_venue_malformed_frames_total", stream="rest")
            return False
        if not self._pass_fill(fill, name, str(row["symbol"]), buy, time_ms, ours=True):
            return False
        self._count("troupe_fills_recovered_total")
        log.warning("binance fill recovered from myTrades: %s %s %s @ %s, trade %s of order %s "
                    "(%s); the user stream had not told of it", name, "buy" if buy else "sell",
                    row["qty"], row["price"], row["id"], row["orderId"], cid)
        return True

    def _close(self, order: OrderUpdate, found: int, now_ns: int) -> None:
        status = _FINAL.get(order.status)
        if status is None:
            return  # still open: its fills were what was missing
        spec = self.specs[self.symbols[order.symbol]]
        result = ReconcileResult(order.client_order_id, status,
                                 to_units(order.cum_qty or "0", spec.lot_step))
        self._queue.append(Reported(result))  # type: ignore[arg-type]
        log.warning("binance order %s settled from the venue: %s, %s filled%s",
                    order.client_order_id, order.status, order.cum_qty,
                    f" ({found} fill(s) recovered by its look-up)" if found else "")

    # -- bookkeeping ---------------------------------------------------------------------------
    def _closed(self, cid: str, now_ns: int) -> None:
        super()._closed(cid, now_ns)
        self._not_found.pop(cid, None)

    def _learn(self, update: OrderUpdate) -> None:
        self._order_cids[update.order_id] = update.client_order_id
        if len(self._order_cids) > 50_000:
            self._order_cids.popitem(last=False)

    def _symbol_of(self, cid: str) -> str:
        name = self._instrument_of.get(cid)
        if name is None:
            resting = getattr(self, "resting", {}).get(cid)
            return resting.symbol if resting is not None else ""
        return str(self.settings.instruments.get(name, name))
