"""The order half of the Binance transport: what the venue's answers about orders mean.

`OrderAnswers` is the base of `supervision.venues.binance.transport.BinanceTransport` (kept
apart for size): the REST answers to create, cancel, query and reconcile, the order events of
the user-data stream, and the bookkeeping they share. A lost answer's look-up cycle is the
shared one (`supervision.venues.lookups.OrderLookups`): here, how to ask (`GET order` by
`origClientOrderId`) and what the answer means. The rules are in the transport's
docstring; the pure translations in `supervision.venues.binance.mapping`.

Acks and cancel acks arrive twice on Binance (the REST answer and the user-data stream's event):
each is passed on once (`_answered`, bounded), so the metrics and the journal count one. A fill
carries the venue's trade id and is passed on once too (`_pass_fill`), whether the stream or a
`myTrades` fetch (`supervision.venues.binance.fills`) brings it first, or the journal of an
earlier run already holds it (`BinanceSettings.known_fills`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.ids import parse_client_order_id
from actors.execution.venue_transport import (
    Counted,
    Reported,
    TransportEvent,
    VenueOrder,
    throttled_reports,
)
from protocols.codec import TradeDeduper
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    CancelReject,
    CancelRejectCode,
    Fill,
    Intent,
    OrderIntent,
    Reject,
    RejectCode,
    ReplaceIntent,
)
from protocols.portfolio import PositionAdopted, VenuePositions
from protocols.venue_state import RequestAccepted
from protocols.venues.binance_user import AccountUpdate, OrderUpdate, parse_order_body
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.mapping import intent_of, reject_code, reports_of, to_units
from supervision.venues.binance.reconcile import (
    SpotInventory,
    StartSummary,
    UsdmOpenings,
    positions_of,
    summarize,
    usdm_openings,
)
from supervision.venues.binance.weights import WEIGHTS
from supervision.venues.lookups import OrderLookups
from supervision.venues.rest_gate import RestGate, budget_answer

__all__ = ["OrderAnswers"]

log = logging.getLogger("troupe.venues.binance")
SECOND = 1_000_000_000
# Requests whose answers the action budget never sees (it pays for some, but hears of none):
# their 429 must reach it from here.
_UNBUDGETED = frozenset({"markets", "depth", "reconcile", "query", "listen_key", "keepalive",
                         "settle", "trades"})
SETTLE_S = 2.0  # how far the venue's open-order list may lag its own news to us


class Dues(dict[str, int]):
    """The transport's timers (`_due`: name -> due ns) with their earliest due kept in
    `earliest_ns` (None without any): `poll` and `next_due_ns`, asked after every message the
    connection handles, read it instead of looking through them (a user stream's keep-alive is
    always there). Every change works it out again: changes are rare."""

    __slots__ = ("earliest_ns",)

    def __init__(self) -> None:
        super().__init__()
        self.earliest_ns: int | None = None

    def _changed(self) -> None:
        self.earliest_ns = min(self.values()) if self else None

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def setdefault(self, key: str, default: int) -> int:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, *args: Any) -> Any:
        value = super().pop(*args)
        self._changed()
        return value

    def popitem(self) -> tuple[str, int]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()


class OrderAnswers(OrderLookups):
    """State shared with the transport, set up by `_init_orders`."""

    settings: Any
    io: Any
    methods: Mapping[str, str]
    symbols: Mapping[str, str]
    specs: dict[str, InstrumentSpec]

    def _init_orders(self) -> None:
        self._queue: list[TransportEvent] = []
        self._due: Dues = Dues()
        self._sweeps_due = False  # a throttled sweep may wait in `_due` ("cancel_all:<name>")
        self.start_summary: StartSummary | None = None
        self._answered: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._init_lookups()
        self._unswept: dict[str, int] = {}  # instrument -> its sweeps not answered yet
        self._adopted: set[str] = set()  # the journal's open orders, once told to the session
        # The adapter's own requests: paid by the budget before they go (or, uncharged, held
        # through the venue's Retry-After).
        self.gate = RestGate(charged=getattr(self.settings, "charge_requests", False))
        self.weights = WEIGHTS[getattr(self.settings, "dialect", "spot")]
        self._fill_ids = TradeDeduper(50_000)  # every fill passed on, by the venue's trade id
        for fill_id in getattr(self.settings, "known_fills", ()):
            self._fill_ids.is_new(fill_id)
        # Spot: the inventory as the balances show it; the node's, shared by its connections.
        self.inventory: SpotInventory = getattr(self.settings, "inventory", None) or SpotInventory()
        # USD-M: the account as the last reconciliation and ACCOUNT_UPDATEs since left it.
        self._account: tuple[dict[str, int], dict[str, Decimal]] | None = None
        # USD-M: our fills booked before the start-up reconciliation read the positions:
        # (instrument, signed lots, trade time ms), which the openings must not count twice.
        self._early_fills: list[tuple[str, int, int]] = []
        # USD-M: the openings, corrected by fills booked later that they already held
        self._usdm_openings = UsdmOpenings()

    def _seen_order(self, update: OrderUpdate) -> bool:
        """A hook for what the order events teach (`amend.AmendAnswers`); False: ignore it."""
        return True

    def _account_update(self, event: AccountUpdate, now_ns: int) -> None:
        """USD-M's ACCOUNT_UPDATE (a fill, a funding payment): the positions and balances it
        names, over the last reconciliation's, go to the portfolio at once, so a position is
        compared as it moves, not only every reconciliation interval. Spot's balances wait
        for the reconciliation (its positions are the inventory's, `SpotInventory`)."""
        if self.settings.dialect != "usdm" or self._account is None or not event.positions:
            return
        positions, balances = self._account
        for symbol, amount in event.positions:
            name = self.symbols.get(symbol)
            if name is not None:
                positions[name] = int(Decimal(amount) / self.specs[name].lot_step)
        balances.update((asset, Decimal(wallet)) for asset, wallet in event.balances)
        self._queue.append(VenuePositions(tuple(sorted(positions.items())),
                                          tuple(sorted(balances.items())), now_ns))

    def _adopt(self, update: OrderUpdate) -> None:
        """An order the journal left open, seen at the venue (in the start-up reconciliation's
        list, or in a report that came before it): ours again. The session tracks it (owned by
        nobody), so its fills reach the portfolio as the inventory counts them."""
        cid, name = update.client_order_id, self.symbols.get(update.symbol)
        if cid in self._adopted or cid not in self.settings.expected_open or name is None:
            return
        self._adopted.add(cid)
        spec = self.specs[name]
        done = to_units(update.cum_qty or "0", spec.lot_step)
        if update.execution == "TRADE":  # what was left before this fill
            done -= to_units(update.last_qty, spec.lot_step)
        left = to_units(update.qty, spec.lot_step) - done
        if left <= 0:
            return
        self.known_open.add(cid)
        self._queue.append(VenueOrder(intent_of(update, name, spec, left)))

    def _order_update(self, update: OrderUpdate, now_ns: int) -> None:
        name = self.symbols.get(update.symbol)
        if name is None or not self._seen_order(update):
            return
        self._adopt(update)  # a journaled order's report may come before the reconciliation
        # Only what we sent (or adopted) is ours: the user stream also tells of orders other
        # clients of the account place, and those must stay drifts.
        ours = update.client_order_id in self.known_open
        if update.status not in ("NEW", "PARTIALLY_FILLED"):
            self._closed(update.client_order_id, now_ns)
        venue_ns = update.event_time_ms * 1_000_000 if update.event_time_ms else None
        for report in reports_of(update, self.specs[name], venue_ns or now_ns):
            if isinstance(report, Fill):
                self._pass_fill(report, name, update.symbol, update.side == "BUY",
                                update.trade_time_ms, ours=ours)
                continue
            # An ack or a cancel comes by REST and stream: one order id's ack once (a spot
            # replace's new order id acks anew).
            key = (report.client_order_id, type(report).__name__, str(update.order_id))
            if key in self._answered:
                continue
            self._answered[key] = None
            if len(self._answered) > 20_000:
                self._answered.popitem(last=False)
            self._queue.append(Reported(report))
            self._queue += self.inventory.adopted()

    def _pass_fill(self, fill: Fill, name: str, symbol: str, buy: bool, time_ms: int, *,
                   ours: bool) -> bool:
        """A fill, passed on the first time its trade id is seen; False for a repeat."""
        if not self._fill_ids.is_new(fill.fill_id):
            return False
        correction = None
        if ours:
            self.inventory.on_fill(name, symbol, fill, buy, time_ms)
            signed = fill.qty if buy else -fill.qty
            if self.start_summary is None:
                self._early_fills.append((name, signed, time_ms))
            elif self.settings.dialect == "usdm":
                correction = self._usdm_openings.late_fill(name, signed, time_ms,
                                                           fill.client_order_id)
        if correction is not None:  # before the fill: the position never counts it twice
            self._queue.append(correction)
        self._queue.append(Reported(fill))
        self._queue += self.inventory.adopted()  # a fill the opening already held
        return True

    def _on_create(self, done: RestDone, now_ns: int) -> None:
        intent: Intent = done.tag[1]
        if self._throttled(done, [intent], now_ns):
            return
        if done.failure in ("lost", "unknown"):
            self._lost([intent], now_ns)
            return
        self._queue.append(RequestAccepted(now_ns))
        if done.failure is not None:
            # Refused: it never rested, so nothing of ours is left to look for (kept as open,
            # every reconciliation looked it up again).
            self._closed(intent.client_order_id, now_ns)
            words = done.message.split(" ", 2)[-1] if done.message else done.failure
            code = RejectCode.VENUE_UNAVAILABLE if done.failure == "refused" else None
            self._queue.append(Reported(Reject(intent.client_order_id,
                                               code or reject_code(words), words,
                                               venue_ns=now_ns)))
            return
        self._order_update(parse_order_body(done.value), now_ns)

    def _on_cancel(self, done: RestDone, now_ns: int) -> None:
        intent: Intent = done.tag[1]
        if self._throttled(done, [intent], now_ns):
            return
        if done.failure == "lost":
            self._lost([intent], now_ns)
            return
        self._queue.append(RequestAccepted(now_ns))
        if done.failure is not None:
            code = (CancelRejectCode.UNKNOWN_ORDER if done.failure == "unknown"
                    else CancelRejectCode.OTHER)
            self._queue.append(Reported(CancelReject(intent.client_order_id, code,
                                                     done.message, venue_ns=now_ns)))
            return
        update = parse_order_body(done.value)
        self._order_update(attrs.evolve(update, execution="CANCELED"), now_ns)

    def _on_cancel_all(self, done: RestDone, now_ns: int) -> None:
        if done.tag[1] in self._unswept:  # answered: new orders for it go their own way again
            self._unswept[done.tag[1]] -= 1
            if not self._unswept[done.tag[1]]:
                del self._unswept[done.tag[1]]
        if not self._throttled(done, [], now_ns):
            self._queue.append(RequestAccepted(now_ns))
            return
        # A sweep the venue throttled goes again when its Retry-After ends: nobody else would
        # send it, and a cancel-all can never trade. (A stranger's cancel, instrument "", is
        # found again by the next reconciliation.)
        if done.tag[1]:
            wait = int((done.retry_after_s or 1.0) * SECOND)
            self._due[f"cancel_all:{done.tag[1]}"] = now_ns + wait
            self._sweeps_due = True

    def _lookup_request(self, intent: OrderIntent | ReplaceIntent) -> tuple[str, dict[str, Any]]:
        return self.methods["query"], {
            "symbol": self.settings.instruments.get(intent.instrument, intent.instrument),
            "origClientOrderId": intent.client_order_id}

    def _looked_up(self, done: RestDone, now_ns: int) -> bool | None:
        if done.failure == "unknown" or (done.failure == "rejected"
                                         and "does not exist" in done.message):
            return False
        if done.failure is None:
            update = parse_order_body(done.value)
            if isinstance(done.tag[1], ReplaceIntent):
                self._replace_looked_up(done.tag[1], update, now_ns)
            else:
                self._order_update(update, now_ns)
            return True
        return None

    def _replace_looked_up(self, intent: ReplaceIntent, update: OrderUpdate,
                           now_ns: int) -> None:
        """A hook (`amend.AmendAnswers`): a lost replace's look-up found its order."""

    def _on_reconcile(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None:
            log.warning("binance reconciliation failed (%s); trying again", done.message)
            return
        value = done.value
        venue_open = [parse_order_body(o) for o in value["open"]]
        positions = positions_of(value, self.specs, self.symbols, now_ns, self.inventory)
        self._account = (dict(positions.positions), dict(positions.balances))
        self._queue += self.inventory.adopted()  # spot: the openings, before their comparison
        said = [text for text in map(self.inventory.describe, self.symbols.values()) if text]
        openings: list[PositionAdopted] = []
        if self.start_summary is None and self.settings.dialect == "usdm":
            openings, said = usdm_openings(value.get("positions") or (), self.specs,
                                           self.symbols, self._early_fills,
                                           self.settings.expected_positions)
            self._queue += openings  # USD-M: where each position opens, before its comparison
            self._early_fills.clear()
        self._queue.append(positions)
        if self.start_summary is None:
            summary = summarize(venue_open, self.settings.expected_open)
            self.start_summary = summary = attrs.evolve(summary, positions=tuple(said))
            self._usdm_openings.opened(openings, value.get("positions") or (), self.symbols,
                                       summary.unknown)
            log.warning("binance start-up reconciliation: %s", summary.line())
            self.known_open.update(summary.adopted)
            for update in venue_open:
                if update.client_order_id in summary.adopted:
                    self._seen_order(update)  # what a replace of it must repeat
                    self._adopt(update)
                if update.client_order_id in summary.cancelled and not self.settings.observe:
                    self._cancel_stranger(update.symbol, update.client_order_id, now_ns)
            return
        self._drifts(venue_open, value.get("asked_ns", now_ns), now_ns)

    def _drifts(self, venue_open: Sequence[OrderUpdate], asked_ns: int, now_ns: int) -> None:
        """An order resting at the venue that nobody here knows is a drift: nobody here would
        ever cancel it, so it is cancelled (observe mode only reports it). The comparison is
        made at one point in time, the venue's: an order we had sent by the time the list was
        asked for is known (in flight or acked), and one that closed here after that, or up to
        `SETTLE_S` before (a venue's list may lag its matching engine), is no drift: the list
        predates our news. If it still rests, the next reconciliation finds it. (The reverse,
        ours that the venue does not list, is usually an answer still in flight, and the
        order's own state machine settles it.)"""
        for update in venue_open:
            cid = update.client_order_id
            closed = self._closed_at.get(cid)
            if cid in self.known_open or (closed is not None
                                          and closed >= asked_ns - SETTLE_S * SECOND):
                continue
            self._count("troupe_reconciliation_order_drifts_total")
            log.warning("binance reconciliation drift: %s rests at the venue, unknown here%s "
                        "(%s)", cid, "" if self.settings.observe else "; cancelling it",
                        self._whose(cid, closed, now_ns))
            if not self.settings.observe:
                self._cancel_stranger(update.symbol, cid, now_ns)

    def _cancel_stranger(self, symbol: str, cid: str, now_ns: int) -> None:
        """An order nobody here manages, cancelled by its client id: an exit, paid like one.
        (Answered as a sweep, tagged `cancel_all`, whose refusal nobody needs to hear.)"""
        self._request(("cancel_all", ""), self.methods["cancel"],
                      {"symbol": symbol, "origClientOrderId": cid}, now_ns,
                      self.weights["cancel"], exit=True, key=("stranger", cid))

    def _request(self, tag: Any, method: Any, params: dict[str, Any] | None, now_ns: int,
                 weight: int, *, exit: bool = False, key: Any = None) -> None:
        """A request of the adapter's own that no Retry-After parks: paid by the budget first
        when the gate is charged, else sent at once."""
        lane = self.io.exits if exit else self.io.rest  # exits: their own lane (`exits`)
        if self.gate.charged:
            self.gate.submit(lane, tag, method, params, now_ns, weight=weight, exit=exit,
                             key=key)
        else:
            lane.submit(tag, method, params)

    def _lookup_weight(self) -> int:
        return self.weights["query"]

    def _whose(self, cid: str, closed: int | None, now_ns: int) -> str:
        parsed = parse_client_order_id(cid)
        if parsed is None or parsed[1] not in self.settings.strategies:
            return "not this node's: another client of the account?"
        if closed is not None:
            return (f"ours, strategy {parsed[1]}, closed here {(now_ns - closed) / SECOND:.1f}s "
                    "ago: nobody here manages it")
        return f"ours, strategy {parsed[1]}, never sent or adopted by this connection"

    def _throttled(self, done: RestDone, intents: list[Intent], now_ns: int) -> bool:
        answer = budget_answer(done, now_ns)
        if answer is None:
            return False
        self._queue.append(answer)
        self._queue += [Reported(r) for r in throttled_reports(intents, done.message, now_ns)]
        return True

    def _wait_for_venue(self, done: RestDone, now_ns: int) -> None:
        """Any answer that says wait (429, 418): our own requests wait until then (`gate`),
        and the budget hears it from those it did not send (order answers tell it
        themselves, in `_throttled`)."""
        answer = self.gate.heard(done, now_ns)
        if answer is not None and done.tag[0] in _UNBUDGETED:
            self._queue.append(answer)

    def _count(self, metric: str, **labels: str) -> None:
        self._queue.append(Counted(metric, (("venue", self.settings.name),
                                            *sorted(labels.items()))))
