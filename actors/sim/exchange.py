"""The matching core of the embedded simulated venue: our orders against public market flow.

Pure and deterministic: no clock (times are int ns passed in), no I/O, and no randomness drawn
(the `rng` is kept for models that will need one), so the same calls give the same reports. The
simulated venue's transport (`actors.sim.venue.SimTransport`) wraps it with latency and rate
limits, and the generic venue connection routes its reports; this module only decides what the
venue would answer. Every method returns the venue reports it caused, in order, stamped
`venue_ns=now_ns` (`recv_ns` stays 0: the connection sets it when a report reaches us).

The public book is a `DepthView` the caller updates in place (the recorded or synthetic feed);
it never contains our orders. Our orders interact with it by these rules:

1. Taking. A marketable order walks the opposite side best first, filling at each level's
   price as TAKER, up to its limit (a market order has none). What we take is remembered per
   level (`TakenLiquidity`) and not offered again until the feed shows a new quantity there.
   LIMIT GTC rests its remainder; IOC and MARKET expire it; FOK first checks that the whole
   quantity is available and otherwise expires without trading; POST_ONLY that would take is
   refused. Our own orders never meet each other (as under self-trade prevention).
2. Queue. A resting order starts behind the quantity displayed at its price (nothing, if it
   improves the level) and moves up as the `QueueModel` says (`actors.sim.queue_models`). This is
   what separates us from filling on touch (see there).
3. Trades (`on_trade`). A trade at our price against our side advances the queue; volume past
   the front fills us as MAKER at our price, whole lots, and one trade never fills our orders
   for more than it printed: `ahead` counts the market's lots only, so an order of ours also
   waits for our own earlier orders at that price (time priority). A trade *through*
   our price (a buy above our ask, a sell below our bid) fills us in full: the aggressor swept
   our level.
4. Depth (`on_depth_change`). After the caller applied an update, each of our resting prices is
   re-read (the queue model sees the change), and a book that now crosses our order (best ask
   <= our bid, best bid >= our ask) fills it as MAKER at our price, up to the crossing quantity
   (remembered like taken liquidity): those sellers would have met our bid first.
5. Fees: maker rate on resting fills, taker rate on taking fills, in the quote asset, exact
   (`price x qty x V x rate`, negative for a rebate). Fill ids "<prefix>-1", "<prefix>-2", ...:
   unique within one exchange only, so whoever runs several (one per venue session, run after
   run on one journal) gives each its own `fill_id_prefix`.
6. Refusals carry Binance's codes and words (`actors.sim.matching`) and change nothing: a
   refused order's client id stays free. An accepted id can never be used again. The market
   order's notional is judged at the touch.
7. Replace: `qty` is the new open quantity (as the strategies track it). Same price and a
   smaller or equal quantity keep the queue place; anything else goes to the back (and may take
   liquidity if the new price crosses). A refused replace leaves the order as it was.
8. Reduce-only orders fill at most the position left; the rest expires. A resting reduce-only
   order expires as soon as the position no longer leaves it anything to reduce.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal

from actors.sim.account import SimAccount
from actors.sim.matching import (
    DUPLICATE,
    INSUFFICIENT_BALANCE,
    REDUCE_ONLY_REJECTED,
    UNKNOWN_ORDER,
    UNKNOWN_SYMBOL,
    WOULD_TAKE,
    DepthView,
    EmptyDepth,
    RestingOrder,
    SimInstrument,
    SimOrder,
    SimStatistics,
    TakenLiquidity,
    check_filters,
    opposite,
)
from actors.sim.queue_models import QueueModel
from protocols.codec import Side
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Expired,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    Reject,
    RejectCode,
    ReplaceIntent,
    TimeInForce,
    VenueReport,
)
from protocols.portfolio import VenuePositions

__all__ = ["DepthView", "RestingOrder", "SimExchange", "SimInstrument", "SimStatistics"]

_ACCOUNT_MESSAGES = {
    RejectCode.INSUFFICIENT_FUNDS: INSUFFICIENT_BALANCE,
    RejectCode.REDUCE_ONLY_WOULD_INCREASE: REDUCE_ONLY_REJECTED,
}
_EMPTY = EmptyDepth()


def _by_seq(order: SimOrder) -> int:
    return order.seq


class SimExchange:
    """One simulated venue: instruments, our open orders, the account they trade for."""

    def __init__(self, instruments: Mapping[str, SimInstrument], account: SimAccount,
                 queue_model: QueueModel, rng: random.Random, *,
                 fill_id_prefix: str = "sim") -> None:
        self._instruments = dict(instruments)
        self.fill_id_prefix = fill_id_prefix
        self.account = account
        self.queue_model = queue_model
        self.rng = rng
        self._views: dict[str, DepthView] = {}
        self._orders: dict[str, SimOrder] = {}  # open orders by client order id
        self._used: set[str] = set()  # every client order id ever accepted
        self._taken = TakenLiquidity()
        self._seq = self._order_ids = self._fill_ids = 0
        self._rejects: Counter[RejectCode] = Counter()
        self._fees: dict[str, Decimal] = {}
        self._counts = Counter[str]()

    def attach_depth(self, instrument: str, view: DepthView) -> None:
        """The venue-side public book of `instrument`, which the caller keeps up to date."""
        if instrument not in self._instruments:
            raise ValueError(f"unknown instrument {instrument!r}")
        self._views[instrument] = view

    # ---------------------------------------------------------------------------------------
    # Public market flow

    def on_depth_change(self, instrument: str, now_ns: int) -> list[VenueReport]:
        """Call after applying a depth update or snapshot to the view (rule 4)."""
        view = self._views.get(instrument)
        if view is None:
            return []
        out: list[VenueReport] = []
        self._taken.purge(instrument, view)
        mine = self._open(instrument)
        if not mine:
            return out
        model = self.queue_model
        for order in mine:
            assert order.price is not None
            shown = view.qty_at(order.side, order.price)
            if shown != order.displayed:
                order.queue = model.depth(order.queue, order.displayed, shown)
                order.displayed = shown
        for side in (Side.BUY, Side.SELL):
            book_side = opposite(side)
            for order in sorted((o for o in mine if o.side is side), key=SimOrder.priority):
                for price, displayed, available in self._taken.levels(
                    instrument, view, book_side, order.price
                ):
                    if not self._is_open(order):
                        break
                    filled = self._maker_fill(order, min(available, order.qty), now_ns, out)
                    self._taken.take(instrument, book_side, price, displayed, filled)
        self._sweep_reduce_only(instrument, out, now_ns)
        return out

    def on_trade(self, instrument: str, price: int, qty: int, aggressor: Side,
                 now_ns: int) -> list[VenueReport]:
        """A public trade of `qty` lots at `price` ticks, `aggressor` the taker's side (rule 3)."""
        if type(price) is not int or type(qty) is not int or qty <= 0:
            raise ValueError(f"trade needs int ticks and positive int lots, got {price!r} {qty!r}")
        if not isinstance(aggressor, Side):
            raise ValueError(f"aggressor must be a Side, got {aggressor!r}")
        passive = opposite(aggressor)
        mine = self._open(instrument, passive)
        if not mine:
            return []
        out: list[VenueReport] = []
        for order in sorted((o for o in mine if o.through(price)), key=SimOrder.priority):
            if self._is_open(order):
                self._maker_fill(order, order.qty, now_ns, out)
        ours_ahead = 0  # lots of our own earlier orders at this price: the trade meets them first
        for order in sorted((o for o in mine if o.price == price), key=_by_seq):
            if not self._is_open(order):
                continue
            open_before = order.qty
            order.queue = self.queue_model.trade(order.queue, qty)
            lots = min(order.queue.filled_lots() - ours_ahead, order.qty)
            order.queue = order.queue.at_front()
            ours_ahead += open_before
            if lots > 0:
                self._maker_fill(order, lots, now_ns, out)
        self._sweep_reduce_only(instrument, out, now_ns)
        return out

    # ---------------------------------------------------------------------------------------
    # Our requests

    def submit(self, intent: OrderIntent, now_ns: int) -> list[VenueReport]:
        cid, name = intent.client_order_id, intent.instrument
        sim = self._instruments.get(name)
        if sim is None:
            return [self._reject(cid, RejectCode.OTHER, UNKNOWN_SYMBOL, now_ns)]
        if cid in self._used:
            return [self._reject(cid, RejectCode.DUPLICATE_CLIENT_ORDER_ID, DUPLICATE, now_ns)]
        view, side, limit = self._view(name), intent.side, intent.price
        touch = view.best_ask if side is Side.BUY else view.best_bid
        refusal = check_filters(sim, limit, intent.qty, touch if limit is None else limit)
        if refusal is not None:
            return [self._reject(cid, *refusal, now_ns)]
        fillable, worst = self._taken.reach(name, view, opposite(side), limit, intent.qty)
        if intent.tif is TimeInForce.POST_ONLY and fillable > 0:
            return [self._reject(cid, RejectCode.POST_ONLY_WOULD_TAKE, WOULD_TAKE, now_ns)]
        hold_price = limit if limit is not None else worst
        if hold_price is None:  # a market order on an empty side: nothing to hold, will expire
            code = (RejectCode.REDUCE_ONLY_WOULD_INCREASE if intent.reduce_only
                    and self.account.reduce_only_room(name, side) == 0 else None)
        else:
            spec = sim.spec
            code = self.account.admit(
                cid, name, sim, side=side, qty=intent.qty, price=hold_price,
                fee_rate=spec.taker_fee if fillable else spec.maker_fee,
                reduce_only=intent.reduce_only)
        if code is not None:
            return [self._reject(cid, code, _ACCOUNT_MESSAGES[code], now_ns)]

        self._used.add(cid)
        self._order_ids += 1
        self._counts["orders"] += 1
        order = SimOrder(cid, str(self._order_ids), name, side, intent.order_type, intent.tif,
                         limit, intent.qty, intent.reduce_only, self._next_seq())
        out: list[VenueReport] = [Ack(cid, order.venue_order_id, venue_ns=now_ns)]
        if intent.tif is TimeInForce.FOK and self._capped(order, fillable) < order.qty:
            self._expire(order, out, now_ns)
            return out
        if fillable:
            self._take(order, view, out, now_ns)
        if order.qty > 0:
            rests = intent.order_type is OrderType.LIMIT and intent.tif in (
                TimeInForce.GTC, TimeInForce.POST_ONLY)
            if rests and self._capped(order, order.qty) > 0:
                self._rest(order, view)
            else:
                self._expire(order, out, now_ns)
        self._sweep_reduce_only(name, out, now_ns)
        return out

    def cancel(self, intent: CancelIntent, now_ns: int) -> list[VenueReport]:
        order = self._orders.get(intent.client_order_id)
        if order is not None and order.instrument != intent.instrument:
            order = None
        return [self._cancel_or_refuse(intent.client_order_id, order, now_ns)]

    def cancel_ids(self, cids: Iterable[str], now_ns: int) -> list[VenueReport]:
        """A batch cancel by client order id, whatever the instrument; an id that does not
        rest (filled, expired or cancelled meanwhile, or still on the wire) is refused as
        unknown, like a single cancel, and the others are cancelled all the same."""
        return [self._cancel_or_refuse(cid, self._orders.get(cid), now_ns) for cid in cids]

    def replace(self, intent: ReplaceIntent, now_ns: int) -> list[VenueReport]:
        """Rule 7: Ack(cid) and any fills on success; Reject(cid, code) and no change if not."""
        cid = intent.client_order_id
        order = self._orders.get(cid)
        if order is None or order.instrument != intent.instrument:
            return [self._reject(cid, RejectCode.UNKNOWN_ORDER, UNKNOWN_ORDER, now_ns)]
        name, sim = order.instrument, self._instruments[order.instrument]
        view = self._view(name)
        refusal = check_filters(sim, intent.price, intent.qty, intent.price)
        if refusal is not None:
            return [self._reject(cid, *refusal, now_ns)]
        fillable, _worst = self._taken.reach(name, view, opposite(order.side), intent.price,
                                             intent.qty)
        if order.tif is TimeInForce.POST_ONLY and fillable > 0:
            return [self._reject(cid, RejectCode.POST_ONLY_WOULD_TAKE, WOULD_TAKE, now_ns)]
        rate = sim.spec.taker_fee if fillable else sim.spec.maker_fee
        code = self.account.readmit(cid, qty=intent.qty, price=intent.price, fee_rate=rate,
                                    reduce_only=intent.reduce_only)
        if code is not None:
            return [self._reject(cid, code, _ACCOUNT_MESSAGES[code], now_ns)]

        self._counts["replaces"] += 1
        out: list[VenueReport] = [Ack(cid, order.venue_order_id, venue_ns=now_ns)]
        order.reduce_only = intent.reduce_only
        if intent.price == order.price and intent.qty <= order.qty:
            order.qty = intent.qty  # a size decrease in place keeps the queue position
            return out
        order.price, order.qty, order.seq = intent.price, intent.qty, self._next_seq()
        if fillable:
            self._take(order, view, out, now_ns)
        if self._is_open(order):
            if self._capped(order, order.qty) > 0:
                self._rest(order, view)
            else:
                self._expire(order, out, now_ns)
        self._sweep_reduce_only(name, out, now_ns)
        return out

    def cancel_all(self, instrument: str | None, now_ns: int) -> list[VenueReport]:
        """A CancelAck for every resting order (of `instrument`, or of all), oldest first."""
        orders = sorted((o for o in self._orders.values()
                         if instrument is None or o.instrument == instrument),
                        key=lambda o: o.seq)
        return [self._cancel(order, now_ns) for order in orders]

    # ---------------------------------------------------------------------------------------
    # Reading

    def open_orders(self, instrument: str | None = None) -> list[RestingOrder]:
        return [o.record() for o in sorted(self._orders.values(), key=lambda o: o.seq)
                if instrument is None or o.instrument == instrument]

    def resting_prices(self, instrument: str) -> set[tuple[Side, int]]:
        return {(o.side, o.price) for o in self._orders.values()
                if o.instrument == instrument and o.price is not None}

    def positions(self, now_ns: int = 0) -> VenuePositions:
        """Signed lots per instrument (spot: net lots bought since the start) and balances."""
        lots = {name: self.account.position(name) for name in self._instruments}
        return VenuePositions(tuple(sorted(lots.items())),
                              tuple(self.account.balances().items()), now_ns)

    def statistics(self) -> SimStatistics:
        c = self._counts
        return SimStatistics(
            orders=c["orders"], fills=c["fills"], maker_fills=c["maker_fills"],
            taker_fills=c["taker_fills"], filled_lots=c["filled_lots"],
            rejects=dict(self._rejects), cancels=c["cancels"],
            cancel_rejects=c["cancel_rejects"], replaces=c["replaces"], expired=c["expired"],
            fees=dict(self._fees), resting=len(self._orders),
        )

    # ---------------------------------------------------------------------------------------
    # Internals

    def _view(self, instrument: str) -> DepthView:
        return self._views.get(instrument, _EMPTY)

    def _open(self, instrument: str, side: Side | None = None) -> list[SimOrder]:
        """Our open orders on `instrument` (on `side` only, if given), oldest first."""
        # Called for every market event: a market maker rests one or two orders, so the common
        # cases (none, one) skip the sort.
        if side is None:
            mine = [o for o in self._orders.values() if o.instrument == instrument]
        else:
            mine = [o for o in self._orders.values()
                    if o.side is side and o.instrument == instrument]
        if len(mine) > 1:
            mine.sort(key=_by_seq)
        return mine

    def _is_open(self, order: SimOrder) -> bool:
        return self._orders.get(order.client_order_id) is order

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _reject(self, cid: str, code: RejectCode, message: str, now_ns: int) -> Reject:
        self._rejects[code] += 1
        return Reject(cid, code, message, venue_ns=now_ns)

    def _capped(self, order: SimOrder, lots: int) -> int:
        """`lots`, cut to what a reduce-only order may still fill."""
        if not order.reduce_only:
            return lots
        return min(lots, self.account.reduce_only_room(order.instrument, order.side))

    def _take(self, order: SimOrder, view: DepthView, out: list[VenueReport],
              now_ns: int) -> None:
        """Rule 1: fill `order` as taker against the book, best level first."""
        book_side = opposite(order.side)
        for price, displayed, available in self._taken.levels(order.instrument, view, book_side,
                                                               order.price):
            lots = self._capped(order, min(available, order.qty))
            if lots <= 0:
                break
            self._taken.take(order.instrument, book_side, price, displayed, lots)
            self._fill(order, lots, price, Liquidity.TAKER, out=out, now_ns=now_ns)
            if order.qty == 0:
                break

    def _rest(self, order: SimOrder, view: DepthView) -> None:
        assert order.price is not None
        order.displayed = view.qty_at(order.side, order.price)
        order.queue = self.queue_model.place(order.displayed)
        self._orders[order.client_order_id] = order

    def _maker_fill(self, order: SimOrder, lots: int, now_ns: int,
                    out: list[VenueReport]) -> int:
        """Fill a resting order at its price; a reduce-only order is capped and the rest
        expires. Returns the lots filled."""
        assert order.price is not None
        filled = self._capped(order, lots)
        if filled > 0:
            self._fill(order, filled, order.price, Liquidity.MAKER, out=out, now_ns=now_ns)
        if filled < lots and self._is_open(order):
            self._expire(order, out, now_ns)
        return filled

    def _fill(self, order: SimOrder, lots: int, price: int, liquidity: Liquidity, *,
              out: list[VenueReport], now_ns: int) -> None:
        sim = self._instruments[order.instrument]
        maker = liquidity is Liquidity.MAKER
        fee = sim.fee(price, lots, sim.spec.maker_fee if maker else sim.spec.taker_fee)
        self.account.fill(order.client_order_id, lots, price, fee)
        order.qty -= lots
        order.filled += lots
        if order.qty == 0:
            self._orders.pop(order.client_order_id, None)
        self._fill_ids += 1
        c = self._counts
        c["fills"] += 1
        c["maker_fills" if maker else "taker_fills"] += 1
        c["filled_lots"] += lots
        self._fees[sim.quote_asset] = self._fees.get(sim.quote_asset, Decimal(0)) + fee
        fill_id = f"{self.fill_id_prefix}-{self._fill_ids}"
        out.append(Fill(order.client_order_id, fill_id, lots, price, fee, liquidity,
                        sim.quote_asset, venue_ns=now_ns))

    def _expire(self, order: SimOrder, out: list[VenueReport], now_ns: int) -> None:
        self._orders.pop(order.client_order_id, None)
        self.account.release(order.client_order_id)
        self._counts["expired"] += 1
        out.append(Expired(order.client_order_id, venue_ns=now_ns))

    def _cancel_or_refuse(self, cid: str, order: SimOrder | None,
                          now_ns: int) -> CancelAck | CancelReject:
        if order is None:
            self._counts["cancel_rejects"] += 1
            return CancelReject(cid, CancelRejectCode.UNKNOWN_ORDER, UNKNOWN_ORDER,
                                venue_ns=now_ns)
        return self._cancel(order, now_ns)

    def _cancel(self, order: SimOrder, now_ns: int) -> CancelAck:
        del self._orders[order.client_order_id]
        self.account.release(order.client_order_id)
        self._counts["cancels"] += 1
        return CancelAck(order.client_order_id, venue_ns=now_ns)

    def _sweep_reduce_only(self, instrument: str, out: list[VenueReport], now_ns: int) -> None:
        """Rule 8: a resting reduce-only order with nothing left to reduce expires."""
        exits = [o for o in self._orders.values() if o.reduce_only and o.instrument == instrument]
        if len(exits) > 1:
            exits.sort(key=_by_seq)
        for order in exits:
            if self._capped(order, order.qty) == 0:
                self._expire(order, out, now_ns)

